"""The one-core-per-loop generators, stepped by hand (as httpx's auth flows are tested), and the
two drivers that run them."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import anyio
import httpx
import pytest

import jwtbearer as jb
from jwtbearer._flow import Deadline, DeadlineExceeded, arun, run
from jwtbearer.client._base import Send, Sleep
from jwtbearer.lifecycle._refresh import FETCH, StoreCall
from jwtbearer.testing import FakeClock

ENDPOINT = "https://auth.example.com/token"
OK = (200, httpx.Headers({"content-type": "application/json"}),
      b'{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_request_flow_yields_send_then_sleep_then_send_and_returns_the_token() -> None:
    retry = jb.RetryPolicy(attempts=2, base_delay=0.25, jitter=lambda: 1.0)
    client = jb.TokenClient(ENDPOINT, retry=retry)
    flow = client.request_flow(jb.ClientCredentials(scope="api"))
    first = next(flow)
    assert isinstance(first, Send) and b"scope=api" in first.request.body
    pause = flow.throw(jb.TransportError("connection reset"))
    assert isinstance(pause, Sleep) and pause.seconds > 0
    second = flow.send(None)
    assert isinstance(second, Send) and second.request is not first.request
    with pytest.raises(StopIteration) as done:
        flow.send(OK)
    assert done.value.value.access_token == "tok"


def test_request_flow_raises_when_the_policy_gives_up() -> None:
    client = jb.TokenClient(ENDPOINT, retry=jb.RetryPolicy.none())
    flow = client.request_flow(jb.ClientCredentials())
    next(flow)
    with pytest.raises(jb.TransportError):
        flow.throw(jb.TransportError("refused"))


def test_cache_refresh_flow_reads_the_store_fetches_and_stores() -> None:
    clock = FakeClock()

    class Source:
        cache_key = "k"

        def token(self) -> jb.Token:  # never called: the test performs the fetch step
            raise AssertionError

    cached = jb.CachedSource(Source(), clock=clock)
    flow = cached._refresh()
    read = next(flow)
    assert isinstance(read, StoreCall) and read.args == ("k",)
    assert flow.send(None) is FETCH
    token = jb.Token(access_token="t", expires_at=clock() + 3600, issued_at=clock())
    store = flow.send(token)
    assert isinstance(store, StoreCall) and store.args == ("k", token)
    with pytest.raises(StopIteration) as done:
        flow.send(None)
    assert done.value.value is token
    assert cached.fresh_token() is token


def _counting() -> Generator[str, Any, list[str]]:
    seen = []
    try:
        seen.append((yield "a"))
        seen.append((yield "b"))
    except KeyError as exc:
        seen.append(f"caught {exc.args[0]}")
    return seen


def test_the_drivers_send_results_and_throw_errors_into_the_flow() -> None:
    def perform(step: str) -> str:
        if step == "b":
            raise KeyError("from b")
        return step.upper()

    async def aperform(step: str) -> str:
        return perform(step)

    assert run(_counting(), perform) == ["A", "caught from b"]
    assert anyio.run(arun, _counting(), aperform) == ["A", "caught from b"]


@pytest.mark.anyio
async def test_a_cancelled_async_driver_closes_the_flow() -> None:
    closed: list[bool] = []

    def flow() -> Generator[str, Any, None]:
        try:
            yield "wait"
        finally:
            closed.append(True)

    async def perform(step: str) -> None:
        await anyio.sleep(30)

    with anyio.move_on_after(0.01):
        await arun(flow(), perform)
    assert closed == [True]


def test_deadline() -> None:
    deadline = Deadline(30.0)
    assert 0 < deadline.remaining() <= 30.0
    deadline.check()
    assert not deadline.fired
    expired = Deadline(0.0)
    with pytest.raises(DeadlineExceeded):
        expired.check()
    assert expired.fired
