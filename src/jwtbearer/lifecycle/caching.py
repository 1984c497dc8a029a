"""CachedSource / AsyncCachedSource: reuse a token until shortly before it expires.

The read path takes no lock: a fresh token is one attribute read and one clock comparison. Only
when the token is missing or due does a caller take the refresh path, where exactly one fetch
happens however many threads, tasks, processes (``SQLiteStore``) or hosts (``RedisStore``)
want a token at the same moment. Salesforce issues no refresh token for the JWT bearer flow
(RFC 7523 §2.1 grants carry none), so "refresh" here means obtaining a new token from the
wrapped source, which signs a fresh assertion.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ConfigurationError, redact
from ..token import AsyncTokenSource, Clock, Token, TokenSource, system_clock
from .stores import MemoryStore, StoreError, StoreLockTimeout, TokenStore

__all__ = ["AsyncCachedSource", "CachedSource"]

log = logging.getLogger("jwtbearer.caching")

_T = TypeVar("_T")

# After a failed refresh while a valid token is still held, wait this share of the token's
# remaining life (within these bounds) before trying again, so an outage of the token endpoint
# is not met with one request per API call.
_BACKOFF_SHARE, _BACKOFF_MIN, _BACKOFF_MAX = 0.25, 1.0, 30.0
# While another process holds the refresh lock and a valid token is in hand, look at the store
# again after this long instead of waiting for the lock.
_BUSY_RECHECK = 0.5


def refresh_at(token: Token, refresh_before: float) -> float:
    """When a refresh of ``token`` starts: ``refresh_before`` seconds before it expires, but
    never earlier than half-way through its lifetime (a 60 s token is reused for 30 s, not 0)."""
    if token.expires_at is None:
        return math.inf
    lifetime = max(token.expires_at - token.issued_at, 0.0)
    return token.expires_at - min(refresh_before, lifetime / 2)


def _describe(exc: BaseException) -> str:
    first = (redact(str(exc)).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _check_token(token: object, wrapper: str, other: str) -> None:
    if isinstance(token, Token):
        return
    if inspect.isawaitable(token):
        if inspect.iscoroutine(token):
            token.close()
        raise ConfigurationError(f"{wrapper} was given an async source: use {other} for it")
    raise ConfigurationError(
        f"{wrapper} needs a source whose token() returns a jwtbearer.Token, not "
        f"{type(token).__name__}"
    )


class _CacheCore:
    """State and rules shared by the sync and async caches; only the waiting differs."""

    def __init__(
        self,
        source: Any,
        store: TokenStore | None,
        refresh_before: float,
        clock: Clock | None,
        key: str | None,
    ) -> None:
        if refresh_before < 0 or math.isnan(refresh_before):
            raise ConfigurationError(
                f"refresh_before must be zero or more seconds, got {refresh_before!r}"
            )
        self._source = source
        self._store: TokenStore = store if store is not None else MemoryStore()
        self._clock: Clock = clock or system_clock
        self.refresh_before = float(refresh_before)
        resolved = key if key is not None else getattr(source, "cache_key", None)
        if resolved is None:
            if self._store.shared:
                raise ConfigurationError(
                    f"{type(self._store).__name__} is shared between processes, so it needs a "
                    "stable key: pass key=... (see jwtbearer.store_key), or use a source from "
                    "TokenClient.source(), which has a cache_key"
                )
            resolved = f"instance:{uuid.uuid4().hex}"
        self.key: str = resolved
        """The store key the token is kept under (derived from non-secret parameters)."""
        # (token, refresh_at) replaced as one object, so a lock-free reader never sees a token
        # paired with another token's deadline.
        self._entry: tuple[Token, float] | None = None
        self._retry_at = 0.0
        # The last refresh that failed with no valid token to fall back on, and how many such
        # failures there were: callers that queued behind that refresh get its error instead
        # of each sending a request of its own.
        self._failure: Exception | None = None
        self._failures = 0

    def _adopt(self, token: Token) -> Token:
        self._entry = (token, refresh_at(token, self.refresh_before))
        self._retry_at = 0.0
        self._failure = None
        return token

    def _is_fresh(self, token: Token | None, now: float) -> bool:
        return token is not None and now < refresh_at(token, self.refresh_before)

    def _held(self, now: float) -> Token | None:
        """The token in memory if it is still valid (perhaps already due for refresh)."""
        entry = self._entry
        return entry[0] if entry is not None and entry[0].is_valid(now) else None

    def _fall_back(self, exc: Exception, candidates: list[Token | None]) -> Token:
        now = self._clock()
        valid = [t for t in candidates if t is not None and t.is_valid(now)]
        if not valid:
            self._failure = exc
            self._failures += 1
            raise exc
        best = max(valid, key=lambda t: math.inf if t.expires_at is None else t.expires_at)
        left = math.inf if best.expires_at is None else best.expires_at - now
        log.warning(
            "refreshing the token failed (%s); still using the current token, valid for %.0f "
            "more seconds", _describe(exc), left,
        )
        self._entry = (best, refresh_at(best, self.refresh_before))
        self._retry_at = now + min(_BACKOFF_MAX, max(_BACKOFF_MIN, left * _BACKOFF_SHARE))
        return best

    def _valid_of(self, stored: Token | None, now: float) -> Token | None:
        held = self._held(now)
        if held is not None:
            return held
        return stored if stored is not None and stored.is_valid(now) else None

    def _lock_busy(self, valid: Token) -> Token:
        """Another process is refreshing: keep serving ``valid`` and look again shortly."""
        self._entry = (valid, refresh_at(valid, self.refresh_before))
        self._retry_at = self._clock() + _BUSY_RECHECK
        return valid

    def _store_failed(self, exc: StoreError) -> None:
        log.warning("%s; fetching the token directly", _describe(exc))

    def _should_forget(self, token: Token | None) -> bool:
        """``invalidate(token)`` forgets only that token: a newer one stays."""
        if token is None:
            return True
        entry = self._entry
        return entry is not None and entry[0].access_token == token.access_token


class CachedSource(_CacheCore):
    """A token source that reuses each token until ``refresh_before`` seconds before expiry.

    ``source`` is any :class:`~jwtbearer.token.TokenSource` (usually ``client.source(grant)``).
    ``store`` defaults to a new :class:`~jwtbearer.stores.MemoryStore`; a ``SQLiteStore`` or
    ``RedisStore`` shares the token, and its refresh lock, with other processes or hosts.
    ``key`` defaults to ``source.cache_key``. Tokens without an expiry are reused until
    :meth:`invalidate`. Wrapping a ``CachedSource`` in another returns tokens from the inner one
    and nothing more.

    When a refresh fails and the current token is still valid, that token is returned (with a
    logged warning) and the refresh is retried a little later; the error is raised only when no
    valid token is left.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        store: TokenStore | None = None,
        refresh_before: float = 60,
        clock: Clock | None = None,
        key: str | None = None,
    ) -> None:
        if isinstance(source, CachedSource):
            if store is not None or key is not None:
                raise ConfigurationError(
                    "this source is already a CachedSource: give store= and key= to it, not to "
                    "a second wrapper"
                )
            inner = source
            super().__init__(inner._source, inner._store, inner.refresh_before, inner._clock,
                             inner.key)
            self.token = inner.token  # type: ignore[method-assign]
            self.invalidate = inner.invalidate  # type: ignore[method-assign]
            self.fresh_token = inner.fresh_token  # type: ignore[method-assign]
            return
        super().__init__(source, store, refresh_before, clock, key)
        self._lock = threading.Lock()

    def token(self) -> Token:
        """A valid token: the cached one while fresh (no lock taken), else a new one."""
        entry = self._entry
        if entry is not None and self._clock() < entry[1]:
            return entry[0]
        return self._slow()

    def fresh_token(self) -> Token | None:
        """The cached token if it is fresh, else None; never blocks, never fetches."""
        entry = self._entry
        return entry[0] if entry is not None and self._clock() < entry[1] else None

    def _slow(self) -> Token:
        now = self._clock()
        held = self._held(now)
        failures = self._failures
        if held is not None:
            # A valid token is in hand: never wait behind another thread's refresh, and after a
            # failed refresh give the endpoint a pause before trying again.
            if now < self._retry_at or not self._lock.acquire(blocking=False):
                return held
        else:
            self._lock.acquire()
        try:
            # Whatever the refresh that ran while this thread waited left behind counts as this
            # thread's answer: a new token, the fallback after a failure, or the failure itself.
            now = self._clock()
            entry = self._entry
            if entry is not None and now < entry[1]:
                return entry[0]
            held = self._held(now)
            if held is not None and now < self._retry_at:
                return held
            failure = self._failure
            if held is None and failure is not None and self._failures != failures:
                raise failure
            return self._refresh()
        finally:
            self._lock.release()

    def _load(self) -> Token | None:
        try:
            return self._store.get(self.key)
        except StoreError as exc:
            self._store_failed(exc)
            return None

    def _refresh(self) -> Token:
        stored = self._load()
        if self._is_fresh(stored, self._clock()):
            return self._adopt(stored)  # type: ignore[arg-type]
        if not self._store.shared:
            return self._fetch(stored)
        valid = self._valid_of(stored, self._clock())
        try:
            # Holding a valid token, never wait behind another process's refresh.
            lock = self._store.lock(self.key, wait=valid is None)
            lock.__enter__()
        except StoreLockTimeout as exc:
            if valid is not None:
                return self._lock_busy(valid)
            self._store_failed(exc)
            return self._fetch(stored)
        except StoreError as exc:
            self._store_failed(exc)
            return self._fetch(stored)
        try:
            # Another process may have refreshed while this one waited for the lock.
            stored = self._load() or stored
            if self._is_fresh(stored, self._clock()):
                return self._adopt(stored)  # type: ignore[arg-type]
            return self._fetch(stored)
        finally:
            lock.__exit__(None, None, None)

    def _fetch(self, stored: Token | None) -> Token:
        try:
            token = self._source.token()
        except Exception as exc:
            return self._fall_back(exc, [self._held(self._clock()), stored])
        _check_token(token, "CachedSource", "AsyncCachedSource")
        try:
            self._store.set(self.key, token)
        except StoreError as exc:
            log.warning("%s; the new token is kept in memory only", _describe(exc))
        return self._adopt(token)

    def invalidate(self, token: Token | None = None) -> None:
        """Forget the cached token (here and in the store) so the next call fetches a new one.

        With ``token``, forget it only if it is still the cached one: when several requests get
        a 401 for the same token, the first invalidation counts and the rest see the new token.
        """
        if not self._should_forget(token):
            return
        self._entry = None
        self._retry_at = 0.0
        try:
            stored = self._store.get(self.key) if token is not None else None
            if token is None or (stored is not None and
                                 stored.access_token == token.access_token):
                self._store.delete(self.key)
        except StoreError as exc:
            log.warning("%s; the token was forgotten in memory only", _describe(exc))

    def __repr__(self) -> str:
        return f"CachedSource({self._source!r}, store={self._store!r})"


class AsyncCachedSource(_CacheCore):
    """The asyncio twin of :class:`CachedSource`: ``await source.token()``.

    All waiters share one in-flight fetch (an ``asyncio.Task``); a waiter that is cancelled
    stops waiting without cancelling that fetch for the others. Shared stores are called in a
    worker thread so the event loop never blocks on SQLite or Redis. Use one instance per event
    loop.
    """

    def __init__(
        self,
        source: AsyncTokenSource,
        *,
        store: TokenStore | None = None,
        refresh_before: float = 60,
        clock: Clock | None = None,
        key: str | None = None,
    ) -> None:
        if isinstance(source, AsyncCachedSource):
            if store is not None or key is not None:
                raise ConfigurationError(
                    "this source is already an AsyncCachedSource: give store= and key= to it, "
                    "not to a second wrapper"
                )
            inner = source
            super().__init__(inner._source, inner._store, inner.refresh_before, inner._clock,
                             inner.key)
            self.token = inner.token  # type: ignore[method-assign]
            self.invalidate = inner.invalidate  # type: ignore[method-assign]
            self.fresh_token = inner.fresh_token  # type: ignore[method-assign]
            return
        super().__init__(source, store, refresh_before, clock, key)
        self._inflight: asyncio.Task[Token] | None = None

    async def token(self) -> Token:
        """A valid token: the cached one while fresh, else the result of the one shared fetch."""
        entry = self._entry
        if entry is not None and self._clock() < entry[1]:
            return entry[0]
        return await self._slow()

    def fresh_token(self) -> Token | None:
        """The cached token if it is fresh, else None; never waits, never fetches."""
        entry = self._entry
        return entry[0] if entry is not None and self._clock() < entry[1] else None

    async def _slow(self) -> Token:
        now = self._clock()
        held = self._held(now)
        task = self._inflight
        loop = asyncio.get_running_loop()
        if task is not None and not task.done() and task.get_loop() is loop:
            return held if held is not None else await asyncio.shield(task)
        if held is not None and now < self._retry_at:
            return held
        task = loop.create_task(self._refresh())
        self._inflight = task
        task.add_done_callback(self._finished)
        # shield: a caller's cancellation ends its wait, not the fetch the others wait on.
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[Token]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not reported twice

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        if isinstance(self._store, MemoryStore):
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    async def _load(self) -> Token | None:
        try:
            return await self._call(self._store.get, self.key)
        except StoreError as exc:
            self._store_failed(exc)
            return None

    async def _refresh(self) -> Token:
        stored = await self._load()
        if self._is_fresh(stored, self._clock()):
            return self._adopt(stored)  # type: ignore[arg-type]
        if not self._store.shared:
            return await self._fetch(stored)
        valid = self._valid_of(stored, self._clock())
        try:
            lock = self._store.lock(self.key, wait=valid is None)
            await asyncio.to_thread(lock.__enter__)
        except StoreLockTimeout as exc:
            if valid is not None:
                return self._lock_busy(valid)
            self._store_failed(exc)
            return await self._fetch(stored)
        except StoreError as exc:
            self._store_failed(exc)
            return await self._fetch(stored)
        try:
            stored = await self._load() or stored
            if self._is_fresh(stored, self._clock()):
                return self._adopt(stored)  # type: ignore[arg-type]
            return await self._fetch(stored)
        finally:
            await asyncio.to_thread(lock.__exit__, None, None, None)

    async def _fetch(self, stored: Token | None) -> Token:
        pending = self._source.token()
        if not inspect.isawaitable(pending):
            raise ConfigurationError(
                "AsyncCachedSource needs an async source (await source.token()), and this one "
                f"returned {type(pending).__name__}: use CachedSource for a sync source"
            )
        try:
            token = await pending
        except Exception as exc:
            return self._fall_back(exc, [self._held(self._clock()), stored])
        _check_token(token, "AsyncCachedSource", "CachedSource")
        try:
            await self._call(self._store.set, self.key, token)
        except StoreError as exc:
            log.warning("%s; the new token is kept in memory only", _describe(exc))
        return self._adopt(token)

    async def invalidate(self, token: Token | None = None) -> None:
        """Forget the cached token (here and in the store); see :meth:`CachedSource.invalidate`."""
        if not self._should_forget(token):
            return
        self._entry = None
        self._retry_at = 0.0
        try:
            stored = await self._call(self._store.get, self.key) if token is not None else None
            if token is None or (stored is not None and
                                 stored.access_token == token.access_token):
                await self._call(self._store.delete, self.key)
        except StoreError as exc:
            log.warning("%s; the token was forgotten in memory only", _describe(exc))

    def __repr__(self) -> str:
        return f"AsyncCachedSource({self._source!r}, store={self._store!r})"
