"""What people paste into ``jwtbearer explain``, read into an error answer's fields.

A bare JSON or form body; ``Error 400: {...}`` (Apex's JWTBearerTokenExchangeException and
our TokenEndpointError); our CLI's ``error: ...`` / ``hint: ...`` lines; an HTML page (its
title, its text and the status it names, e.g. Spring's "Whitelabel Error Page"); an exception
as simple-salesforce (``Authentication failed (code: invalid_grant): ...``), Authlib
(``invalid_grant: description``) or requests-oauth2client (the description alone, or
``InvalidGrant: description`` in a traceback) print it.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ..errors import redact

__all__ = ["Pasted", "read_pasted"]

MAX_BODY = 64 * 1024

_BARE_CODE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")  # invalid_grant
_ERROR_N = re.compile(r"^(?:Error|HTTP(?: error)?|status)\s*(\d{3})\s*[:\-]?\s*", re.I)
_STATUS_PREFIX = re.compile(r"^(\d{3})\s*:\s*")
_SIMPLE_SF = re.compile(r"^Authentication failed \(code:\s*([^)]*)\):\s*", re.I)
_CODE_COLON = re.compile(r"^([a-z]+(?:_[a-z]+)+|[A-Z]+(?:_[A-Z]+)+)\s*:\s*(.*)$", re.S)
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Z][A-Za-z0-9]+)\s*:\s*(.*)$", re.S)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_HTML_STATUS = (
    re.compile(r"status\s*[=:]\s*(\d{3})", re.I),
    re.compile(r"HTTP Status\s*(\d{3})", re.I),
    re.compile(r"^\s*(\d{3})\b"),
)
_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.I | re.S)
_EXCEPTION_WORDS = ("Error", "Exception", "Failed", "Denied")
_OUR_NOISE = ("hint:", "run `jwtbearer explain`", "set jwtbearer_debug")


@dataclass(slots=True)
class Pasted:
    """The error answer found in pasted text: its fields, the status when the text names one,
    and for an HTML page its title and text."""

    fields: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    html_title: str | None = None
    html_text: str | None = None
    text: str = ""


def _camel_to_code(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start:end + 1])
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _html(text: str, pasted: Pasted) -> None:
    title = _TITLE.search(text)
    body = html.unescape(_TAGS.sub(" ", text))
    body = " ".join(body.split())
    pasted.html_title = " ".join(html.unescape(title.group(1)).split()) if title else None
    pasted.html_text = redact(body[:300]) if body else None
    if pasted.status is None:
        for pattern in _HTML_STATUS:
            for candidate in (pasted.html_title or "", body):
                found = pattern.search(candidate)
                if found and 100 <= int(found.group(1)) <= 599:
                    pasted.status = int(found.group(1))
                    return


def _strip_ours(text: str) -> str:
    """Our CLI's own lines: drop ``hint:`` and the like, and the ``error:`` prefix."""
    lines = [line for line in text.splitlines()
             if not line.strip().lower().startswith(_OUR_NOISE)]
    text = "\n".join(lines).strip()
    if text.lower().startswith("error:"):
        text = text[len("error:"):].strip()
    return text


def read_pasted(body: str) -> Pasted:
    """Read ``body`` (anything a user pastes) into the fields of an error answer."""
    text = body[:MAX_BODY]
    pasted = Pasted(text=text)
    rest = _strip_ours(text.strip().strip("'\"").strip())
    lowered = rest.lower()
    if "<html" in lowered or "<!doctype" in lowered or "<body" in lowered:
        found = _ERROR_N.match(rest)
        if found:
            pasted.status = int(found.group(1))
        _html(rest, pasted)
        return pasted
    for _ in range(3):  # prefixes nest: "error: Error 400: InvalidGrant: ..."
        found = _ERROR_N.match(rest) or _STATUS_PREFIX.match(rest)
        if found:
            pasted.status = int(found.group(1))
            rest = rest[found.end():].strip()
            continue
        found = _SIMPLE_SF.match(rest)
        if found:
            code = found.group(1).strip()
            if code and code.lower() != "none":
                pasted.fields["error"] = code
            rest = rest[found.end():].strip()
            break
        found = _EXCEPTION.match(rest)
        if found:
            name = found.group(1)
            code = _camel_to_code(name)
            if _BARE_CODE.match(code) and not name.endswith(_EXCEPTION_WORDS):
                pasted.fields.setdefault("error", code)
            elif not name.endswith(_EXCEPTION_WORDS):
                break  # "Authentication failure: ..." is a description, not a class name
            rest = found.group(2).strip()
            continue
        break
    data = _json_object(rest) if rest.lstrip().startswith("{") else None
    if data is not None:
        pasted.fields.update(data)
        return pasted
    if pasted.status is not None and "\n" in rest:
        # "Error 400: invalid_grant" then the hint line TokenEndpointError adds.
        rest = rest.splitlines()[0].strip()
    first = rest.splitlines()[0].strip() if rest else ""
    if _BARE_CODE.match(first) and first == rest:
        pasted.fields.setdefault("error", first)
        return pasted
    if "=" in first and "<" not in first and " " not in first:
        pairs = dict(parse_qsl(first))
        if "error" in pairs or "access_token" in pairs:
            pasted.fields.update(pairs)
            return pasted
    found = _CODE_COLON.match(rest)
    if found and "error" not in pasted.fields:
        pasted.fields["error"] = found.group(1)
        rest = found.group(2).strip()
    if rest:
        pasted.fields.setdefault("error_description", rest)
    return pasted

