"""CachedSource / AsyncCachedSource: reuse, early refresh, single flight, fallback, invalidation."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from conftest_lifecycle import FakeClock, FakeSource

import jwtbearer
import jwtbearer.errors
from jwtbearer import AsyncCachedSource, CachedSource, MemoryStore, Token
from jwtbearer.errors import StoreError
from jwtbearer.lifecycle.caching import refresh_at


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class AsyncFakeSource:
    """An async source handing out numbered tokens; ``gate`` holds each fetch until set."""

    def __init__(self, clock: FakeClock, lifetime: float | None = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.cache_key = "async-fake"
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def token(self) -> Token:
        self.calls += 1
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), timeout=10)
        else:
            await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        now = self.clock()
        expires = None if self.lifetime is None else now + self.lifetime
        return Token(access_token=f"atok-{self.calls}", expires_at=expires, issued_at=now)


class BrokenStore(MemoryStore):
    """A shared store whose server is down."""

    shared = True

    def get(self, key: str) -> Token | None:
        raise StoreError("cannot read the token store redis://127.0.0.1:1: ConnectionError")

    def set(self, key: str, token: Token) -> None:
        raise StoreError("cannot write the token store redis://127.0.0.1:1: ConnectionError")

    def delete(self, key: str) -> None:
        raise StoreError("cannot write the token store redis://127.0.0.1:1: ConnectionError")

    def lock(self, key: str, *, wait: bool = True) -> Any:
        raise StoreError("cannot lock the token store redis://127.0.0.1:1: ConnectionError")


def test_fresh_token_is_reused() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    cached = CachedSource(source, clock=clock)
    first = cached.token()
    clock.advance(1000)
    assert cached.token() is first
    assert source.calls == 1


def test_refresh_starts_refresh_before_seconds_early() -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=3600)
    cached = CachedSource(source, clock=clock, refresh_before=60)
    cached.token()
    clock.advance(3600 - 61)
    assert cached.token().access_token == "tok-1"
    clock.advance(2)
    assert cached.token().access_token == "tok-2"
    assert source.calls == 2


def test_early_refresh_never_exceeds_half_the_lifetime() -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=60)
    cached = CachedSource(source, clock=clock, refresh_before=300)
    cached.token()
    clock.advance(29)
    assert cached.token().access_token == "tok-1"
    clock.advance(2)
    assert cached.token().access_token == "tok-2"


def test_refresh_at_rules() -> None:
    token = Token(access_token="x", expires_at=1000.0, issued_at=0.0)
    assert refresh_at(token, 60) == 940.0
    assert refresh_at(token, 900) == 500.0
    assert refresh_at(Token(access_token="x", expires_at=None, issued_at=0.0), 60) == float("inf")


def test_token_without_expiry_is_reused_until_invalidated() -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=None)
    cached = CachedSource(source, clock=clock)
    cached.token()
    clock.advance(10**7)
    assert cached.token().access_token == "tok-1"
    cached.invalidate()
    assert cached.token().access_token == "tok-2"


def test_invalidate_with_token_forgets_only_that_token() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    store = MemoryStore()
    cached = CachedSource(source, clock=clock, store=store)
    old = cached.token()
    cached.invalidate(old)
    assert store.get(cached.key) is None
    new = cached.token()
    cached.invalidate(old)  # a late 401 for the old token must not drop the new one
    assert cached.token() is new
    assert source.calls == 2


def test_failed_refresh_keeps_a_valid_token_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=3600)
    cached = CachedSource(source, clock=clock)
    first = cached.token()
    clock.advance(3600 - 30)  # inside the refresh window, still valid
    source.fail = jwtbearer.errors.ServerError(503, error="temporarily_unavailable", body="busy")
    with caplog.at_level(logging.WARNING, logger="jwtbearer.caching"):
        assert cached.token() is first
    assert source.calls == 2
    assert "refreshing the token failed" in caplog.text
    assert first.access_token not in caplog.text
    assert cached.token() is first  # backing off: no request per call during an outage
    assert source.calls == 2
    clock.advance(10)
    source.fail = None
    assert cached.token().access_token == "tok-3"


def test_failed_refresh_raises_when_no_valid_token() -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=3600)
    cached = CachedSource(source, clock=clock)
    cached.token()
    clock.advance(3601)
    source.fail = jwtbearer.InvalidGrant(400, error="invalid_grant", body="{}")
    with pytest.raises(jwtbearer.InvalidGrant):
        cached.token()
    fresh = CachedSource(FakeSource(clock), clock=clock)
    fresh._source.fail = jwtbearer.TransportError("connection refused")
    with pytest.raises(jwtbearer.TransportError):
        fresh.token()


def test_wrapping_twice_adds_nothing() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    inner = CachedSource(source, clock=clock)
    outer = CachedSource(inner)
    assert outer.token() is inner.token()
    outer.invalidate()
    assert inner.fresh_token() is None
    assert source.calls == 1
    with pytest.raises(jwtbearer.ConfigurationError, match="already a CachedSource"):
        CachedSource(inner, store=MemoryStore())


def test_key_defaults_to_cache_key_and_shared_stores_need_one() -> None:
    clock = FakeClock()
    assert CachedSource(FakeSource(clock, cache_key="k1")).key == "k1"

    class Anonymous:
        def token(self) -> Token:
            return Token(access_token="a")

    a, b = CachedSource(Anonymous()), CachedSource(Anonymous())
    assert a.key != b.key
    with pytest.raises(jwtbearer.ConfigurationError, match="stable key"):
        CachedSource(Anonymous(), store=BrokenStore())
    assert CachedSource(Anonymous(), store=BrokenStore(), key="mine").key == "mine"


def test_bad_refresh_before_is_refused() -> None:
    with pytest.raises(jwtbearer.ConfigurationError, match="refresh_before"):
        CachedSource(FakeSource(FakeClock()), refresh_before=-1)


def test_sources_sharing_a_memory_store_share_the_token() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    store = MemoryStore()
    one = CachedSource(source, clock=clock, store=store)
    two = CachedSource(source, clock=clock, store=store)
    assert one.token() is two.token()
    assert source.calls == 1


def test_store_down_fetches_directly_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    cached = CachedSource(source, clock=clock, store=BrokenStore())
    with caplog.at_level(logging.WARNING):
        token = cached.token()
        cached.invalidate()
    assert token.access_token == "tok-1"
    assert "fetching the token directly" in caplog.text
    assert "memory only" in caplog.text


def test_threads_share_one_fetch() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    source.gate = threading.Event()
    cached = CachedSource(source, clock=clock)
    results: list[Token] = []
    barrier = threading.Barrier(50, timeout=10)

    def worker() -> None:
        barrier.wait()
        results.append(cached.token())

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    source.gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 50
    assert {t.access_token for t in results} == {"tok-1"}
    assert source.calls == 1


def test_valid_token_is_served_while_another_thread_refreshes() -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=3600)
    cached = CachedSource(source, clock=clock)
    first = cached.token()
    clock.advance(3590)
    source.gate = threading.Event()
    refresher = threading.Thread(target=cached.token)
    refresher.start()
    for _ in range(1000):  # until the refresher is inside the source (bounded)
        if source.calls == 2:
            break
        threading.Event().wait(0.005)
    assert source.calls == 2
    assert cached.token() is first  # does not wait behind the refresh
    source.gate.set()
    refresher.join(timeout=10)
    assert cached.token().access_token == "tok-2"


@pytest.mark.anyio
async def test_async_tasks_share_one_fetch() -> None:
    clock = FakeClock()
    source = AsyncFakeSource(clock)
    source.gate = asyncio.Event()
    cached = AsyncCachedSource(source, clock=clock)
    waiters = [asyncio.create_task(cached.token()) for _ in range(200)]
    await asyncio.sleep(0.01)
    source.gate.set()
    tokens = await asyncio.gather(*waiters)
    assert {t.access_token for t in tokens} == {"atok-1"}
    assert source.calls == 1
    assert await cached.token() is tokens[0]


@pytest.mark.anyio
async def test_async_cancelled_waiter_does_not_cancel_the_fetch() -> None:
    clock = FakeClock()
    source = AsyncFakeSource(clock)
    source.gate = asyncio.Event()
    cached = AsyncCachedSource(source, clock=clock)
    first = asyncio.create_task(cached.token())
    second = asyncio.create_task(cached.token())
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0)
    source.gate.set()
    token = await asyncio.wait_for(second, timeout=5)
    assert first.cancelled()
    assert token.access_token == "atok-1"
    assert source.calls == 1


@pytest.mark.anyio
async def test_async_failed_refresh_fallback_and_raise(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    source = AsyncFakeSource(clock, lifetime=3600)
    cached = AsyncCachedSource(source, clock=clock)
    first = await cached.token()
    clock.advance(3580)
    source.fail = jwtbearer.errors.ServerError(500, body="down")
    with caplog.at_level(logging.WARNING, logger="jwtbearer.caching"):
        assert await cached.token() is first
    assert "refreshing the token failed" in caplog.text
    clock.advance(60)
    with pytest.raises(jwtbearer.errors.ServerError):
        await cached.token()


@pytest.mark.anyio
async def test_async_invalidate_and_wrapping() -> None:
    clock = FakeClock()
    source = AsyncFakeSource(clock, lifetime=None)
    inner = AsyncCachedSource(source, clock=clock)
    outer = AsyncCachedSource(inner)
    old = await outer.token()
    await outer.invalidate(old)
    assert (await inner.token()).access_token == "atok-2"
    await inner.invalidate(old)  # stale: keeps the new one
    assert (await outer.token()).access_token == "atok-2"
    assert source.calls == 2


@pytest.mark.anyio
async def test_async_store_down_fetches_directly(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cached = AsyncCachedSource(AsyncFakeSource(clock), clock=clock, store=BrokenStore())
    with caplog.at_level(logging.WARNING):
        assert (await cached.token()).access_token == "atok-1"
    assert "fetching the token directly" in caplog.text


def test_sync_and_async_sources_cannot_be_swapped() -> None:
    clock = FakeClock()
    with pytest.raises(jwtbearer.ConfigurationError, match="use AsyncCachedSource"):
        CachedSource(AsyncFakeSource(clock), clock=clock).token()  # type: ignore[arg-type]

    class NotAToken:
        cache_key = "x"

        def token(self) -> str:
            return "a bare string"

    with pytest.raises(jwtbearer.ConfigurationError, match=r"jwtbearer\.Token"):
        CachedSource(NotAToken()).token()  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_async_cache_refuses_a_sync_source() -> None:
    clock = FakeClock()
    with pytest.raises(jwtbearer.ConfigurationError, match="use CachedSource"):
        await AsyncCachedSource(FakeSource(clock), clock=clock).token()  # type: ignore[arg-type]


class CountingLock:
    """A lock that counts blocking acquires, so a test knows every waiter is queued on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.blocking = 0

    def acquire(self, blocking: bool = True) -> bool:
        if blocking:
            self.blocking += 1
        return self._lock.acquire(blocking)

    def release(self) -> None:
        self._lock.release()


def test_threads_queued_behind_a_failed_fetch_share_its_error() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    source.gate = threading.Event()
    source.fail = jwtbearer.TransportError("connection refused")
    cached = CachedSource(source, clock=clock)
    lock = CountingLock()
    cached._lock = lock  # type: ignore[assignment]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            cached.token()
        except jwtbearer.TransportError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for _ in range(2000):  # until all 20 are queued on the lock (bounded)
        if lock.blocking == 20:
            break
        threading.Event().wait(0.005)
    assert lock.blocking == 20
    source.gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 20
    assert source.calls == 1  # one fetch for one expiry, even when it fails
    source.fail = None
    source.gate = None
    assert cached.token().access_token == "tok-2"  # a later call tries again


def test_thread_queued_behind_a_failed_refresh_gets_the_fallback() -> None:
    clock = FakeClock()
    source = FakeSource(clock, lifetime=3600)
    store = MemoryStore()
    cached = CachedSource(source, clock=clock, store=store)
    first = cached.token()
    clock.advance(3590)  # due, still valid
    # The valid token is known only to the store, so the waiter below has none in hand.
    cached._entry = None
    source.gate = threading.Event()
    source.fail = jwtbearer.TransportError("connection refused")
    lock = CountingLock()
    cached._lock = lock  # type: ignore[assignment]
    got: list[Token] = []
    threads = [threading.Thread(target=lambda: got.append(cached.token())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for _ in range(2000):
        if lock.blocking == 2:
            break
        threading.Event().wait(0.005)
    source.gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert got == [first, first]
    assert source.calls == 2  # the first fetch and the one failed refresh
