"""BearerAuth: one ``auth=`` object for httpx (sync and async) and for requests.

It sends ``Authorization: Bearer <token>`` (RFC 6750 §2.1) from a token source, and when the
resource server answers 401 to a request that carried that token (RFC 6750 §3.1
``invalid_token``: revoked, or expired early), it forgets the token, obtains a new one and
sends the request once more. A second 401 is returned to the caller as it is.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import ConfigurationError
from ..token import AsyncTokenSource, Token, TokenSource
from .caching import AsyncCachedSource, CachedSource

if TYPE_CHECKING:
    import requests

__all__ = ["BearerAuth"]

_ASYNC_IN_SYNC = (
    "BearerAuth was given an async token source, which a synchronous client (httpx.Client or "
    "requests) cannot await: use httpx.AsyncClient, or give BearerAuth a sync source such as "
    "CachedSource(TokenClient(...).source(grant))"
)


def _refused_our_token(response: httpx.Response, token: Token) -> bool:
    """A 401 answering a request that carried ``token``. httpx follows redirects inside the auth
    flow and drops ``Authorization`` on a cross-origin one, so the 401 may come from a server
    that never saw the token: renewing then would throw away a good token for nothing."""
    if response.status_code != 401:
        return False
    try:
        sent = response.request
    except RuntimeError:  # a response built without a request (not one httpx received)
        return True
    return bool(sent.headers.get("Authorization") == token.authorization)


class BearerAuth(httpx.Auth):
    """Bearer token authentication from a token source, for httpx and for requests.

    - ``httpx.Client(auth=BearerAuth(source))`` and ``requests.get(url, auth=BearerAuth(source))``
      need a sync source (``CachedSource``).
    - ``httpx.AsyncClient(auth=BearerAuth(source))`` takes an async source
      (``AsyncCachedSource``), or a sync one, whose fresh token is read without blocking and
      whose refreshes run in a worker thread.

    Give it a cached source: a bare ``client.source(grant)`` would request a token for every
    HTTP request. The request body is kept in memory so that the retry after a 401 can resend
    it.
    """

    requires_request_body = True

    def __init__(self, source: TokenSource | AsyncTokenSource) -> None:
        method = getattr(source, "token", None)
        if not callable(method):
            raise ConfigurationError(
                f"BearerAuth needs a token source (an object with token()), got "
                f"{type(source).__name__}"
            )
        self.source = source
        self._async = inspect.iscoroutinefunction(method)

    # -- sync (httpx.Client and requests) ------------------------------------------------------

    def _token(self) -> Token:
        if self._async:
            raise ConfigurationError(_ASYNC_IN_SYNC)
        token = self.source.token()
        if inspect.isawaitable(token):
            if inspect.iscoroutine(token):
                token.close()
            raise ConfigurationError(_ASYNC_IN_SYNC)
        return token

    def _renew(self, used: Token) -> Token | None:
        """A token to retry with after ``used`` got a 401, or None when no new one exists."""
        source = self.source
        if isinstance(source, CachedSource):
            source.invalidate(used)
        elif callable(getattr(source, "invalidate", None)):
            source.invalidate()  # type: ignore[union-attr]
        fresh = self._token()
        return None if fresh.access_token == used.access_token else fresh

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """httpx's sync flow: send with the token; on a 401, renew once and resend once."""
        token = self._token()
        request.headers["Authorization"] = token.authorization
        response = yield request
        if _refused_our_token(response, token):
            fresh = self._renew(token)
            if fresh is not None:
                request.headers["Authorization"] = fresh.authorization
                yield request

    # -- async (httpx.AsyncClient) -------------------------------------------------------------

    async def _atoken(self) -> Token:
        source: Any = self.source
        if self._async:
            token: Token = await source.token()
            return token
        if isinstance(source, CachedSource):
            ready = source.fresh_token()
            if ready is not None:
                return ready
        # A sync refresh does blocking I/O: keep it off the event loop.
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self._token)

    async def _arenew(self, used: Token) -> Token | None:
        source: Any = self.source
        if isinstance(source, AsyncCachedSource):
            await source.invalidate(used)
        elif isinstance(source, CachedSource):
            import anyio.to_thread

            await anyio.to_thread.run_sync(source.invalidate, used)
        elif callable(getattr(source, "invalidate", None)):
            outcome = source.invalidate()
            if inspect.isawaitable(outcome):
                await outcome
        fresh = await self._atoken()
        return None if fresh.access_token == used.access_token else fresh

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """httpx's async flow: the same steps as :meth:`sync_auth_flow`, awaiting the source."""
        token = await self._atoken()
        request.headers["Authorization"] = token.authorization
        response = yield request
        if _refused_our_token(response, token):
            fresh = await self._arenew(token)
            if fresh is not None:
                request.headers["Authorization"] = fresh.authorization
                yield request

    # -- requests ------------------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """requests' ``AuthBase`` protocol: set the header and watch the response for a 401."""
        token = self._token()
        request.headers["Authorization"] = token.authorization
        prepared: Any = request  # requests' hooks API is untyped
        prepared._jwtbearer_token = token
        prepared.register_hook("response", self._requests_401)
        return request

    def _requests_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        from requests.cookies import extract_cookies_to_jar
        from requests.utils import rewind_body

        sent: Any = response.request
        used: Token | None = getattr(sent, "_jwtbearer_token", None)
        if (
            response.status_code != 401
            or used is None
            or getattr(sent, "_jwtbearer_retried", False)
            or sent.headers.get("Authorization") != used.authorization
        ):
            return response
        body = sent.body
        if body is not None and not isinstance(body, bytes | str):
            if getattr(sent, "_body_position", None) is None:
                return response  # a one-shot stream cannot be sent twice
            rewind_body(sent)
        fresh = self._renew(used)
        if fresh is None:
            return response
        # Read and release the first response so the retry can reuse its connection.
        _ = response.content
        response.close()
        retry: Any = sent.copy()
        extract: Any = extract_cookies_to_jar
        extract(retry._cookies, sent, response.raw)
        retry.prepare_cookies(retry._cookies)
        retry.headers["Authorization"] = fresh.authorization
        retry._jwtbearer_token = fresh
        retry._jwtbearer_retried = True
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second

    def __repr__(self) -> str:
        return f"BearerAuth({self.source!r})"
