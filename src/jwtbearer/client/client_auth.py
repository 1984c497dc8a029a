"""How a client proves who it is at the token endpoint, named after the IANA registry.

Each value is frozen and returns ``(extra headers, extra form fields)`` from
``apply(token_endpoint, now=...)``; none of them touches a request object, so the same value
serves the sync and the async client and is trivially testable. Registry: "OAuth Token Endpoint
Authentication Methods" (RFC 7591 §4.2): ``none``, ``client_secret_basic``,
``client_secret_post``, ``client_secret_jwt``, ``private_key_jwt``, and RFC 8705's
``tls_client_auth`` and ``self_signed_tls_client_auth`` (the proof is the TLS client
certificate: give the token client ``client_cert=``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import quote_plus

from ..errors import ConfigurationError
from ..jose.assertion import make_assertion
from ..jose.keys import SigningKey
from ..jose.keystore import resolve_key
from ..jose.signer import Signer
from ..oauth import CLIENT_ASSERTION_TYPE

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "ClientAuth",
    "ClientSecretBasic",
    "ClientSecretJWT",
    "ClientSecretPost",
    "NoClientAuth",
    "PrivateKeyJWT",
    "SelfSignedTLSClientAuth",
    "TLSClientAuth",
    "held_secrets",
    "mtls_endpoint",
]


#: Form fields owned by client authentication; a grant may not set them (see protocol.py).
AUTH_FIELDS = frozenset({"client_id", "client_secret", "client_assertion", "client_assertion_type"})

Fields = tuple[dict[str, str], dict[str, str]]


@runtime_checkable
class ClientAuth(Protocol):
    """A client authentication method (RFC 6749 §2.3): the headers and form fields it adds to
    a token request. Exactly one method is used per request (RFC 6749 §2.3)."""

    @property
    def client_id(self) -> str | None: ...

    def apply(self, token_endpoint: str, *, now: float) -> Fields: ...


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string, not {type(value).__name__}")
    return value


def _lifetime(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 3600:
        raise ConfigurationError(
            f"lifetime is whole seconds in 1..3600, not {value!r}; client assertions are meant "
            "to be short-lived (RFC 7523 §3: the server may refuse a long exp)"
        )
    return value


@dataclass(frozen=True, slots=True)
class NoClientAuth:
    """``none``: a public client, or one identified by its grant (RFC 6749 §2.1, §3.2.1).

    ``client_id`` is sent as a form field when given, as RFC 6749 §4.1.3 asks of public clients.
    """

    client_id: str | None = None

    def __post_init__(self) -> None:
        if self.client_id is not None:
            _text(self.client_id, "client_id")

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """No header; ``client_id`` in the form when known."""
        return {}, ({"client_id": self.client_id} if self.client_id else {})


@dataclass(frozen=True, slots=True)
class ClientSecretBasic:
    """``client_secret_basic``: HTTP Basic with the client id and secret (RFC 6749 §2.3.1).

    Both are form-urlencoded before Base64, as §2.3.1 requires; without that a secret holding
    ``:``, ``%`` or ``+`` is read differently by the server.
    """

    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        _text(self.client_id, "client_id")
        _text(self.client_secret, "client_secret")

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """An ``Authorization: Basic`` header; no form field."""
        pair = f"{quote_plus(self.client_id, safe='')}:{quote_plus(self.client_secret, safe='')}"
        value = base64.b64encode(pair.encode("ascii")).decode("ascii")
        return {"Authorization": f"Basic {value}"}, {}


@dataclass(frozen=True, slots=True)
class ClientSecretPost:
    """``client_secret_post``: id and secret as form fields (RFC 6749 §2.3.1, discouraged there
    but required by some servers)."""

    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        _text(self.client_id, "client_id")
        _text(self.client_secret, "client_secret")

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_id`` and ``client_secret`` in the form."""
        return {}, {"client_id": self.client_id, "client_secret": self.client_secret}


def _assertion_fields(
    key: SigningKey | Signer,
    client_id: str,
    audience: str | None,
    lifetime: int,
    endpoint: str,
    now: float,
) -> Fields:
    # RFC 7523 §3: iss and sub are the client id; aud identifies the server (its token endpoint
    # URL unless the server documents its issuer instead); a fresh jti per assertion.
    assertion = make_assertion(
        key=key,
        iss=client_id,
        sub=client_id,
        aud=audience or endpoint,
        lifetime=lifetime,
        now=now,
    )
    return {}, {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}


@dataclass(frozen=True, slots=True)
class ClientSecretJWT:
    """``client_secret_jwt``: a JWT signed with the client secret by HMAC (RFC 7523 §2.2, OpenID
    Connect Core §9).

    The assertion has ``iss = sub = client_id``, ``aud`` = the token endpoint unless
    ``audience`` is given (some servers, e.g. PingOne or Okta, want their issuer), integer
    ``iat``/``exp`` (``exp = iat + lifetime``) and a fresh ``jti`` on every ``apply()``. A secret
    shorter than the hash (32 bytes for HS256, RFC 7518 §3.2) is refused at construction.
    """

    client_id: str
    secret: str = field(repr=False)
    alg: str = "HS256"
    audience: str | None = None
    lifetime: int = 60
    _key: SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _text(self.client_id, "client_id")
        _text(self.secret, "secret")
        _lifetime(self.lifetime)
        if self.audience is not None:
            _text(self.audience, "audience")
        object.__setattr__(self, "_key", SigningKey.from_secret(self.secret, alg=self.alg))

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_assertion_type`` and a freshly signed ``client_assertion``."""
        return _assertion_fields(
            self._key, self.client_id, self.audience, self.lifetime, token_endpoint, now
        )


@dataclass(frozen=True, slots=True)
class PrivateKeyJWT:
    """``private_key_jwt``: a JWT signed with the client's private key (RFC 7523 §2.2, OpenID
    Connect Core §9).

    ``key`` is a :class:`SigningKey` or the name of a key in the default key store. Claims as
    for :class:`ClientSecretJWT`; the header carries ``kid`` when the key has one.
    """

    client_id: str
    key: SigningKey | Signer | str
    audience: str | None = None
    lifetime: int = 60
    _key: SigningKey | Signer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _text(self.client_id, "client_id")
        _lifetime(self.lifetime)
        if self.audience is not None:
            _text(self.audience, "audience")
        resolved = resolve_key(self.key, "key must be a SigningKey, a signer (alg, kid, "
                               "x5t_s256, public_jwk(), sign()) or the name of a stored key")
        if isinstance(resolved, SigningKey) and resolved.is_symmetric:
            raise ConfigurationError(
                "private_key_jwt needs an asymmetric key; for a shared secret use ClientSecretJWT"
            )
        object.__setattr__(self, "_key", resolved)

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_assertion_type`` and a freshly signed ``client_assertion``."""
        return _assertion_fields(
            self._key, self.client_id, self.audience, self.lifetime, token_endpoint, now
        )


@dataclass(frozen=True, slots=True)
class TLSClientAuth:
    """``tls_client_auth`` (RFC 8705 §2.1): the client proves itself with a certificate from a
    CA the server trusts, matched against its registered subject DN or SAN.

    Only ``client_id`` goes in the form; the token client must present the certificate
    (``TokenClient(..., client_cert=("cert.pem", "key.pem"))``), at the server's mTLS endpoint
    (:func:`mtls_endpoint`).
    """

    client_id: str

    def __post_init__(self) -> None:
        _text(self.client_id, "client_id")

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_id`` in the form; the proof is the TLS handshake."""
        return {}, {"client_id": self.client_id}


@dataclass(frozen=True, slots=True)
class SelfSignedTLSClientAuth:
    """``self_signed_tls_client_auth`` (RFC 8705 §2.2): as :class:`TLSClientAuth`, with a
    self-signed certificate the client registered (in its JWKS as ``x5c``)."""

    client_id: str

    def __post_init__(self) -> None:
        _text(self.client_id, "client_id")

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_id`` in the form; the proof is the TLS handshake."""
        return {}, {"client_id": self.client_id}


def held_secrets(auth: ClientAuth) -> frozenset[str]:
    """The secrets ``auth`` holds, sent or not (the server knows a shared secret even when only
    an HMAC of it is sent): redacted by value from every message built from an answer."""
    if isinstance(auth, (ClientSecretBasic, ClientSecretPost)):
        return frozenset((auth.client_secret,))
    if isinstance(auth, ClientSecretJWT):
        return frozenset((auth.secret,))
    return frozenset()


def mtls_endpoint(metadata: Mapping[str, object], name: str = "token_endpoint") -> str:
    """The endpoint ``name`` to use with a client certificate: the server's
    ``mtls_endpoint_aliases`` entry when it has one (RFC 8705 §5), else ``metadata[name]``."""
    aliases = metadata.get("mtls_endpoint_aliases")
    if isinstance(aliases, Mapping) and isinstance(aliases.get(name), str):
        return str(aliases[name])
    value = metadata.get(name)
    if not isinstance(value, str):
        raise ConfigurationError(f"the server metadata has no {name}")
    return value
