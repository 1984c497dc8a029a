"""The ``jti`` replay cache (RFC 7523 §3 item 7, RFC 7519 §4.1.7).

An assertion's ``jti`` is remembered until the assertion could no longer be accepted anyway
(its ``exp`` plus the leeway), so the cache never grows past what the lifetime cap allows.
In memory for one process, or in Redis (``SET NX`` with an expiry) for several.

The same store keeps what the authorization-code and refresh-token grants must remember
(:class:`GrantStore`): short records under a key, each with its own expiry.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import sys
import threading
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError

__all__ = ["GrantStore", "MemoryReplayCache", "RedisReplayCache", "ReplayCache",
           "ReplayCacheUnavailable", "replay_cache_for"]


class ReplayCacheUnavailable(Exception):
    """The cache cannot say whether a ``jti`` is new (full, or Redis down): refuse the request."""


class ReplayCache(Protocol):
    """Remembers assertion IDs until they expire."""

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """Record ``jti`` of ``issuer``; True the first time, False on any later call."""
        ...


@runtime_checkable
class GrantStore(Protocol):
    """Records of issued codes and refresh tokens, each kept until its expiry."""

    def put(self, key: str, value: bytes, *, expires_at: float, now: float) -> None:
        """Store ``value`` under ``key`` until ``expires_at``."""
        ...

    def get(self, key: str, *, now: float) -> bytes | None:
        """The value under ``key``, or None when absent or expired."""
        ...

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """As :meth:`ReplayCache.first_use`: atomic, so one of two racing uses wins."""
        ...


def _key(issuer: str, jti: str) -> str:
    # A jti is unique per issuer (RFC 7519 §4.1.7); hashing bounds the Redis key size.
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


class MemoryReplayCache:
    """A process-local cache: a dict keyed by ``(issuer, jti)`` holding each entry's expiry.

    Expired entries are dropped in bulk, at most once per ``purge_interval`` seconds of the
    injected clock (and whenever the cache is full): each entry also sits in the bucket of
    the ``purge_interval`` slice its expiry falls in, and a purge drops whole buckets that lie
    in the past. A request therefore costs one dict lookup and one list append, never a scan;
    an entry that expired but was not dropped yet is treated as absent. ``max_entries`` and
    ``max_bytes`` bound the memory (an entry is counted as its two strings plus
    :data:`ENTRY_OVERHEAD` bytes of containers, so a client sending long ``jti`` values fills
    the byte bound first): a full cache refuses new ``jti`` values (fail closed) rather than
    forget live ones.
    """

    #: Bytes an entry costs beyond its issuer and jti strings: the key tuple, the expiry
    #: float, its dict slot and its place in a bucket list (measured with tracemalloc on CPython
    #: 3.11, 64-bit: about 142 bytes an entry over 200,000 entries).
    ENTRY_OVERHEAD = 160

    def __init__(self, *, max_entries: int = 1_000_000, purge_interval: float = 1.0,
                 max_bytes: int = 256 * 1024 * 1024) -> None:
        if max_entries < 1 or not purge_interval > 0 or max_bytes < 1:
            raise ConfigurationError(
                "replay cache: max_entries >= 1, max_bytes >= 1 and purge_interval > 0")
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._interval = float(purge_interval)
        self._seen: dict[tuple[str, str], float] = {}
        self._buckets: dict[int, list[tuple[str, str]]] = {}
        self._order: list[int] = []  # heap of the bucket numbers in _buckets
        self._next_purge = -math.inf
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, bytes]] = {}
        self._next_value_purge = -math.inf

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def size_bytes(self) -> int:
        """The memory the entries are counted as (see ``max_bytes``)."""
        return self._bytes

    @classmethod
    def _entry_bytes(cls, key: tuple[str, str]) -> int:
        return sys.getsizeof(key[0]) + sys.getsizeof(key[1]) + cls.ENTRY_OVERHEAD

    def purge(self, now: float) -> int:
        """Drop the entries expired at ``now``; returns how many were dropped."""
        with self._lock:
            return self._purge(now)

    def _purge(self, now: float) -> int:
        self._next_purge = now + self._interval
        seen, buckets, order = self._seen, self._buckets, self._order
        dropped = 0
        # Bucket n holds expiries in [n * interval, (n + 1) * interval): all past once
        # (n + 1) * interval <= now.
        while order and (order[0] + 1) * self._interval <= now:
            for key in buckets.pop(heapq.heappop(order)):
                # A key seen again after it expired sits in a later bucket too: keep it then.
                if seen.get(key, math.inf) <= now:
                    del seen[key]
                    self._bytes -= self._entry_bytes(key)
                    dropped += 1
        return dropped

    def _sift_oldest(self, now: float) -> int:
        # The oldest bucket may be partly expired (a purge drops only whole buckets): drop
        # its expired entries one by one. Only when full, and bounded by one bucket's size.
        if not self._order:
            return 0
        number = self._order[0]
        seen, dropped, keep = self._seen, 0, []
        for key in self._buckets[number]:
            expires_at = seen.get(key)
            if expires_at is None:
                continue
            if expires_at <= now:
                del seen[key]
                self._bytes -= self._entry_bytes(key)
                dropped += 1
            elif math.floor(expires_at / self._interval) == number:
                keep.append(key)  # else it was seen again and sits in its later bucket too
        if keep:
            self._buckets[number] = keep
        else:
            del self._buckets[heapq.heappop(self._order)]
        return dropped

    def put(self, key: str, value: bytes, *, expires_at: float, now: float) -> None:
        """See :meth:`GrantStore.put`; raises ReplayCacheUnavailable when full."""
        with self._lock:
            values = self._values
            if now >= self._next_value_purge or len(values) >= self._max:
                # A scan, at most once a minute (or when full): records are few next to jtis.
                self._next_value_purge = now + 60.0
                for name in [k for k, (exp, _) in values.items() if exp <= now]:
                    del values[name]
            if key not in values and len(values) >= self._max:
                raise ReplayCacheUnavailable(
                    f"the grant store holds {self._max} unexpired codes and refresh tokens; "
                    "raise replay_max_entries or lower refresh_token_lifetime")
            values[key] = (expires_at, value)

    def get(self, key: str, *, now: float) -> bytes | None:
        """See :meth:`GrantStore.get`."""
        entry = self._values.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """See :meth:`ReplayCache.first_use`; raises ReplayCacheUnavailable when full."""
        key = (issuer, jti)
        with self._lock:
            if now >= self._next_purge:
                self._purge(now)
            seen = self._seen
            known = seen.get(key)
            if known is not None and known > now:
                return False
            if known is None:
                size = self._entry_bytes(key)
                if len(seen) >= self._max or self._bytes + size > self._max_bytes:
                    self._make_room(size, now)
                self._bytes += size
            seen[key] = expires_at
            number = math.floor(expires_at / self._interval)
            bucket = self._buckets.get(number)
            if bucket is None:
                bucket = self._buckets[number] = []
                heapq.heappush(self._order, number)
            bucket.append(key)
            return True


    def _make_room(self, size: int, now: float) -> None:
        # Full: drop what has expired before refusing, down to the single entry.
        def full() -> bool:
            return len(self._seen) >= self._max or self._bytes + size > self._max_bytes

        self._purge(now)
        while full() and self._sift_oldest(now):
            pass
        if full():
            raise ReplayCacheUnavailable(
                f"replay cache holds {len(self._seen)} unexpired jti values in about "
                f"{self._bytes} bytes (limits: replay_max_entries {self._max}, replay_max_bytes "
                f"{self._max_bytes}); raise them or lower max_assertion_lifetime"
            )


class RedisReplayCache:
    """A cache shared by several server processes, in Redis (extra ``redis``).

    When Redis cannot be reached the request is refused (fail closed): accepting an assertion
    that might be a replay is the one thing this cache exists to prevent.
    """

    def __init__(self, url: str, *, prefix: str = "jwtbearer:jti:",
                 grant_prefix: str = "jwtbearer:grant:") -> None:
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
        self._grant_prefix = grant_prefix

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """See :meth:`ReplayCache.first_use`."""
        ttl_ms = max(1000, math.ceil((expires_at - now) * 1000))
        try:
            stored = self._client.set(self._prefix + _key(issuer, jti), b"1", nx=True, px=ttl_ms)
        except self._errors as exc:
            raise ReplayCacheUnavailable(f"the Redis replay cache failed: {type(exc).__name__}") \
                from None
        return bool(stored)

    def put(self, key: str, value: bytes, *, expires_at: float, now: float) -> None:
        """See :meth:`GrantStore.put`."""
        ttl_ms = max(1, math.ceil((expires_at - now) * 1000))
        try:
            self._client.set(self._grant_prefix + key, value, px=ttl_ms)
        except self._errors as exc:
            raise ReplayCacheUnavailable(f"the Redis grant store failed: {type(exc).__name__}") \
                from None

    def get(self, key: str, *, now: float) -> bytes | None:
        """See :meth:`GrantStore.get` (Redis expires the keys itself)."""
        try:
            value = self._client.get(self._grant_prefix + key)
        except self._errors as exc:
            raise ReplayCacheUnavailable(f"the Redis grant store failed: {type(exc).__name__}") \
                from None
        return value if isinstance(value, bytes) else None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def replay_cache_for(setting: str, *, max_entries: int,
                     max_bytes: int = 256 * 1024 * 1024) -> ReplayCache:
    """The cache a ``replay`` setting names: ``"memory"`` or a ``redis://`` URL."""
    if setting == "memory":
        return MemoryReplayCache(max_entries=max_entries, max_bytes=max_bytes)
    return RedisReplayCache(setting)
