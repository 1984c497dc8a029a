"""AsyncCachedSource on every anyio backend (asyncio and trio): single flight, a cancelled
waiter leaves the shared refresh alone, fallback, invalidation, a shared store in a thread."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from conftest_lifecycle import FakeClock

from jwtbearer import AsyncCachedSource, SQLiteStore, Token, TransportError

BACKENDS = ["asyncio"]
try:
    import trio  # noqa: F401

    BACKENDS.append("trio")
except ImportError:  # pragma: no cover - trio is in the dev extra
    pass


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class GatedSource:
    """An async source handing out numbered tokens; each fetch waits for ``gate``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.cache_key = "gated"
        self.calls = 0
        self.started = anyio.Event()
        self.gate = anyio.Event()
        self.fail: Exception | None = None

    async def token(self) -> Token:
        self.calls += 1
        self.started.set()
        with anyio.fail_after(10):
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        now = self.clock()
        return Token(access_token=f"tok-{self.calls}", expires_at=now + 3600, issued_at=now)


@pytest.mark.anyio
async def test_many_tasks_share_one_fetch() -> None:
    source = GatedSource(FakeClock())
    cached = AsyncCachedSource(source, clock=source.clock)
    tokens: list[Token] = []

    async def one() -> None:
        tokens.append(await cached.token())

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(one)
        await source.started.wait()
        source.gate.set()
    assert {t.access_token for t in tokens} == {"tok-1"} and len(tokens) == 100
    assert source.calls == 1
    assert await cached.token() is tokens[0]


@pytest.mark.anyio
async def test_a_cancelled_waiter_does_not_cancel_the_refresh() -> None:
    source = GatedSource(FakeClock())
    cached = AsyncCachedSource(source, clock=source.clock)
    got: list[Token] = []

    async def patient() -> None:
        got.append(await cached.token())

    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as impatient:
            group.start_soon(patient)
            await source.started.wait()
            impatient.cancel()
            await cached.token()  # cancelled at once: its wait ends, not the refresh
        assert impatient.cancelled_caught
        source.gate.set()
    assert [t.access_token for t in got] == ["tok-1"]
    assert source.calls == 1


@pytest.mark.anyio
async def test_cancelling_the_first_caller_leaves_the_refresh_to_finish() -> None:
    source = GatedSource(FakeClock())
    cached = AsyncCachedSource(source, clock=source.clock)
    got: list[Token] = []

    scopes: list[anyio.CancelScope] = []
    finished: list[str] = []

    async def first() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await cached.token()
            finished.append("first")

    async def second() -> None:
        got.append(await cached.token())

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        await source.started.wait()
        group.start_soon(second)
        await anyio.sleep(0)
        scopes[0].cancel()
        await anyio.sleep(0)
        source.gate.set()
    assert scopes[0].cancelled_caught and finished == []
    assert [t.access_token for t in got] == ["tok-1"]
    assert source.calls == 1


@pytest.mark.anyio
async def test_failed_refresh_is_shared_then_retried() -> None:
    source = GatedSource(FakeClock())
    source.fail = TransportError("connection refused")
    source.gate.set()
    cached = AsyncCachedSource(source, clock=source.clock)
    with pytest.raises(TransportError):
        await cached.token()
    source.fail = None
    assert (await cached.token()).access_token == "tok-2"
    await cached.invalidate()
    assert (await cached.token()).access_token == "tok-3"


@pytest.mark.anyio
async def test_shared_store_is_called_in_a_worker_thread(tmp_path: Path) -> None:
    clock = FakeClock()
    first = GatedSource(clock)
    first.gate.set()
    store = SQLiteStore(tmp_path / "tokens.db")
    token = await AsyncCachedSource(first, store=store, clock=clock).token()
    second = GatedSource(clock)
    again = await AsyncCachedSource(second, store=store, clock=clock).token()
    assert again.access_token == token.access_token == "tok-1"
    assert second.calls == 0
