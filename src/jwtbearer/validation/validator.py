"""JWTValidator: what a resource server runs on every incoming bearer token.

The signature is verified with a key chosen by ``kid`` from the issuer's JWKS (or the keys
given), the algorithm fixed by the key; then ``iss``, ``aud``, ``exp``, ``nbf``, ``iat`` and,
when asked, ``typ`` (``at+jwt`` for RFC 9068 access tokens). The JWKS location comes from the
issuer's metadata (:func:`jwtbearer.discover`) unless ``jwks_uri`` is given.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import httpx

from ..client.discovery import ServerMetadata, adiscover, discover
from ..errors import ConfigurationError, InvalidSignature, JWSError, UnknownKey
from ..jose.jws import MAX_TOKEN_LENGTH, verify_split
from ..jose.keys import ALGORITHMS, SigningKey, VerifyingKey, load_jwks
from ..token import Clock, system_clock
from .claims import (
    Split,
    ValidatedJWT,
    check_audience,
    check_issuer,
    check_times,
    check_typ,
    payload,
    show,
    split,
)
from .jwks import JWKSCache, select

__all__ = ["JWTValidator"]

KeysArg = VerifyingKey | SigningKey | Sequence[VerifyingKey | SigningKey] | Mapping[str, Any]


def static_keys(keys: KeysArg) -> tuple[VerifyingKey, ...]:
    """Keys given directly: a key, a list of keys, or a JWK Set (dict)."""
    if isinstance(keys, Mapping):
        return tuple(load_jwks(keys))
    if isinstance(keys, (VerifyingKey, SigningKey)):
        keys = [keys]
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise ConfigurationError("keys must be a VerifyingKey, a list of them, or a JWK Set")
    pool = tuple(k.verifying_key() if isinstance(k, SigningKey) else k for k in keys)
    if not all(isinstance(k, VerifyingKey) for k in pool):
        raise ConfigurationError("keys must be VerifyingKey or SigningKey objects")
    if not pool:
        raise ConfigurationError("keys is empty: give at least one key")
    return pool


def _audiences(audience: str | Sequence[str]) -> frozenset[str]:
    values = [audience] if isinstance(audience, str) else list(audience)
    if not values or not all(isinstance(a, str) and a for a in values):
        raise ConfigurationError(
            "audience is this resource server's identifier (a string, or a list of them); it "
            "is required: a token for another service must not be accepted (RFC 9068 §4)"
        )
    return frozenset(values)


class JWTValidator:
    """Validates incoming JWTs from one issuer for one audience (sync and async).

    ``jwks_uri`` defaults to the one in the issuer's metadata (fetched on first use);
    ``keys`` (a key, a list of keys, or a JWK Set dict) replaces the JWKS altogether.
    ``algorithms`` restricts the accepted ``alg`` values; ``leeway`` (seconds) applies to
    ``exp``/``nbf``/``iat``; ``required_claims`` must be present; ``typ`` (e.g. ``"at+jwt"``)
    is required in the header when set. ``jwks_cooldown`` and ``jwks_max_age`` govern the JWKS
    cache (:class:`JWKSCache`). Failures raise an :class:`~jwtbearer.InvalidToken` subclass;
    when no keys can be had at all, the :class:`~jwtbearer.TransportError` (or
    :class:`~jwtbearer.ResponseFormatError`) of the JWKS fetch.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Sequence[str],
        jwks_uri: str | None = None,
        keys: KeysArg | None = None,
        algorithms: Sequence[str] | None = None,
        leeway: float = 30,
        required_claims: Sequence[str] = ("exp",),
        typ: str | None = None,
        jwks_cooldown: float = 30,
        jwks_max_age: float = 3600,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        max_length: int = MAX_TOKEN_LENGTH,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer is the expected iss value (the issuer URL)")
        if isinstance(leeway, bool) or not isinstance(leeway, (int, float)) or leeway < 0:
            raise ConfigurationError(f"leeway is seconds >= 0, not {leeway!r}")
        unknown = sorted(set(algorithms or ()) - set(ALGORITHMS))
        if unknown or (algorithms is not None and not algorithms):
            raise ConfigurationError(
                f"algorithms must be among {', '.join(ALGORITHMS)}; got {unknown or 'none'}"
            )
        self.issuer = issuer
        self.audiences = _audiences(audience)
        self.algorithms = frozenset(algorithms) if algorithms else None
        self.leeway = float(leeway)
        self.required_claims = tuple(required_claims)
        self.typ = typ
        self._clock = clock or system_clock
        self._max_length = max_length
        self._static = static_keys(keys) if keys is not None else None
        self._cache_args: dict[str, Any] = {
            "cooldown": jwks_cooldown, "max_age": jwks_max_age, "algorithms": algorithms,
            "timeout": timeout, "http": http, "async_http": async_http,
            "allow_insecure_http": allow_insecure_http, "clock": clock,
        }
        self._timeout, self._insecure, self._discovery_clock = timeout, allow_insecure_http, clock
        self._http, self._async_http = http, async_http
        self._lock = threading.Lock()
        # Discovery forgives a trailing-slash difference (Auth0 publishes "https://x/"); tokens
        # then carry the metadata's spelling, which is accepted too.
        self._published_issuer: str | None = None
        self.jwks: JWKSCache | None = None
        if self._static is None and jwks_uri is not None:
            self.jwks = JWKSCache(jwks_uri, **self._cache_args)

    def __repr__(self) -> str:
        source = "keys" if self._static is not None else (self.jwks or "discovery")
        return (f"JWTValidator(issuer={self.issuer!r}, audience={sorted(self.audiences)!r}, "
                f"source={source!r})")

    # -- the JWKS, from discovery when not given -----------------------------------------------

    def _cache_for(self, metadata: ServerMetadata) -> JWKSCache:
        jwks_uri = metadata.jwks_uri
        if metadata.issuer != self.issuer:
            self._published_issuer = metadata.issuer
        if not jwks_uri:
            raise ConfigurationError(
                f"{self.issuer} publishes no jwks_uri in its metadata; give jwks_uri= or keys="
            )
        with self._lock:
            if self.jwks is None:
                self.jwks = JWKSCache(jwks_uri, **self._cache_args)
            return self.jwks

    def _keys(self, kid: object) -> list[VerifyingKey]:
        if self._static is not None:
            return select(self._static, kid)
        cache = self.jwks
        if cache is None:
            metadata = discover(self.issuer, http=self._http, timeout=self._timeout,
                                allow_insecure_http=self._insecure, clock=self._discovery_clock)
            cache = self._cache_for(metadata)
        return cache.keys_for(kid)

    async def _akeys(self, kid: object) -> list[VerifyingKey]:
        if self._static is not None:
            return select(self._static, kid)
        cache = self.jwks
        if cache is None:
            metadata = await adiscover(self.issuer, http=self._async_http,
                                       timeout=self._timeout,
                                       allow_insecure_http=self._insecure,
                                       clock=self._discovery_clock)
            cache = self._cache_for(metadata)
        return await cache.akeys_for(kid)

    # -- validation ----------------------------------------------------------------------------

    def _split(self, token: object) -> Split:
        parts = split(token, self._max_length)
        header = parts.header
        if self.typ is not None:
            check_typ(header, self.typ)
        if self.algorithms is not None and header["alg"] not in self.algorithms:
            raise InvalidSignature(
                f"alg {show(header['alg'])} is not accepted here (allowed: "
                f"{', '.join(sorted(self.algorithms))})", claim="alg",
                expected=sorted(self.algorithms), actual=header["alg"],
            )
        return parts

    def _finish(self, parts: Split, keys: list[VerifyingKey]) -> ValidatedJWT:
        if not keys:
            kid = parts.header.get("kid")
            where = ("the configured keys" if self.jwks is None else
                     f"the issuer's JWKS (refetched at most every {self.jwks.cooldown:g} s)")
            raise UnknownKey(
                f"no key with kid {show(kid)} in {where}; the token is signed by a key this "
                "issuer does not publish", claim="kid", expected="a published kid", actual=kid,
            )
        try:
            header, key = verify_split(parts.header_b64, parts.payload_b64,
                                           parts.signature_b64, parts.signing_input, keys)
        except JWSError as exc:
            raise InvalidSignature(str(exc), claim=None) from None
        claims = payload(parts)
        check_issuer(claims, self.issuer, self._published_issuer)
        check_audience(claims, self.audiences)
        check_times(claims, now=self._clock(), leeway=self.leeway,
                    required=self.required_claims)
        return ValidatedJWT(header=MappingProxyType(dict(header)),
                            claims=MappingProxyType(claims), key=key)

    def validate(self, token: str) -> ValidatedJWT:
        """Check ``token``; a :class:`ValidatedJWT` or an :class:`~jwtbearer.InvalidToken`."""
        parts = self._split(token)
        return self._finish(parts, self._keys(parts.header.get("kid")))

    async def avalidate(self, token: str) -> ValidatedJWT:
        """The async twin of :meth:`validate` (JWKS and metadata fetched without blocking)."""
        parts = self._split(token)
        return self._finish(parts, await self._akeys(parts.header.get("kid")))
