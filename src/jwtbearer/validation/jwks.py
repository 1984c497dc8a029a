"""A JWK Set fetched from ``jwks_uri`` and kept: the key source of :class:`JWTValidator`.

Rules (a resource server sees tokens from anyone, so an attacker chooses the ``kid``):

- fetched once, then reused for ``max_age`` seconds; after that, refetched on the next use;
- an unknown ``kid`` refetches at most once per ``cooldown`` seconds, counted from the previous
  JWKS request of any kind: a flood of random kids costs one request per cooldown, not one per
  token;
- a failed refetch keeps the keys already held (stale-on-error, logged as a warning) and is
  retried no sooner than ``cooldown`` later;
- concurrent misses share one request: threads through a lock, tasks through an anyio lock
  (async use is meant for one event loop; a sync and an async miss at the same instant may each
  fetch, still bounded by the cooldown).

Secrets (``oct`` keys) in a published JWK Set are ignored: a JWKS URL serves public keys only
(RFC 8725 §3.1: no HMAC with a key the whole world can read). An RSA key whose JWK names no
``alg`` verifies the RSA algorithms listed in ``algorithms`` (RS256 when none are listed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from .._flow import Flow, arun, run
from ..client import Fetched, afetch, fetch
from ..client.transport import check_endpoint
from ..errors import JWTBearerError, KeyLoadError, ResponseFormatError, TransportError
from ..jose.keys import VerifyingKey, load_jwks
from ..token import Clock, system_clock

__all__ = ["JWKSCache"]

logger = logging.getLogger("jwtbearer")

_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_FAILURES = (TransportError, ResponseFormatError, KeyLoadError)


def select(keys: Sequence[VerifyingKey], kid: object) -> list[VerifyingKey]:
    # As verify_compact chooses (RFC 7515 §4.1.4): the kid's keys, else the keys without a kid.
    if kid is None:
        return list(keys)
    return [k for k in keys if k.kid == kid] or [k for k in keys if k.kid is None]


class JWKSCache:
    """The keys at ``jwks_uri``, fetched lazily and kept (see the module docstring for rules).

    ``fetches`` counts JWKS requests made (successful or not). ``http``/``async_http`` are
    httpx clients of yours (left open); without them each fetch uses a fresh client under the
    token client's transport rules.
    """

    def __init__(
        self,
        jwks_uri: str,
        *,
        cooldown: float = 30.0,
        max_age: float = 3600.0,
        algorithms: Sequence[str] | None = None,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        check_endpoint(jwks_uri, allow_insecure_http, what="JWKS")
        if cooldown < 0 or max_age <= 0:
            raise ValueError("cooldown must be >= 0 and max_age > 0 (seconds)")
        self.jwks_uri = jwks_uri
        self.cooldown = float(cooldown)
        self.max_age = float(max_age)
        self._rsa_algs = tuple(a for a in (algorithms or ("RS256",)) if a in _RSA_ALGS)
        self._timeout = timeout
        self._http = http
        self._async_http = async_http
        self._insecure = allow_insecure_http
        self._clock = clock or system_clock
        self._keys: tuple[VerifyingKey, ...] | None = None
        self._fetched_at = 0.0
        self._last_request: float | None = None
        self._failed_at: float | None = None
        self._error: JWTBearerError | None = None
        self._lock = threading.Lock()
        self._alock = anyio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        held = "none" if self._keys is None else str(len(self._keys))
        return f"JWKSCache({self.jwks_uri!r}, keys={held}, fetches={self.fetches})"

    # -- decisions (no I/O) -------------------------------------------------------------------

    def _decide(self, kid: object, now: float) -> tuple[list[VerifyingKey], str | None]:
        """The usable keys and why a fetch is wanted (None: no fetch needed)."""
        keys = self._keys
        if keys is None:
            return [], "missing"
        if now - self._fetched_at >= self.max_age:
            return select(keys, kid), "expired"
        found = select(keys, kid)
        return found, (None if found else "unknown")

    def _may_fetch(self, reason: str, now: float) -> bool:
        if reason == "unknown":
            return self._last_request is None or now - self._last_request >= self.cooldown
        return self._failed_at is None or now - self._failed_at >= self.cooldown

    def _begin(self, now: float) -> None:
        self._last_request = now
        self.fetches += 1

    def _install(self, fetched: Fetched, now: float) -> None:
        try:
            keys = self._parse(fetched)
        except JWTBearerError as exc:
            self._fail(exc, now)
            return
        self._keys, self._fetched_at = keys, now
        self._failed_at, self._error = None, None
        logger.debug("JWKS from %s: %d keys", self.jwks_uri, len(keys))

    def _parse(self, fetched: Fetched) -> tuple[VerifyingKey, ...]:
        if fetched.status != 200:
            raise ResponseFormatError(
                f"the JWKS at {self.jwks_uri} answered HTTP {fetched.status}",
                status=fetched.status,
            )
        document: dict[str, Any] = fetched.json_object("JWK Set")
        raw = document.get("keys")
        loaded = load_jwks(document)
        keys: list[VerifyingKey] = []
        explicit = {item.get("kid"): "alg" in item for item in raw if isinstance(item, dict)} \
            if isinstance(raw, list) else {}
        for key in loaded:
            if key.is_symmetric:
                logger.warning("JWKS at %s publishes a secret (oct) key; ignored", self.jwks_uri)
                continue
            if key.kty == "RSA" and not explicit.get(key.kid, False):
                keys.extend(key.with_alg(alg) for alg in self._rsa_algs)
            else:
                keys.append(key)
        return tuple(keys)

    def _fail(self, exc: JWTBearerError, now: float) -> None:
        self._failed_at, self._error = now, exc
        if self._keys is not None:
            logger.warning("JWKS refresh from %s failed, keeping the %d keys held: %s",
                           self.jwks_uri, len(self._keys), exc)

    def _after(self, kid: object, now: float, reason: str) -> list[VerifyingKey]:
        """The answer once a fetch was made or refused: raise only when no keys are held."""
        keys, _ = self._decide(kid, now)
        if self._keys is None:
            error = self._error
            if error is None:  # pragma: no cover - a failed fetch always records its error
                error = TransportError(f"the JWKS at {self.jwks_uri} could not be fetched")
            raise type(error)(
                f"no keys: the JWKS at {self.jwks_uri} could not be fetched ({error}); "
                f"retried at most every {self.cooldown:g} s"
            )
        return keys

    def _locked(self, kid: object) -> Flow[None, list[VerifyingKey]]:
        """The one miss path, under the lock: yields once when the JWK Set must be fetched."""
        now = self._clock()
        keys, reason = self._decide(kid, now)
        if reason is None:
            return keys
        if self._may_fetch(reason, now):
            self._begin(now)
            try:
                fetched: Fetched = yield None
            except _FAILURES as exc:
                self._fail(exc, now)
            else:
                self._install(fetched, now)
        return self._after(kid, now, reason)

    def keys_for(self, kid: object) -> list[VerifyingKey]:
        """The keys that may verify a token with this header ``kid`` (empty: unknown kid)."""
        keys, reason = self._decide(kid, self._clock())
        if reason is None:
            return keys
        with self._lock:
            return run(self._locked(kid), lambda _: fetch(
                self.jwks_uri, http=self._http, timeout=self._timeout,
                allow_insecure_http=self._insecure, what="JWKS"))

    async def akeys_for(self, kid: object) -> list[VerifyingKey]:
        """The async twin of :meth:`keys_for`; concurrent tasks share one request."""
        keys, reason = self._decide(kid, self._clock())
        if reason is None:
            return keys
        async with self._alock:
            return await arun(self._locked(kid), lambda _: afetch(
                self.jwks_uri, http=self._async_http, timeout=self._timeout,
                allow_insecure_http=self._insecure, what="JWKS"))
