"""BearerAuth over the real TokenClient: token POSTs and API requests both counted on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from conftest_lifecycle import (
    CountingEndpoint,
    ResourceServer,
    async_endpoint_source,
    endpoint_source,
    serving,
)

from jwtbearer import AsyncCachedSource, BearerAuth, CachedSource


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def endpoint() -> Iterator[CountingEndpoint]:
    with CountingEndpoint(delay=0.0).running() as running:
        yield running


@pytest.fixture
def api() -> Iterator[ResourceServer]:
    server = ResourceServer()
    with serving(server.httpd):
        yield server


def test_httpx_reuses_then_renews_after_401(endpoint: CountingEndpoint, api: ResourceServer):
    auth = BearerAuth(CachedSource(endpoint_source(endpoint.url)))
    api.accepted = {"at-1"}
    with httpx.Client(auth=auth) as client:
        assert [client.get(api.url).status_code for _ in range(5)] == [200] * 5
        assert endpoint.posts == 1
        api.accepted = {"at-2"}  # the API revoked at-1
        assert client.get(api.url).status_code == 200
        assert endpoint.posts == 2
        api.accepted = set()
        assert client.get(api.url).status_code == 401  # one renewal, then the 401 comes back
    assert endpoint.posts == 3
    assert len(api.seen) == 5 + 2 + 2


def test_requests_renews_after_401(endpoint: CountingEndpoint, api: ResourceServer) -> None:
    auth = BearerAuth(CachedSource(endpoint_source(endpoint.url)))
    api.accepted = {"at-2"}
    response = requests.get(api.url, auth=auth, timeout=10)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert endpoint.posts == 2


@pytest.mark.anyio
async def test_async_client_shares_one_token(endpoint: CountingEndpoint, api: ResourceServer):
    import asyncio

    auth = BearerAuth(AsyncCachedSource(async_endpoint_source(endpoint.url)))
    api.accepted = {"at-1"}
    async with httpx.AsyncClient(auth=auth) as client:
        responses = await asyncio.gather(*(client.get(api.url) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert endpoint.posts == 1
