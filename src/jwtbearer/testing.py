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

import base64
import binascii
import contextlib
import inspect
import itertools
import json
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx

from .errors import ConfigurationError, JWSError
from .jose.jws import unverified_claims, unverified_header, verify_compact
from .jose.keys import SigningKey, VerifyingKey
from .token import Clock, system_clock

__all__ = ["FakeClock", "MockAnswer", "MockRequest", "MockTokenEndpoint"]

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: The page a Spring Boot server answers when nothing handles the error.
WHITELABEL_PAGE = (
    "<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit mapping "
    "for /error, so you are seeing this as a fallback.</p><div>There was an unexpected error "
    "(type=Unauthorized, status=401).</div></body></html>"
)


class FakeClock:
    """A clock for tests: ``clock()`` returns epoch seconds that move only when told to.

    ``clock.advance(30)`` moves it forward, ``clock.set(t)`` sets it; ``clock.sleep`` (and
    ``await clock.async_sleep``) advance it instead of waiting, so code given ``sleep=`` and
    ``clock=`` runs its waits instantly and in order. Safe to share between threads.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ConfigurationError(f"a clock only moves forward; advance({seconds}) refused")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Set the time (epoch seconds); going backwards is allowed, to test clock jumps."""
        with self._lock:
            self._now = float(now)

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` stand-in: advances the clock at once."""
        self.advance(max(0.0, seconds))

    async def async_sleep(self, seconds: float) -> None:
        """An ``asyncio.sleep`` stand-in: advances the clock at once."""
        self.advance(max(0.0, seconds))

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class MockAnswer:
    """One answer of a :class:`MockTokenEndpoint`; build it with the class methods.

    ``delay`` seconds pass (through the mock's ``sleep``) before it is given; a delay at or over
    the client's read timeout ends in ``httpx.ReadTimeout`` as a slow server would. ``raises``
    makes the connection fail with that httpx error instead of answering.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    body: bytes = b""
    json_body: Mapping[str, Any] | None = None
    number_token: bool = False
    delay: float = 0.0
    raises: type[httpx.TransportError] | None = None

    @classmethod
    def token(
        cls,
        access_token: str | None = None,
        *,
        token_type: str = "Bearer",
        expires_in: int | None = 3600,
        scope: str | None = None,
        refresh_token: str | None = None,
        extra: Mapping[str, Any] | None = None,
        delay: float = 0.0,
    ) -> MockAnswer:
        """A successful token response (RFC 6749 §5.1).

        Without ``access_token`` each answer carries a new one, ``mock-access-token-1``, ``-2``
        and so on, so a test can tell a refreshed token from a reused one. ``extra`` adds fields
        such as Salesforce's ``instance_url``.
        """
        data: dict[str, Any] = {"access_token": access_token, "token_type": token_type}
        if expires_in is not None:
            data["expires_in"] = expires_in
        if scope is not None:
            data["scope"] = scope
        if refresh_token is not None:
            data["refresh_token"] = refresh_token
        if extra:
            data.update(extra)
        return cls(
            json_body=MappingProxyType(data),
            number_token=access_token is None,
            headers=MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"}),
            delay=delay,
        )

    @classmethod
    def error(
        cls,
        error: str,
        description: str | None = None,
        *,
        status: int = 400,
        error_uri: str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> MockAnswer:
        """An error response (RFC 6749 §5.2), e.g. ``error("invalid_grant", "expired")``.

        ``headers`` adds e.g. ``{"Retry-After": "2"}`` to a 429 or ``WWW-Authenticate`` to a 401.
        """
        data: dict[str, Any] = {"error": error}
        if description is not None:
            data["error_description"] = description
        if error_uri is not None:
            data["error_uri"] = error_uri
        return cls(
            status=status,
            json_body=MappingProxyType(data),
            headers=MappingProxyType(dict(headers or {})),
            delay=delay,
        )

    @classmethod
    def html(
        cls, body: str = WHITELABEL_PAGE, *, status: int = 401, delay: float = 0.0
    ) -> MockAnswer:
        """An HTML page where JSON was expected (a proxy, a login page, a Spring error page)."""
        return cls.raw(status, body, content_type="text/html;charset=UTF-8", delay=delay)

    @classmethod
    def raw(
        cls,
        status: int,
        body: bytes | str,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> MockAnswer:
        """Exactly this status, body and content type: for malformed or unusual answers."""
        all_headers = {"Content-Type": content_type, **(headers or {})}
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return cls(status=status, body=data, headers=MappingProxyType(all_headers), delay=delay)

    @classmethod
    def fail(
        cls, exc_type: type[httpx.TransportError] = httpx.ConnectError, *, delay: float = 0.0
    ) -> MockAnswer:
        """No answer: the connection fails with ``exc_type`` (refused, reset, timed out)."""
        return cls(raises=exc_type, delay=delay)


def _decode_basic(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    if not sep:
        return None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


@dataclass(frozen=True, slots=True, kw_only=True)
class MockRequest:
    """One request a :class:`MockTokenEndpoint` received.

    ``form`` holds the form fields (the last value of a repeated field; ``fields`` keeps every
    pair in order); ``headers`` has lower-case names. The ``*_claims`` and ``*_header``
    properties decode the assertions WITHOUT verifying them, for assertions in tests; they are
    None when the field is absent and raise :class:`~jwtbearer.errors.JWSError` when it is not
    a compact JWS. ``repr()`` shows no secret, token or signature.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    fields: tuple[tuple[str, str], ...]
    form: Mapping[str, str]

    @classmethod
    def from_httpx(cls, request: httpx.Request, body: bytes) -> MockRequest:
        """Record an httpx request whose body has been read."""
        fields: tuple[tuple[str, str], ...] = ()
        if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
            text = body.decode("utf-8", errors="replace")
            fields = tuple(urllib.parse.parse_qsl(text, keep_blank_values=True))
        return cls(
            method=request.method,
            url=str(request.url),
            headers=MappingProxyType({k.lower(): v for k, v in request.headers.items()}),
            body=body,
            fields=fields,
            form=MappingProxyType(dict(fields)),
        )

    @property
    def grant_type(self) -> str | None:
        """The ``grant_type`` form field."""
        return self.form.get("grant_type")

    @property
    def assertion(self) -> str | None:
        """The grant ``assertion`` (RFC 7523 §2.1), as sent."""
        return self.form.get("assertion")

    @property
    def client_assertion(self) -> str | None:
        """The ``client_assertion`` (RFC 7523 §2.2), as sent."""
        return self.form.get("client_assertion")

    @property
    def assertion_claims(self) -> dict[str, Any] | None:
        """The claims of ``assertion``, decoded without verification."""
        return None if self.assertion is None else unverified_claims(self.assertion)

    @property
    def assertion_header(self) -> dict[str, Any] | None:
        """The JOSE header of ``assertion``, decoded without verification."""
        return None if self.assertion is None else unverified_header(self.assertion)

    @property
    def client_assertion_claims(self) -> dict[str, Any] | None:
        """The claims of ``client_assertion``, decoded without verification."""
        token = self.client_assertion
        return None if token is None else unverified_claims(token)

    @property
    def client_assertion_header(self) -> dict[str, Any] | None:
        """The JOSE header of ``client_assertion``, decoded without verification."""
        token = self.client_assertion
        return None if token is None else unverified_header(token)

    @property
    def basic_credentials(self) -> tuple[str, str] | None:
        """``(client_id, client_secret)`` from HTTP Basic (RFC 6749 §2.3.1), un-escaped."""
        return _decode_basic(self.headers.get("authorization"))

    @property
    def client_id(self) -> str | None:
        """The client id, from Basic authentication or the ``client_id`` form field."""
        basic = self.basic_credentials
        return basic[0] if basic is not None else self.form.get("client_id")

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.fields)
        return (
            f"MockRequest({self.method} {self.url}, grant_type={self.grant_type!r}, "
            f"fields=[{names}])"
        )

    __str__ = __repr__


#: Custom logic: given a request, return an answer, or None to fall through to the script.
Handler = Callable[[MockRequest], MockAnswer | None]
Sleep = Callable[[float], object]
Keys = VerifyingKey | SigningKey | Sequence[VerifyingKey]


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
