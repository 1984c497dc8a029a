"""Helpers for the token lifecycle tests: a loopback token endpoint that counts its POSTs.

Imported explicitly (``from conftest_lifecycle import ...``); child processes get this folder on
PYTHONPATH.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwtbearer
from jwtbearer.token import Token

HERE = Path(__file__).resolve().parent


@contextmanager
def serving(httpd: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Serve ``httpd`` from a thread for the ``with`` block; stop and close it afterwards."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


class CountingEndpoint:
    """A token endpoint on 127.0.0.1 that counts POSTs, answers after ``delay`` seconds, and can
    hold requests (``hold``) or fail them (``status``)."""

    def __init__(self, *, delay: float = 0.2, expires_in: int = 3600) -> None:
        self.delay = delay
        self.expires_in = expires_in
        self.status = 200
        self.posts = 0
        self.hold = threading.Event()
        self.hold.set()  # set = answer normally; cleared = keep requests waiting (bounded)
        self.first_post = threading.Event()
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with endpoint._lock:
                    endpoint.posts += 1
                    number = endpoint.posts
                endpoint.first_post.set()
                endpoint.hold.wait(timeout=30)
                time.sleep(endpoint.delay)
                if endpoint.status != 200:
                    body = json.dumps({"error": "server_error"}).encode()
                    status = endpoint.status
                else:
                    status = 200
                    body = json.dumps({
                        "access_token": f"at-{number}",
                        "token_type": "Bearer",
                        "expires_in": endpoint.expires_in,
                    }).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away (killed mid-refresh)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    @contextmanager
    def running(self) -> Iterator[CountingEndpoint]:
        with serving(self.server):
            try:
                yield self
            finally:
                self.hold.set()  # release held answers so shutdown does not wait on them


def endpoint_source(url: str, scope: str = "api") -> jwtbearer.TokenSource:
    """The real source for ``url``: client_credentials with client_secret_basic."""
    client = jwtbearer.TokenClient(url, auth=jwtbearer.ClientSecretBasic("svc", "s3cr3t-value"))
    return client.source(jwtbearer.ClientCredentials(scope=scope))


def async_endpoint_source(url: str, scope: str = "api") -> jwtbearer.AsyncTokenSource:
    """The async twin of :func:`endpoint_source`."""
    client = jwtbearer.AsyncTokenClient(
        url, auth=jwtbearer.ClientSecretBasic("svc", "s3cr3t-value")
    )
    return client.source(jwtbearer.ClientCredentials(scope=scope))


class FakeSource:
    """A sync source that hands out numbered tokens, or raises ``fail`` when set."""

    def __init__(
        self, clock: Callable[[], float], *, lifetime: float | None = 3600.0,
        cache_key: str = "fake-source",
    ) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.cache_key = cache_key
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None

    def token(self) -> Token:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.fail is not None:
            raise self.fail
        now = self.clock()
        expires = None if self.lifetime is None else now + self.lifetime
        return Token(access_token=f"tok-{self.calls}", expires_at=expires, issued_at=now)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ResourceServer:
    """A loopback API that accepts only the tokens in ``accepted`` and records what it saw."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.seen: list[tuple[str, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization", "")
                server.seen.append((auth, body))
                ok = auth.removeprefix("Bearer ") in server.accepted
                self.send_response(200 if ok else 401)
                if not ok:
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"no")

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"
