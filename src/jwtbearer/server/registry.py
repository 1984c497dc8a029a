"""Registered clients: who may ask for tokens, how they authenticate, and with which keys.

One ``[[clients]]`` table of the server's TOML file becomes one :class:`Client`. Keys and
certificates are read once, at start; a secret written ``"env:NAME"`` is read from the
environment, so the file itself can be committed without it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._util import read_env
from ..errors import ConfigurationError, KeyLoadError
from ..jose.keys import VerifyingKey, load_jwks
from ..oauth import AUTH_METHODS as _TOKEN_AUTH_METHODS
from ..oauth import AUTHORIZATION_CODE_GRANT as AUTHORIZATION_CODE
from ..oauth import CLIENT_CREDENTIALS_GRANT as CLIENT_CREDENTIALS
from ..oauth import JWT_BEARER_GRANT as JWT_BEARER
from ..oauth import REFRESH_TOKEN_GRANT as REFRESH_TOKEN
from ..oauth import TLS_AUTH_METHODS
from ..oauth import TOKEN_EXCHANGE_GRANT as TOKEN_EXCHANGE

__all__ = [
    "AUTHORIZATION_CODE",
    "AUTH_METHODS",
    "CLIENT_CREDENTIALS",
    "JWT_BEARER",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "Client",
    "ClientRegistry",
    "ServerConfigError",
    "parse_client",
]

AUTH_METHODS = (*_TOKEN_AUTH_METHODS, *TLS_AUTH_METHODS)
GRANT_TYPES = (CLIENT_CREDENTIALS, JWT_BEARER, AUTHORIZATION_CODE, REFRESH_TOKEN, TOKEN_EXCHANGE)

_HMAC_ALGS = ("HS256", "HS384", "HS512")
# RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E
_SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_CLIENT_KEYS = frozenset(
    {
        "client_id",
        "token_endpoint_auth_method",
        "token_endpoint_auth_signing_alg",
        "jwks",
        "certificate",
        "client_secret",
        "grant_types",
        "scopes",
        "subjects",
        "audiences",
        "redirect_uris",
        "require_client_authentication",
        "dpop_bound_access_tokens",
        "dpop_nonce",
        "tls_client_certificate_bound_access_tokens",
        "tls_client_auth_subject_dn",
        *(f"tls_client_auth_san_{kind}" for kind in ("dns", "uri", "ip", "email")),
    }
)


class ServerConfigError(ConfigurationError):
    """The server configuration is refused; the message names the file, the key and the fix."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """One registered client (RFC 7591 §2 metadata names).

    ``keys`` verify its ``private_key_jwt`` client assertions and its JWT bearer grant
    assertions; ``client_secret`` checks ``client_secret_basic``/``_post`` and verifies
    ``client_secret_jwt`` (HMAC) assertions. ``subjects`` are the users pre-authorized for the
    JWT bearer grant (``"*"`` approves any subject). ``audiences`` are the resources it may ask
    access tokens for with ``audience``/``resource`` (RFC 8707). ``redirect_uris`` are where
    ``/authorize`` may send a code (exact match). ``require_client_authentication`` makes the
    JWT bearer grant need the registered client authentication too, not only the assertion.
    """

    client_id: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    keys: tuple[VerifyingKey, ...] = ()
    client_secret: str | None = field(default=None, repr=False)
    secret_alg: str = "HS256"
    hmac_key: VerifyingKey | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = ()
    require_client_authentication: bool = False
    #: RFC 9449 §5.2: every token request needs a DPoP proof; ``dpop_nonce``: with a nonce.
    dpop_bound_access_tokens: bool = False
    dpop_nonce: bool = False
    #: RFC 8705 §3: every token request comes over mutual TLS and its token is bound.
    tls_client_certificate_bound_access_tokens: bool = False
    #: RFC 8705 §2.1.2: the one subject DN, or the one (kind, value) SAN, for tls_client_auth.
    tls_client_auth_subject_dn: str | None = None
    tls_client_auth_san: tuple[str, str] | None = None

    def assertion_keys(self) -> tuple[VerifyingKey, ...]:
        """Keys that may verify this client's assertions: registered keys, else its secret."""
        if self.keys:
            return self.keys
        return (self.hmac_key,) if self.hmac_key is not None else ()

    def approves(self, subject: str) -> bool:
        """True when ``subject`` is pre-authorized for the JWT bearer grant."""
        return "*" in self.subjects or subject in self.subjects


class ClientRegistry(Mapping[str, Client]):
    """Clients by ``client_id``."""

    def __init__(self, clients: Mapping[str, Client]) -> None:
        self._clients = dict(clients)

    def __getitem__(self, client_id: str) -> Client:
        return self._clients[client_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def __repr__(self) -> str:
        return f"ClientRegistry({sorted(self._clients)!r})"


def _strings(value: Any, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ServerConfigError(source, key, "must be a list of non-empty strings")
    return tuple(value)


def _resolve_secret(value: Any, environ: Mapping[str, str], source: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ServerConfigError(source, key, 'must be a string, or "env:NAME" to read $NAME')
    if value.startswith("env:"):
        try:
            return read_env(value[4:], environ)
        except ConfigurationError as exc:
            raise ServerConfigError(source, key, str(exc)) from None
    return value


def _load_keys(table: Mapping[str, Any], base: Path, source: str, where: str) -> list[VerifyingKey]:
    if "jwks" in table and "certificate" in table:
        raise ServerConfigError(source, f"{where}.jwks", "give jwks or certificate, not both")
    try:
        if "jwks" in table:
            value = table["jwks"]
            if isinstance(value, dict):
                keys = load_jwks(json.dumps(value))
            elif isinstance(value, str):
                path = base / value
                try:
                    keys = load_jwks(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:  # ValueError: not UTF-8, a NUL in the name
                    problem = getattr(exc, "strerror", None) or exc
                    raise KeyLoadError(f"cannot read {path}: {problem}") from None
            else:
                raise KeyLoadError("must be a file name or an inline JWK Set table")
            if not keys:
                raise KeyLoadError("the JWK Set holds no signing key")
            if any(k.kty == "oct" for k in keys):
                raise KeyLoadError("a shared secret belongs in client_secret, not in jwks")
            return keys
        if "certificate" in table:
            value = table["certificate"]
            if not isinstance(value, str):
                raise KeyLoadError("must be the file name of a PEM certificate or public key")
            key = VerifyingKey.from_file(base / value)
            # The key store signs with kid = the RFC 7638 thumbprint; register the same kid.
            return [key.with_kid(key.kid or key.thumbprint())]
    except KeyLoadError as exc:
        name = "jwks" if "jwks" in table else "certificate"
        raise ServerConfigError(source, f"{where}.{name}", str(exc)) from None
    return []


def parse_client(
    table: Mapping[str, Any],
    *,
    index: int,
    base: Path,
    source: str,
    environ: Mapping[str, str] | None = None,
) -> Client:
    """Build a :class:`Client` from one ``[[clients]]`` table, or raise ServerConfigError."""
    env = os.environ if environ is None else environ
    where = f"clients[{index}]"
    unknown = sorted(set(table) - _CLIENT_KEYS)
    if unknown:
        raise ServerConfigError(
            source,
            f"{where}.{unknown[0]}",
            "unknown key; known: " + ", ".join(sorted(_CLIENT_KEYS)),
        )
    client_id = table.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip():
        raise ServerConfigError(source, f"{where}.client_id", "required, a non-empty string")
    where = f"clients[{index}] ({client_id})"
    method = table.get("token_endpoint_auth_method")
    if method not in AUTH_METHODS:
        raise ServerConfigError(
            source,
            f"{where}.token_endpoint_auth_method",
            f"must be one of {', '.join(AUTH_METHODS)}",
        )
    grants = _strings(table.get("grant_types"), source, f"{where}.grant_types")
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise ServerConfigError(
                source,
                f"{where}.grant_types",
                f"{grant!r} is not served; use {' or '.join(GRANT_TYPES)}",
            )
    scopes = _strings(table.get("scopes", []), source, f"{where}.scopes")
    for scope in scopes:
        if not _SCOPE_RE.match(scope):
            raise ServerConfigError(
                source, f"{where}.scopes", f"{scope!r} is not a scope token (RFC 6749 §3.3)"
            )
    subjects = _strings(table.get("subjects", []), source, f"{where}.subjects")
    redirect_uris = _strings(table.get("redirect_uris", []), source, f"{where}.redirect_uris")
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if not parts.scheme or parts.fragment or (parts.scheme in ("http", "https")
                                                  and not parts.netloc):
            raise ServerConfigError(source, f"{where}.redirect_uris",
                                    f"{uri!r} must be an absolute URI without a fragment "
                                    "(RFC 6749 §3.1.2)")
    if AUTHORIZATION_CODE in grants and not redirect_uris:
        raise ServerConfigError(source, f"{where}.redirect_uris",
                                "authorization_code needs at least one redirect URI")
    if REFRESH_TOKEN in grants and AUTHORIZATION_CODE not in grants:
        raise ServerConfigError(source, f"{where}.grant_types",
                                "refresh_token is issued with authorization_code; add it")
    strict = table.get("require_client_authentication", False)
    if not isinstance(strict, bool):
        raise ServerConfigError(source, f"{where}.require_client_authentication",
                                "must be true or false")
    audiences = _strings(table.get("audiences", []), source, f"{where}.audiences")
    keys = _load_keys(table, base, source, where)
    secret = None
    if "client_secret" in table:
        secret = _resolve_secret(table["client_secret"], env, source, f"{where}.client_secret")
    alg = table.get("token_endpoint_auth_signing_alg")
    if alg is not None and not isinstance(alg, str):
        raise ServerConfigError(source, f"{where}.token_endpoint_auth_signing_alg", "a string")
    if alg is not None and keys:
        try:
            keys = [k.with_alg(alg) for k in keys]
        except (KeyLoadError, ConfigurationError) as exc:
            raise ServerConfigError(
                source, f"{where}.token_endpoint_auth_signing_alg", str(exc)
            ) from None
    secret_alg = alg if alg in _HMAC_ALGS else "HS256"
    hmac_key = None
    needs_hmac = method == "client_secret_jwt" or (JWT_BEARER in grants and not keys)
    if secret is not None and needs_hmac:
        try:
            hmac_key = VerifyingKey.from_secret(secret, secret_alg)
            # VerifyingKey does not check secret length; the signing side does (RFC 7518 §3.2).
            if len(secret.encode()) < int(secret_alg[2:]) // 8:
                raise KeyLoadError(
                    f"{secret_alg} needs a secret of at least {int(secret_alg[2:]) // 8} bytes "
                    "(RFC 7518 §3.2)"
                )
        except (KeyLoadError, ConfigurationError) as exc:
            raise ServerConfigError(source, f"{where}.client_secret", str(exc)) from None
    if method == "private_key_jwt" and not keys:
        raise ServerConfigError(
            source,
            where,
            'private_key_jwt needs jwks = "file.jwks.json" or certificate = "file.pem"',
        )
    if method.startswith("client_secret") and secret is None:
        raise ServerConfigError(source, where, f"{method} needs client_secret")
    for confidential in (CLIENT_CREDENTIALS, TOKEN_EXCHANGE):
        if method == "none" and confidential in grants:
            raise ServerConfigError(
                source,
                f"{where}.grant_types",
                f"{confidential} is for confidential clients only (RFC 6749 §4.4, RFC 8693 "
                "§5); give the client an authentication method other than none",
            )
    if JWT_BEARER in grants and not keys and hmac_key is None:
        raise ServerConfigError(
            source, where, "the JWT bearer grant needs jwks or certificate to verify assertions"
        )
    flags = {}
    for name in ("dpop_bound_access_tokens", "dpop_nonce",
                 "tls_client_certificate_bound_access_tokens"):
        flags[name] = table.get(name, False)
        if not isinstance(flags[name], bool):
            raise ServerConfigError(source, f"{where}.{name}", "must be true or false")
    subject_dn, san = _tls_names(table, method, bool(keys), source, where)
    return Client(
        client_id=client_id,
        token_endpoint_auth_method=method,
        grant_types=grants,
        scopes=scopes,
        subjects=subjects,
        audiences=audiences,
        keys=tuple(keys),
        client_secret=secret,
        secret_alg=secret_alg,
        hmac_key=hmac_key,
        redirect_uris=redirect_uris,
        require_client_authentication=strict,
        tls_client_auth_subject_dn=subject_dn,
        tls_client_auth_san=san,
        **flags,
    )


def _tls_names(table: Mapping[str, Any], method: str, has_keys: bool, source: str,
               where: str) -> tuple[str | None, tuple[str, str] | None]:
    """RFC 8705 §2.1.2: exactly one of the subject DN and the SAN keys, for tls_client_auth."""
    given = sorted(k for k in table if k.startswith("tls_client_auth_s"))
    for key in given:
        if not isinstance(table[key], str) or not table[key]:
            raise ServerConfigError(source, f"{where}.{key}", "must be a non-empty string")
    if method == "self_signed_tls_client_auth" and not has_keys:
        raise ServerConfigError(source, where, "self_signed_tls_client_auth needs the client's "
                                'certificate: certificate = "cert.pem" or jwks with x5c')
    if method != "tls_client_auth":
        if given:
            raise ServerConfigError(source, f"{where}.{given[0]}",
                                    "only for token_endpoint_auth_method = tls_client_auth")
        return None, None
    if len(given) != 1:
        raise ServerConfigError(source, where, "tls_client_auth needs exactly one of "
                                "tls_client_auth_subject_dn, tls_client_auth_san_dns, _san_uri, "
                                "_san_ip, _san_email (RFC 8705 §2.1.2)")
    key, value = given[0], table[given[0]]
    if key == "tls_client_auth_subject_dn":
        from cryptography import x509

        try:
            x509.Name.from_rfc4514_string(value)
        except ValueError as exc:
            problem = f'not an RFC 4514 DN ({exc}), e.g. "CN=svc,O=Example"'
            raise ServerConfigError(source, f"{where}.{key}", problem) from None
        return value, None
    kind = key.rsplit("_", 1)[1]
    if kind == "ip":
        import ipaddress

        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ServerConfigError(source, f"{where}.{key}",
                                    f"{value!r} is not an IP address") from None
    return None, (kind, value)
