"""Authorization grants: what a token request asks for, as frozen values that give form fields.

Each grant has ``grant_type``, ``form(token_endpoint, now=...)`` (the form fields, ``grant_type``
included) and ``cache_identity()`` (what distinguishes its tokens in a cache: never a secret).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from ..errors import ConfigurationError, JWSError, redact
from ..jose.assertion import JWS, JWT
from ..jose.jws import b64url_encode, sign_compact, unverified_claims
from ..jose.keys import SigningKey
from ..jose.keystore import resolve_key
from ..jose.signer import Signer
from ..oauth import (
    AUTHORIZATION_CODE_GRANT,
    CLIENT_CREDENTIALS_GRANT,
    JWT_BEARER_GRANT,
    REFRESH_TOKEN_GRANT,
)
from .client_auth import AUTH_FIELDS

__all__ = [
    "AUTHORIZATION_CODE_GRANT",
    "CLIENT_CREDENTIALS_GRANT",
    "JWT_BEARER_GRANT",
    "PKCE",
    "REFRESH_TOKEN_GRANT",
    "AuthorizationCode",
    "ClientCredentials",
    "Grant",
    "JWTBearer",
    "RefreshToken",
]

Identity = dict[str, str | None]


@runtime_checkable
class Grant(Protocol):
    """Anything :func:`jwtbearer.build_token_request` can send: a ``grant_type`` and the form
    fields of one token request (RFC 6749 §4), and what names its tokens in a cache."""

    @property
    def grant_type(self) -> str: ...

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]: ...

    def cache_identity(self) -> Identity: ...


def _scope(value: str | Sequence[str] | None) -> str | None:
    """RFC 6749 §3.3: a space-delimited list; a sequence of scopes is joined for convenience."""
    if value is None:
        return None
    if isinstance(value, str):
        scopes = value.split()
    elif isinstance(value, Sequence) and all(isinstance(s, str) for s in value):
        scopes = [s for item in value for s in item.split()]
    else:
        raise ConfigurationError("scope is a space-separated string or a list of strings")
    if any(ch in s for s in scopes for ch in '"\\') or any(not s.isprintable() for s in scopes):
        raise ConfigurationError("scope tokens are printable ASCII without '\"' or '\\' (§3.3)")
    return " ".join(scopes) or None


def _optional_text(value: object, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{what} must be a non-empty string or None")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _audience_text(aud: object) -> str | None:
    if aud is None:
        return None
    if isinstance(aud, str):
        return aud
    if isinstance(aud, Sequence):
        return " ".join(str(a) for a in aud)
    return str(aud)


@dataclass(frozen=True, slots=True, repr=False)
class JWTBearer:
    """The JWT bearer grant (RFC 7523 §2.1): ``grant_type=...jwt-bearer&assertion=<JWT>``.

    ``assertion`` is a :class:`JWT` template, signed afresh on every :meth:`form` (a new ``jti``,
    ``iat`` and ``exp``, so a retry or a refresh never resends an assertion: RFC 7523 §3 lets the
    server refuse a replayed ``jti``) with ``key`` (a :class:`SigningKey` or the name of a key in
    the default key store). When the template's ``aud`` is None the token endpoint URL is used.
    A :class:`JWS` over a JWT is re-signed the same way with its own key. A ``str`` is a
    ready-made assertion, sent as is (``key`` must then be None).
    """

    assertion: JWT | JWS | str
    key: SigningKey | Signer | str | None = None
    scope: str | None = None
    grant_type: str = field(default=JWT_BEARER_GRANT, init=False)
    _key: SigningKey | Signer | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        _set(self, "scope", _scope(self.scope))
        if isinstance(self.assertion, str):
            if self.key is not None:
                raise ConfigurationError(
                    "a ready-made assertion (str) is sent as is: pass key=None, or pass a JWT "
                    "to have it signed with the key"
                )
            if self.assertion.count(".") != 2:
                raise ConfigurationError(
                    "the assertion must be a compact JWS (three base64url parts joined by '.')"
                )
            return
        if isinstance(self.assertion, JWS):
            if self.key is not None:
                raise ConfigurationError("a JWS carries its key: pass key=None")
            return
        if not isinstance(self.assertion, JWT):
            raise ConfigurationError("assertion must be a JWT, a JWS or a compact JWS string")
        if self.key is None:
            raise ConfigurationError(
                "a JWT needs key=: a SigningKey, a signer or the name of a key in the key store "
                "(`jwtbearer keys create NAME`)"
            )
        _set(self, "_key", resolve_key(self.key))

    def _signed(self, token_endpoint: str, now: float) -> str:
        source = self.assertion
        if isinstance(source, str):
            return source
        key, x5t = self._key, False
        if isinstance(source, JWS):
            if source.jwt is None:
                return source.compact_serialization()
            key, x5t = source.key, source.x5t_s256
            source = source.jwt
        assert key is not None  # set in __post_init__ for every JWT template
        claims = source.claims(now=now)
        if source.aud is None:
            claims["aud"] = token_endpoint
        return sign_compact(claims, key, x5t_s256=x5t)

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        """``grant_type``, a freshly signed ``assertion`` and ``scope`` when given."""
        fields = {"grant_type": self.grant_type, "assertion": self._signed(token_endpoint, now)}
        if self.scope:
            fields["scope"] = self.scope
        return fields

    def __repr__(self) -> str:
        # A ready-made assertion is a bearer credential: show its claims, not its signature.
        shown = redact(self.assertion) if isinstance(self.assertion, str) else repr(self.assertion)
        return f"JWTBearer({shown}, key={self.key!r}, scope={self.scope!r})"

    def cache_identity(self) -> Identity:
        """Grant type, issuer, subject, audience and scope of the assertion."""
        source = self.assertion
        if isinstance(source, JWS):
            source = source.jwt if source.jwt is not None else str(source.payload)
        if isinstance(source, JWT):
            iss, sub, aud = source.iss, source.sub, _audience_text(source.aud)
        else:
            try:
                claims = unverified_claims(source) if source.count(".") == 2 else {}
            except JWSError:
                claims = {}
            iss, sub = claims.get("iss"), claims.get("sub")
            aud = _audience_text(claims.get("aud"))
            iss = iss if isinstance(iss, str) else None
            sub = sub if isinstance(sub, str) else None
        return {
            "grant_type": self.grant_type,
            "issuer": iss,
            "subject": sub,
            "audience": aud,
            "scope": self.scope,
        }


_RESERVED = AUTH_FIELDS | {"grant_type"}


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """The client credentials grant (RFC 6749 §4.4): the client asks for a token for itself.

    ``audience`` is the common (Auth0, PingOne) parameter naming the API; ``resource`` is the
    RFC 8707 one. ``extra`` adds other form fields; it may not set ``grant_type``, a client
    authentication field or a field given by its own argument.
    """

    scope: str | None = None
    audience: str | None = None
    resource: str | None = None
    extra: Mapping[str, str] | None = None
    grant_type: str = field(default=CLIENT_CREDENTIALS_GRANT, init=False)

    def __post_init__(self) -> None:
        _set(self, "scope", _scope(self.scope))
        _optional_text(self.audience, "audience")
        _optional_text(self.resource, "resource")
        if self.extra is None:
            return
        if not isinstance(self.extra, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.extra.items()
        ):
            raise ConfigurationError("extra must map form field names to string values")
        named = {"scope", "audience", "resource"} & set(self.extra)
        clash = sorted(_RESERVED & set(self.extra) | named)
        if clash:
            raise ConfigurationError(
                f"extra may not set {', '.join(clash)}: grant_type is the grant's, client_* "
                "fields belong to client authentication, scope/audience/resource have arguments"
            )
        _set(self, "extra", MappingProxyType(dict(self.extra)))

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        """``grant_type=client_credentials`` plus the fields given."""
        fields = {"grant_type": self.grant_type}
        for name in ("scope", "audience", "resource"):
            value = getattr(self, name)
            if value:
                fields[name] = value
        if self.extra:
            fields.update(self.extra)
        return fields

    def cache_identity(self) -> Identity:
        """Grant type, scope, audience, resource and the extra fields (no subject: the client)."""
        identity: Identity = {
            "grant_type": self.grant_type,
            "subject": None,
            "scope": self.scope,
            "audience": self.audience,
            "resource": self.resource,
        }
        for name, value in sorted((self.extra or {}).items()):
            identity[f"extra.{name}"] = value
        return identity


_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


@dataclass(frozen=True, slots=True)
class PKCE:
    """A PKCE pair (RFC 7636): send ``challenge`` (with ``method``) in the authorization request
    and ``verifier`` in :class:`AuthorizationCode`."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> PKCE:
        """A new random verifier (64 characters, RFC 7636 §4.1) and its S256 challenge (§4.2)."""
        return cls.from_verifier(secrets.token_urlsafe(48))

    @classmethod
    def from_verifier(cls, verifier: str) -> PKCE:
        """The S256 challenge of an existing verifier (43-128 unreserved characters, §4.1)."""
        if not isinstance(verifier, str) or not _VERIFIER_RE.match(verifier):
            raise ConfigurationError(
                "a PKCE code_verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~ "
                "(RFC 7636 §4.1)"
            )
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier=verifier, challenge=b64url_encode(digest))


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """The authorization code grant's token request (RFC 6749 §4.1.3, PKCE: RFC 7636 §4.5).

    ``redirect_uri`` must be the one sent in the authorization request. The code and the
    verifier are credentials and never appear in ``repr``.
    """

    code: str = field(repr=False)
    redirect_uri: str
    code_verifier: str | None = field(default=None, repr=False)
    grant_type: str = field(default=AUTHORIZATION_CODE_GRANT, init=False)

    def __post_init__(self) -> None:
        _optional_text(self.code, "code")
        if self.code is None:
            raise ConfigurationError("code is required")
        _optional_text(self.redirect_uri, "redirect_uri")
        if self.redirect_uri is None:
            raise ConfigurationError("redirect_uri is required (RFC 6749 §4.1.3)")
        if self.code_verifier is not None:
            PKCE.from_verifier(self.code_verifier)

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        """``grant_type``, ``code``, ``redirect_uri`` and ``code_verifier`` when given."""
        fields = {"grant_type": self.grant_type, "code": self.code,
                  "redirect_uri": self.redirect_uri}
        if self.code_verifier:
            fields["code_verifier"] = self.code_verifier
        return fields

    def cache_identity(self) -> Identity:
        """Grant type and redirect URI (a code is single-use: its tokens are not shared)."""
        return {"grant_type": self.grant_type, "subject": None, "scope": None,
                "audience": None, "redirect_uri": self.redirect_uri}


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """The refresh token grant (RFC 6749 §6). The refresh token never appears in ``repr``."""

    refresh_token: str = field(repr=False)
    scope: str | None = None
    grant_type: str = field(default=REFRESH_TOKEN_GRANT, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.refresh_token, str) or not self.refresh_token:
            raise ConfigurationError("refresh_token must be a non-empty string")
        _set(self, "scope", _scope(self.scope))

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        """``grant_type=refresh_token``, the token and ``scope`` when narrowing it."""
        fields = {"grant_type": self.grant_type, "refresh_token": self.refresh_token}
        if self.scope:
            fields["scope"] = self.scope
        return fields

    def cache_identity(self) -> Identity:
        """Grant type and scope; the refresh token itself is a secret and stays out."""
        return {"grant_type": self.grant_type, "subject": None, "scope": self.scope,
                "audience": None}
