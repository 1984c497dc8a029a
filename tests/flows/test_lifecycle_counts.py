"""One token request per expiry, counted at a real loopback token endpoint.

Threads, asyncio tasks, processes sharing a SQLite file, processes sharing Redis, a lock holder
killed mid-refresh, and a failed refresh: every case asserts the exact number of POSTs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"
sys.path.insert(0, str(UNIT))

from conftest_lifecycle import (  # noqa: E402
    CountingEndpoint,
    FakeClock,
    async_endpoint_source,
    endpoint_source,
)

import jwtbearer  # noqa: E402
import jwtbearer.errors  # noqa: E402
from jwtbearer import (  # noqa: E402
    AsyncCachedSource,
    CachedSource,
    RedisStore,
    SQLiteStore,
    Token,
)
from jwtbearer.errors import StoreLockTimeout  # noqa: E402

FLEET_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()

# A process of the fleet: builds its source and store, says it is ready, waits for "go" (so
# all of them ask at the same moment), prints the token it got.
_MEMBER = """
import os, sys, time
from pathlib import Path
import jwtbearer
from conftest_lifecycle import endpoint_source
url, kind, target, ready, go, ttl = sys.argv[1:7]
if kind == "sqlite":
    store = jwtbearer.SQLiteStore(target, lock_ttl=float(ttl))
else:
    store = jwtbearer.RedisStore(target, lock_ttl=float(ttl), prefix=sys.argv[7])
source = jwtbearer.CachedSource(endpoint_source(url), store=store)
Path(ready, str(os.getpid())).touch()
deadline = time.monotonic() + 60
while not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.002)
print(source.token().access_token, flush=True)
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def endpoint() -> Iterator[CountingEndpoint]:
    with CountingEndpoint(delay=0.3).running() as running:
        yield running


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(UNIT), env.get("PYTHONPATH", "")])
    env["JWTBEARER_CACHE_KEY"] = FLEET_KEY
    return env


def _spawn(
    n: int, url: str, kind: str, target: str, tmp: Path, ttl: float, prefix: str = "jwtbearer:"
) -> tuple[list[subprocess.Popen[str]], Path, Path]:
    ready, go = tmp / "ready", tmp / "go"
    ready.mkdir(exist_ok=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MEMBER, url, kind, target, str(ready), str(go), str(ttl),
             prefix],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for _ in range(n)
    ]
    return procs, ready, go


def _wait_ready(procs: list[subprocess.Popen[str]], ready: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while len(list(ready.iterdir())) < len(procs):
        failed = [p for p in procs if p.poll() not in (None, 0)]
        assert not failed, failed[0].stderr.read() if failed[0].stderr else "child failed"
        assert time.monotonic() < deadline, "the fleet did not start in time"
        time.sleep(0.02)


def _collect(procs: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def test_1000_threads_one_post(endpoint: CountingEndpoint) -> None:
    source = CachedSource(endpoint_source(endpoint.url))
    barrier = threading.Barrier(1000, timeout=60)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            tokens.append(source.token().access_token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(tokens) == 1000
    assert set(tokens) == {"at-1"}
    assert endpoint.posts == 1


@pytest.mark.anyio
async def test_1000_tasks_one_post(endpoint: CountingEndpoint) -> None:
    source = AsyncCachedSource(async_endpoint_source(endpoint.url))
    tokens = await asyncio.wait_for(
        asyncio.gather(*(source.token() for _ in range(1000))), timeout=60
    )
    assert {t.access_token for t in tokens} == {"at-1"}
    assert endpoint.posts == 1


def test_8_processes_sharing_sqlite_one_post(endpoint: CountingEndpoint, tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    procs, ready, go = _spawn(8, endpoint.url, "sqlite", str(db), tmp_path, ttl=30)
    _wait_ready(procs, ready)
    go.touch()
    assert _collect(procs) == ["at-1"] * 8
    assert endpoint.posts == 1


def test_8_processes_sharing_redis_one_post(
    endpoint: CountingEndpoint, tmp_path: Path, redis_url: str
) -> None:
    procs, ready, go = _spawn(8, endpoint.url, "redis", redis_url, tmp_path, ttl=30,
                              prefix="fleet8:")
    _wait_ready(procs, ready)
    go.touch()
    assert _collect(procs) == ["at-1"] * 8
    assert endpoint.posts == 1


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_lock_holder_killed_mid_refresh_another_refreshes_after_ttl(
    kind: str, endpoint: CountingEndpoint, tmp_path: Path, redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWTBEARER_CACHE_KEY", FLEET_KEY)
    # SQLite: the lock's expiry; Redis: its time-to-live, taken over 3 s after its last renewal
    ttl = 1.5 if kind == "sqlite" else 5.0
    prefix = f"killed-{kind}:"
    target = str(tmp_path / "killed.db") if kind == "sqlite" else redis_url

    def store(lock_timeout: float | None = None) -> SQLiteStore | RedisStore:
        if kind == "sqlite":
            return SQLiteStore(target, lock_ttl=ttl, lock_timeout=lock_timeout)
        return RedisStore(target, lock_ttl=ttl, lock_timeout=lock_timeout, prefix=prefix)

    endpoint.hold.clear()  # the holder's token request never gets its answer
    procs, ready, go = _spawn(1, endpoint.url, kind, target, tmp_path, ttl=ttl, prefix=prefix)
    holder = procs[0]
    try:
        _wait_ready(procs, ready)
        go.touch()
        assert endpoint.first_post.wait(timeout=30), "the holder never asked for a token"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
    source = CachedSource(endpoint_source(endpoint.url), store=store())
    # The dead holder's lock outlives it...
    with pytest.raises(StoreLockTimeout), store(lock_timeout=0).lock(source.key):
        pass
    endpoint.hold.set()
    # ...until its TTL passes (Redis: until it is overdue for renewal); then this process takes
    # the lock and refreshes.
    assert source.token().access_token == "at-2"
    assert endpoint.posts == 2
    assert store().get(source.key) is not None


def test_failed_refresh_keeps_valid_token_and_raises_when_none(
    endpoint: CountingEndpoint,
) -> None:
    clock = FakeClock(time.time())
    client = jwtbearer.TokenClient(
        endpoint.url, auth=jwtbearer.ClientSecretBasic("svc", "s3cr3t-value"),
        clock=clock, retry=jwtbearer.RetryPolicy(attempts=2), sleep=lambda _: None,
    )
    source = CachedSource(client.source(jwtbearer.ClientCredentials(scope="api")), clock=clock)
    first: Token = source.token()
    assert endpoint.posts == 1
    clock.advance(3600 - 30)  # due for refresh, still valid
    endpoint.status = 500
    assert source.token() is first
    assert endpoint.posts == 3  # one refresh, two attempts
    clock.advance(60)  # now expired: nothing valid left to serve
    with pytest.raises(jwtbearer.errors.ServerError):
        source.token()
    assert endpoint.posts == 5
    endpoint.status = 200
    assert source.token().access_token == "at-6"
