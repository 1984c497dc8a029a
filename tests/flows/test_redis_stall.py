"""A stalled Redis never holds callers: a real redis-server paused (SIGSTOP) at each step of a
refresh.

Six members of a fleet (each its own RedisStore and CachedSource, as separate processes would
have) share one token endpoint. Redis is stopped before the lock, while the holder waits on the
endpoint, during the token write, and during the lock release. Every member must get a token,
without an exception, while Redis is still stopped (each within a generous hard bound; the
design bound is Redis's 2 s deadline plus the endpoint's latency). After SIGCONT, sharing
resumes: each expiry costs one POST again, ghost locks included.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"
sys.path.insert(0, str(UNIT))

from conftest_lifecycle import CountingEndpoint, FakeClock  # noqa: E402

import jwtbearer  # noqa: E402
from jwtbearer import CachedSource, RedisStore, Token  # noqa: E402
from jwtbearer.errors import StoreError  # noqa: E402
from jwtbearer.lifecycle.stores._base import hashed  # noqa: E402

pytestmark = pytest.mark.redis

MEMBERS = 6
HARD_BOUND = 15.0  # seconds a member may take while Redis is stopped before the test fails
KEY = "c3RhbGwtdGVzdC1rZXktMzItYnl0ZXMtbG9uZyEhISE="  # 32 bytes, base64url


class PausableRedis:
    """A private redis-server that the test can stop (SIGSTOP) and resume (SIGCONT)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make test`, which installs it")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.dir = tempfile.mkdtemp(prefix="jwtbearer-stall-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        self.stopped = threading.Event()

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped.set()

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped.clear()

    def close(self) -> None:
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class PausingStore(RedisStore):
    """A RedisStore that stops Redis once, just before its token write or its lock release."""

    def __init__(self, server: PausableRedis, step: str, **kwargs: object) -> None:
        super().__init__(server.url, **kwargs)  # type: ignore[arg-type]
        self.server, self.step = server, step

    def _pause(self, step: str) -> None:
        if self.step == step and not self.server.stopped.is_set():
            self.step = "done"
            self.server.stop()

    def set(self, key: str, token: Token) -> None:
        self._pause("write")
        super().set(key, token)

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[None]:
        with super().lock(key, wait=wait):
            yield
            self._pause("release")


@pytest.fixture
def server() -> Iterator[PausableRedis]:
    paused = PausableRedis()
    try:
        yield paused
    finally:
        paused.close()


@pytest.fixture
def endpoint() -> Iterator[CountingEndpoint]:
    with CountingEndpoint(delay=0.2).running() as running:
        yield running


def _member(url: str, store: RedisStore, clock: FakeClock) -> CachedSource:
    client = jwtbearer.TokenClient(
        url, auth=jwtbearer.ClientSecretBasic("svc", "s3cr3t-value"), clock=clock
    )
    return CachedSource(client.source(jwtbearer.ClientCredentials(scope="api")), store=store,
                        clock=clock)


def _ask(members: list[CachedSource]) -> list[tuple[str, object]]:
    """Every member asks for a token at once; each answer (or exception) within HARD_BOUND."""
    results: list[tuple[str, object] | None] = [None] * len(members)

    def ask(i: int) -> None:
        try:
            results[i] = ("token", members[i].token().access_token)
        except Exception as exc:  # the assertion below reports it
            results[i] = ("error", repr(exc))

    threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in range(len(members))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + HARD_BOUND
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"a member waited over {HARD_BOUND:g} s"
    return [r for r in results if r is not None]


def _wait_until_answering(stores: list[RedisStore]) -> None:
    """After SIGCONT: each store answers again (after its short down-for spell)."""
    deadline = time.monotonic() + HARD_BOUND
    for store in stores:
        while True:
            try:
                store.get("probe")
                break
            except StoreError:
                assert time.monotonic() < deadline, "the store did not recover after SIGCONT"
                time.sleep(0.1)


@pytest.mark.parametrize("step", ["before-lock", "holding", "write", "release"])
def test_stalled_redis_strands_no_caller_and_sharing_resumes(
    step: str, server: PausableRedis, endpoint: CountingEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWTBEARER_CACHE_KEY", KEY)
    clock = FakeClock(time.time())
    stores = [PausingStore(server, step if i == 0 else "never", clock=clock)
              for i in range(MEMBERS)]
    members = [_member(endpoint.url, store, clock) for store in stores]
    try:
        if step == "before-lock":
            server.stop()
            answers = _ask(members)
        else:
            # Member 0 takes the lock and waits on the endpoint; the others queue behind it.
            endpoint.hold.clear()
            holder = threading.Thread(target=lambda: answers_0.append(members[0].token()))
            answers_0: list[Token] = []
            holder.start()
            assert endpoint.first_post.wait(timeout=HARD_BOUND), "the holder never asked"
            waiting: list[list[tuple[str, object]]] = []
            rest = threading.Thread(target=lambda: waiting.append(_ask(members[1:])))
            rest.start()
            time.sleep(0.3)  # let the others start waiting on the lock (not a measurement)
            if step == "holding":
                server.stop()
            endpoint.hold.set()
            holder.join(timeout=HARD_BOUND)
            rest.join(timeout=HARD_BOUND + 1)
            assert answers_0 and waiting, "a member did not answer in time"
            answers = [("token", answers_0[0].access_token), *waiting[0]]
        # Every member got a token while Redis was still stopped, none raised.
        assert server.stopped.is_set()
        assert [kind for kind, _ in answers] == ["token"] * MEMBERS, answers
        assert all(str(value).startswith("at-") for _, value in answers)
        assert 1 <= endpoint.posts <= MEMBERS  # at most one direct fetch per member
    finally:
        server.resume()

    _wait_until_answering(stores)
    for _expiry in range(2):
        before = endpoint.posts
        clock.advance(3601)  # every member's token has expired
        answers = _ask(members)
        assert [kind for kind, _ in answers] == ["token"] * MEMBERS, answers
        assert len({value for _, value in answers}) == 1  # one token for the whole fleet
        assert endpoint.posts == before + 1
    for store in stores:
        store.close()


def test_late_lock_from_a_timed_out_take_is_released_once_redis_answers(
    server: PausableRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWTBEARER_CACHE_KEY", KEY)
    store = RedisStore(server.url)
    probe = RedisStore(server.url)
    name = f"jwtbearer:lock:{hashed('k')}"
    server.stop()
    try:
        with pytest.raises(StoreError), store.lock("k"):
            pass  # the SET NX was sent, then the client gave up after Redis's deadline
    finally:
        server.resume()
    # The late SET may have run once Redis resumed; the store releases it on its next call.
    _wait_until_answering([store])
    assert probe._redis.exists(name) == 0
    # A second call after a failure fails at once (no second deadline to wait out).
    server.stop()
    try:
        with pytest.raises(StoreError):
            store.get("k")
        with pytest.raises(StoreError, match="failed moments ago"):
            store.get("k")
    finally:
        server.resume()


def test_server_replay_check_on_a_stalled_redis_fails_closed_within_the_deadline(
    server: PausableRedis,
) -> None:
    from jwtbearer.server.replay import RedisReplayCache, ReplayCacheUnavailable

    cache = RedisReplayCache(server.url)
    assert cache.first_use("iss", "jti-1", expires_at=time.time() + 60, now=time.time())
    outcome: list[object] = []

    def check() -> None:
        try:
            outcome.append(cache.first_use("iss", "jti-2", expires_at=time.time() + 60,
                                           now=time.time()))
        except ReplayCacheUnavailable as exc:
            outcome.append(exc)

    server.stop()
    try:
        worker = threading.Thread(target=check, daemon=True)
        worker.start()
        worker.join(timeout=HARD_BOUND)  # no client retries: one 2 s deadline, not ten
        assert outcome and isinstance(outcome[0], ReplayCacheUnavailable)
    finally:
        server.resume()
    # The late SET of jti-2 may have landed; jti-3 is fresh and accepted.
    assert cache.first_use("iss", "jti-3", expires_at=time.time() + 60, now=time.time())
    cache.close()
