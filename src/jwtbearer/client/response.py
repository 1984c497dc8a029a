"""Reading a token endpoint's answer, tolerantly and in one place (RFC 6749 §5.1/§5.2).

Real servers answer in many shapes: ``expires_in`` as a string, errors with status 200, form
bodies, HTML error pages, ``Retry-After`` as seconds or an HTTP date. :func:`parse_token_response`
turns every one of them into a :class:`~jwtbearer.token.Token` or a typed error from
:mod:`jwtbearer.errors`; it is pure (the time is passed in), so both clients share it.
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import (
    ResponseFormatError,
    TokenEndpointError,
    UnexpectedRedirect,
    error_class_for,
    redact,
)
from ..token import Token

__all__ = ["FORM_CONTENT_TYPE", "MAX_RESPONSE_BYTES", "parse_retry_after", "parse_token_response"]

#: Largest token response body read, counted after decompression (a token answer is < 10 KiB).
MAX_RESPONSE_BYTES = 1024 * 1024

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

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


def _html_excerpt(body: bytes, secrets: frozenset[str]) -> str:
    text = _TAG_RE.sub(" ", _strip_blocks(_text(body[:64 * 1024])))
    # Redacted before the cut, so no secret is left half-shown at the end of the excerpt.
    text = redact(" ".join(html.unescape(text).split()), secrets)
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT].rstrip() + "…"
    return text


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


def _expires_at(value: Any, now: float, host: str, secrets: frozenset[str]) -> float | None:
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
            f"{host} sent expires_in={redact(str(value), secrets)[:40]!r}; RFC 6749 §5.1 makes "
            "it a number of seconds", secrets=secrets,
        )
    return now + max(0.0, min(seconds, 10.0**10))


def _error_from(
    status: int, data: Mapping[str, Any], body: bytes, retry_after: float | None,
    secrets: frozenset[str],
) -> TokenEndpointError:
    error = _opt_text(data, "error")
    cls = error_class_for(status, error)
    # Servers echo what they refused (an assertion, a secret) into these fields: the error
    # redacts each of them, by value (``secrets``) and by pattern.
    return cls(
        status,
        error=error,
        error_description=_opt_text(data, "error_description"),
        error_uri=_opt_text(data, "error_uri"),
        body=_text(body),
        retry_after=retry_after,
        secrets=secrets,
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
    secrets: Iterable[str] = (),
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

    ``secrets`` are the values the request carried (:attr:`TokenRequest.secrets`): no error
    holds one of them, nor a token of the answer itself, even when the server echoes it.
    """
    known = frozenset(secrets)
    h = _lower(headers)
    if 300 <= status < 400:
        location = h.get("location")
        target = _host_of(location) or ("a relative URL" if location else "nowhere (no Location)")
        raise UnexpectedRedirect(
            f"{host} answered {status}, a redirect to {target}; token requests never follow "
            "redirects (a redirect would carry the credentials elsewhere): configure the final "
            "token endpoint URL",
            status=status, secrets=known,
        )
    if len(body) > MAX_RESPONSE_BYTES:
        raise ResponseFormatError(
            f"the answer from {host} is larger than {MAX_RESPONSE_BYTES // 1024} KiB",
            status=status, secrets=known,
        )
    content_type = h.get("content-type", "").lower()
    retry_after = parse_retry_after(h.get("retry-after"), now=now)
    if _looks_html(content_type, body) and not body.lstrip().startswith(b"{"):
        raise ResponseFormatError(
            f"{host} answered HTML with status {status}, not a token response: "
            f'"{_html_excerpt(body, known)}". Check the token endpoint URL (a login page or a '
            "proxy answered) and the server's status.",
            status=status, secrets=known,
        )
    data = _decode(content_type, body)
    if data is None:
        if status >= 400:
            raise _error_from(status, {}, body, retry_after, known)
        what = "an empty body" if not body.strip() else "a body that is neither JSON nor a form"
        raise ResponseFormatError(
            f"{host} answered {status} with {what}; a token response is a JSON object "
            "(RFC 6749 §5.1)",
            status=status, secrets=known,
        )
    if "error" in data or status >= 400:
        raise _error_from(status, data, body, retry_after, known)
    if not 200 <= status < 300:
        raise ResponseFormatError(f"{host} answered an unexpected status {status}", status=status,
                                  secrets=known)
    # The tokens of a broken answer are secrets too: none goes into its error.
    known |= {v for k in ("access_token", "refresh_token", "id_token")
              if isinstance(v := data.get(k), str) and v}
    return _token(data, now=now, previous_refresh_token=previous_refresh_token, host=host,
                  secrets=known)


def _token(
    data: Mapping[str, Any], *, now: float, previous_refresh_token: str | None, host: str,
    secrets: frozenset[str],
) -> Token:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        fields = ", ".join(sorted(redact(str(k), secrets)[:40] for k in data)[:20]) or "none"
        problem = "no access_token" if access is None else "an empty or non-string access_token"
        raise ResponseFormatError(
            f"{host} answered with {problem} (fields: {fields}); RFC 6749 §5.1 requires one",
            secrets=secrets,
        )
    if not _HEADER_SAFE.match(access):
        raise ResponseFormatError(
            f"{host} sent an access_token with spaces, control characters (such as CR/LF) or "
            "non-ASCII characters; it cannot be sent in an Authorization header (RFC 6750 §2.1)",
            secrets=secrets,
        )
    token_type = data.get("token_type")
    if token_type is None or token_type == "":
        token_type = "Bearer"  # RFC 6749 requires it, but some servers leave it out
    if not isinstance(token_type, str) or not _HEADER_SAFE.match(token_type):
        raise ResponseFormatError(f"{host} sent an unusable token_type", secrets=secrets)
    refresh = _opt_text(data, "refresh_token") or previous_refresh_token
    extra = {k: v for k, v in data.items() if k not in _KNOWN_FIELDS}
    return Token(
        access_token=access,
        token_type=token_type,
        expires_at=_expires_at(data.get("expires_in"), now, host, secrets),
        scope=_scope(data.get("scope")),
        refresh_token=refresh,
        id_token=_opt_text(data, "id_token"),
        issued_at=now,
        extra=MappingProxyType(extra),
    )


# -- retries ----------------------------------------------------------------------------------
