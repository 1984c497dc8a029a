"""The ASGI app around :class:`TokenEndpoint`, and a way to run it on loopback.

The app only moves bytes: it reads at most ``max_body_size`` bytes of a body, hands them and
the headers to the pure core, and writes the JSON answer. It is plain ASGI: four fixed routes
need no framework, and a framework's request, response and routing objects cost time on every
request. uvicorn runs it, on httptools and uvloop when they are installed (the ``server``
extra), else on h11 and asyncio.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from .config import load_config
from .core import Response, TokenEndpoint
from .limits import ServerLimits

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "BackgroundServer",
    "Endpoint",
    "TokenApp",
    "app_for",
    "create_app",
    "listen_socket",
    "serve_config",
    "uvicorn_server",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = tuple[tuple[bytes, bytes], ...]
Answer = tuple[int, bytes, Headers]

# Request headers the core reads; every other header is never decoded.
_WANTED = frozenset({b"authorization", b"content-type"})
_FIELD_NAMES = {b"authorization": "Authorization", b"content-type": "Content-Type"}
_JSON_TYPE = (b"content-type", b"application/json")
_HEALTHZ = b'{"status":"ok"}'
_GET_ONLY = (b"allow", b"GET, HEAD")


class Endpoint(Protocol):
    """What the app serves; :class:`TokenEndpoint` is the real one."""

    def token(self, body: bytes, headers: Mapping[str, str]) -> Response: ...

    def jwks(self) -> Response: ...

    def metadata(self) -> Response: ...


def _error(status: int, error: str, description: str | None = None,
           extra: Headers = ()) -> Answer:
    body: dict[str, str] = {"error": error}
    if description is not None:
        body["error_description"] = description
    payload = Response(status=status, body=body).json_bytes()
    return status, payload, (*extra, (b"cache-control", b"no-store"))


class TokenApp:
    """The ASGI app: ``POST /token``, ``GET /jwks``, RFC 8414 metadata, ``GET /healthz``.

    Every answer is JSON (RFC 6749 §5.1, §5.2); a wrong method gets 405 with ``Allow``
    (RFC 9110 §15.5.6), an unknown path 404, a body over ``max_body_size`` 413 before it is
    read in full. ``lifespan`` events are acknowledged; nothing happens at start or stop.
    """

    def __init__(self, endpoint: Endpoint, *, max_body_size: int = 64 * 1024) -> None:
        self.endpoint = endpoint
        self.max_body_size = max_body_size
        self._too_large = _error(413, "invalid_request",
                                 f"body over the {max_body_size} byte cap")
        self._gets: dict[str, Callable[[], Response]] = {
            "/jwks": endpoint.jwks,
            "/.well-known/oauth-authorization-server": endpoint.metadata,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            status, body, headers = await self._http(scope, receive)
            await send({"type": "http.response.start", "status": status, "headers": [
                *headers, _JSON_TYPE, (b"content-length", str(len(body)).encode("ascii"))]})
            await send({"type": "http.response.body", "body": body})
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive) -> Answer:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/token":
            if method != "POST":
                return _error(405, "invalid_request", f"{method[:16]} is not allowed here",
                              ((b"allow", b"POST"),))
            headers: dict[str, str] = {}
            length = None
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name in _WANTED:
                    key = name.decode("latin-1")
                    if key in headers:
                        # Singleton fields (RFC 9110 §5.3): two could be read differently by a
                        # proxy in front and by this server, so neither is chosen.
                        return _error(400, "invalid_request",
                                      f"the {_FIELD_NAMES[name]} header is repeated; send it once")
                    headers[key] = value.decode("latin-1")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_size):
                return self._too_large
            body = await self._read(receive)
            if body is None:
                return self._too_large
            return _answer(self.endpoint.token(body, headers))
        if path == "/healthz" or path in self._gets:
            if method not in ("GET", "HEAD"):
                return _error(405, "invalid_request", f"{method[:16]} is not allowed here",
                              (_GET_ONLY,))
            if path == "/healthz":
                return 200, _HEALTHZ, ()
            return _answer(self._gets[path]())
        return _error(404, "not_found")

    async def _read(self, receive: Receive) -> bytes | None:
        """The body, or None once it passes the cap (chunked bodies have no Content-Length)."""
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body if len(body) <= self.max_body_size else None
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":
                return b""  # the client went away; the answer is never read
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


# Response headers as bytes, by their text form: the core answers with a handful of fixed
# header tuples, so each is encoded once rather than on every request. Bounded.
_ENCODED: dict[tuple[tuple[str, str], ...], Headers] = {}


def _answer(response: Response) -> Answer:
    headers = _ENCODED.get(response.headers)
    if headers is None:
        headers = tuple((name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in response.headers)
        if len(_ENCODED) < 64:
            _ENCODED[response.headers] = headers
    return response.status, response.json_bytes(), headers


def create_app(endpoint: Endpoint, *, max_body_size: int = 64 * 1024) -> TokenApp:
    """The ASGI app serving ``endpoint`` (see :class:`TokenApp`)."""
    return TokenApp(endpoint, max_body_size=max_body_size)


def app_for(endpoint: TokenEndpoint) -> TokenApp:
    """The app for a configured endpoint (body cap from its configuration)."""
    return create_app(endpoint, max_body_size=endpoint.config.max_body_size)


def listen_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it from ``getsockname()``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def uvicorn_server(app: Any, *, pure_python: bool = False,
                   limits: ServerLimits | None = None) -> uvicorn.Server:
    """A uvicorn server for ``app``: warnings only, no access log, no lifespan.

    uvicorn runs on httptools and uvloop when they are installed (the ``server`` extra pulls
    them in where they build); ``pure_python`` forces h11 and asyncio, for comparison.
    ``limits`` (default :class:`~jwtbearer.server.limits.ServerLimits`) cuts off slow, idle
    and surplus connections.
    """
    import uvicorn

    stack: dict[str, Any] = {"loop": "asyncio"} if pure_python else {}
    stack.update((limits or ServerLimits()).uvicorn_options(pure_python=pure_python))
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                         lifespan="off", **stack))


class BackgroundServer:
    """Runs an ASGI app under uvicorn in a daemon thread; a context manager.

    Give it a socket from :func:`listen_socket` when the URL must be known before the app
    exists (the issuer names the port). Stopping sets ``should_exit`` and joins the thread.
    ``pure_python`` is as for :func:`uvicorn_server`.
    """

    def __init__(self, app: Any, *, sock: socket.socket | None = None,
                 start_timeout: float = 10.0, pure_python: bool = False,
                 limits: ServerLimits | None = None) -> None:
        self._sock = sock or listen_socket()
        host, port = self._sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        self._server = uvicorn_server(app, pure_python=pure_python, limits=limits)
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


def serve_config(
    render: Callable[[str], str], path: Path, *, environ: Mapping[str, str] | None = None
) -> tuple[BackgroundServer, TokenEndpoint]:
    """A server on a free loopback port for the configuration ``render(issuer)``.

    The port is taken first, so the issuer (``http://127.0.0.1:PORT``) can name it; the text is
    written to ``path`` (relative paths in it are relative to that file) and loaded as
    :func:`load_config` does. The server is returned not yet started: use it as a context
    manager. A configuration that fails to load releases the port and raises.
    """
    sock = listen_socket()
    try:
        path.write_text(render(f"http://127.0.0.1:{sock.getsockname()[1]}"), encoding="utf-8")
        endpoint = TokenEndpoint(load_config(path, environ=environ))
    except BaseException:
        sock.close()
        raise
    return BackgroundServer(app_for(endpoint), sock=sock), endpoint
