"""Fuzz: the reference server's form, header and assertion handling, core and ASGI app.

The core must answer every input with a JSON response (never raise), refuse with an RFC 6749
error code, and issue a token only for a request that earns one; the ASGI app must answer every
scope with exactly one response, whatever the headers, chunks and methods.
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fuzzkeys import KEYS
from fuzzkit import FUZZ, b64ish, json_text, json_values, survive
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer import JWTBearerError
from jwtbearer.jose.jws import sign_compact
from jwtbearer.server.app import app_for
from jwtbearer.server.auth import _basic_parts
from jwtbearer.server.config import parse_config
from jwtbearer.server.core import CLIENT_ASSERTION_TYPE, Response, TokenEndpoint
from jwtbearer.server.forms import parse_form
from jwtbearer.server.registry import JWT_BEARER
from jwtbearer.server.validation import Refusal

ISSUER = "https://as.example.com"
SECRET = "p@ss:word/with&odd=chars+"
_CODES = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
          "unsupported_grant_type", "invalid_scope", "invalid_target", "server_error",
          "temporarily_unavailable"}


def _endpoint() -> TokenEndpoint:
    config = parse_config({
        "issuer": ISSUER, "state_dir": tempfile.mkdtemp(prefix="jwtbearer-fuzz-"),
        "clients": [
            {"client_id": "basic", "token_endpoint_auth_method": "client_secret_basic",
             "client_secret": SECRET, "grant_types": ["client_credentials"], "scopes": ["a"]},
            {"client_id": "pk", "token_endpoint_auth_method": "private_key_jwt",
             "jwks": {"keys": [KEYS["ES256"].public_jwk()]},
             "grant_types": ["client_credentials", JWT_BEARER], "subjects": ["alice"]},
            {"client_id": "sf", "token_endpoint_auth_method": "none",
             "jwks": {"keys": [KEYS["RS256"].public_jwk()]}, "grant_types": [JWT_BEARER],
             "subjects": ["*"], "audiences": ["https://api.example.com"]},
        ],
    }, base=Path(tempfile.gettempdir()), source="fuzz.toml")
    return TokenEndpoint(config)


ENDPOINT = _endpoint()
APP = app_for(ENDPOINT)

_NAMES = ["grant_type", "client_id", "client_secret", "scope", "assertion", "client_assertion",
          "client_assertion_type", "audience", "resource", "code", "refresh_token"]
_VALUES = st.one_of(
    st.sampled_from(["client_credentials", JWT_BEARER, CLIENT_ASSERTION_TYPE, "basic", "pk",
                     "sf", "a", "a b", "https://api.example.com", ""]),
    st.text(max_size=60), b64ish,
)


@st.composite
def assertions(draw: st.DrawFn) -> str:
    """Signed by a registered key (so the claim checks run), with hostile claims."""
    claims = draw(st.fixed_dictionaries({}, optional={
        "iss": st.one_of(st.sampled_from(["sf", "pk", "basic"]), json_values),
        "sub": st.one_of(st.sampled_from(["alice", "sf", "pk"]), json_values),
        "aud": st.one_of(st.sampled_from([ISSUER, f"{ISSUER}/token", [ISSUER]]), json_values),
        "exp": st.one_of(st.integers(1_700_000_000, 2_100_000_000), json_values),
        "nbf": json_values, "iat": json_values, "jti": st.one_of(st.uuids().map(str),
                                                                  json_values),
    }))
    headers = draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["kid", "crit", "b64", "zip", "cty", "x5c", "jku", "typ"]),
        json_values, max_size=2)))
    key = KEYS[draw(st.sampled_from(["RS256", "ES256", "HS256"]))]
    payload = json_text(claims).encode()  # NaN and Infinity as Python writes them, too
    try:
        return sign_compact(payload, key, headers=headers)
    except JWTBearerError:  # a header the signer itself refuses: the plain header then
        return sign_compact(payload, key)


@st.composite
def forms(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["fields", "assertion", "raw", "encoded"]))
    if kind == "raw":
        return draw(st.binary(max_size=2000))
    fields = draw(st.lists(st.tuples(st.one_of(st.sampled_from(_NAMES), st.text(max_size=12)),
                                     _VALUES), max_size=8))
    if draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), ("client_secret", SECRET))
    if kind == "assertion":
        name = draw(st.sampled_from(["assertion", "client_assertion"]))
        fields = [("grant_type", JWT_BEARER), *fields, (name, draw(assertions()))]
    if kind == "encoded":
        return "&".join(f"{quote(k, safe=draw(st.sampled_from(['', '%+=&'])))}="
                        f"{quote(v, safe='')}" for k, v in fields).encode()
    return urlencode(fields).encode()


def _basic_header(draw: st.DrawFn) -> str:
    user = draw(st.one_of(st.sampled_from(["basic", "pk", "sf"]), st.text(max_size=20)))
    password = draw(st.one_of(st.just(SECRET), st.text(max_size=30)))
    raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
    scheme = draw(st.sampled_from(["Basic ", "basic ", "BASIC  ", "Bearer ", "", "Basic"]))
    return scheme + base64.b64encode(raw).decode()


@st.composite
def header_maps(draw: st.DrawFn) -> dict[str, str]:
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["content-type"] = draw(st.one_of(st.sampled_from([
            "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8",
            "APPLICATION/X-WWW-FORM-URLENCODED", "application/json", "multipart/form-data", ""]),
            st.text(max_size=40)))
    if draw(st.booleans()):
        headers["authorization"] = draw(st.one_of(
            st.sampled_from(["", "Basic", "Basic !!", "Basic =", "Bearer x"]),
            st.text(max_size=80)))
        if draw(st.booleans()):
            headers["authorization"] = _basic_header(draw)
    return headers


@FUZZ
@given(body=forms(), headers=header_maps())
def test_token_endpoint_answers_every_request(body: bytes, headers: dict[str, str]) -> None:
    answer = survive("server_token", lambda: ENDPOINT.token(body, headers), allowed=())
    assert isinstance(answer, Response)
    payload = answer.json_bytes()
    assert isinstance(payload, bytes)
    if answer.status == 200:
        assert "access_token" in answer.body
    else:
        assert answer.status in (400, 401, 413, 415, 503)
        assert answer.body["error"] in _CODES
        assert SECRET not in payload.decode()


@FUZZ
@given(body=st.one_of(forms(), st.binary(max_size=500)))
def test_form_parser(body: bytes) -> None:
    form = survive("server_form", lambda: parse_form(body), allowed=(Refusal,))
    if isinstance(form, dict):
        assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in form.items())


@FUZZ
@given(header=st.one_of(st.text(max_size=200), st.text(max_size=60).map(
    lambda t: "Basic " + base64.b64encode(t.encode("utf-8", "surrogatepass")).decode())))
def test_basic_header_parser(header: str) -> None:
    result = survive("server_basic", lambda: _basic_parts(header), allowed=(Refusal,))
    if isinstance(result, Refusal):
        assert result.status == 401 and SECRET not in result.description


_RAW_HEADER_NAMES = [b"authorization", b"content-type", b"content-length", b"host",
                     b"transfer-encoding", b"x-forwarded-for"]


@st.composite
def asgi_requests(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    headers = draw(st.lists(st.tuples(
        st.one_of(st.sampled_from(_RAW_HEADER_NAMES), st.binary(max_size=12)),
        st.one_of(st.sampled_from([b"application/x-www-form-urlencoded", b"12", b"-1",
                                   b"99999999999999999999", b"Basic YmFzaWM6eA=="]),
                  st.binary(max_size=60))), max_size=6))
    scope = {"type": "http", "method": draw(st.sampled_from(
        ["POST", "GET", "HEAD", "PUT", "OPTIONS", "DELETE", "PoSt"])),
        "path": draw(st.sampled_from(["/token", "/jwks", "/healthz",
                                      "/.well-known/oauth-authorization-server", "/", "/x"])),
        "headers": headers}
    chunks = draw(st.lists(st.binary(max_size=30_000), min_size=1, max_size=4))
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    if draw(st.booleans()) and len(messages) > 1:
        messages[-1] = {"type": "http.disconnect"}
    return scope, messages


@FUZZ
@given(request=asgi_requests())
def test_asgi_app_answers_every_scope(request: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    scope, messages = request
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    survive("server_asgi", lambda: asyncio.run(APP(scope, receive, send)), allowed=())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert 200 <= sent[0]["status"] < 600
