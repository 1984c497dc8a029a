"""What TokenClient and AsyncTokenClient share: configuration, and the request/retry loop
written once as a generator (:meth:`ClientBase.request_flow`).

The loop yields :class:`Send` (POST this request; receive ``(status, headers, body)`` or a
:class:`~jwtbearer.errors.TransportError`) and :class:`Sleep` (wait before the next attempt);
the sync and async clients perform those two steps and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .._flow import Flow
from ..errors import ConfigurationError, ResponseFormatError, TokenEndpointError, TransportError
from ..jose.dpop import DPoP
from ..token import Clock, Token, system_clock
from .client_auth import ClientAuth
from .grants import Grant, RefreshToken
from .protocol import (
    RetryPolicy,
    TokenRequest,
    build_token_request,
    parse_token_response,
    with_headers,
)
from .transport import ACCEPT_ENCODING, check_endpoint, check_timeout

__all__ = ["Answer", "ClientBase", "Send", "Sleep", "Step"]

logger = logging.getLogger("jwtbearer")

#: What a POST gives back: status, headers, the (decompressed, capped) body.
Answer = tuple[int, httpx.Headers, bytes]

_RETRYABLE = (TransportError, TokenEndpointError, ResponseFormatError)


# Steps are plain slotted classes: created per request, and cheaper to define than dataclasses.
class Send:
    """Step: POST ``request`` within ``timeout`` seconds; the result sent back is an
    :data:`Answer`."""

    __slots__ = ("attempt", "request", "timeout")

    def __init__(self, request: TokenRequest, timeout: float, attempt: int = 1) -> None:
        self.request = request
        self.timeout = timeout
        self.attempt = attempt


class Sleep:
    """Step: wait ``seconds`` before the next attempt (after failed attempt ``attempt``)."""

    __slots__ = ("attempt", "seconds")

    def __init__(self, seconds: float, attempt: int = 1) -> None:
        self.seconds = seconds
        self.attempt = attempt


Step = Send | Sleep


class ClientBase:
    """Configuration and protocol decisions; subclasses add the I/O for :class:`Send`."""

    def __init__(
        self,
        endpoint: str,
        auth: ClientAuth,
        timeout: float,
        allow_insecure_http: bool,
        retry: RetryPolicy | None,
        clock: Clock | None,
        dpop: DPoP | None = None,
    ) -> None:
        self._host = check_endpoint(endpoint, allow_insecure_http)
        if dpop is not None and not isinstance(dpop, DPoP):
            raise ConfigurationError("dpop must be a jwtbearer.DPoP (DPoP(key) for your own key)")
        self.dpop = dpop
        if not isinstance(auth, ClientAuth):
            raise ConfigurationError(
                "auth must be a client authentication: NoClientAuth, ClientSecretBasic, "
                "ClientSecretPost, ClientSecretJWT or PrivateKeyJWT"
            )
        self.endpoint = endpoint
        self.auth = auth
        self.timeout = check_timeout(timeout)
        self.retry = retry if retry is not None else RetryPolicy()
        self._clock = clock or system_clock
        self._request_headers = {"Accept-Encoding": ACCEPT_ENCODING}

    def request_flow(self, grant: Grant) -> Flow[Step, Token]:
        """The request/retry loop: send ``grant``, retry per the policy, return the token.

        With DPoP, a ``use_dpop_nonce`` answer carrying a new ``DPoP-Nonce`` is answered once,
        at once, with a proof holding that nonce (RFC 9449 §8); that resend is not an attempt.
        With ``retry.deadline`` no attempt starts past it and the last attempt's timeout
        shrinks to what is left.
        """
        attempt = 0
        nonce_resent = False
        started = time.monotonic()
        limit = self.retry.deadline
        while True:
            attempt += 1
            timeout = self.timeout
            if limit is not None:
                timeout = min(timeout, max(limit - (time.monotonic() - started), 0.001))
            request = self.build(grant, attempt)
            try:
                answer: Answer = yield Send(request, timeout, attempt)
                fresh_nonce = self.dpop is not None and self.dpop.remember(
                    self.endpoint, answer[1]) is not None
                try:
                    return self.parse(grant, *answer, request=request)
                except TokenEndpointError as exc:
                    if exc.error != "use_dpop_nonce" or not fresh_nonce or nonce_resent:
                        raise
                    nonce_resent = True
                    attempt -= 1
                    continue
            except _RETRYABLE as exc:
                delay = self._delay(attempt, exc)
                spent = time.monotonic() - started
                if delay is not None and limit is not None and spent + delay >= limit:
                    delay = None  # the next attempt would start past the deadline
                if delay is None:
                    if isinstance(exc, TransportError) and (attempt > 1 or limit is not None):
                        raise TransportError(self._gave_up(exc, attempt, spent)) from None
                    raise
            yield Sleep(delay, attempt)

    def _gave_up(self, exc: TransportError, attempts: int, spent: float) -> str:
        limit = self.retry.deadline
        bound = f"each attempt at most {self.timeout:g} s"
        if limit is not None:
            bound += f", all together at most {limit:g} s"
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        return f"{exc}; gave up after {tries} in {spent:.1f} s ({bound})"

    def build(self, grant: Grant, attempt: int = 1) -> TokenRequest:
        """The request for one attempt at ``grant``."""
        # Built anew for every attempt: a retry never resends an assertion already sent.
        request = build_token_request(self.endpoint, grant, self.auth, now=self._clock())
        if self.dpop is not None:
            request = with_headers(request, DPoP=self.dpop.proof("POST", self.endpoint))
        logger.debug(
            "token request to %s: grant %s, attempt %d of %d",
            self._host, grant.grant_type, attempt, self.retry.attempts,
            extra={"jwtbearer_event": "request", "url": self.endpoint, "attempt": attempt,
                   "attempts": self.retry.attempts},
        )
        return request

    def parse(self, grant: Grant, status: int, headers: Mapping[str, str], body: bytes, *,
              request: TokenRequest | None = None) -> Token:
        """The token in an answer to ``grant``, or the typed error it describes.

        ``request`` is the request answered: no error holds one of its secrets.
        """
        secrets = request.secrets if request is not None else frozenset()
        logger.debug("token response from %s: status %d, %d bytes", self._host, status, len(body),
                     extra={"jwtbearer_event": "response", "status": status, "size": len(body)})
        previous = grant.refresh_token if isinstance(grant, RefreshToken) else None
        token = parse_token_response(
            status, headers, body, now=self._clock(), previous_refresh_token=previous,
            host=self._host, secrets=secrets,
        )
        if self.dpop is not None and token.token_type.lower() != "dpop":
            raise ResponseFormatError(
                f"a DPoP-bound token was asked for, but {self._host} answered token_type "
                f"{token.token_type!r}: the server ignored the DPoP proof (is DPoP enabled for "
                "this client there?); drop dpop= to accept bearer tokens (RFC 9449 §5)",
                secrets=secrets | {token.access_token} | {
                    t for t in (token.refresh_token, token.id_token) if t},
            )
        return token

    def _http_request(self, http: httpx.Client | httpx.AsyncClient, request: TokenRequest,
                      extensions: dict[str, Any] | None, timeout: float) -> httpx.Request:
        headers = dict(request.headers)
        headers.update(self._request_headers)
        return http.build_request(
            "POST", request.url, headers=headers, content=request.body,
            timeout=httpx.Timeout(timeout), extensions=extensions,
        )

    def _delay(self, attempt: int, exc: Exception) -> float | None:
        delay = self.retry.delay_for(attempt, exception=exc, now=self._clock())
        if delay is not None:
            logger.debug(
                "retrying token request to %s in %.2f s after %s (attempt %d of %d)",
                self._host, delay, type(exc).__name__, attempt, self.retry.attempts,
                extra={"jwtbearer_event": "retry", "delay": delay, "attempt": attempt,
                       "attempts": self.retry.attempts, "reason": type(exc).__name__},
            )
        return delay

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r}, auth={self.auth!r})"
