"""GET a small JSON document (server metadata, a JWK Set) with the token client's transport rules.

The same rules as token requests, from the same pieces of :mod:`jwtbearer.client`: TLS verified,
``http://`` only to loopback unless allowed, redirects never followed, the body capped at 1 MiB
after decompression, and ``timeout`` bounding the whole exchange (a watchdog for sync, a cancel
scope for async). Every transport failure is a :class:`~jwtbearer.errors.TransportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .._flow import Deadline
from ..errors import JWSError, ResponseFormatError
from ..jose.jws import parse_json_object
from .transport import (
    ACCEPT_ENCODING,
    HTTP_FAILURES,
    Watchdog,
    aread_body,
    check_endpoint,
    default_transports,
    read_body,
    transport_error,
)

__all__ = ["Fetched", "afetch", "fetch", "max_age"]

_HEADERS = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}


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


def fetch(url: str, *, http: httpx.Client | None, timeout: float, allow_insecure_http: bool,
        what: str) -> Fetched:
    """GET ``url`` under the transport rules (sync); ``http`` is left open."""
    host = check_endpoint(url, allow_insecure_http, what=what)
    client = http if http is not None else httpx.Client(
        transport=default_transports()[0], verify=True, follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    deadline = Deadline(timeout)
    watchdog = Watchdog(deadline)
    try:
        request = client.build_request("GET", url, headers=_HEADERS,
                                       timeout=httpx.Timeout(timeout),
                                       extensions={"trace": watchdog.trace})
        with watchdog:
            response = client.send(request, stream=True, follow_redirects=False, auth=None)
            try:
                watchdog.watch(response.extensions.get("network_stream"))
                body = read_body(response, host, deadline)
                return Fetched(url, response.status_code, response.headers, body)
            finally:
                response.close()
    except HTTP_FAILURES as exc:
        raise transport_error(exc, host, deadline, kind=f"{what} request") from None
    finally:
        if http is None:
            client.close()


async def afetch(url: str, *, http: httpx.AsyncClient | None, timeout: float,
               allow_insecure_http: bool, what: str) -> Fetched:
    """GET ``url`` under the transport rules (async); ``http`` is left open."""
    import anyio  # only async fetches need it

    host = check_endpoint(url, allow_insecure_http, what=what)
    client = http if http is not None else httpx.AsyncClient(
        transport=default_transports()[1], verify=True, follow_redirects=False,
    )
    deadline = Deadline(timeout)
    try:
        request = client.build_request("GET", url, headers=_HEADERS,
                                       timeout=httpx.Timeout(timeout))
        with anyio.fail_after(deadline.remaining()) as scope:
            try:
                response = await client.send(request, stream=True, follow_redirects=False,
                                             auth=None)
                try:
                    body = await aread_body(response, host, deadline)
                    return Fetched(url, response.status_code, response.headers, body)
                finally:
                    await response.aclose()
            finally:
                deadline.fired = deadline.fired or scope.cancel_called
    except HTTP_FAILURES as exc:
        raise transport_error(exc, host, deadline, kind=f"{what} request") from None
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
