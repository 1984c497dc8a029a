"""application/x-www-form-urlencoded bodies and query strings, read strictly.

Shared by the token endpoint (the POST body, RFC 6749 §3.2) and the authorization endpoint (the
query string, RFC 6749 §3.1): ASCII on the wire, UTF-8 once decoded, every field ``name=value``,
no name twice, a bounded number of fields.
"""

from __future__ import annotations

from urllib.parse import quote_plus, unquote_plus

from ..oauth import CLIENT_ASSERTION_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT
from .validation import Refusal

__all__ = ["MAX_FIELDS", "parse_form"]

MAX_FIELDS = 32
# Values every request of a grant carries, decoded once here rather than on each request.
_KNOWN_VALUES = {quote_plus(v): v for v in (
    JWT_BEARER_GRANT, CLIENT_ASSERTION_TYPE, TOKEN_EXCHANGE_GRANT)}


def _unquote(text: str) -> str:
    # unquote_plus only when needed: most names and assertions hold neither '%' nor '+'.
    if "%" not in text and "+" not in text:
        return text
    known = _KNOWN_VALUES.get(text)
    return known if known is not None else unquote_plus(text, errors="strict")


def parse_form(body: bytes, *, what: str = "form body") -> dict[str, str]:
    """The fields of ``body``; a parameter sent without a value is treated as omitted (RFC 6749
    §3.2). ``what`` names the body in errors ("form body", "query")."""
    if not body:
        return {}
    try:
        parts = body.decode("ascii").split("&")
    except UnicodeDecodeError:
        raise Refusal("invalid_request", f"{what} is not valid UTF-8 percent-encoding") from None
    if len(parts) > MAX_FIELDS:
        raise Refusal("invalid_request", f"{what} is malformed: over {MAX_FIELDS} fields")
    form: dict[str, str] = {}
    seen: set[str] = set()
    for number, part in enumerate(parts, 1):
        raw_name, eq, raw_value = part.partition("=")
        if not eq or not raw_name:
            # The field itself is never echoed: it may be the tail of a secret that held an
            # unencoded '&' (RFC 6749 Appendix B), and this message is logged and sent back.
            raise Refusal("invalid_request",
                          f"{what} is malformed: field {number} is not name=value; "
                          "percent-encode '&', '=' and '+' inside values")
        try:
            name, value = _unquote(raw_name), _unquote(raw_value)
        except UnicodeDecodeError:
            raise Refusal("invalid_request",
                          f"{what} is not valid UTF-8 percent-encoding") from None
        if name in seen:
            raise Refusal("invalid_request", f"parameter {name[:40]!r} is repeated (RFC 6749 §3.2)")
        seen.add(name)
        if value:
            form[name] = value
    return form
