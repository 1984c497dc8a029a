"""The transport rules of a token request, shared by the sync and async clients.

RFC 6749 §3.2 and RFC 9700 §4.11/§4.16: TLS verified, ``http://`` only to loopback unless
allowed, redirects never followed, one deadline for the whole exchange, and every failure
worded as a :class:`~jwtbearer.errors.TransportError` that names the phase and the host.
:func:`set_default_transports` is the seam :class:`jwtbearer.testing.MockTokenEndpoint` uses
(Apex ``Test.setMock``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any, TypeAlias

import httpx

from .._flow import Deadline, DeadlineExceeded
from ..errors import ConfigurationError, TransportError, redact
from .protocol import BodyReader

__all__ = [
    "ACCEPT_ENCODING",
    "HTTP_FAILURES",
    "ClientCert",
    "Watchdog",
    "aread_body",
    "body_reader",
    "check_endpoint",
    "check_timeout",
    "default_transports",
    "read_body",
    "set_default_transports",
    "tls_verify",
    "transport_error",
]

#: A TLS client certificate (RFC 8705): ``(certificate file, key file)`` or an SSL context.
ClientCert: TypeAlias = "tuple[str | os.PathLike[str], str | os.PathLike[str]] | ssl.SSLContext"

ACCEPT_ENCODING = "gzip, deflate"  # what protocol.BodyReader can inflate with a cap
# httpx.InvalidURL and httpx.StreamError are httpx's own errors outside httpx.HTTPError.
HTTP_FAILURES = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, DeadlineExceeded)

_defaults: list[Any] = [None, None]


def set_default_transports(
    sync: httpx.BaseTransport | None, async_: httpx.AsyncBaseTransport | None
) -> tuple[httpx.BaseTransport | None, httpx.AsyncBaseTransport | None]:
    """Route clients created without ``http=`` through these transports (None: the network).

    The hook behind :class:`jwtbearer.testing.MockTokenEndpoint`, like Apex ``Test.setMock``.
    Returns the previous pair so a caller can restore it.
    """
    previous = (_defaults[0], _defaults[1])
    _defaults[0], _defaults[1] = sync, async_
    return previous


def default_transports() -> tuple[httpx.BaseTransport | None, httpx.AsyncBaseTransport | None]:
    """The (sync, async) transports new clients without ``http=`` use; None is the network."""
    return _defaults[0], _defaults[1]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: object, allow_insecure_http: bool, *, what: str | None = None) -> str:
    """The endpoint's host, after refusing URLs a request must not go to.

    Without ``what`` the URL is a token endpoint; ``what`` names a document fetched by GET
    instead (``"server metadata"``, ``"JWKS"``), for the same rules in that document's words.
    """
    label = "endpoint" if what is None else f"the {what} URL"
    if not isinstance(endpoint, str):
        raise ConfigurationError(
            "endpoint must be the token endpoint URL as a string" if what is None
            else f"{label} must be a string, not {type(endpoint).__name__}"
        )
    try:
        parts = httpx.URL(endpoint)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConfigurationError(f"{label} {endpoint!r} is not a valid URL") from None
    host = parts.host
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"{label} {endpoint!r} must be an absolute https:// URL"
                                 + (" of the token endpoint" if what is None else ""))
    if what is not None and (parts.userinfo or parts.fragment):
        raise ConfigurationError(f"{label} {endpoint!r} must not carry credentials or a fragment")
    if parts.userinfo:
        raise ConfigurationError("put client credentials in auth=, not in the endpoint URL")
    if parts.fragment:
        raise ConfigurationError("the token endpoint URL must not have a fragment (RFC 6749 §3.2)")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        why = (": token requests carry credentials and RFC 6749 §3.2 requires TLS" if what is None
               else f" for the {what}: keys and endpoints fetched without TLS can be replaced in "
               "transit")
        raise ConfigurationError(
            f"refusing http:// to {host}{why}. Use https://, or allow_insecure_http=True for a "
            "test server (plain http is allowed to loopback: 127.0.0.1, ::1, localhost)"
        )
    return host


def tls_verify(client_cert: object, http: object) -> ssl.SSLContext | bool:
    """httpx's ``verify=`` for a client presenting ``client_cert`` (True without one).

    With a ``(cert, key)`` pair the server's certificate is checked against ``SSL_CERT_FILE``
    when it is set, else the system store; an ``ssl.SSLContext`` is used as it is.
    """
    if client_cert is None:
        return True
    if http is not None:
        raise ConfigurationError(
            "client_cert= and http= together: put the certificate on your own httpx client "
            "(httpx.Client(verify=ssl_context)), or drop http="
        )
    if isinstance(client_cert, ssl.SSLContext):
        return client_cert
    if not (isinstance(client_cert, tuple) and len(client_cert) == 2):
        raise ConfigurationError(
            'client_cert is ("cert.pem", "key.pem") or an ssl.SSLContext, not '
            f"{type(client_cert).__name__}"
        )
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)
    try:
        context.load_cert_chain(os.fspath(client_cert[0]), os.fspath(client_cert[1]))
    except (OSError, ssl.SSLError, TypeError) as exc:
        raise ConfigurationError(
            f"cannot load the TLS client certificate {os.fspath(client_cert[0])!r} with its "
            f"key: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return context


def check_timeout(timeout: object) -> float:
    """``timeout`` as seconds, refusing what is not a positive finite number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
        0 < timeout < math.inf
    ):
        raise ConfigurationError(f"timeout is a number of seconds above 0, not {timeout!r}")
    return float(timeout)


def transport_error(exc: BaseException, host: str, deadline: Deadline, *,
                    kind: str = "token request") -> TransportError:
    """What went wrong on the wire, in words that name the phase and the host; ``kind`` names
    the request (``"JWKS request"``)."""
    timeout = deadline.seconds
    if deadline.fired or isinstance(exc, (DeadlineExceeded, TimeoutError)):
        return TransportError(
            f"the {kind} to {host} did not complete within {timeout:g} s (the timeout "
            "bounds the whole request: connect, send, headers and body); the server is slow or "
            "unreachable"
        )
    detail = redact(str(exc) or type(exc).__name__)[:300]
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting for the answer")
        what = f"timed out {phase} (after {timeout:g} s)"
    elif isinstance(exc, httpx.ConnectError):
        what = f"could not connect: {detail}"
        if "CERTIFICATE" in detail.upper() or "SSL" in detail.upper():
            what += " (TLS verification failed: the server's certificate must be trusted)"
    elif isinstance(exc, httpx.RemoteProtocolError):
        what = f"answered with broken HTTP: {detail}"
    elif isinstance(exc, httpx.ReadError):
        what = f"failed while reading the answer (connection reset?): {detail}"
    elif isinstance(exc, httpx.WriteError):
        what = f"failed while sending the request: {detail}"
    else:
        what = f"failed: {type(exc).__name__}: {detail}"
    return TransportError(f"{kind} to {host} {what}")


class Watchdog:
    """Shuts the socket when the deadline passes, so no slow server outlives ``timeout``.

    httpx's timeouts apply to each read; a server sending one byte a second never trips them,
    and a blocking read cannot be cancelled. The sockets come from httpcore's ``trace``
    extension (connect and TLS events).
    """

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._lock = threading.Lock()
        self._streams: list[Any] = []
        self._done = False
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        if stream is not None and hasattr(stream, "get_extra_info"):
            with self._lock:
                self._streams.append(stream)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._deadline.fired = True
            for stream in self._streams:
                sock = stream.get_extra_info("socket")
                if sock is not None:
                    # Already closed means nothing is left to interrupt.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def body_reader(response: httpx.Response, host: str) -> BodyReader:
    """A capped reader for the body of ``response`` (:class:`~.protocol.BodyReader`)."""
    # A response built in memory (a mock transport) arrives already read and decoded.
    encoding = None if response.is_stream_consumed else response.headers.get("content-encoding")
    return BodyReader(encoding, host=host, content_length=response.headers.get("content-length"))


def read_body(response: httpx.Response, host: str, deadline: Deadline) -> bytes:
    """The body of a streamed response, capped and decompressed, the deadline checked between
    chunks (sync)."""
    reader = body_reader(response, host)
    if response.is_stream_consumed:
        reader.feed(response.content)
    else:
        for chunk in response.iter_raw():
            reader.feed(chunk)
            deadline.check()
    return reader.finish()


async def aread_body(response: httpx.Response, host: str, deadline: Deadline) -> bytes:
    """The async twin of :func:`read_body`."""
    reader = body_reader(response, host)
    if response.is_stream_consumed:
        reader.feed(response.content)
    else:
        async for chunk in response.aiter_raw():
            reader.feed(chunk)
            deadline.check()
    return reader.finish()
