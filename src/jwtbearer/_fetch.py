"""GET a small JSON document (server metadata, a JWK Set) with the token client's transport rules.

The same rules as token requests, from the same pieces of :mod:`jwtbearer.client`: TLS verified,
``http://`` only to loopback unless allowed, redirects never followed, the body capped at 1 MiB
after decompression, and ``timeout`` bounding the whole exchange (a watchdog for sync, a cancel
scope for async). Every transport failure is a :class:`~jwtbearer.errors.TransportError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from .client import (
    _ACCEPT_ENCODING,
    _HTTP_FAILURES,
    _defaults,
    _Expired,
    _is_loopback,
    _transport_error,
    _Watchdog,
)
from .errors import ConfigurationError, JWSError, ResponseFormatError
from .jws import parse_json_object
from .protocol import BodyReader

__all__: list[str] = []

_HEADERS = {"Accept": "application/json", "Accept-Encoding": _ACCEPT_ENCODING}


@dataclass(frozen=True, slots=True)
class Fetched:
    """One answer: status, headers and the (capped, decompressed) body."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes

    def json_object(self, what: str) -> dict[str, Any]:
        """The body as a JSON object, or a ResponseFormatError naming ``what`` and the URL."""
        try:
            return parse_json_object(self.body, what)
        except JWSError as exc:
            ctype = self.headers.get("content-type", "?")
            raise ResponseFormatError(
                f"{self.url} did not answer with a {what} JSON object ({exc}; Content-Type "
                f"{ctype})", status=self.status
            ) from None


def check_url(url: object, *, allow_insecure_http: bool, what: str) -> str:
    """The URL's host, after refusing URLs a metadata or JWKS request must not go to."""
    if not isinstance(url, str):
        raise ConfigurationError(f"the {what} URL must be a string, not {type(url).__name__}")
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConfigurationError(f"the {what} URL {url!r} is not a valid URL") from None
    host = parts.host
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"the {what} URL {url!r} must be an absolute https:// URL")
    if parts.userinfo or parts.fragment:
        raise ConfigurationError(
            f"the {what} URL {url!r} must not carry credentials or a fragment"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise ConfigurationError(
            f"refusing http:// to {host} for the {what}: keys and endpoints fetched without TLS "
            "can be replaced in transit. Use https://, or allow_insecure_http=True for a test "
            "server (plain http is allowed to loopback: 127.0.0.1, ::1, localhost)"
        )
    return host


def _reader(response: httpx.Response, host: str) -> BodyReader:
    encoding = None if response.is_stream_consumed else response.headers.get("content-encoding")
    return BodyReader(encoding, host=host, content_length=response.headers.get("content-length"))


def get(url: str, *, http: httpx.Client | None, timeout: float, allow_insecure_http: bool,
        what: str) -> Fetched:
    """GET ``url`` under the transport rules (sync); ``http`` is left open."""
    host = check_url(url, allow_insecure_http=allow_insecure_http, what=what)
    client = http if http is not None else httpx.Client(
        transport=_defaults["sync"], verify=True, follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    deadline = time.monotonic() + timeout
    watchdog = _Watchdog(timeout)
    try:
        request = client.build_request("GET", url, headers=_HEADERS,
                                       timeout=httpx.Timeout(timeout),
                                       extensions={"trace": watchdog.trace})
        with watchdog:
            response = client.send(request, stream=True, follow_redirects=False, auth=None)
            try:
                watchdog.watch(response.extensions.get("network_stream"))
                reader = _reader(response, host)
                if response.is_stream_consumed:
                    reader.feed(response.content)
                else:
                    for chunk in response.iter_raw():
                        reader.feed(chunk)
                        if time.monotonic() > deadline:
                            raise _Expired
                return Fetched(url, response.status_code, response.headers, reader.finish())
            finally:
                response.close()
    except _HTTP_FAILURES as exc:
        raise _transport_error(exc, host, timeout, watchdog.fired, f"{what} request") from None
    finally:
        if http is None:
            client.close()


async def aget(url: str, *, http: httpx.AsyncClient | None, timeout: float,
               allow_insecure_http: bool, what: str) -> Fetched:
    """GET ``url`` under the transport rules (async); ``http`` is left open."""
    host = check_url(url, allow_insecure_http=allow_insecure_http, what=what)
    client = http if http is not None else httpx.AsyncClient(
        transport=_defaults["async"], verify=True, follow_redirects=False,
    )
    expired = False
    try:
        request = client.build_request("GET", url, headers=_HEADERS,
                                       timeout=httpx.Timeout(timeout))
        with anyio.fail_after(timeout) as scope:
            try:
                response = await client.send(request, stream=True, follow_redirects=False,
                                             auth=None)
                try:
                    reader = _reader(response, host)
                    if response.is_stream_consumed:
                        reader.feed(response.content)
                    else:
                        async for chunk in response.aiter_raw():
                            reader.feed(chunk)
                    return Fetched(url, response.status_code, response.headers, reader.finish())
                finally:
                    await response.aclose()
            finally:
                expired = scope.cancel_called
    except _HTTP_FAILURES as exc:
        raise _transport_error(exc, host, timeout, expired, f"{what} request") from None
    finally:
        if http is None:
            await client.aclose()


def max_age(headers: httpx.Headers) -> float | None:
    """``Cache-Control: max-age`` in seconds (``no-store``/``no-cache`` give 0), else None."""
    value = headers.get("cache-control")
    if not value:
        return None
    result: float | None = None
    for part in value.lower().split(","):
        name, _, arg = part.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            arg = arg.strip().strip('"')
            if arg.isdigit():
                result = float(arg)
    return result
