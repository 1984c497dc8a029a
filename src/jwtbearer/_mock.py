"""The answers and the request records of :class:`jwtbearer.testing.MockTokenEndpoint`, and
:class:`FakeClock`; imported from :mod:`jwtbearer.testing`."""

from __future__ import annotations

import base64
import binascii
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx

from .errors import ConfigurationError
from .jose.jws import unverified_claims, unverified_header

__all__ = ["WHITELABEL_PAGE", "FakeClock", "MockAnswer", "MockRequest"]

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
