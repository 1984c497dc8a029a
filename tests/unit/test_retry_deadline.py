"""RetryPolicy(deadline=): all attempts together within a bound, sync and async, against a
real loopback server that accepts connections and never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import anyio
import pytest

import jwtbearer as jb
from jwtbearer.client._base import Send, Sleep
from jwtbearer.client.protocol import RetryPolicy
from jwtbearer.errors import ConfigurationError, TransportError


class Silent:
    """Accepts connections on 127.0.0.1 and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    try:
        yield server
    finally:
        server.close()


def _grant() -> jb.ClientCredentials:
    return jb.ClientCredentials()


def _auth() -> jb.ClientSecretPost:
    return jb.ClientSecretPost("app", "pw")


def test_the_deadline_bounds_every_attempt_and_stops_retrying(silent: Silent) -> None:
    url = f"http://127.0.0.1:{silent.port}/token"
    policy = RetryPolicy(attempts=5, deadline=0.5, base_delay=0.0)
    with (jb.TokenClient(url, _auth(), timeout=30.0, retry=policy) as client,
          pytest.raises(TransportError) as caught):
        client.request_token(_grant())
    # The first attempt's timeout shrank to the deadline: it used it all, so none followed.
    assert len(silent.accepted) == 1
    message = str(caught.value)
    assert "gave up after 1 attempt in" in message
    assert "each attempt at most 30 s, all together at most 0.5 s" in message


def test_the_async_client_keeps_the_same_deadline(silent: Silent) -> None:
    url = f"http://127.0.0.1:{silent.port}/token"
    policy = RetryPolicy(attempts=5, deadline=0.5, base_delay=0.0)

    async def main() -> str:
        async with jb.AsyncTokenClient(url, _auth(), timeout=30.0, retry=policy) as client:
            try:
                await client.request_token(_grant())
            except TransportError as exc:
                return str(exc)
        raise AssertionError("no error")

    message = anyio.run(main)
    assert len(silent.accepted) == 1
    assert "all together at most 0.5 s" in message


def test_the_last_attempt_timeout_shrinks_to_what_is_left() -> None:
    policy = RetryPolicy(attempts=3, deadline=2.0, base_delay=0.0, jitter=lambda: 0.0)
    client = jb.TokenClient("https://auth.example/token", _auth(), timeout=10.0, retry=policy)
    flow = client.request_flow(_grant())
    first = next(flow)
    assert isinstance(first, Send) and 0 < first.timeout <= 2.0 and first.attempt == 1
    pause = flow.throw(TransportError("no answer"))
    assert isinstance(pause, Sleep) and pause.seconds == 0.0
    second = flow.send(None)
    assert isinstance(second, Send) and second.attempt == 2
    assert 0 < second.timeout <= first.timeout
    client.close()


def test_without_a_deadline_each_attempt_has_the_full_timeout() -> None:
    client = jb.TokenClient("https://auth.example/token", _auth(), timeout=7.0,
                            retry=RetryPolicy(attempts=2, jitter=lambda: 0.0))
    flow = client.request_flow(_grant())
    first = next(flow)
    assert isinstance(first, Send) and first.timeout == 7.0
    flow.throw(TransportError("no answer"))
    second = flow.send(None)
    assert isinstance(second, Send) and second.timeout == 7.0
    with pytest.raises(TransportError, match=r"gave up after 2 attempts .*each attempt at most 7"):
        flow.throw(TransportError("no answer"))
    client.close()


@pytest.mark.parametrize("bad", [0, -1, float("inf"), True, "5"])
def test_a_bad_deadline_is_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="deadline"):
        RetryPolicy(deadline=bad)  # type: ignore[arg-type]
