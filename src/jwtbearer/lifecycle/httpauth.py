"""BearerAuth: one ``auth=`` object for httpx (sync and async) and for requests.

It sends ``Authorization: Bearer <token>`` (RFC 6750 §2.1) from a token source, and when the
resource server answers 401 to a request that carried that token (RFC 6750 §3.1
``invalid_token``: revoked, or expired early), it forgets the token, obtains a new one and
sends the request once more. A second 401 is returned to the caller as it is.

A DPoP-bound token (RFC 9449 §7.1) goes as ``Authorization: DPoP <token>`` with a fresh proof
in the ``DPoP`` header, bound to the method, the URL and the token (``ath``), signed with the
source's key (``source.dpop``, which ``CachedSource`` keeps from the token client). A 401 with
``error="use_dpop_nonce"`` and a new ``DPoP-Nonce`` (§9) is answered once with a proof holding
that nonce; nonces are remembered per server.
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


def _nonce_asked(dpop: Any, url: str, status: int, headers: Any) -> bool:
    """Whether an answer asks for a proof with a new nonce (RFC 9449 §9); keeps any nonce."""
    if dpop is None:
        return False
    fresh = dpop.remember(url, headers) is not None
    challenge = str(headers.get("www-authenticate") or "")
    return fresh and status == 401 and "use_dpop_nonce" in challenge


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
        #: The key DPoP-bound tokens are bound to (from the source), or None.
        self.dpop: Any = getattr(source, "dpop", None)

    def _headers(self, method: str, url: str, token: Token) -> dict[str, str]:
        """``Authorization`` for ``token``, and a DPoP proof when the token is DPoP-bound."""
        headers = {"Authorization": token.authorization}
        if token.token_type.lower() == "dpop":
            if self.dpop is None:
                raise ConfigurationError(
                    "the token is DPoP-bound but its source has no DPoP key: build the token "
                    "client with dpop=DPoP(...) and give BearerAuth that client's source"
                )
            headers["DPoP"] = self.dpop.proof(method, url, access_token=token.access_token)
        return headers

    def _set(self, request: httpx.Request, token: Token) -> None:
        if token.token_type.lower() != "dpop":  # the common case: no URL to render, no proof
            request.headers["Authorization"] = token.authorization
            return
        request.headers.update(self._headers(request.method, str(request.url), token))

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
        self._set(request, token)
        response = yield request
        if self.dpop is not None and _nonce_asked(self.dpop, str(request.url),
                                                  response.status_code, response.headers):
            self._set(request, token)
            response = yield request
        if _refused_our_token(response, token):
            fresh = self._renew(token)
            if fresh is not None:
                self._set(request, fresh)
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
        self._set(request, token)
        response = yield request
        if self.dpop is not None and _nonce_asked(self.dpop, str(request.url),
                                                  response.status_code, response.headers):
            self._set(request, token)
            response = yield request
        if _refused_our_token(response, token):
            fresh = await self._arenew(token)
            if fresh is not None:
                self._set(request, fresh)
                yield request

    # -- requests ------------------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """requests' ``AuthBase`` protocol: set the header and watch the response for a 401."""
        token = self._token()
        request.headers.update(self._headers(request.method or "GET", request.url or "", token))
        prepared: Any = request  # requests' hooks API is untyped
        prepared._jwtbearer_token = token
        prepared.register_hook("response", self._requests_401)
        return request

    def _requests_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        from requests.cookies import extract_cookies_to_jar
        from requests.utils import rewind_body

        sent: Any = response.request
        used: Token | None = getattr(sent, "_jwtbearer_token", None)
        nonce = _nonce_asked(self.dpop, sent.url or "", response.status_code, response.headers)
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
        fresh = used if nonce else self._renew(used)
        if fresh is None:
            return response
        # Read and release the first response so the retry can reuse its connection.
        _ = response.content
        response.close()
        retry: Any = sent.copy()
        extract: Any = extract_cookies_to_jar
        extract(retry._cookies, sent, response.raw)
        retry.prepare_cookies(retry._cookies)
        retry.headers.update(self._headers(retry.method or "GET", retry.url or "", fresh))
        retry._jwtbearer_token = fresh
        retry._jwtbearer_retried = True
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second

    def __repr__(self) -> str:
        return f"BearerAuth({self.source!r})"
