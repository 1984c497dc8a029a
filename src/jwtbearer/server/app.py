"""The ASGI app around :class:`TokenEndpoint`, and a way to run it on loopback.

The app only moves bytes: it reads at most ``max_body_size`` bytes of a body, hands them and
the headers to the pure core, and writes the JSON answer. It is plain ASGI: four fixed routes
need no framework, and a framework's request, response and routing objects cost time on every
request. uvicorn runs it, on httptools and uvloop when they are installed (the ``server``
extra), else on h11 and asyncio.
"""

from __future__ import annotations

import enum
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .auth import CLIENT_CERT
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
    "uvicorn_options",
    "uvicorn_server",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = tuple[tuple[bytes, bytes], ...]
Answer = tuple[int, bytes, Headers]

# Request headers the core reads; every other header is never decoded.
_WANTED = frozenset({b"authorization", b"content-type", b"dpop"})
_CLOSE = (b"connection", b"close")
# A body over the cap is still read (and dropped) up to this many bytes before the 413, so the
# client, which is usually still sending, reads the answer instead of a connection reset.
_DRAIN_MIN = 4 * 1024 * 1024
_FIELD_NAMES = {b"authorization": "Authorization", b"content-type": "Content-Type",
                b"dpop": "DPoP"}
_JSON_TYPE = (b"content-type", b"application/json")
_HEALTHZ = b'{"status":"ok"}'
_GET_ONLY = (b"allow", b"GET, HEAD")


class _Over(enum.Enum):
    """A body over the cap: read to its end (the connection can close), or not."""

    DRAINED = "drained"
    OPEN = "open"


class Endpoint(Protocol):
    """What the app serves; :class:`TokenEndpoint` is the real one."""

    def token(self, body: bytes, headers: Mapping[str, str]) -> Response: ...

    def jwks(self) -> Response: ...

    def metadata(self) -> Response: ...

    def authorize(self, query: bytes) -> Response: ...


def _error(status: int, error: str, description: str | None = None,
           extra: Headers = ()) -> Answer:
    body: dict[str, str] = {"error": error}
    if description is not None:
        body["error_description"] = description
    payload = Response(status=status, body=body).json_bytes()
    return status, payload, (*extra, (b"cache-control", b"no-store"))


class TokenApp:
    """The ASGI app: ``POST /token``, ``GET /authorize``, ``GET /jwks``, RFC 8414 metadata
    (also at the OpenID Connect discovery path), ``GET /healthz``.

    Every answer is JSON (RFC 6749 §5.1, §5.2) but the authorization endpoint's redirects; a
    wrong method gets 405 with ``Allow`` (RFC 9110 §15.5.6), an unknown path 404, a body over
    ``max_body_size`` 413 with ``Connection: close``, its body drained first (up to 4 MiB, or
    4 times the cap) so the client reads the answer; a client that waits for ``100 Continue``
    gets the 413 before it sends the body. ``lifespan`` events are acknowledged; nothing happens
    at start or stop. ``token_path`` and ``authorize_path`` say where those two live, under
    ``base_path`` (the issuer's own path, e.g. ``/ENV-ID/as``), as ``/jwks`` does.
    """

    def __init__(self, endpoint: Endpoint, *, max_body_size: int = 64 * 1024,
                 token_path: str = "/token", authorize_path: str = "/authorize",
                 base_path: str = "") -> None:
        self.endpoint = endpoint
        self.max_body_size = max_body_size
        self.token_path = base_path + token_path
        self.authorize_path = base_path + authorize_path
        self._drain_limit = max(_DRAIN_MIN, 4 * max_body_size)
        self._too_large = _error(413, "invalid_request",
                                 f"body over the {max_body_size} byte cap", (_CLOSE,))
        # Past the drain limit the connection stays open: closing it with unread data would
        # reset it, and the HTTP server reads and drops the rest of that body itself.
        self._too_large_open = _error(413, "invalid_request",
                                      f"body over the {max_body_size} byte cap")
        # RFC 8414 §3.1 puts the well-known segment before an issuer's path; OpenID Connect
        # Discovery §4 after it.
        self._gets: dict[str, Callable[[], Response]] = {
            base_path + "/jwks": endpoint.jwks,
            "/.well-known/oauth-authorization-server" + base_path: endpoint.metadata,
            base_path + "/.well-known/openid-configuration": endpoint.metadata,
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
        if path == self.token_path:
            if method != "POST":
                return _error(405, "invalid_request", f"{method[:16]} is not allowed here",
                              ((b"allow", b"POST"),))
            headers: dict[str, str] = {}
            length = None
            expect = False
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name == b"expect":
                    expect = value.lower() == b"100-continue"
                elif name in _WANTED:
                    key = name.decode("latin-1")
                    if key in headers:
                        # Singleton fields (RFC 9110 §5.3): two could be read differently by a
                        # proxy in front and by this server, so neither is chosen.
                        return _error(400, "invalid_request",
                                      f"the {_FIELD_NAMES[name]} header is repeated; send it once")
                    headers[key] = value.decode("latin-1")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_size):
                if expect:  # the client has not sent the body and now never will
                    return self._too_large
                if length.isdigit() and int(length) > self._drain_limit:
                    return self._too_large_open
                await self._drain(receive)
                return self._too_large
            body = await self._read(receive)
            if body is _Over.DRAINED:
                return self._too_large
            if body is _Over.OPEN:
                return self._too_large_open
            assert isinstance(body, bytes)
            tls = scope.get("extensions", {}).get("tls")
            if tls and tls.get("client_cert_chain"):  # the ASGI TLS extension (tls.py)
                headers[CLIENT_CERT] = tls["client_cert_chain"][0]
            return _answer(self.endpoint.token(body, headers))
        if path == self.authorize_path:
            if method not in ("GET", "HEAD"):
                return _error(405, "invalid_request", f"{method[:16]} is not allowed here",
                              (_GET_ONLY,))
            return _answer(self.endpoint.authorize(scope.get("query_string", b"")))
        if path == "/healthz" or path in self._gets:
            if method not in ("GET", "HEAD"):
                return _error(405, "invalid_request", f"{method[:16]} is not allowed here",
                              (_GET_ONLY,))
            if path == "/healthz":
                # The memory replay cache's size (to watch its bound); absent for Redis.
                entries = getattr(self.endpoint, "replay_entries", None)
                if entries is None:
                    return 200, _HEALTHZ, ()
                return 200, b'{"status":"ok","replay_entries":%d}' % entries, ()
            return _answer(self._gets[path]())
        return _error(404, "not_found")

    async def _read(self, receive: Receive) -> bytes | _Over:
        """The body, or how it ended once it passed the cap (chunked bodies have no
        Content-Length)."""
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body if len(body) <= self.max_body_size else _Over.DRAINED
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":
                return b""  # the client went away; the answer is never read
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                if message.get("more_body", False) and not await self._drain(receive, size):
                    return _Over.OPEN
                return _Over.DRAINED
            chunks.append(chunk)
        return b"".join(chunks)

    async def _drain(self, receive: Receive, size: int = 0) -> bool:
        """Read and drop the rest of a body; False when it passes the drain limit first."""
        while size <= self._drain_limit:
            message = await receive()
            if message["type"] != "http.request":
                return True
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False


# Response headers as bytes, by their text form: the core answers with a handful of fixed
# header tuples, so each is encoded once rather than on every request. Bounded.
_ENCODED: dict[tuple[tuple[str, str], ...], Headers] = {}


def _answer(response: Response) -> Answer:
    headers = _ENCODED.get(response.headers)
    if headers is None:
        headers = tuple((name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in response.headers)
        # A redirect's Location varies, and so does a DPoP-Nonce (RFC 9449 §8).
        if len(_ENCODED) < 64 and response.status != 302 and not any(
                name == "dpop-nonce" for name, _ in response.headers):
            _ENCODED[response.headers] = headers
    return response.status, response.json_bytes(), headers


def create_app(endpoint: Endpoint, *, max_body_size: int = 64 * 1024,
               token_path: str = "/token", authorize_path: str = "/authorize",
               base_path: str = "") -> TokenApp:
    """The ASGI app serving ``endpoint`` (see :class:`TokenApp`)."""
    return TokenApp(endpoint, max_body_size=max_body_size, token_path=token_path,
                    authorize_path=authorize_path, base_path=base_path)


def app_for(endpoint: TokenEndpoint,
            wrap: Callable[[TokenEndpoint], Endpoint] | None = None) -> TokenApp:
    """The app for a configured endpoint (body cap and paths from its configuration);
    ``wrap`` puts something in front of the endpoint (``serve``'s request log)."""
    config = endpoint.config
    return create_app(endpoint if wrap is None else wrap(endpoint),
                      max_body_size=config.max_body_size,
                      token_path=config.token_path, authorize_path=config.authorize_path,
                      base_path=urlsplit(config.issuer).path.rstrip("/"))


def listen_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it from ``getsockname()``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def uvicorn_options(*, pure_python: bool = False,
                    limits: ServerLimits | None = None) -> dict[str, Any]:
    """The uvicorn settings every way of running the app shares.

    Warnings only, no access log; no X-Forwarded-* rewriting (the app never reads the client's
    address or the scheme, so that middleware would only cost time on every request); no
    ``Server`` header (nothing to advertise; uvicorn still sends ``Date``, RFC 9110 §6.6.1);
    the protocol of ``limits`` (default :class:`~jwtbearer.server.limits.ServerLimits`), which
    also sends each answer's head and body in one write (:mod:`jwtbearer.server.writes`).
    ``pure_python`` picks h11 and asyncio.
    """
    options: dict[str, Any] = {"log_level": "warning", "access_log": False,
                               "proxy_headers": False, "server_header": False}
    if pure_python:
        options["loop"] = "asyncio"
    options.update((limits or ServerLimits()).uvicorn_options(pure_python=pure_python))
    return options


def uvicorn_server(app: Any, *, pure_python: bool = False,
                   limits: ServerLimits | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> uvicorn.Server:
    """A uvicorn server for ``app``: with :func:`uvicorn_options`, no lifespan.

    uvicorn runs on httptools and uvloop when they are installed (the ``server`` extra pulls
    them in where they build); ``pure_python`` forces h11 and asyncio, for comparison.
    ``limits`` (default :class:`~jwtbearer.server.limits.ServerLimits`) cuts off slow, idle
    and surplus connections. With ``ssl_context`` (:func:`jwtbearer.server.tls.server_context`)
    it serves TLS; the same protocol classes hand the client certificate to the app in the ASGI
    TLS extension.
    """
    import uvicorn

    config = uvicorn.Config(
        app, lifespan="off", **uvicorn_options(pure_python=pure_python, limits=limits))
    if ssl_context is not None:
        config.load()  # then the context replaces the one uvicorn would build from files
        config.ssl = ssl_context
    return uvicorn.Server(config)


class BackgroundServer:
    """Runs an ASGI app under uvicorn in a daemon thread; a context manager.

    Give it a socket from :func:`listen_socket` when the URL must be known before the app
    exists (the issuer names the port). Stopping sets ``should_exit`` and joins the thread.
    ``pure_python`` and ``ssl_context`` are as for :func:`uvicorn_server`.
    """

    def __init__(self, app: Any, *, sock: socket.socket | None = None,
                 start_timeout: float = 10.0, pure_python: bool = False,
                 limits: ServerLimits | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._sock = sock or listen_socket()
        host, port = self._sock.getsockname()[:2]
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
        self._server = uvicorn_server(app, pure_python=pure_python, limits=limits,
                                      ssl_context=ssl_context)
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
