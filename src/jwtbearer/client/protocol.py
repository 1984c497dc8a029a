"""The token endpoint protocol with no I/O: build a request, read a response, decide on retries.

Everything here is a pure function of its arguments (the time is passed in as ``now``), so the
sync and the async client share it line for line and tests need no network. Responses are read
tolerantly, as real servers answer (RFC 6749 §5.1/§5.2 plus what GitHub, Salesforce and Spring
actually send), and every failure becomes a typed error from :mod:`jwtbearer.errors`.
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import random
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import (
    ConfigurationError,
    ResponseFormatError,
    TokenEndpointError,
    TransportError,
    UnexpectedRedirect,
    error_class_for,
    redact,
)
from ..token import Token
from .client_auth import ClientAuth
from .grants import Grant

__all__ = [
    "MAX_RESPONSE_BYTES",
    "RetryPolicy",
    "TokenRequest",
    "build_token_request",
    "parse_retry_after",
    "parse_token_response",
]

#: Largest token response body read, counted after decompression (a token answer is < 10 KiB).
MAX_RESPONSE_BYTES = 1024 * 1024

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_SECRET_FORM_FIELDS = frozenset(
    {"client_secret", "client_assertion", "assertion", "refresh_token", "code", "code_verifier",
     "password"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRequest:
    """A token request ready to send: ``POST url`` with ``headers`` and the form ``form``.

    ``repr()`` names the form fields but hides secret values and the ``Authorization`` header.
    """

    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str]

    @property
    def body(self) -> bytes:
        """The form, ``application/x-www-form-urlencoded`` (RFC 6749 Appendix B)."""
        return urlencode(dict(self.form)).encode("ascii")

    def __repr__(self) -> str:
        form = {k: ("<hidden>" if k in _SECRET_FORM_FIELDS else v) for k, v in self.form.items()}
        headers = {
            k: ("<hidden>" if k.lower() == "authorization" else v) for k, v in self.headers.items()
        }
        return f"TokenRequest(url={self.url!r}, headers={headers!r}, form={form!r})"


def build_token_request(
    endpoint: str, grant: Grant, auth: ClientAuth, *, now: float
) -> TokenRequest:
    """The POST for ``grant`` authenticated by ``auth`` (RFC 6749 §3.2, §2.3).

    Assertions in the grant and in the client authentication are signed at ``now``. A field set
    by both the grant and the client authentication is refused: sending it twice would let the
    server pick either one (RFC 6749 §3.2: parameters must not be repeated).
    """
    form = grant.form(endpoint, now=now)
    auth_headers, auth_form = auth.apply(endpoint, now=now)
    clash = sorted(set(form) & set(auth_form))
    if clash:
        raise ConfigurationError(
            f"both the grant and the client authentication set {', '.join(clash)}; drop it from "
            "the grant (the client authentication owns client_* fields)"
        )
    form.update(auth_form)
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
    headers.update(auth_headers)
    return TokenRequest(url=endpoint, headers=MappingProxyType(headers), form=form)


# -- reading a body with a cap -----------------------------------------------------------------


class BodyReader:
    """Collects a response body, decompressing it, and stops once it passes ``limit`` bytes.

    The cap counts decompressed bytes and each step inflates at most ``limit + 1`` bytes, so a
    gzip bomb costs a megabyte of memory, not gigabytes.
    """

    __slots__ = ("_chunks", "_decoder", "_encoding", "_size", "host", "limit")

    def __init__(
        self,
        content_encoding: str | None,
        *,
        host: str,
        content_length: str | None = None,
        limit: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.limit, self.host = limit, host
        self._chunks: list[bytes] = []
        self._size = 0
        if content_length is not None and content_length.strip().isdigit() and (
            int(content_length) > limit
        ):
            self._too_large()
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ResponseFormatError(
                f"{host} answered with Content-Encoding {content_encoding!r}; only gzip and "
                "deflate are accepted (and asked for)"
            )
        self._encoding = codings[0] if codings else None
        # gzip: wbits 16+15; deflate is zlib-wrapped per RFC 9110 §8.4.1.2 (raw is tried after).
        self._decoder = None
        if self._encoding is not None:
            self._decoder = zlib.decompressobj(31 if "gzip" in self._encoding else 15)

    def _too_large(self) -> NoReturn:
        raise ResponseFormatError(
            f"the answer from {self.host} is larger than {self.limit // 1024} KiB "
            "(after decompression); a token response is a few KiB: check the endpoint URL"
        )

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            self._too_large()
        self._chunks.append(data)

    def feed(self, raw: bytes) -> None:
        """Add raw (possibly compressed) bytes; ResponseFormatError once over the limit."""
        if self._decoder is None:
            self._keep(raw)
            return
        data = raw
        while data:
            try:
                out = self._decoder.decompress(data, self.limit - self._size + 1)
            except zlib.error as exc:
                if self._encoding == "deflate" and self._size == 0 and not self._chunks:
                    self._decoder = zlib.decompressobj(-15)
                    self._encoding = "raw deflate"
                    continue
                raise ResponseFormatError(
                    f"the {self._encoding} body from {self.host} is corrupt: {exc}"
                ) from None
            self._keep(out)
            data = self._decoder.unconsumed_tail
            if self._decoder.eof:
                break

    def finish(self) -> bytes:
        """The whole decoded body."""
        return b"".join(self._chunks)


# -- parsing a response -----------------------------------------------------------------------

_KNOWN_FIELDS = frozenset(
    {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}
)
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")
# Linear-time HTML stripping: a hostile page of unclosed '<', '<script' or '<!--' must not cost
# quadratic time (a backtracking '.*?' per opener would scan to the end from each one).
_BLOCK_RE = re.compile(r"<(script|style)\b|<!--", re.IGNORECASE)
_BLOCK_END = {"script": "</script", "style": "</style"}
_TAG_RE = re.compile(r"<[^<>]*>")
_EXCERPT = 200


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) in seconds from ``now``: delta-seconds or an HTTP-date.

    None when absent or unreadable; never negative.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # str.isdigit() alone admits '¹' and other digits
        return float(min(int(text), 10**9))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT (RFC 9110 §5.6.7)
        return None
    return max(0.0, when.timestamp() - now)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _looks_html(content_type: str, body: bytes) -> bool:
    if "html" in content_type:
        return True
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<title"))


def _strip_blocks(text: str) -> str:
    """``text`` without its script/style blocks and comments (an unclosed one runs to the end)."""
    lower, kept, at = text.lower(), [], 0
    while (match := _BLOCK_RE.search(text, at)) is not None:
        kept.append(text[at:match.start()])
        name = match.group(1)
        closer = "-->" if name is None else _BLOCK_END[name.lower()]
        end = lower.find(closer, match.end())
        if end < 0:
            return " ".join(kept)
        at = end + len(closer)
        if name is not None:
            close = lower.find(">", at)
            at = len(text) if close < 0 else close + 1
    kept.append(text[at:])
    return " ".join(kept)


def _html_excerpt(body: bytes) -> str:
    text = _TAG_RE.sub(" ", _strip_blocks(_text(body[:64 * 1024])))
    text = " ".join(html.unescape(text).split())
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT].rstrip() + "…"
    return redact(text)


def _decode(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The response as a dict (JSON object or form-encoded), or None when it is neither."""
    is_form = FORM_CONTENT_TYPE in content_type
    if not is_form:
        try:
            value = json.loads(body.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        if value is not None or "json" in content_type:
            return None
    # GitHub-style servers answer form-encoded (sometimes labelled text/plain).
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return None
    if not pairs or any(not k or any(c in k for c in " \r\n<>{}") for k, _ in pairs):
        return None
    return dict(pairs)


def _opt_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def _scope(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return " ".join(value) or None  # some servers send scope as a JSON array
    return None


def _expires_at(value: Any, now: float, host: str) -> float | None:
    if value is None or value == "":
        return None
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # json.loads gives ints of any size
            seconds = None
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            seconds = None
    if seconds is None or not math.isfinite(seconds):
        raise ResponseFormatError(
            f"{host} sent expires_in={str(value)[:40]!r}; RFC 6749 §5.1 makes it a number of "
            "seconds"
        )
    return now + max(0.0, min(seconds, 10.0**10))


def _error_from(
    status: int, data: Mapping[str, Any], body: bytes, retry_after: float | None
) -> TokenEndpointError:
    error = _opt_text(data, "error")
    cls = error_class_for(status, error)
    # Servers echo what they refused (an assertion, a secret) into these fields.
    description, uri = _opt_text(data, "error_description"), _opt_text(data, "error_uri")
    return cls(
        status,
        error=None if error is None else redact(error),
        error_description=None if description is None else redact(description),
        error_uri=None if uri is None else redact(uri),
        body=_text(body),
        retry_after=retry_after,
    )


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def parse_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    previous_refresh_token: str | None = None,
    host: str = "the token endpoint",
) -> Token:
    """Read a token endpoint's answer: a :class:`Token`, or a typed error.

    - 2xx with ``access_token`` (RFC 6749 §5.1): ``expires_at = now + expires_in`` (a string
      ``"3600"`` is accepted), the old refresh token is kept when none comes back (§6), every
      unknown field goes to ``Token.extra``. A form-encoded body is read as well as JSON.
    - An ``error`` member (§5.2), even in a 200, or a 4xx/5xx: the :class:`TokenEndpointError`
      subclass for its code (``Retry-After`` kept as ``retry_after``).
    - 3xx: :class:`UnexpectedRedirect` naming the Location host (redirects are never followed).
    - HTML, an unreadable body, a body over 1 MiB, or an ``access_token`` that is missing, empty,
      not a string or not usable in an ``Authorization`` header: :class:`ResponseFormatError`.
    """
    h = _lower(headers)
    if 300 <= status < 400:
        location = h.get("location")
        target = _host_of(location) or ("a relative URL" if location else "nowhere (no Location)")
        raise UnexpectedRedirect(
            f"{host} answered {status}, a redirect to {target}; token requests never follow "
            "redirects (a redirect would carry the credentials elsewhere): configure the final "
            "token endpoint URL",
            status=status,
        )
    if len(body) > MAX_RESPONSE_BYTES:
        raise ResponseFormatError(
            f"the answer from {host} is larger than {MAX_RESPONSE_BYTES // 1024} KiB",
            status=status,
        )
    content_type = h.get("content-type", "").lower()
    retry_after = parse_retry_after(h.get("retry-after"), now=now)
    if _looks_html(content_type, body) and not body.lstrip().startswith(b"{"):
        raise ResponseFormatError(
            f"{host} answered HTML with status {status}, not a token response: "
            f'"{_html_excerpt(body)}". Check the token endpoint URL (a login page or a proxy '
            "answered) and the server's status.",
            status=status,
        )
    data = _decode(content_type, body)
    if data is None:
        if status >= 400:
            raise _error_from(status, {}, body, retry_after)
        what = "an empty body" if not body.strip() else "a body that is neither JSON nor a form"
        raise ResponseFormatError(
            f"{host} answered {status} with {what}; a token response is a JSON object "
            "(RFC 6749 §5.1)",
            status=status,
        )
    if "error" in data or status >= 400:
        raise _error_from(status, data, body, retry_after)
    if not 200 <= status < 300:
        raise ResponseFormatError(f"{host} answered an unexpected status {status}", status=status)
    return _token(data, now=now, previous_refresh_token=previous_refresh_token, host=host)


def _token(
    data: Mapping[str, Any], *, now: float, previous_refresh_token: str | None, host: str
) -> Token:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        fields = ", ".join(sorted(str(k)[:40] for k in data)[:20]) or "none"
        problem = "no access_token" if access is None else "an empty or non-string access_token"
        raise ResponseFormatError(
            f"{host} answered with {problem} (fields: {fields}); RFC 6749 §5.1 requires one"
        )
    if not _HEADER_SAFE.match(access):
        raise ResponseFormatError(
            f"{host} sent an access_token with spaces, control characters (such as CR/LF) or "
            "non-ASCII characters; it cannot be sent in an Authorization header (RFC 6750 §2.1)"
        )
    token_type = data.get("token_type")
    if token_type is None or token_type == "":
        token_type = "Bearer"  # RFC 6749 requires it, but some servers leave it out
    if not isinstance(token_type, str) or not _HEADER_SAFE.match(token_type):
        raise ResponseFormatError(f"{host} sent an unusable token_type")
    refresh = _opt_text(data, "refresh_token") or previous_refresh_token
    extra = {k: v for k, v in data.items() if k not in _KNOWN_FIELDS}
    return Token(
        access_token=access,
        token_type=token_type,
        expires_at=_expires_at(data.get("expires_in"), now, host),
        scope=_scope(data.get("scope")),
        refresh_token=refresh,
        id_token=_opt_text(data, "id_token"),
        issued_at=now,
        extra=MappingProxyType(extra),
    )


# -- retries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When to send a token request again, and after how long.

    Retried: 5xx and ``server_error``/``temporarily_unavailable`` answers, 429 (after
    ``Retry-After``, RFC 6585 §4 / RFC 9110 §10.2.3, when it is at most ``max_retry_after``;
    a longer wait is left to the caller as :class:`RateLimited` with ``retry_after``),
    connection errors and timeouts. Never retried: the RFC 6749 §5.2 errors such as
    ``invalid_grant`` or ``invalid_client``, which a second identical try would only repeat.
    Backoff is exponential with full jitter, capped at ``max_delay``; ``attempts`` counts the
    first try. The client signs a new assertion for every attempt.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    """Returns a float in [0, 1); injected by tests."""

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or (
            self.attempts < 1
        ):
            raise ConfigurationError(f"attempts is a whole number >= 1, not {self.attempts!r}")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigurationError(f"{name} is a number of seconds >= 0, not {value!r}")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retry."""
        return cls(attempts=1)

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 60))
        return self.jitter() * ceiling

    def delay_for(
        self,
        attempt: int,
        *,
        status: int | None = None,
        retry_after: str | float | None = None,
        exception: BaseException | None = None,
        now: float,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        ``attempt`` is the number of attempts made so far; ``status`` the HTTP status of the
        failed answer, ``retry_after`` its ``Retry-After`` (header text or seconds),
        ``exception`` the error it raised.
        """
        if attempt >= self.attempts:
            return None
        if isinstance(exception, TokenEndpointError):
            status = exception.status if status is None else status
            if retry_after is None:
                retry_after = exception.retry_after
        elif isinstance(exception, ResponseFormatError) and status is None:
            status = exception.status
        retryable_code = isinstance(exception, TokenEndpointError) and exception.error in (
            "server_error",
            "temporarily_unavailable",
        )
        if isinstance(exception, TransportError):
            return self.backoff(attempt)
        if isinstance(exception, ResponseFormatError) and (status is None or status < 500):
            return None  # a broken success answer (or a redirect) will not mend itself
        if not (retryable_code or status == 429 or (status is not None and status >= 500)):
            return None
        wait = (
            parse_retry_after(retry_after, now=now)
            if isinstance(retry_after, str)
            else retry_after
        )
        if wait is None:
            return self.backoff(attempt)
        if wait > self.max_retry_after:
            return None
        return max(0.0, float(wait))
