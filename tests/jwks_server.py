"""A JWK Set served on 127.0.0.1 that the test changes at will: it counts every request, can
answer an error status, and can be stopped (connection refused) and started again on its port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jwtbearer.jose import SigningKey


class JWKSServer:
    """``GET /jwks`` answers the public JWKs of :attr:`keys` (or :attr:`status` when not 200)."""

    def __init__(self, keys: Sequence[SigningKey] = ()) -> None:
        self.keys: list[SigningKey] = list(keys)
        self.status = 200
        self.raw: list[dict[str, Any]] | None = None  # published as is when set
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    def document(self) -> dict[str, Any]:
        if self.raw is not None:
            return {"keys": self.raw}
        return {"keys": [k.public_jwk() for k in self.keys]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                status = server.status
                body = json.dumps(server.document() if status == 200 else {"error": "down"})
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def start(self) -> JWKSServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


@contextmanager
def jwks_server(keys: Sequence[SigningKey] = ()) -> Iterator[JWKSServer]:
    server = JWKSServer(keys).start()
    try:
        yield server
    finally:
        server.stop()
