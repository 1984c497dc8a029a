"""The ``jti`` replay cache (RFC 7523 §3 item 7, RFC 7519 §4.1.7).

An assertion's ``jti`` is remembered until the assertion could no longer be accepted anyway
(its ``exp`` plus the leeway), so the cache never grows past what the lifetime cap allows.
In memory for one process, or in Redis (``SET NX`` with an expiry) for several.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import threading
from typing import Any, Protocol

from ..errors import ConfigurationError

__all__ = ["MemoryReplayCache", "RedisReplayCache", "ReplayCache", "ReplayCacheUnavailable",
           "replay_cache_for"]


class ReplayCacheUnavailable(Exception):
    """The cache cannot say whether a ``jti`` is new (full, or Redis down): refuse the request."""


class ReplayCache(Protocol):
    """Remembers assertion IDs until they expire."""

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """Record ``jti`` of ``issuer``; True the first time, False on any later call."""
        ...


def _key(issuer: str, jti: str) -> str:
    # A jti is unique per issuer (RFC 7519 §4.1.7); hashing bounds the key size.
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


class MemoryReplayCache:
    """A process-local cache: a dict for lookups and a heap to drop expired entries in order."""

    def __init__(self, *, max_entries: int = 1_000_000) -> None:
        self._max = max_entries
        self._seen: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """See :meth:`ReplayCache.first_use`; raises ReplayCacheUnavailable when full."""
        key = _key(issuer, jti)
        with self._lock:
            heap = self._heap
            while heap and heap[0][0] <= now:
                _, old = heapq.heappop(heap)
                if self._seen.get(old, math.inf) <= now:
                    del self._seen[old]
            if key in self._seen:
                return False
            if len(self._seen) >= self._max:
                raise ReplayCacheUnavailable(
                    f"replay cache holds {self._max} unexpired jti values; raise "
                    "replay_max_entries or lower max_assertion_lifetime"
                )
            self._seen[key] = expires_at
            heapq.heappush(heap, (expires_at, key))
            return True


class RedisReplayCache:
    """A cache shared by several server processes, in Redis (extra ``redis``).

    When Redis cannot be reached the request is refused (fail closed): accepting an assertion
    that might be a replay is the one thing this cache exists to prevent.
    """

    def __init__(self, url: str, *, prefix: str = "jwtbearer:jti:") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError(
                "replay = redis://... needs the redis client: pip install 'jwtbearer[redis]'"
            ) from None
        self._client: Any = redis.Redis.from_url(url, socket_timeout=2.0,
                                                 socket_connect_timeout=2.0)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._prefix = prefix

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """See :meth:`ReplayCache.first_use`."""
        ttl_ms = max(1000, math.ceil((expires_at - now) * 1000))
        try:
            stored = self._client.set(self._prefix + _key(issuer, jti), b"1", nx=True, px=ttl_ms)
        except self._errors as exc:
            raise ReplayCacheUnavailable(f"the Redis replay cache failed: {type(exc).__name__}") \
                from None
        return bool(stored)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def replay_cache_for(setting: str, *, max_entries: int) -> ReplayCache:
    """The cache a ``replay`` setting names: ``"memory"`` or a ``redis://`` URL."""
    if setting == "memory":
        return MemoryReplayCache(max_entries=max_entries)
    return RedisReplayCache(setting)
