"""The ASGI app (Starlette) around :class:`TokenEndpoint`, and a way to run it on loopback.

The app only moves bytes: it reads at most ``max_body_size`` bytes of a body, hands them and
the headers to the pure core, and writes the JSON answer. Needs the ``server`` extra.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from .core import Response, TokenEndpoint

__all__ = ["BackgroundServer", "Endpoint", "create_app", "listen_socket"]


class Endpoint(Protocol):
    """What the app serves; :class:`TokenEndpoint` is the real one."""

    def token(self, body: bytes, headers: Mapping[str, str]) -> Response: ...

    def jwks(self) -> Response: ...

    def metadata(self) -> Response: ...


def _send(response: Response) -> HTTPResponse:
    headers = dict(response.headers)
    return HTTPResponse(response.json_bytes(), status_code=response.status, headers=headers,
                        media_type="application/json")


def _too_large(limit: int) -> HTTPResponse:
    return _send(Response(status=413, body={
        "error": "invalid_request", "error_description": f"body over the {limit} byte cap"},
        headers=(("cache-control", "no-store"),)))


def create_app(endpoint: Endpoint, *, max_body_size: int = 64 * 1024) -> Starlette:
    """The Starlette app: ``POST /token``, ``GET /jwks``, RFC 8414 metadata, ``GET /healthz``."""

    async def token(request: Request) -> HTTPResponse:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_size):
            return _too_large(max_body_size)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_size:  # chunked bodies have no Content-Length to check up front
                return _too_large(max_body_size)
            chunks.append(chunk)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]
                   if k in (b"authorization", b"content-type")}
        return _send(endpoint.token(b"".join(chunks), headers))

    async def jwks(request: Request) -> HTTPResponse:
        return _send(endpoint.jwks())

    async def metadata(request: Request) -> HTTPResponse:
        return _send(endpoint.metadata())

    async def healthz(request: Request) -> HTTPResponse:
        return HTTPResponse(b'{"status":"ok"}', media_type="application/json")

    async def not_allowed(request: Request, exc: Exception) -> HTTPResponse:
        return _send(Response(status=405, body={
            "error": "invalid_request",
            "error_description": f"{request.method} is not allowed here"}))

    async def not_found(request: Request, exc: Exception) -> HTTPResponse:
        return _send(Response(status=404, body={"error": "not_found"}))

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[HTTPResponse]]] = {
        405: not_allowed, 404: not_found}
    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/jwks", jwks, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers=handlers,
    )


def app_for(endpoint: TokenEndpoint) -> Starlette:
    """The app for a configured endpoint (body cap from its configuration)."""
    return create_app(endpoint, max_body_size=endpoint.config.max_body_size)


def listen_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it from ``getsockname()``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class BackgroundServer:
    """Runs an ASGI app under uvicorn in a daemon thread; a context manager.

    Give it a socket from :func:`listen_socket` when the URL must be known before the app
    exists (the issuer names the port). Stopping sets ``should_exit`` and joins the thread.
    """

    def __init__(self, app: Any, *, sock: socket.socket | None = None,
                 start_timeout: float = 10.0) -> None:
        import uvicorn

        self._sock = sock or listen_socket()
        host, port = self._sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="jwtbearer-server", daemon=True)
        self._start_timeout = start_timeout

    def start(self) -> BackgroundServer:
        """Start serving; returns once uvicorn has started (bounded by ``start_timeout``)."""
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (bounded: 10 s)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
