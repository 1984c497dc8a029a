"""CachedSource / AsyncCachedSource: reuse a token until shortly before it expires.

The read path takes no lock: a fresh token is one attribute read and one clock comparison. Only
when the token is missing or due does a caller take the refresh path, where exactly one fetch
happens however many threads, tasks, processes (``SQLiteStore``) or hosts (``RedisStore``)
want a token at the same moment. Salesforce issues no refresh token for the JWT bearer flow
(RFC 7523 §2.1 grants carry none), so "refresh" here means obtaining a new token from the
wrapped source, which signs a fresh assertion.

The refresh and the invalidation are written once, as generators on :class:`_CacheCore` that
yield the I/O they need (a store call, a fetch from the source); :class:`CachedSource` performs
those steps directly and :class:`AsyncCachedSource` awaits them (store calls in a worker
thread), so the two differ only in how a caller waits for the one refresh in flight.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from .._flow import arun, run
from ..token import AsyncTokenSource, Clock, Token, TokenSource
from ._refresh import CacheCore, NotAsync, Step, StoreCall, refresh_at
from .stores import MemoryStore, TokenStore

__all__ = ["AsyncCachedSource", "CachedSource", "refresh_at"]


class CachedSource(CacheCore):
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
        super().__init__(source, store, refresh_before, clock, key)
        self._lock = threading.Lock()

    def token(self) -> Token:
        """A valid token: the cached one while fresh (no lock taken), else a new one."""
        entry = self._entry
        if entry is not None and self._clock() < entry[1]:
            return entry[0]
        return self._slow()

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
            return run(self._refresh(), self._perform)
        finally:
            self._lock.release()

    def _perform(self, step: Step) -> Any:
        if isinstance(step, StoreCall):
            return step.call(*step.args)
        return self._source.token()

    def invalidate(self, token: Token | None = None) -> None:
        """Forget the cached token (here and in the store) so the next call fetches a new one.

        With ``token``, forget it only if it is still the cached one: when several requests get
        a 401 for the same token, the first invalidation counts and the rest see the new token.
        """
        run(self._invalidate(token), self._perform)

    def __repr__(self) -> str:
        return f"CachedSource({self._source!r}, store={self._store!r})"


class _Pending:
    """The one refresh in flight: its waiters wait on ``done``, then read the outcome."""

    __slots__ = ("done", "error", "loop", "token")

    def __init__(self, loop: object) -> None:
        import anyio  # loaded with the first async refresh, not with the package

        self.done = anyio.Event()
        self.loop = loop
        self.token: Token | None = None
        self.error: BaseException | None = None

    def outcome(self) -> Token:
        if self.error is not None:
            raise self.error
        assert self.token is not None
        return self.token


def _asyncio_loop() -> object:
    """The running asyncio loop, or None under another event loop (trio)."""
    import asyncio  # the asyncio module is loaded whenever its loop runs

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncCachedSource(CacheCore):
    """The async twin of :class:`CachedSource`: ``await source.token()``, under asyncio or trio.

    All waiters share one in-flight refresh; a waiter that is cancelled stops waiting without
    cancelling that refresh for the others (under asyncio it runs in a task of its own, since
    ``Task.cancel()`` passes through cancel scopes; elsewhere the first caller runs it in a
    shielded cancel scope, bounded by the source's own timeout). Shared stores are called in a
    worker thread so the event loop never blocks on SQLite or Redis. Use one instance per event
    loop.
    """

    _names = ("an AsyncCachedSource", "a CachedSource")

    def __init__(
        self,
        source: AsyncTokenSource,
        *,
        store: TokenStore | None = None,
        refresh_before: float = 60,
        clock: Clock | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(source, store, refresh_before, clock, key)
        self._pending: _Pending | None = None

    async def token(self) -> Token:
        """A valid token: the cached one while fresh, else the result of the one shared fetch."""
        entry = self._entry
        if entry is not None and self._clock() < entry[1]:
            return entry[0]
        return await self._slow()

    async def _slow(self) -> Token:
        now = self._clock()
        held = self._held(now)
        loop = _asyncio_loop()
        pending = self._pending
        if pending is not None and pending.loop is loop:
            if held is not None:
                return held
            await pending.done.wait()
            return pending.outcome()
        if held is not None and now < self._retry_at:
            return held
        pending = self._pending = _Pending(loop)
        if loop is not None:
            import asyncio

            # A task of its own: Task.cancel() on this caller must not end the shared refresh.
            task = asyncio.ensure_future(self._settle(pending))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        else:
            import anyio

            with anyio.CancelScope(shield=True):
                await self._settle(pending)
        await pending.done.wait()
        return pending.outcome()

    async def _settle(self, pending: _Pending) -> None:
        try:
            pending.token = await arun(self._refresh(), self._perform)
        except BaseException as exc:
            pending.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            if self._pending is pending:
                self._pending = None
            pending.done.set()

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, StoreCall):
            if isinstance(self._store, MemoryStore):
                return step.call(*step.args)
            import anyio.to_thread

            return await anyio.to_thread.run_sync(step.call, *step.args)
        pending = self._source.token()
        if not inspect.isawaitable(pending):
            raise NotAsync(
                "AsyncCachedSource needs an async source (await source.token()), and this one "
                f"returned {type(pending).__name__}: use CachedSource for a sync source"
            )
        return await pending

    async def invalidate(self, token: Token | None = None) -> None:
        """Forget the cached token (here and in the store); see :meth:`CachedSource.invalidate`."""
        await arun(self._invalidate(token), self._perform)

    def __repr__(self) -> str:
        return f"AsyncCachedSource({self._source!r}, store={self._store!r})"
