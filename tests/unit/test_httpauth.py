"""BearerAuth: httpx flows stepped by hand, then httpx (sync, async) and requests end to end."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import pytest
import requests
from conftest_lifecycle import FakeClock, FakeSource, ResourceServer, serving

import jwtbearer
from jwtbearer import AsyncCachedSource, BearerAuth, CachedSource, Token


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class AsyncSource:
    def __init__(self) -> None:
        self.calls = 0
        self.cache_key = "async"

    async def token(self) -> Token:
        self.calls += 1
        await asyncio.sleep(0)
        return Token(access_token=f"atok-{self.calls}", expires_at=None)


class StaticSource:
    def token(self) -> Token:
        return Token(access_token="static", expires_at=None)


def cached() -> tuple[CachedSource, FakeSource]:
    clock = FakeClock()
    source = FakeSource(clock)
    return CachedSource(source, clock=clock), source


def test_sync_flow_sets_the_header() -> None:
    source, raw = cached()
    flow = BearerAuth(source).sync_auth_flow(httpx.Request("GET", "https://api.example/x"))
    request = next(flow)
    assert request.headers["Authorization"] == "Bearer tok-1"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))
    assert raw.calls == 1


def test_sync_flow_renews_once_on_401_then_gives_up() -> None:
    source, raw = cached()
    flow = BearerAuth(source).sync_auth_flow(httpx.Request("POST", "https://api.example/x",
                                                           content=b"body"))
    assert next(flow).headers["Authorization"] == "Bearer tok-1"
    retry = flow.send(httpx.Response(401))
    assert retry.headers["Authorization"] == "Bearer tok-2"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))
    assert raw.calls == 2
    assert source.token().access_token == "tok-2"


def test_sync_flow_does_not_retry_with_the_same_token() -> None:
    flow = BearerAuth(StaticSource()).sync_auth_flow(httpx.Request("GET", "https://a.example/"))
    next(flow)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))


def test_async_source_in_a_sync_client_is_refused() -> None:
    auth = BearerAuth(AsyncCachedSource(AsyncSource()))
    flow = auth.sync_auth_flow(httpx.Request("GET", "https://a.example/"))
    with pytest.raises(jwtbearer.ConfigurationError, match="AsyncClient"):
        next(flow)

    class SneakyAsync:
        def token(self) -> object:
            return asyncio.sleep(0)

    with pytest.raises(jwtbearer.ConfigurationError, match="cannot await"):
        next(BearerAuth(SneakyAsync()).sync_auth_flow(httpx.Request("GET", "https://a/")))  # type: ignore[arg-type]


def test_not_a_source_is_refused() -> None:
    with pytest.raises(jwtbearer.ConfigurationError, match="token source"):
        BearerAuth("a token")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_async_flow_renews_once_on_401() -> None:
    raw = AsyncSource()
    source = AsyncCachedSource(raw)
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", "https://a.example/"))
    assert (await flow.__anext__()).headers["Authorization"] == "Bearer atok-1"
    retry = await flow.asend(httpx.Response(401))
    assert retry.headers["Authorization"] == "Bearer atok-2"
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(401))
    assert raw.calls == 2


@pytest.mark.anyio
async def test_async_flow_accepts_a_sync_cached_source() -> None:
    source, _raw = cached()
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", "https://a.example/"))
    assert (await flow.__anext__()).headers["Authorization"] == "Bearer tok-1"
    assert (await flow.asend(httpx.Response(401))).headers["Authorization"] == "Bearer tok-2"
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(200))


@pytest.fixture
def api() -> Iterator[ResourceServer]:
    server = ResourceServer()
    with serving(server.httpd):
        yield server


def test_httpx_client_end_to_end(api: ResourceServer) -> None:
    source, raw = cached()
    api.accepted = {"tok-1"}
    with httpx.Client(auth=BearerAuth(source)) as client:
        assert client.get(api.url).status_code == 200
        assert client.get(api.url).status_code == 200
        api.accepted = {"tok-2"}  # tok-1 revoked server-side
        response = client.post(api.url, content=b"payload")
        assert response.status_code == 200
        api.accepted = set()
        assert client.get(api.url).status_code == 401
    assert [auth for auth, _ in api.seen] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2",
        "Bearer tok-3",
    ]
    assert api.seen[3][1] == b"payload"
    assert raw.calls == 3


@pytest.mark.anyio
async def test_httpx_async_client_end_to_end(api: ResourceServer) -> None:
    raw = AsyncSource()
    api.accepted = {"atok-1"}
    async with httpx.AsyncClient(auth=BearerAuth(AsyncCachedSource(raw))) as client:
        assert (await client.get(api.url)).status_code == 200
        api.accepted = {"atok-2"}
        assert (await client.get(api.url)).status_code == 200
        api.accepted = set()
        assert (await client.get(api.url)).status_code == 401
    assert raw.calls == 3
    assert len(api.seen) == 5


def test_requests_end_to_end(api: ResourceServer) -> None:
    source, raw = cached()
    api.accepted = {"tok-1"}
    with requests.Session() as session:
        session.auth = BearerAuth(source)
        assert session.get(api.url, timeout=10).status_code == 200
        api.accepted = {"tok-2"}
        response = session.post(api.url, data=io.BytesIO(b"file body"), timeout=10)
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]
        api.accepted = set()
        final = session.get(api.url, timeout=10)
        assert final.status_code == 401
        assert len(final.history) == 1
    assert [body for _, body in api.seen[1:3]] == [b"file body", b"file body"]
    assert [auth for auth, _ in api.seen] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2", "Bearer tok-3",
    ]
    assert raw.calls == 3


def test_requests_does_not_retry_a_one_shot_stream(api: ResourceServer) -> None:
    source, raw = cached()

    def chunks() -> Iterator[bytes]:
        yield b"once"

    response = requests.post(api.url, data=chunks(), auth=BearerAuth(source), timeout=10)
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert raw.calls == 1


def _redirect_then_401(request: httpx.Request) -> httpx.Response:
    # api.example sends the client on to another origin, which answers 401; httpx drops the
    # Authorization header on a cross-origin redirect, so that 401 is not about our token.
    if request.url.host == "api.example":
        return httpx.Response(302, headers={"Location": "https://other.example/x"})
    return httpx.Response(401, headers={"X-Saw-Auth": str("Authorization" in request.headers)})


def test_sync_401_to_a_request_without_our_token_is_not_retried() -> None:
    source, raw = cached()
    transport = httpx.MockTransport(_redirect_then_401)
    with httpx.Client(auth=BearerAuth(source), transport=transport,
                      follow_redirects=True) as client:
        response = client.get("https://api.example/x")
    assert response.status_code == 401
    assert response.headers["X-Saw-Auth"] == "False"
    assert raw.calls == 1  # no renewal: the token was never refused
    assert source.fresh_token() is not None  # and it was not thrown away


@pytest.mark.anyio
async def test_async_401_to_a_request_without_our_token_is_not_retried() -> None:
    raw = AsyncSource()
    source = AsyncCachedSource(raw)
    transport = httpx.MockTransport(_redirect_then_401)
    async with httpx.AsyncClient(auth=BearerAuth(source), transport=transport,
                                 follow_redirects=True) as client:
        response = await client.get("https://api.example/x")
    assert response.status_code == 401
    assert raw.calls == 1
    assert source.fresh_token() is not None
