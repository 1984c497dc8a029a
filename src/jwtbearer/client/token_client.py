"""TokenClient and AsyncTokenClient: the only place jwtbearer talks to a token endpoint.

The request/retry loop is :meth:`ClientBase.request_flow <jwtbearer.client._base.ClientBase>`,
written once; the two classes below perform its two steps (POST, sleep) and differ only where
one awaits. Transport rules (:mod:`jwtbearer.client.transport`): TLS verified, ``http://`` only
to loopback unless allowed, redirects never followed, the body capped at 1 MiB after
decompression, ``timeout`` bounding the whole exchange, and every transport failure raised as
:class:`jwtbearer.TransportError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from .._flow import Deadline, arun, run
from ..errors import TransportError
from ..jose.assertion import JWS, JWT
from ..jose.dpop import DPoP
from ..jose.keys import SigningKey
from ..jose.signer import Signer
from ..token import Clock, Token
from ._base import Answer, ClientBase, Sleep, Step
from .client_auth import ClientAuth, NoClientAuth
from .grants import AuthorizationCode, ClientCredentials, Grant, JWTBearer, RefreshToken
from .protocol import RetryPolicy, TokenRequest
from .sources import AsyncEndpointSource, EndpointSource
from .token_exchange import TokenExchange
from .transport import (
    HTTP_FAILURES,
    ClientCert,
    Watchdog,
    aread_body,
    default_transports,
    read_body,
    tls_verify,
    transport_error,
)

__all__ = ["AsyncTokenClient", "TokenClient"]

logger = logging.getLogger("jwtbearer")


def _jwt_bearer(jwt_or_assertion: JWT | JWS | str, key: SigningKey | Signer | str | None,
                scope: str | None) -> JWTBearer:
    return JWTBearer(jwt_or_assertion, key=key, scope=scope)


def _wrap(exc: BaseException, host: str, deadline: Deadline) -> TransportError:
    error = transport_error(exc, host, deadline)
    logger.debug("%s", error)
    return error


class TokenClient(ClientBase):
    """Gets tokens from one token endpoint with one client authentication (sync).

    ``timeout`` (seconds) bounds each attempt as a whole; ``retry`` (default
    :class:`RetryPolicy` ``()``) decides on retries; ``clock`` gives epoch seconds, ``sleep``
    waits between attempts. ``http`` is an ``httpx.Client`` of yours (left open; redirects are
    never followed on it either); without it the client owns one: close it with :meth:`close`
    or a ``with`` block. ``dpop`` (a :class:`~jwtbearer.DPoP`) asks for DPoP-bound tokens
    (RFC 9449); ``client_cert`` (``("cert.pem", "key.pem")`` or an ``ssl.SSLContext``) is the
    TLS client certificate for mutual TLS (RFC 8705), used with ``TLSClientAuth`` or
    ``SelfSignedTLSClientAuth`` or for certificate-bound tokens.
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
        dpop: DPoP | None = None,
        client_cert: ClientCert | None = None,
    ) -> None:
        super().__init__(endpoint, auth, timeout, allow_insecure_http, retry, clock, dpop)
        verify = tls_verify(client_cert, http)
        self._sleep = sleep or time.sleep
        self._owned = http is None
        # No keep-alive on our own client: a fresh connection per request lets the watchdog
        # reach its socket from the first byte; token requests are rare (tokens are cached).
        self._http = http if http is not None else httpx.Client(
            transport=default_transports()[0], verify=verify, follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    @classmethod
    def from_issuer(cls, issuer: str, auth: ClientAuth | None = None, *, timeout: float = 10.0,
                    http: httpx.Client | None = None, allow_insecure_http: bool = False,
                    retry: RetryPolicy | None = None, clock: Clock | None = None,
                    sleep: Callable[[float], None] | None = None, dpop: DPoP | None = None,
                    client_cert: ClientCert | None = None) -> TokenClient:
        """A client for the token endpoint in ``issuer``'s metadata (:func:`jwtbearer.discover`).

        A JWT client authentication without ``audience`` gets the issuer as ``aud``
        (rfc7523bis); its method and algorithm must be among those the server publishes.
        """
        from .discovery import client_arguments, discover

        metadata = discover(issuer, http=http, timeout=timeout,
                            allow_insecure_http=allow_insecure_http, clock=clock)
        endpoint, checked = client_arguments(auth, metadata, mtls=client_cert is not None)
        return cls(endpoint, checked, timeout=timeout, http=http,
                   allow_insecure_http=allow_insecure_http, retry=retry, clock=clock, sleep=sleep,
                   dpop=dpop, client_cert=client_cert)

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
        return run(self.request_flow(grant), self._perform)

    def _perform(self, step: Step) -> Answer | None:
        if isinstance(step, Sleep):
            self._sleep(step.seconds)
            return None
        return self.post(step.request, step.timeout)

    def post(self, request: TokenRequest, timeout: float | None = None) -> Answer:
        """POST one built request (no retries) and read the answer, capped, within
        ``timeout`` (default: the client's); a :class:`~jwtbearer.TransportError` when no
        answer came."""
        deadline = Deadline(self.timeout if timeout is None else timeout)
        watchdog = Watchdog(deadline)
        http_request = self._http_request(self._http, request, {"trace": watchdog.trace},
                                          deadline.seconds)
        try:
            with watchdog:
                # auth=None: an auth= set on a caller's httpx client (Basic, or a bearer flow
                # that itself needs a token) never reaches a token request.
                response = self._http.send(http_request, stream=True, follow_redirects=False,
                                           auth=None)
                try:
                    watchdog.watch(response.extensions.get("network_stream"))
                    body = read_body(response, self._host, deadline)
                    return response.status_code, response.headers, body
                finally:
                    response.close()
        except HTTP_FAILURES as exc:
            raise _wrap(exc, self._host, deadline) from None

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


class AsyncTokenClient(ClientBase):
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
        dpop: DPoP | None = None,
        client_cert: ClientCert | None = None,
    ) -> None:
        super().__init__(endpoint, auth, timeout, allow_insecure_http, retry, clock, dpop)
        verify = tls_verify(client_cert, http)
        import anyio  # only async clients need it

        self._sleep = sleep or anyio.sleep
        self._owned = http is None
        self._http = http if http is not None else httpx.AsyncClient(
            transport=default_transports()[1], verify=verify, follow_redirects=False,
        )

    @classmethod
    async def from_issuer(cls, issuer: str, auth: ClientAuth | None = None, *,
                          timeout: float = 10.0, http: httpx.AsyncClient | None = None,
                          allow_insecure_http: bool = False, retry: RetryPolicy | None = None,
                          clock: Clock | None = None,
                          sleep: Callable[[float], Awaitable[None]] | None = None,
                          dpop: DPoP | None = None, client_cert: ClientCert | None = None
                          ) -> AsyncTokenClient:
        """The async twin of :meth:`TokenClient.from_issuer`: ``await ...from_issuer(...)``."""
        from .discovery import adiscover, client_arguments

        metadata = await adiscover(issuer, http=http, timeout=timeout,
                                   allow_insecure_http=allow_insecure_http, clock=clock)
        endpoint, checked = client_arguments(auth, metadata, mtls=client_cert is not None)
        return cls(endpoint, checked, timeout=timeout, http=http,
                   allow_insecure_http=allow_insecure_http, retry=retry, clock=clock, sleep=sleep,
                   dpop=dpop, client_cert=client_cert)

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
        return await arun(self.request_flow(grant), self._perform)

    async def _perform(self, step: Step) -> Answer | None:
        if isinstance(step, Sleep):
            await self._sleep(step.seconds)
            return None
        return await self.post(step.request, step.timeout)

    async def post(self, request: TokenRequest, timeout: float | None = None) -> Answer:
        """POST one built request (no retries) and read the answer; see the sync twin."""
        deadline = Deadline(self.timeout if timeout is None else timeout)
        http_request = self._http_request(self._http, request, None, deadline.seconds)
        try:
            import anyio

            with anyio.fail_after(deadline.remaining()) as scope:
                try:
                    response = await self._http.send(
                        http_request, stream=True, follow_redirects=False, auth=None
                    )
                    try:
                        body = await aread_body(response, self._host, deadline)
                        return response.status_code, response.headers, body
                    finally:
                        await response.aclose()
                finally:
                    deadline.fired = deadline.fired or scope.cancel_called
        except HTTP_FAILURES as exc:
            raise _wrap(exc, self._host, deadline) from None

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
