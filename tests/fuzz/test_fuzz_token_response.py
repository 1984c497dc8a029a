"""Fuzz: the client's token-response parser (RFC 6749 §5.1/§5.2) on hostile answers."""

from __future__ import annotations

from urllib.parse import urlencode

from fuzzkit import FUZZ, json_text, json_values, survive
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer import Token
from jwtbearer.client.protocol import parse_token_response

_FIELDS = ["access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token",
           "error", "error_description", "error_uri", "issued_at", "instance_url"]
_VALUES = st.one_of(json_values, st.sampled_from(
    ["at-1", "Bearer", "invalid_grant", "3600", " 60 ", "9" * 400, "-5", "NaN", "a\r\nb",
     "tok\u00e9n", "<html>", "x" * 5000]))
_CONTENT_TYPES = st.one_of(st.sampled_from([
    "application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
    "text/html", "text/plain", "text/javascript", "application/problem+json", "", "json",
]), st.text(max_size=40))

answers = st.fixed_dictionaries({}, optional={name: _VALUES for name in _FIELDS})


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "form", "html", "bytes", "nested"]))
    if kind == "json":
        return json_text(draw(answers)).encode()
    if kind == "form":
        fields = draw(answers)
        return urlencode({k: str(v) for k, v in fields.items()}).encode()
    if kind == "html":
        inner = draw(st.text(max_size=300))
        return (f"<html><head><title>{inner}</title><script>{inner}</script></head><body>"
                f"{inner}<p>{draw(st.text(max_size=100))}</body></html>").encode()
    if kind == "nested":
        return ("[" * draw(st.integers(0, 3000)) + "{}").encode()
    return draw(st.binary(max_size=3000))


headers = st.dictionaries(
    st.sampled_from(["content-type", "Content-Type", "retry-after", "Retry-After", "location",
                     "content-encoding", "www-authenticate"]),
    st.one_of(_CONTENT_TYPES, st.text(max_size=60), st.integers(-10, 10**12).map(str)),
    max_size=5,
)
statuses = st.one_of(st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500,
                                      502, 503]), st.integers(100, 599))


@FUZZ
@given(status=statuses, head=headers, body=bodies(), now=st.floats(0, 2e9))
def test_token_response_parser(status: int, head: dict[str, str], body: bytes,
                               now: float) -> None:
    result = survive("token_response", lambda: parse_token_response(status, head, body, now=now))
    if isinstance(result, Token):
        assert 200 <= status < 300
        assert isinstance(result.access_token, str) and result.access_token
        # The repr shows token_type, scope and expiry; an access token that is short, or that
        # is also one of those values, can appear there by coincidence.
        shown = f"{result.token_type} {result.scope} {result.expires_at} {result.issued_at}"
        if len(result.access_token) >= 8 and result.access_token not in shown:
            assert result.access_token not in repr(result)
            assert result.access_token not in str(result)
    else:
        assert result.__traceback__ is not None
