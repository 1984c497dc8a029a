"""The cache's refresh rules and its I/O cores, shared by CachedSource and AsyncCachedSource.

:class:`CacheCore` holds the state and the rules (when a token is fresh, when a failed refresh
falls back to the token in hand, when to look again); its generators ``_refresh`` and
``_invalidate`` yield :class:`StoreCall` and :data:`FETCH` steps for a driver to perform.
"""

from __future__ import annotations

import inspect
import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

from .._flow import Flow
from ..errors import ConfigurationError, redact
from ..token import Clock, Token, system_clock
from .stores import MemoryStore, StoreError, StoreLockTimeout, TokenStore

__all__ = ["FETCH", "CacheCore", "NotAsync", "Step", "StoreCall", "refresh_at"]

log = logging.getLogger("jwtbearer.caching")


class StoreCall:
    """Step: call the store (blocking: the async driver runs it in a worker thread)."""

    __slots__ = ("args", "call")

    def __init__(self, call: Callable[..., Any], args: tuple[Any, ...] = ()) -> None:
        self.call = call
        self.args = args


class _Fetch:
    """Step: ask the wrapped source for a new token."""


FETCH = _Fetch()
Step = StoreCall | _Fetch


class NotAsync(ConfigurationError):
    """An async cache was given a sync source (raised by the driver, never retried)."""


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
    wrapper, other = wrapper.split()[-1], other.split()[-1]
    if inspect.isawaitable(token):
        if inspect.iscoroutine(token):
            token.close()
        raise ConfigurationError(f"{wrapper} was given an async source: use {other} for it")
    raise ConfigurationError(
        f"{wrapper} needs a source whose token() returns a jwtbearer.Token, not "
        f"{type(token).__name__}"
    )


class CacheCore:
    """State and rules shared by the sync and async caches; only the waiting differs."""

    def __init__(
        self,
        source: Any,
        store: TokenStore | None,
        refresh_before: float,
        clock: Clock | None,
        key: str | None,
    ) -> None:
        if isinstance(source, type(self)):
            if store is not None or key is not None:
                raise ConfigurationError(
                    f"this source is already {self._names[0]}: give store= and key= to it, "
                    "not to a second wrapper"
                )
            # Wrapping twice does nothing extra: this wrapper answers with the inner one.
            inner: Any = source
            source, store, clock, key = inner._source, inner._store, inner._clock, inner.key
            refresh_before = inner.refresh_before
            vars(self).update(token=inner.token, invalidate=inner.invalidate,
                              fresh_token=inner.fresh_token)
        if refresh_before < 0 or math.isnan(refresh_before):
            raise ConfigurationError(
                f"refresh_before must be zero or more seconds, got {refresh_before!r}"
            )
        self._source: Any = source
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

    _names = ("a CachedSource", "an AsyncCachedSource")

    def fresh_token(self) -> Token | None:
        """The cached token if it is fresh, else None; never waits, never fetches."""
        entry = self._entry
        return entry[0] if entry is not None and self._clock() < entry[1] else None

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

    # -- the cores, once for both drivers -------------------------------------------------

    def _load(self) -> Flow[Step, Token | None]:
        try:
            stored: Token | None = yield StoreCall(self._store.get, (self.key,))
        except StoreError as exc:
            self._store_failed(exc)
            return None
        return stored

    def _refresh(self) -> Flow[Step, Token]:
        """Load from the store, else lock (shared stores), look again, fetch, store."""
        stored = yield from self._load()
        if self._is_fresh(stored, self._clock()):
            return self._adopt(stored)  # type: ignore[arg-type]
        if not self._store.shared:
            return (yield from self._fetch(stored))
        valid = self._valid_of(stored, self._clock())
        try:
            # Holding a valid token, never wait behind another process's refresh.
            lock = self._store.lock(self.key, wait=valid is None)
            yield StoreCall(lock.__enter__)
        except StoreLockTimeout as exc:
            if valid is not None:
                return self._lock_busy(valid)
            self._store_failed(exc)
            return (yield from self._fetch(stored))
        except StoreError as exc:
            self._store_failed(exc)
            return (yield from self._fetch(stored))
        release = StoreCall(lock.__exit__, (None, None, None))
        try:
            # Another process may have refreshed while this one waited for the lock.
            stored = (yield from self._load()) or stored
            if self._is_fresh(stored, self._clock()):
                token = self._adopt(stored)  # type: ignore[arg-type]
            else:
                token = yield from self._fetch(stored)
        except GeneratorExit:  # the caller was cancelled: release now, without a step
            lock.__exit__(None, None, None)
            raise
        except BaseException:
            yield release
            raise
        yield release
        return token

    def _fetch(self, stored: Token | None) -> Flow[Step, Token]:
        try:
            token = yield FETCH
        except NotAsync:
            raise
        except Exception as exc:
            return self._fall_back(exc, [self._held(self._clock()), stored])
        _check_token(token, *self._names)
        try:
            yield StoreCall(self._store.set, (self.key, token))
        except StoreError as exc:
            log.warning("%s; the new token is kept in memory only", _describe(exc))
        return self._adopt(token)

    def _invalidate(self, token: Token | None) -> Flow[Step, None]:
        if not self._should_forget(token):
            return
        self._entry = None
        self._retry_at = 0.0
        try:
            stored = (yield StoreCall(self._store.get, (self.key,))) if token is not None else None
            if token is None or (stored is not None and
                                 stored.access_token == token.access_token):
                yield StoreCall(self._store.delete, (self.key,))
        except StoreError as exc:
            log.warning("%s; the token was forgotten in memory only", _describe(exc))

    def _should_forget(self, token: Token | None) -> bool:
        """``invalidate(token)`` forgets only that token: a newer one stays."""
        if token is None:
            return True
        entry = self._entry
        return entry is not None and entry[0].access_token == token.access_token
