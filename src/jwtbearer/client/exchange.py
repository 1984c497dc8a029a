"""Apex ``Auth.JWTBearerTokenExchange`` in Python: POST a signed JWT, get an access token.

A thin facade over :class:`~jwtbearer.TokenClient` (RFC 7523 §2.1): it builds the request with
:func:`~jwtbearer.build_token_request` and reads the answer with
:func:`~jwtbearer.parse_token_response`, so it has the client's transport rules (TLS, no
redirects, 1 MiB cap, one timeout for the whole request) and its typed errors. What it adds is
the Apex shape: settable ``token_endpoint`` / ``jws`` / ``grant_type``, and one POST per
exchange, remembered (``get_access_token()`` a second time sends nothing).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import httpx

from .._flow import Flow, arun, run
from ..errors import ConfigurationError, ResponseFormatError, TokenEndpointError
from ..jose.assertion import JWS
from ..oauth import JWT_BEARER_GRANT
from ..token import Clock, Token
from ._base import Answer, ClientBase, Send
from .protocol import RetryPolicy
from .token_client import AsyncTokenClient, TokenClient

__all__ = ["AsyncJWTBearerTokenExchange", "JWTBearerTokenExchange"]

_Outcome = Token | TokenEndpointError | ResponseFormatError
# Headers that describe the bytes on the wire, not the (decompressed) body kept here.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class _AssertionGrant:
    """``grant_type=<grant_type>&assertion=<compact JWS>``, sent exactly as given.

    RFC 7521 §4.1 assertion grants share this shape; the grant type is the exchange's, which
    Apex lets one change (``setGrantType``).
    """

    grant_type: str
    assertion: str

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        return {"grant_type": self.grant_type, "assertion": self.assertion}

    def cache_identity(self) -> dict[str, str | None]:
        return {"grant_type": self.grant_type}


def _http_response(endpoint: str, answer: Answer) -> httpx.Response:
    status, headers, body = answer
    kept = [(k, v) for k, v in headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        status, headers=kept, content=body, request=httpx.Request("POST", endpoint)
    )


class _ExchangeBase:
    """State and Apex accessors shared by the sync and async exchanges."""

    def __init__(
        self,
        token_endpoint: str | None,
        jws: JWS | None,
        *,
        grant_type: str,
        timeout: float,
        allow_insecure_http: bool,
        clock: Clock | None,
    ) -> None:
        self._token_endpoint: str | None = None
        self._jws: JWS | None = None
        self._grant_type = JWT_BEARER_GRANT
        self.token_endpoint = token_endpoint
        self.jws = jws
        self.grant_type = grant_type
        self.timeout = timeout
        self.allow_insecure_http = allow_insecure_http
        self._clock = clock

    def _forget(self) -> None:
        self._outcome: _Outcome | None = None
        self._response: httpx.Response | None = None
        self._next_jws = self._jws

    @property
    def token_endpoint(self) -> str | None:
        """The token endpoint URL (Apex ``getTokenEndpoint`` / ``setTokenEndpoint``)."""
        return self._token_endpoint

    @token_endpoint.setter
    def token_endpoint(self, url: str | None) -> None:
        if url is not None and (not isinstance(url, str) or not url.strip()):
            raise ConfigurationError(
                "token_endpoint is the token endpoint URL, e.g. "
                "https://login.salesforce.com/services/oauth2/token"
            )
        self._token_endpoint = url
        self._forget()

    @property
    def jws(self) -> JWS | None:
        """The signed assertion to send (Apex ``getJWS`` / ``setJWS``)."""
        return self._jws

    @jws.setter
    def jws(self, jws: JWS | None) -> None:
        if jws is not None and not isinstance(jws, JWS):
            raise ConfigurationError("jws must be a jwtbearer.JWS, e.g. JWS(jwt, 'my-cert')")
        self._jws = jws
        self._forget()

    @property
    def grant_type(self) -> str:
        """The ``grant_type`` sent (Apex ``getGrantType`` / ``setGrantType``); default RFC 7523's
        ``urn:ietf:params:oauth:grant-type:jwt-bearer``."""
        return self._grant_type

    @grant_type.setter
    def grant_type(self, value: str) -> None:
        if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
            raise ConfigurationError(
                f"grant_type must be a non-empty printable string without spaces, not {value!r}"
            )
        self._grant_type = value
        self._forget()

    def _ready(self) -> tuple[str, _AssertionGrant]:
        if self._token_endpoint is None or self._jws is None or self._next_jws is None:
            missing = " and ".join(
                name for name, value in (("token_endpoint", self._token_endpoint),
                                         ("jws", self._jws)) if value is None
            )
            raise ConfigurationError(f"set {missing} before asking for a token")
        return self._token_endpoint, _AssertionGrant(
            self._grant_type, self._next_jws.compact_serialization()
        )

    def _flow(self, client: ClientBase) -> Flow[Send, None]:
        """The exchange, once for both drivers: one POST (no retries), its answer kept."""
        endpoint, grant = self._ready()
        answer: Answer | None = None
        outcome: _Outcome | None = None
        try:
            request = client.build(grant)
            answer = yield Send(request, client.timeout)
            outcome = client.parse(grant, *answer, request=request)
        except (TokenEndpointError, ResponseFormatError) as exc:
            if answer is None:
                raise
            outcome = exc
        finally:
            self._settle(endpoint, answer, outcome)

    def _client_options(self) -> dict[str, Any]:
        assert self._token_endpoint is not None
        return {"endpoint": self._token_endpoint, "timeout": self.timeout,
                "allow_insecure_http": self.allow_insecure_http, "retry": RetryPolicy.none(),
                "clock": self._clock}

    def _settle(self, endpoint: str, answer: Answer | None, outcome: _Outcome | None) -> None:
        if answer is not None:
            self._response = _http_response(endpoint, answer)
            self._outcome = outcome
        elif self._jws is not None and self._jws.jwt is not None:
            # Nothing came back, yet the assertion may have arrived: the next try signs a new
            # one, as a server refuses a jti it has seen (RFC 7523 §3, item 7).
            self._next_jws = self._jws.clone()

    def _token(self) -> Token:
        outcome = self._outcome
        if isinstance(outcome, Token):
            return outcome
        assert outcome is not None
        raise outcome

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._token_endpoint!r}, jws={self._jws!r}, "
            f"grant_type={self._grant_type!r})"
        )


class JWTBearerTokenExchange(_ExchangeBase):
    """POSTs a signed JWT to a token endpoint for an access token (Apex
    ``Auth.JWTBearerTokenExchange``; RFC 7523 §2.1).

    ``JWTBearerTokenExchange()`` then the attributes, or
    ``JWTBearerTokenExchange(token_endpoint, jws)``. The first of :meth:`get_access_token`,
    :meth:`get_token` or :meth:`get_http_response` sends ONE POST (no retries) with
    ``grant_type`` and ``assertion=jws.compact_serialization()``; its answer is remembered, so
    later calls send nothing, until ``token_endpoint``, ``jws`` or ``grant_type`` is changed.
    An error answer is remembered too and raised again, as
    :class:`~jwtbearer.JWTBearerTokenExchangeException` (``str()`` begins ``Error 400: <body>``
    as in Apex). A transport failure is not remembered: the next call tries again, with a
    freshly signed assertion when the JWS signs a JWT.

    Without ``http=`` each POST uses its own connection, and a mock installed with
    :meth:`jwtbearer.testing.MockTokenEndpoint.install` answers it.
    """

    def __init__(
        self,
        token_endpoint: str | None = None,
        jws: JWS | None = None,
        *,
        grant_type: str = JWT_BEARER_GRANT,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.http = http
        super().__init__(
            token_endpoint, jws, grant_type=grant_type, timeout=timeout,
            allow_insecure_http=allow_insecure_http, clock=clock,
        )

    def _exchange(self) -> None:
        with self._lock:
            if self._outcome is not None:
                return
            self._ready()
            with TokenClient(**self._client_options(), http=self.http) as client:
                run(self._flow(client), lambda step: client.post(step.request))

    def get_access_token(self) -> str:
        """The ``access_token`` of the answer (Apex ``getAccessToken``); POSTs on first use.

        Raises :class:`~jwtbearer.JWTBearerTokenExchangeException` for an error answer,
        :class:`~jwtbearer.ResponseFormatError` when the answer has no ``access_token``, and
        :class:`~jwtbearer.TransportError` when no answer came.
        """
        return self.get_token().access_token

    def get_token(self) -> Token:
        """The whole parsed answer as a :class:`~jwtbearer.Token` (Salesforce's
        ``instance_url`` is in ``token.extra``); POSTs on first use."""
        self._exchange()
        return self._token()

    def get_http_response(self) -> httpx.Response:
        """The token endpoint's HTTP answer, whatever its status (Apex ``getHttpResponse``);
        POSTs on first use. Its body is already read (and decompressed)."""
        self._exchange()
        assert self._response is not None
        return self._response

    def clone(self) -> JWTBearerTokenExchange:
        """A copy that has sent nothing (Apex ``clone``); its JWS is a clone, so it signs its
        own assertion with a fresh ``jti``."""
        return JWTBearerTokenExchange(
            self.token_endpoint, None if self.jws is None else self.jws.clone(),
            grant_type=self.grant_type, http=self.http, timeout=self.timeout,
            allow_insecure_http=self.allow_insecure_http, clock=self._clock,
        )


class AsyncJWTBearerTokenExchange(_ExchangeBase):
    """The async twin of :class:`JWTBearerTokenExchange`: ``await ex.get_access_token()``.

    The same RFC 7523 §2.1 request and the same rules: one POST, its answer remembered.

    ``http`` is an ``httpx.AsyncClient``. Concurrent first calls share one POST.
    """

    def __init__(
        self,
        token_endpoint: str | None = None,
        jws: JWS | None = None,
        *,
        grant_type: str = JWT_BEARER_GRANT,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        import anyio  # only the async exchange needs it

        self._lock = anyio.Lock()
        self.http = http
        super().__init__(
            token_endpoint, jws, grant_type=grant_type, timeout=timeout,
            allow_insecure_http=allow_insecure_http, clock=clock,
        )

    async def _exchange(self) -> None:
        async with self._lock:
            if self._outcome is not None:
                return
            self._ready()
            async with AsyncTokenClient(**self._client_options(), http=self.http) as client:
                await arun(self._flow(client), lambda step: client.post(step.request))

    async def get_access_token(self) -> str:
        """The ``access_token`` of the answer; POSTs on first use (see the sync class)."""
        return (await self.get_token()).access_token

    async def get_token(self) -> Token:
        """The whole parsed answer as a :class:`~jwtbearer.Token`; POSTs on first use."""
        await self._exchange()
        return self._token()

    async def get_http_response(self) -> httpx.Response:
        """The token endpoint's HTTP answer, whatever its status; POSTs on first use."""
        await self._exchange()
        assert self._response is not None
        return self._response

    def clone(self) -> AsyncJWTBearerTokenExchange:
        """A copy that has sent nothing, with a cloned JWS (a fresh ``jti``)."""
        return AsyncJWTBearerTokenExchange(
            self.token_endpoint, None if self.jws is None else self.jws.clone(),
            grant_type=self.grant_type, http=self.http, timeout=self.timeout,
            allow_insecure_http=self.allow_insecure_http, clock=self._clock,
        )
