"""RedisStore: one token per credential for a whole fleet of hosts (extra ``redis``)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from ..._util import redact_url
from ...errors import ConfigurationError
from ...token import Clock, Token, system_clock
from ._base import Sealer, StoreError, hashed, keep_renewed, log, wait_for_lock

__all__ = ["RedisStore"]

# The refresh lock. Every script runs atomically inside Redis.
# Take: SET NX; if the lock is taken but its time-to-live shows that the holder stopped
# renewing it (or it has none), take it over. A lock's value is "<random>:<ttl ms>", so the
# stale mark follows the holder's own time-to-live, not the waiter's. ARGV: value, ttl ms,
# stale share. Returns 1 = taken, 2 = taken over, 0 = busy.
_ACQUIRE = """
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
    return 1
end
local left = redis.call("PTTL", KEYS[1])
local held = tonumber(string.match(redis.call("GET", KEYS[1]) or "", ":(%d+)$"))
local stale = (held or tonumber(ARGV[2])) * tonumber(ARGV[3])
if left == -1 or (left >= 0 and left < stale) then
    redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
    return 2
end
return 0
"""
# Renew: compare-and-extend, so a late renewal never extends a lock that changed hands.
_RENEW = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
"""
# Release: compare-and-delete. Only the holder (who knows the random value) releases the lock,
# so a holder whose lock already expired cannot release the next holder's lock.
_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""
# Redis must answer each command within this long (no retries), or the store counts as down.
_SOCKET_TIMEOUT = 2.0
# After a failure, calls fail at once for this long instead of each waiting out the deadline.
_DOWN_FOR = 5.0
# The holder renews the lock every RENEW_SHARE of its time-to-live; a lock with less than
# STALE_SHARE of it left has missed a renewal by RENEW_SHARE * lock_ttl and may be taken over.
_RENEW_SHARE, _STALE_SHARE = 0.3, 0.4


def _import_redis() -> ModuleType:
    try:
        import redis
    except ImportError as exc:
        raise ConfigurationError(
            "RedisStore needs the redis package: pip install 'jwtbearer[redis]'"
        ) from exc
    return redis


class RedisStore:
    """Tokens in Redis, sealed with AES-GCM, with a distributed refresh lock.

    - ``lock(key)`` sets ``<prefix>lock:<hash>`` to a random value with a short time-to-live
      (``lock_ttl``, default 5 s) that the holder renews every ``0.3 * lock_ttl`` while it
      fetches. Release is compare-and-delete, renewal compare-and-extend (Lua scripts), so a
      late command from a holder that gave up never touches another holder's lock.
    - A holder that dies, or cannot reach Redis, stops renewing: waiters take the lock over as
      soon as less than ``0.4 * lock_ttl`` is left (2 s after the last renewal at the
      default), and a ``SET NX`` that timed out on the client but ran once Redis resumed is a
      lock nobody renews, taken over the same way and expiring by itself.
    - Waiting behind a holder that keeps renewing gives up after ``lock_timeout`` (default
      30 s) with :class:`~jwtbearer.errors.StoreLockTimeout`.
    - Redis must answer every command within 2 s, without retries. After a failure the store
      counts as down for 5 s and every call fails at once, so a stalled Redis costs a caller
      one deadline, not one per command; a caller then fetches directly.
    - Entries expire together with their token (``PXAT``), so Redis never keeps dead tokens.
    - Sealing and the key search order are those of
      :class:`~jwtbearer.lifecycle.stores.SQLiteStore`: every host of the fleet needs the same
      ``encryption_key=`` or ``$JWTBEARER_CACHE_KEY``.
    - Any Redis failure (down, timeout, refused) raises :class:`~jwtbearer.errors.StoreError`,
      which :class:`~jwtbearer.lifecycle.caching.CachedSource` turns into a warning and a
      direct fetch.
    - The URL's password (userinfo or ``?password=``) never appears in repr, logs or errors.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        encryption_key: str | bytes | None = None,
        plaintext: bool = False,
        lock_ttl: float = 5.0,
        lock_timeout: float | None = None,
        prefix: str = "jwtbearer:",
        clock: Clock | None = None,
    ) -> None:
        redis = _import_redis()
        if not lock_ttl > 0.01:
            raise ConfigurationError(f"lock_ttl must be more than 0.01 seconds, got {lock_ttl!r}")
        self.lock_ttl = float(lock_ttl)
        self.lock_timeout = 30.0 if lock_timeout is None else float(lock_timeout)
        self.prefix = prefix
        self._clock = clock or system_clock
        self._sealer = Sealer(encryption_key, plaintext)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._where = redact_url(url)
        try:
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=_SOCKET_TIMEOUT, socket_connect_timeout=_SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"not a Redis URL ({redact_url(str(exc))}); expected redis://host:port/db"
            ) from exc
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._down_until = 0.0
        # Locks that may sit in Redis without a holder: a take or a release that failed on
        # the client side. Released (compare-and-delete) once Redis answers again.
        self._orphans: set[tuple[str, str]] = set()
        self._orphans_lock = threading.Lock()

    def _call(self, action: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one Redis command under the deadline and the down-for rule."""
        if time.monotonic() < self._down_until:
            raise StoreError(
                f"cannot {action} the token store {self._where}: it failed moments ago "
                f"(trying again within {_DOWN_FOR:g} s)"
            )
        try:
            result = fn(*args, **kwargs)
        except self._errors as exc:
            self._down_until = time.monotonic() + _DOWN_FOR
            raise self._fail(action, exc) from exc
        if self._orphans:
            self._sweep()
        return result

    def _sweep(self) -> None:
        with self._orphans_lock:
            orphans, self._orphans = self._orphans, set()
        left = list(orphans)
        while left:
            name, value = left[-1]
            try:
                self._release(keys=[name], args=[value])
            except self._errors:
                self._down_until = time.monotonic() + _DOWN_FOR
                with self._orphans_lock:
                    self._orphans.update(left)  # kept for the next time Redis answers
                return
            left.pop()

    def _fail(self, action: str, exc: Exception) -> StoreError:
        return StoreError(f"cannot {action} the token store {self._where}: {type(exc).__name__}")

    def get(self, key: str) -> Token | None:
        """The token stored under ``key``, or None (also when it does not decrypt)."""
        hkey = hashed(key)
        blob = self._call("read", self._redis.get, f"{self.prefix}token:{hkey}")
        return None if blob is None else self._sealer.open(hkey, bytes(blob), self._where)

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``; the entry expires when the token does."""
        hkey = hashed(key)
        name = f"{self.prefix}token:{hkey}"
        if token.expires_at is None:
            self._call("write", self._redis.set, name, self._sealer.seal(hkey, token))
        elif token.expires_at > self._clock():
            pxat = int(token.expires_at * 1000)
            self._call("write", self._redis.set, name, self._sealer.seal(hkey, token), pxat=pxat)
        else:
            self._call("write", self._redis.delete, name)

    def delete(self, key: str) -> None:
        """Forget the token under ``key``."""
        self._call("write", self._redis.delete, f"{self.prefix}token:{hashed(key)}")

    def _take(self, name: str, value: str, ttl_ms: int) -> bool:
        try:
            taken = self._call("lock", self._acquire, keys=[name],
                               args=[value, ttl_ms, _STALE_SHARE])
        except StoreError as exc:
            if exc.__cause__ is not None:
                # The command reached Redis and may still run once it answers: release then.
                with self._orphans_lock:
                    self._orphans.add((name, value))
            raise
        if taken == 2:
            log.warning("took over the refresh lock in %s: its holder stopped renewing it",
                        self._where)
        return bool(taken)

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[None]:
        """Hold the fleet-wide refresh lock for ``key`` (see the class docstring)."""
        ttl_ms = max(1, int(self.lock_ttl * 1000))
        name, value = f"{self.prefix}lock:{hashed(key)}", f"{secrets.token_hex(16)}:{ttl_ms}"
        wait_for_lock(
            lambda: self._take(name, value, ttl_ms),
            self.lock_timeout if wait else 0.0,
            f"{self._where} (another host is refreshing and renewing it)",
        )
        stop = keep_renewed(
            lambda: bool(self._call("lock", self._renew, keys=[name], args=[value, ttl_ms])),
            every=self.lock_ttl * _RENEW_SHARE, limit=self.lock_timeout, where=self._where,
        )
        try:
            yield
        finally:
            stop.set()
            try:
                self._call("release", self._release, keys=[name], args=[value])
            except StoreError as exc:
                with self._orphans_lock:
                    self._orphans.add((name, value))  # released once Redis answers again
                log.warning("could not release the refresh lock (%s); it expires after %g s",
                            exc, self.lock_ttl)

    def close(self) -> None:
        """Close the connections to Redis."""
        self._redis.close()

    def __repr__(self) -> str:
        sealed = "AES-GCM" if self._sealer.encrypts else "plaintext"
        return f"RedisStore({self._where!r}, {sealed}, lock_ttl={self.lock_ttl:g})"
