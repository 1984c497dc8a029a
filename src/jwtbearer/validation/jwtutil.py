"""Apex ``Auth.JWTUtil``: parse a JWT, or validate it with a certificate, a key or a keys URL.

Each ``validate_*`` method checks the signature (algorithm fixed by the key), ``exp`` and ``nbf``
with a 30 s leeway, as Apex does, and returns a :class:`ParsedJWT` (a :class:`jwtbearer.JWT`)
carrying the claims; every failure is an ``Auth.JWTValidationException``, here
:class:`jwtbearer.JWTValidationException` (the :class:`~jwtbearer.InvalidToken` family, so the
subclass says what failed). ``iss`` and ``aud`` are left to the caller, as in Apex; use
:class:`jwtbearer.JWTValidator` to check them too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..errors import InvalidSignature, JWSError, KeyLoadError, UnknownKey
from ..jose.assertion import JWT, REGISTERED_CLAIMS
from ..jose.jws import MAX_TOKEN_LENGTH, verify_split
from ..jose.keys import SigningKey, VerifyingKey
from ..jose.keystore import default_key_store
from ..token import system_clock
from .claims import Split, check_times, payload, show, split
from .jwks import JWKSCache

__all__ = ["JWTUtil", "ParsedJWT"]

#: Apex's clock-skew allowance for ``exp`` and ``nbf``.
APEX_LEEWAY = 30
_KEY_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".json", ".jwk", ".key")


class ParsedJWT(JWT):
    """A :class:`jwtbearer.JWT` read from a token: ``iss``, ``sub``, ``aud`` and the
    non-registered claims in ``additional_claims`` (as Apex's ``Auth.JWT`` getters give them),
    plus the whole claim set in ``claims_set``, the header in ``header``, and ``exp``, ``nbf``,
    ``iat``, ``jti`` as read."""

    def __init__(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
        aud = claims.get("aud")
        super().__init__(
            _str(claims.get("iss")), _str(claims.get("sub")),
            aud if isinstance(aud, (str, list)) else None,
            additional_claims={k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS},
        )
        self.header = dict(header)
        self.claims_set = dict(claims)
        self.exp, self.nbf, self.iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        self.jti = claims.get("jti")
        exp, iat = self.exp, self.iat
        if isinstance(exp, int) and isinstance(iat, int) and _int(exp) and _int(iat) and (
            0 < exp - iat <= 10**8
        ):
            self.validity_length = exp - iat

    def __repr__(self) -> str:
        return f"ParsedJWT(iss={self.iss!r}, sub={self.sub!r}, aud={self.aud!r}, exp={self.exp!r})"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _verified(parts: Split, keys: VerifyingKey | list[VerifyingKey]) -> ParsedJWT:
    if isinstance(keys, list) and not keys:
        kid = parts.header.get("kid")
        raise UnknownKey(f"no key with kid {show(kid)} at the keys endpoint", claim="kid",
                         expected="a published kid", actual=kid)
    try:
        header, _ = verify_split(parts.header_b64, parts.payload_b64, parts.signature_b64,
                                     parts.signing_input, keys)
    except JWSError as exc:
        raise InvalidSignature(str(exc)) from None
    claims = payload(parts)
    check_times(claims, now=system_clock(), leeway=APEX_LEEWAY)
    return ParsedJWT(header, claims)


def _key_from(value: VerifyingKey | SigningKey | str | bytes | Mapping[str, Any]
              ) -> VerifyingKey:
    if isinstance(value, VerifyingKey):
        return value
    if isinstance(value, SigningKey):
        return value.verifying_key()
    if isinstance(value, Mapping):
        return VerifyingKey.from_jwk(value)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if text.lstrip().startswith("{"):
        return VerifyingKey.from_jwk(text)
    return VerifyingKey.from_pem(text)


class JWTUtil:
    """Apex ``Auth.JWTUtil``, method for method (static methods, snake_case)."""

    _caches: ClassVar[dict[str, JWKSCache]] = {}
    _caches_lock: ClassVar[threading.Lock] = threading.Lock()

    @staticmethod
    def parse_jwt_from_string_without_validation(jwt: str) -> ParsedJWT:
        """The claims, NOT validated (``parseJWTFromStringWithoutValidation``): never trust
        them for a decision."""
        parts = split(jwt, MAX_TOKEN_LENGTH)
        return ParsedJWT(parts.header, payload(parts))

    @staticmethod
    def validate_jwt_with_cert(jwt: str, cert_name_or_path: str | os.PathLike[str]) -> ParsedJWT:
        """Validate with a certificate (``validateJWTWithCert``): a key-store name, as
        ``jb.JWS`` takes, or the path of a certificate or public-key file."""
        parts = split(jwt, MAX_TOKEN_LENGTH)
        name = os.fspath(cert_name_or_path)
        path = Path(name).expanduser()
        if isinstance(cert_name_or_path, os.PathLike) or "/" in name or os.sep in name or \
                name.endswith(_KEY_SUFFIXES):
            key = VerifyingKey.from_file(path)
        else:
            try:
                key = default_key_store().get(name).verifying_key()
            except KeyLoadError:
                if not path.is_file():
                    raise
                key = VerifyingKey.from_file(path)
        return _verified(parts, key)

    @staticmethod
    def validate_jwt_with_key(jwt: str, key: VerifyingKey | SigningKey | str | bytes |
                              Mapping[str, Any]) -> ParsedJWT:
        """Validate with a key (``validateJWTWithKey``): a ``jb.VerifyingKey``, PEM or JWK."""
        parts = split(jwt, MAX_TOKEN_LENGTH)
        return _verified(parts, _key_from(key))

    @staticmethod
    def validate_jwt_with_keys_endpoint(jwt: str, keys_endpoint: str,
                                        use_cache: bool = True) -> ParsedJWT:
        """Validate with a JWKS URL (``validateJWTWithKeysEndpoint``); with ``use_cache`` the
        keys are kept per URL (refetched on an unknown kid at most every 30 s)."""
        if use_cache:
            with JWTUtil._caches_lock:
                cache = JWTUtil._caches.get(keys_endpoint)
                if cache is None:
                    cache = JWTUtil._caches[keys_endpoint] = JWKSCache(keys_endpoint)
        else:
            cache = JWKSCache(keys_endpoint)
        parts = split(jwt, MAX_TOKEN_LENGTH)
        return _verified(parts, cache.keys_for(parts.header.get("kid")))
