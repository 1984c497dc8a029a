"""RedisStore: one token per credential for a whole fleet of hosts (extra ``redis``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from ...errors import ConfigurationError
from ...token import Clock, Token, system_clock
from ._base import Sealer, StoreError, hashed, log, wait_for_lock

__all__ = ["RedisStore"]

# Compare-and-delete: only the holder (who knows the random value) releases the lock, so a
# holder whose lock already expired cannot release the next holder's lock.
_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""
# Redis must answer within this long, or the store counts as down and sources fetch directly.
_SOCKET_TIMEOUT = 2.0


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

    - ``lock(key)`` is ``SET <prefix>lock:<hash> <random> NX PX <lock_ttl>``, released by a
      compare-and-delete script: if the holder dies, the lock expires after ``lock_ttl`` seconds
      and another host refreshes. Waiting gives up after ``lock_timeout`` (default
      ``lock_ttl + 5``) seconds.
    - Entries expire together with their token (``PXAT``), so Redis never keeps dead tokens.
    - Sealing and the key search order are those of :class:`~jwtbearer.stores.SQLiteStore`:
      every host of the fleet needs the same ``encryption_key=`` or ``$JWTBEARER_CACHE_KEY``.
    - Any Redis failure (down, timeout, refused) raises :class:`~jwtbearer.stores.StoreError`,
      which :class:`~jwtbearer.caching.CachedSource` turns into a warning and a direct fetch.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        encryption_key: str | bytes | None = None,
        plaintext: bool = False,
        lock_ttl: float = 30.0,
        lock_timeout: float | None = None,
        prefix: str = "jwtbearer:",
        clock: Clock | None = None,
    ) -> None:
        redis = _import_redis()
        if lock_ttl <= 0:
            raise ConfigurationError(f"lock_ttl must be positive seconds, got {lock_ttl!r}")
        self.lock_ttl = float(lock_ttl)
        self.lock_timeout = self.lock_ttl + 5.0 if lock_timeout is None else float(lock_timeout)
        self.prefix = prefix
        self._clock = clock or system_clock
        self._sealer = Sealer(encryption_key, plaintext)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        try:
            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=_SOCKET_TIMEOUT, socket_connect_timeout=_SOCKET_TIMEOUT
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"not a Redis URL ({exc}); expected redis://host:port/db"
            ) from exc
        self._where = self._describe(url)
        self._release = self._redis.register_script(_RELEASE)

    @staticmethod
    def _describe(url: str) -> str:
        # Never echo a password from the URL into logs or errors: it may sit in the userinfo or
        # in the query string (redis-py reads ?password=...), so keep only scheme, host, port
        # and path, parsed as redis-py parses them.
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{parts.scheme or 'redis'}://{host}{'' if port is None else f':{port}'}{parts.path}"

    def _fail(self, action: str, exc: Exception) -> StoreError:
        return StoreError(f"cannot {action} the token store {self._where}: {type(exc).__name__}")

    def get(self, key: str) -> Token | None:
        """The token stored under ``key``, or None (also when it does not decrypt)."""
        hkey = hashed(key)
        try:
            blob = self._redis.get(f"{self.prefix}token:{hkey}")
        except self._errors as exc:
            raise self._fail("read", exc) from exc
        return None if blob is None else self._sealer.open(hkey, bytes(blob), self._where)

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``; the entry expires when the token does."""
        hkey = hashed(key)
        name = f"{self.prefix}token:{hkey}"
        try:
            if token.expires_at is None:
                self._redis.set(name, self._sealer.seal(hkey, token))
            elif token.expires_at > self._clock():
                pxat = int(token.expires_at * 1000)
                self._redis.set(name, self._sealer.seal(hkey, token), pxat=pxat)
            else:
                self._redis.delete(name)
        except self._errors as exc:
            raise self._fail("write", exc) from exc

    def delete(self, key: str) -> None:
        """Forget the token under ``key``."""
        try:
            self._redis.delete(f"{self.prefix}token:{hashed(key)}")
        except self._errors as exc:
            raise self._fail("write", exc) from exc

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[None]:
        """Hold the fleet-wide refresh lock for ``key`` (see the class docstring)."""
        name, value = f"{self.prefix}lock:{hashed(key)}", secrets.token_hex(16)
        ttl_ms = max(1, int(self.lock_ttl * 1000))
        limit = self.lock_timeout if wait else 0.0
        try:
            wait_for_lock(
                lambda: bool(self._redis.set(name, value, nx=True, px=ttl_ms)),
                limit,
                f"{self._where} (another host is refreshing, or died holding it: it expires "
                f"after lock_ttl={self.lock_ttl:g} s)",
            )
        except self._errors as exc:
            raise self._fail("lock", exc) from exc
        try:
            yield
        finally:
            try:
                self._release(keys=[name], args=[value])
            except self._errors as exc:
                log.warning("could not release the refresh lock in %s: %s (it expires after "
                            "%g s)", self._where, type(exc).__name__, self.lock_ttl)

    def close(self) -> None:
        """Close the connections to Redis."""
        self._redis.close()

    def __repr__(self) -> str:
        sealed = "AES-GCM" if self._sealer.encrypts else "plaintext"
        return f"RedisStore({self._where!r}, {sealed}, lock_ttl={self.lock_ttl:g})"
