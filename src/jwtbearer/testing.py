"""Test doubles for code that gets tokens: the Python ``Auth.HttpCalloutMockUtil``.

:class:`MockTokenEndpoint` is an httpx transport (sync and async) that plays an OAuth 2.0 token
endpoint: it answers tokens (RFC 6749 §5.1), error answers (§5.2), HTML pages, slow answers and
broken connections, in a scripted order or from your own ``handler``; it records every request
and decodes its assertions (without verifying them) so a test can assert on the claims.
``mock.install()`` makes every client that jwtbearer builds without an explicit ``http=`` use
the mock, as Apex ``Test.setMock`` / ``Auth.HttpCalloutMockUtil.setHttpMock`` do.

Installed as a pytest plugin: the fixture ``token_endpoint`` yields an installed mock.
:class:`FakeClock` is a clock that moves only when told to.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import httpx

from ._mock import WHITELABEL_PAGE, FakeClock, MockAnswer, MockRequest
from .errors import ConfigurationError, JWSError
from .jose.jws import verify_compact
from .jose.keys import SigningKey, VerifyingKey
from .token import Clock, system_clock

Handler = Callable[[MockRequest], MockAnswer | None]
Sleep = Callable[[float], object]
Keys = VerifyingKey | SigningKey | Sequence[VerifyingKey]

__all__ = ["FakeClock", "MockAnswer", "MockRequest", "MockTokenEndpoint"]

_EMPTY: Mapping[str, str] = MappingProxyType({})





class MockTokenEndpoint(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport that plays a token endpoint; the Python ``Auth.HttpCalloutMockUtil``.

    Each request gets, in order of precedence: ``invalid_grant`` (or ``invalid_client`` for a
    ``client_assertion``) when ``verify_with`` is set and the assertion does not verify or has
    expired by ``clock``; else ``handler(request)`` when it returns an answer; else the next
    answer queued with :meth:`respond` (and the ``respond_*`` shortcuts); else the default
    token answer built from the constructor's arguments. Every request is recorded in
    :attr:`requests` first.

    Delays go through ``sleep`` (``sleep(seconds)``; in async use its result is awaited when
    awaitable). By default nothing waits: the delays are only added to :attr:`delays`; pass
    ``FakeClock.sleep`` to move a fake clock, or ``time.sleep`` to really wait.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        expires_in: int | None = 3600,
        scope: str | None = None,
        extra: Mapping[str, Any] | None = None,
        verify_with: Keys | None = None,
        handler: Handler | None = None,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.default = MockAnswer.token(
            access_token, expires_in=expires_in, scope=scope, extra=extra
        )
        self.verify_with = verify_with
        self.handler = handler
        self._sleep = sleep
        self._clock = clock or system_clock
        self._queue: deque[MockAnswer] = deque()
        self._requests: list[MockRequest] = []
        self.delays: list[float] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    # -- scripting --------------------------------------------------------------------------

    def respond(self, answer: MockAnswer, *, times: int | None = 1) -> None:
        """Queue ``answer`` for the next ``times`` requests; ``times=None``: every request from
        now on (it replaces the default answer)."""
        if not isinstance(answer, MockAnswer):
            raise ConfigurationError("respond() takes a MockAnswer (MockAnswer.token(...), ...)")
        with self._lock:
            if times is None:
                self.default = answer
                return
            if times < 1:
                raise ConfigurationError(f"times must be at least 1 (or None), not {times}")
            self._queue.extend([answer] * times)

    def script(self, answers: Iterable[MockAnswer]) -> None:
        """Queue several answers, given in this order to the next requests."""
        for answer in answers:
            self.respond(answer)

    def respond_token(
        self,
        access_token: str | None = None,
        *,
        expires_in: int | None = 3600,
        scope: str | None = None,
        extra: Mapping[str, Any] | None = None,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Queue a token answer (see :meth:`MockAnswer.token`)."""
        answer = MockAnswer.token(
            access_token, expires_in=expires_in, scope=scope, extra=extra, delay=delay
        )
        self.respond(answer, times=times)

    def respond_error(
        self,
        error: str,
        description: str | None = None,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Queue an RFC 6749 §5.2 error, e.g. ``respond_error("invalid_grant", "...")``."""
        answer = MockAnswer.error(
            error, description, status=status, headers=headers, delay=delay
        )
        self.respond(answer, times=times)

    def respond_html(
        self, body: str = WHITELABEL_PAGE, *, status: int = 401, times: int | None = 1
    ) -> None:
        """Queue an HTML page (default: a Spring "Whitelabel Error Page" with status 401)."""
        self.respond(MockAnswer.html(body, status=status), times=times)

    # -- records ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[MockRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> MockRequest:
        """The most recent request; AssertionError when there was none."""
        with self._lock:
            if not self._requests:
                raise AssertionError("the mock token endpoint has received no request")
            return self._requests[-1]

    def reset(self) -> None:
        """Forget the requests, delays and queued answers (the default answer stays)."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self.delays.clear()

    # -- installing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def install(self) -> Iterator[MockTokenEndpoint]:
        """Within the block, clients built without ``http=`` talk to this mock (Apex
        ``Test.setMock``); the previous transports come back afterwards. Nests."""
        from .client.transport import set_default_transports  # late: httpx is heavier

        previous = set_default_transports(self, self)
        try:
            yield self
        finally:
            set_default_transports(*previous)

    # -- answering --------------------------------------------------------------------------

    def _choose(self, record: MockRequest) -> MockAnswer:
        refused = self._verify(record)
        if refused is not None:
            return refused
        if self.handler is not None:
            answer = self.handler(record)
            if answer is not None:
                if not isinstance(answer, MockAnswer):
                    raise ConfigurationError("a MockTokenEndpoint handler returns a MockAnswer")
                return answer
        if record.method != "POST":
            return MockAnswer.error(
                "invalid_request", "the token endpoint takes POST (RFC 6749 §3.2)", status=405
            )
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _verify(self, record: MockRequest) -> MockAnswer | None:
        if self.verify_with is None:
            return None
        checks = (("assertion", "invalid_grant", 400), ("client_assertion", "invalid_client", 401))
        for name, error, status in checks:
            token = record.form.get(name)
            if token is None:
                continue
            try:
                claims = verify_compact(token, self.verify_with).claims()
            except JWSError as exc:
                return MockAnswer.error(error, f"{name}: {exc}", status=status)
            exp = claims.get("exp")
            if not isinstance(exp, int) or isinstance(exp, bool) or exp <= self._clock():
                return MockAnswer.error(error, f"{name}: expired or missing exp", status=status)
        return None

    def _record(self, request: httpx.Request, body: bytes) -> tuple[MockAnswer, httpx.Response]:
        record = MockRequest.from_httpx(request, body)
        with self._lock:
            self._requests.append(record)
        answer = self._choose(record)
        return answer, self._render(answer, request)

    def _render(self, answer: MockAnswer, request: httpx.Request) -> httpx.Response:
        headers = dict(answer.headers)
        body = answer.body
        if answer.json_body is not None:
            data = dict(answer.json_body)
            if answer.number_token:
                data["access_token"] = f"mock-access-token-{next(self._numbers)}"
            body = json.dumps(data, separators=(",", ":")).encode("utf-8")
            headers.setdefault("Content-Type", "application/json;charset=UTF-8")
        return httpx.Response(answer.status, headers=headers, content=body, request=request)

    def _wait_plan(self, answer: MockAnswer, request: httpx.Request) -> tuple[float, bool]:
        """How long to sleep, and whether the client's read timeout runs out first."""
        if answer.delay <= 0:
            return 0.0, False
        timeout = request.extensions.get("timeout", {}).get("read")
        if isinstance(timeout, (int, float)) and answer.delay >= timeout:
            return float(timeout), True
        return answer.delay, False

    def _finish(self, answer: MockAnswer, request: httpx.Request, timed_out: bool) -> None:
        if timed_out:
            raise httpx.ReadTimeout("the mock token endpoint answered too slowly", request=request)
        if answer.raises is not None:
            raise answer.raises("the mock token endpoint dropped the connection", request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer a sync httpx request."""
        answer, response = self._record(request, request.read())
        seconds, timed_out = self._wait_plan(answer, request)
        if seconds:
            self.delays.append(seconds)
            if self._sleep is not None:
                self._sleep(seconds)
        self._finish(answer, request, timed_out)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer an async httpx request."""
        answer, response = self._record(request, await request.aread())
        seconds, timed_out = self._wait_plan(answer, request)
        if seconds:
            self.delays.append(seconds)
            if self._sleep is not None:
                pending = self._sleep(seconds)
                if inspect.isawaitable(pending):
                    await pending
        self._finish(answer, request, timed_out)
        return response

    def __repr__(self) -> str:
        return f"MockTokenEndpoint(requests={len(self._requests)}, queued={len(self._queue)})"


try:  # the pytest plugin; jwtbearer.testing must import without pytest too
    import pytest
except ImportError:  # pragma: no cover - pytest is absent outside test runs
    pass
else:

    @pytest.fixture
    def token_endpoint() -> Iterator[MockTokenEndpoint]:
        """A :class:`MockTokenEndpoint`, installed for the test (clients built without
        ``http=`` talk to it)."""
        mock = MockTokenEndpoint()
        with mock.install():
            yield mock
