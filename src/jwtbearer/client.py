"""TokenClient and AsyncTokenClient: the only place jwtbearer talks to a token endpoint.

Everything but the I/O lines lives in :mod:`jwtbearer.protocol`; the two classes below differ
only where one awaits. Transport rules (RFC 6749 §3.2, RFC 9700 §4.11/§4.16): TLS verified,
``http://`` only to loopback unless allowed, redirects never followed, the body capped at 1 MiB
after decompression, ``timeout`` bounding the whole exchange, and every transport failure
raised as :class:`jwtbearer.TransportError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import httpx

from .assertion import JWS, JWT
from .client_auth import ClientAuth, NoClientAuth
from .errors import (
    ConfigurationError,
    ResponseFormatError,
    TokenEndpointError,
    TransportError,
    redact,
)
from .grants import AuthorizationCode, ClientCredentials, Grant, JWTBearer, RefreshToken
from .keys import SigningKey
from .protocol import (
    BodyReader,
    RetryPolicy,
    TokenRequest,
    build_token_request,
    parse_token_response,
)
from .signers._protocol import Signer
from .token import Clock, Token, system_clock
from .token_exchange import TokenExchange

__all__ = ["AsyncEndpointSource", "AsyncTokenClient", "EndpointSource", "TokenClient"]

logger = logging.getLogger("jwtbearer")

_ACCEPT_ENCODING = "gzip, deflate"  # what protocol.BodyReader can inflate with a cap
_defaults: dict[str, Any] = {"sync": None, "async": None}


def _set_default_transports(
    sync: httpx.BaseTransport | None, async_: httpx.AsyncBaseTransport | None
) -> tuple[httpx.BaseTransport | None, httpx.AsyncBaseTransport | None]:
    """Route clients created without ``http=`` through these transports (None: the network).

    The hook behind :class:`jwtbearer.testing.MockTokenEndpoint`, like Apex ``Test.setMock``.
    Returns the previous pair so a caller can restore it.
    """
    previous = (_defaults["sync"], _defaults["async"])
    _defaults["sync"], _defaults["async"] = sync, async_
    return previous


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_endpoint(endpoint: object, allow_insecure_http: bool) -> str:
    """The endpoint's host, after refusing URLs a token request must not go to."""
    if not isinstance(endpoint, str):
        raise ConfigurationError("endpoint must be the token endpoint URL as a string")
    try:
        parts = httpx.URL(endpoint)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConfigurationError(f"endpoint {endpoint!r} is not a valid URL") from None
    host = parts.host
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(
            f"endpoint {endpoint!r} must be an absolute https:// URL of the token endpoint"
        )
    if parts.userinfo:
        raise ConfigurationError("put client credentials in auth=, not in the endpoint URL")
    if parts.fragment:
        raise ConfigurationError("the token endpoint URL must not have a fragment (RFC 6749 §3.2)")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise ConfigurationError(
            f"refusing http:// to {host}: token requests carry credentials and RFC 6749 §3.2 "
            "requires TLS. Use https://, or allow_insecure_http=True for a test server "
            "(plain http is allowed to loopback: 127.0.0.1, ::1, localhost)"
        )
    return host


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
        0 < timeout < math.inf
    ):
        raise ConfigurationError(f"timeout is a number of seconds above 0, not {timeout!r}")
    return float(timeout)


def _cache_key(endpoint: str, auth: ClientAuth, grant: Grant) -> str:
    identity: dict[str, str | None] = {"endpoint": endpoint, "client_id": auth.client_id}
    identity.update(grant.cache_identity())
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class _Expired(Exception):
    """The whole-request deadline passed."""


def _transport_error(
    exc: BaseException, host: str, timeout: float, expired: bool
) -> TransportError:
    if expired or isinstance(exc, (_Expired, TimeoutError)):
        return TransportError(
            f"the token request to {host} did not complete within {timeout:g} s (timeout= "
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
    return TransportError(f"token request to {host} {what}")


class _Watchdog:
    """Shuts the socket when the deadline passes, so no slow server outlives ``timeout``.

    httpx's timeouts apply to each read; a server sending one byte a second never trips them.
    The sockets come from httpcore's ``trace`` extension (connect and TLS events).
    """

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._streams: list[Any] = []
        self._done = False
        self.fired = False
        self._timer = threading.Timer(timeout, self._fire)
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
            self.fired = True
            for stream in self._streams:
                sock = stream.get_extra_info("socket")
                if sock is not None:
                    # Already closed means nothing is left to interrupt.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


class _ClientBase:
    """What TokenClient and AsyncTokenClient share: configuration and protocol decisions."""

    def __init__(
        self,
        endpoint: str,
        auth: ClientAuth,
        timeout: float,
        allow_insecure_http: bool,
        retry: RetryPolicy | None,
        clock: Clock | None,
    ) -> None:
        self._host = _check_endpoint(endpoint, allow_insecure_http)
        if not isinstance(auth, ClientAuth):
            raise ConfigurationError(
                "auth must be a client authentication: NoClientAuth, ClientSecretBasic, "
                "ClientSecretPost, ClientSecretJWT or PrivateKeyJWT"
            )
        self.endpoint = endpoint
        self.auth = auth
        self.timeout = _check_timeout(timeout)
        self.retry = retry if retry is not None else RetryPolicy()
        self._clock = clock or system_clock
        self._request_headers = {"Accept-Encoding": _ACCEPT_ENCODING}

    def _build(self, grant: Grant, attempt: int) -> TokenRequest:
        # Built anew for every attempt: a retry never resends an assertion already sent.
        request = build_token_request(self.endpoint, grant, self.auth, now=self._clock())
        logger.debug(
            "token request to %s: grant %s, attempt %d of %d",
            self._host, grant.grant_type, attempt, self.retry.attempts,
        )
        return request

    def _http_request(self, http: httpx.Client | httpx.AsyncClient, request: TokenRequest,
                      extensions: dict[str, Any] | None) -> httpx.Request:
        headers = dict(request.headers)
        headers.update(self._request_headers)
        return http.build_request(
            "POST", request.url, headers=headers, content=request.body,
            timeout=httpx.Timeout(self.timeout), extensions=extensions,
        )

    def _reader(self, response: httpx.Response) -> BodyReader:
        # A response built in memory (a mock transport) arrives already read and decoded.
        encoding = None if response.is_stream_consumed else response.headers.get(
            "content-encoding"
        )
        return BodyReader(
            encoding, host=self._host, content_length=response.headers.get("content-length")
        )

    def _parse(self, grant: Grant, status: int, headers: Mapping[str, str], body: bytes) -> Token:
        logger.debug("token response from %s: status %d, %d bytes", self._host, status, len(body))
        previous = grant.refresh_token if isinstance(grant, RefreshToken) else None
        return parse_token_response(
            status, headers, body, now=self._clock(), previous_refresh_token=previous,
            host=self._host,
        )

    def _delay(self, attempt: int, exc: Exception) -> float | None:
        delay = self.retry.delay_for(attempt, exception=exc, now=self._clock())
        if delay is not None:
            logger.debug(
                "retrying token request to %s in %.2f s after %s (attempt %d of %d)",
                self._host, delay, type(exc).__name__, attempt, self.retry.attempts,
            )
        return delay

    def _wrap(self, exc: BaseException, expired: bool) -> TransportError:
        error = _transport_error(exc, self._host, self.timeout, expired)
        logger.debug("%s", error)
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r}, auth={self.auth!r})"


_RETRYABLE = (TransportError, TokenEndpointError, ResponseFormatError)
# httpx.InvalidURL and httpx.StreamError are httpx's own errors outside httpx.HTTPError.
_HTTP_FAILURES = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, _Expired)


def _jwt_bearer(jwt_or_assertion: JWT | JWS | str, key: SigningKey | Signer | str | None,
                scope: str | None) -> JWTBearer:
    return JWTBearer(jwt_or_assertion, key=key, scope=scope)


class TokenClient(_ClientBase):
    """Gets tokens from one token endpoint with one client authentication (sync).

    ``timeout`` (seconds) bounds each attempt as a whole; ``retry`` (default
    :class:`RetryPolicy` ``()``) decides on retries; ``clock`` gives epoch seconds, ``sleep``
    waits between attempts. ``http`` is an ``httpx.Client`` of yours (left open; redirects are
    never followed on it either); without it the client owns one: close it with :meth:`close`
    or a ``with`` block.
    """

    def __init__(
        self,
        endpoint: str,
        auth: ClientAuth = NoClientAuth(),  # noqa: B008 - frozen, shared safely
        *,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(endpoint, auth, timeout, allow_insecure_http, retry, clock)
        self._sleep = sleep or time.sleep
        self._owned = http is None
        # No keep-alive on our own client: a fresh connection per request lets the watchdog
        # reach its socket from the first byte; token requests are rare (tokens are cached).
        self._http = http if http is not None else httpx.Client(
            transport=_defaults["sync"], verify=True, follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def jwt_bearer(self, jwt_or_assertion: JWT | JWS | str,
                   key: SigningKey | Signer | str | None = None,
                   scope: str | None = None) -> Token:
        """JWT bearer grant (RFC 7523 §2.1); a JWT is signed with ``key`` for each attempt."""
        return self.request_token(_jwt_bearer(jwt_or_assertion, key, scope))

    def client_credentials(self, scope: str | None = None, audience: str | None = None,
                           resource: str | None = None,
                           extra: Mapping[str, str] | None = None) -> Token:
        """Client credentials grant (RFC 6749 §4.4)."""
        return self.request_token(ClientCredentials(scope, audience, resource, extra))

    def authorization_code(self, code: str, redirect_uri: str,
                           code_verifier: str | None = None) -> Token:
        """Exchange an authorization code (RFC 6749 §4.1.3, PKCE RFC 7636 §4.5)."""
        return self.request_token(AuthorizationCode(code, redirect_uri, code_verifier))

    def refresh(self, refresh_token: str, scope: str | None = None) -> Token:
        """Refresh (RFC 6749 §6); the old refresh token is kept when no new one is issued."""
        return self.request_token(RefreshToken(refresh_token, scope))

    def token_exchange(self, subject_token: str, subject_token_type: str,
                       **options: Any) -> Token:
        """Token exchange (RFC 8693 §2.1); ``options`` as for :class:`TokenExchange`."""
        return self.request_token(TokenExchange(subject_token, subject_token_type, **options))

    def request_token(self, grant: Grant) -> Token:
        """Send ``grant``, retrying per the policy; a :class:`Token` or a typed error."""
        attempt = 0
        while True:
            attempt += 1
            request = self._build(grant, attempt)
            try:
                return self._parse(grant, *self._post(request))
            except _RETRYABLE as exc:
                delay = self._delay(attempt, exc)
                if delay is None:
                    raise
            self._sleep(delay)

    def _post(self, request: TokenRequest) -> tuple[int, httpx.Headers, bytes]:
        deadline = time.monotonic() + self.timeout
        watchdog = _Watchdog(self.timeout)
        http_request = self._http_request(self._http, request, {"trace": watchdog.trace})
        try:
            with watchdog:
                # auth=None: an auth= set on a caller's httpx client (Basic, or a bearer flow
                # that itself needs a token) never reaches a token request.
                response = self._http.send(http_request, stream=True, follow_redirects=False,
                                           auth=None)
                try:
                    watchdog.watch(response.extensions.get("network_stream"))
                    reader = self._reader(response)
                    if response.is_stream_consumed:
                        reader.feed(response.content)
                    else:
                        for chunk in response.iter_raw():
                            reader.feed(chunk)
                            if time.monotonic() > deadline:
                                raise _Expired
                    return response.status_code, response.headers, reader.finish()
                finally:
                    response.close()
        except _HTTP_FAILURES as exc:
            raise self._wrap(exc, watchdog.fired) from None

    def source(self, grant: Grant) -> EndpointSource:
        """A token source fetching a new token for ``grant`` on every ``token()``."""
        return EndpointSource(self, grant)

    def close(self) -> None:
        """Close the HTTP client this client created (one passed as ``http=`` stays open)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncTokenClient(_ClientBase):
    """The async twin of :class:`TokenClient` (``http``: an ``httpx.AsyncClient``).

    ``sleep`` is an async callable; the whole-request bound is an anyio cancel scope, so it
    works under asyncio and trio.
    """

    def __init__(
        self,
        endpoint: str,
        auth: ClientAuth = NoClientAuth(),  # noqa: B008 - frozen, shared safely
        *,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(endpoint, auth, timeout, allow_insecure_http, retry, clock)
        self._sleep = sleep or anyio.sleep
        self._owned = http is None
        self._http = http if http is not None else httpx.AsyncClient(
            transport=_defaults["async"], verify=True, follow_redirects=False,
        )

    async def jwt_bearer(self, jwt_or_assertion: JWT | JWS | str,
                         key: SigningKey | Signer | str | None = None,
                         scope: str | None = None) -> Token:
        """JWT bearer grant (RFC 7523 §2.1); a JWT is signed with ``key`` for each attempt."""
        return await self.request_token(_jwt_bearer(jwt_or_assertion, key, scope))

    async def client_credentials(self, scope: str | None = None, audience: str | None = None,
                                 resource: str | None = None,
                                 extra: Mapping[str, str] | None = None) -> Token:
        """Client credentials grant (RFC 6749 §4.4)."""
        return await self.request_token(ClientCredentials(scope, audience, resource, extra))

    async def authorization_code(self, code: str, redirect_uri: str,
                                 code_verifier: str | None = None) -> Token:
        """Exchange an authorization code (RFC 6749 §4.1.3, PKCE RFC 7636 §4.5)."""
        return await self.request_token(AuthorizationCode(code, redirect_uri, code_verifier))

    async def refresh(self, refresh_token: str, scope: str | None = None) -> Token:
        """Refresh (RFC 6749 §6); the old refresh token is kept when no new one is issued."""
        return await self.request_token(RefreshToken(refresh_token, scope))

    async def token_exchange(self, subject_token: str, subject_token_type: str,
                             **options: Any) -> Token:
        """Token exchange (RFC 8693 §2.1); ``options`` as for :class:`TokenExchange`."""
        return await self.request_token(
            TokenExchange(subject_token, subject_token_type, **options)
        )

    async def request_token(self, grant: Grant) -> Token:
        """Send ``grant``, retrying per the policy; a :class:`Token` or a typed error."""
        attempt = 0
        while True:
            attempt += 1
            request = self._build(grant, attempt)
            try:
                return self._parse(grant, *await self._post(request))
            except _RETRYABLE as exc:
                delay = self._delay(attempt, exc)
                if delay is None:
                    raise
            await self._sleep(delay)

    async def _post(self, request: TokenRequest) -> tuple[int, httpx.Headers, bytes]:
        http_request = self._http_request(self._http, request, None)
        expired = False
        try:
            with anyio.fail_after(self.timeout) as scope:
                try:
                    response = await self._http.send(
                        http_request, stream=True, follow_redirects=False, auth=None
                    )
                    try:
                        reader = self._reader(response)
                        if response.is_stream_consumed:
                            reader.feed(response.content)
                        else:
                            async for chunk in response.aiter_raw():
                                reader.feed(chunk)
                        return response.status_code, response.headers, reader.finish()
                    finally:
                        await response.aclose()
                finally:
                    expired = scope.cancel_called
        except _HTTP_FAILURES as exc:
            raise self._wrap(exc, expired) from None

    def source(self, grant: Grant) -> AsyncEndpointSource:
        """A token source fetching a new token for ``grant`` on every ``await token()``."""
        return AsyncEndpointSource(self, grant)

    async def aclose(self) -> None:
        """Close the HTTP client this client created (one passed as ``http=`` stays open)."""
        if self._owned:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncTokenClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


def _next_grant(grant: Grant, token: Token) -> Grant:
    # A server that rotates refresh tokens (RFC 9700 §4.14.2) invalidates the one just used.
    if isinstance(grant, RefreshToken) and token.refresh_token not in (None, grant.refresh_token):
        assert token.refresh_token is not None
        return RefreshToken(token.refresh_token, grant.scope)
    return grant


class EndpointSource:
    """A :class:`TokenSource` asking the token endpoint on every ``token()`` (no caching).

    Wrap it in :class:`CachedSource` to reuse tokens. ``cache_key`` is a SHA-256 over the token
    endpoint, the client id and the grant's identity (type, subject, scope, audience/resource):
    stable across processes, and never derived from a secret.
    """

    __slots__ = ("cache_key", "client", "grant")

    def __init__(self, client: TokenClient, grant: Grant) -> None:
        self.client = client
        self.grant = grant
        self.cache_key = _cache_key(client.endpoint, client.auth, grant)

    def token(self) -> Token:
        """A new token (a freshly signed assertion for JWT grants)."""
        token = self.client.request_token(self.grant)
        self.grant = _next_grant(self.grant, token)
        return token

    def __repr__(self) -> str:
        return f"EndpointSource({self.client.endpoint!r}, grant={self.grant.grant_type!r})"


class AsyncEndpointSource:
    """The async twin of :class:`EndpointSource`: ``await source.token()``."""

    __slots__ = ("cache_key", "client", "grant")

    def __init__(self, client: AsyncTokenClient, grant: Grant) -> None:
        self.client = client
        self.grant = grant
        self.cache_key = _cache_key(client.endpoint, client.auth, grant)

    async def token(self) -> Token:
        """A new token (a freshly signed assertion for JWT grants)."""
        token = await self.client.request_token(self.grant)
        self.grant = _next_grant(self.grant, token)
        return token

    def __repr__(self) -> str:
        return f"AsyncEndpointSource({self.client.endpoint!r}, grant={self.grant.grant_type!r})"
