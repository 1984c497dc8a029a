"""The sans-I/O core: building token requests and reading answers (RFC 6749 §5.1/§5.2)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jwtbearer as jb
from jwtbearer.client.protocol import MAX_RESPONSE_BYTES, BodyReader
from jwtbearer.errors import InvalidRequest, RateLimited, ServerError, UnexpectedRedirect

ENDPOINT = "https://auth.example.com/oauth2/token"
NOW = 1_800_000_000.0
JSON = {"Content-Type": "application/json"}


def parse(status: int, body: Any, headers: dict[str, str] | None = None,
          previous: str | None = None) -> jb.Token:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return jb.client.protocol.parse_token_response(
        status, headers if headers is not None else JSON, raw, now=NOW,
        previous_refresh_token=previous)


# -- building ----------------------------------------------------------------------------------


def test_request_has_accept_json_and_form_content_type() -> None:
    request = jb.client.protocol.build_token_request(
        ENDPOINT, jb.ClientCredentials(scope="api"), jb.ClientSecretBasic("app", "pw"), now=NOW
    )
    assert request.url == ENDPOINT
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.form == {"grant_type": "client_credentials", "scope": "api"}
    assert request.body == b"grant_type=client_credentials&scope=api"


def test_request_merges_auth_fields_and_hides_secrets_in_repr() -> None:
    request = jb.client.protocol.build_token_request(
        ENDPOINT, jb.RefreshToken("rt-123456"), jb.ClientSecretPost("app", "pw-98765"), now=NOW
    )
    assert request.form["client_secret"] == "pw-98765"
    assert request.form["refresh_token"] == "rt-123456"
    text = repr(request)
    assert "pw-98765" not in text and "rt-123456" not in text and "client_id" in text


@dataclass(frozen=True)
class _GrantWithClientId:
    grant_type: str = "custom"

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        return {"grant_type": self.grant_type, "client_id": "other"}

    def cache_identity(self) -> dict[str, str | None]:
        return {"grant_type": self.grant_type}


def test_grant_and_auth_fields_may_not_collide() -> None:
    with pytest.raises(jb.ConfigurationError, match="client_id"):
        jb.client.protocol.build_token_request(ENDPOINT, _GrantWithClientId(),
                                               jb.NoClientAuth("app"), now=NOW)


# -- successful answers -------------------------------------------------------------------------


def test_a_plain_json_token() -> None:
    token = parse(200, {"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
                        "scope": "api", "id_token": "idt"})
    assert token.access_token == "at"
    assert token.expires_at == NOW + 3600
    assert token.issued_at == NOW
    assert token.scope == "api" and token.id_token == "idt"
    assert dict(token.extra) == {}


def test_expires_in_as_a_string_and_unknown_fields_in_extra() -> None:
    token = parse(200, {"access_token": "at", "expires_in": "1799",
                        "instance_url": "https://na1.salesforce.com", "issued_at": "1700000000000",
                        "signature": "sig"})
    assert token.expires_at == NOW + 1799
    assert token.extra["instance_url"] == "https://na1.salesforce.com"
    assert token.extra["issued_at"] == "1700000000000"
    assert token.token_type == "Bearer"  # missing token_type: Bearer
    assert token.expires_in(NOW) == 1799


def test_form_encoded_answers_are_read() -> None:
    body = b"access_token=gho_abc&scope=repo%2Cgist&token_type=bearer&expires_in=28800"
    token = parse(200, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert token.access_token == "gho_abc"
    assert token.scope == "repo,gist"
    assert token.expires_at == NOW + 28800
    assert token.authorization == "Bearer gho_abc"


def test_form_encoded_without_content_type_is_read() -> None:
    assert parse(200, b"access_token=xyz&token_type=bearer", {}).access_token == "xyz"


def test_no_expires_in_means_unknown_expiry() -> None:
    assert parse(200, {"access_token": "at"}).expires_at is None


def test_scope_as_a_list_is_joined() -> None:
    assert parse(200, {"access_token": "at", "scope": ["a", "b"]}).scope == "a b"


def test_old_refresh_token_is_kept_when_none_comes_back() -> None:
    assert parse(200, {"access_token": "at"}, previous="rt-old").refresh_token == "rt-old"
    rotated = parse(200, {"access_token": "at", "refresh_token": "rt-new"}, previous="rt-old")
    assert rotated.refresh_token == "rt-new"


def test_json_with_a_wrong_content_type_is_still_json() -> None:
    token = parse(200, b'{"access_token":"at"}', {"Content-Type": "text/html"})
    assert token.access_token == "at"


# -- unusable answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "access_token",
    [None, "", 42, ["a"], "a\r\nSet-Cookie: x=1", "tab\there", "nul\x00", "bell\x07",
     "caf\u00e9", "two words"],
)
def test_unusable_access_tokens_are_refused(access_token: Any) -> None:
    body: dict[str, Any] = {"token_type": "Bearer"}
    if access_token is not None:
        body["access_token"] = access_token
    with pytest.raises(jb.ResponseFormatError) as info:
        parse(200, body)
    if isinstance(access_token, str) and access_token:
        assert access_token not in str(info.value)


@pytest.mark.parametrize("expires_in", ["soon", "NaN", "inf", [1], {"a": 1}])
def test_unreadable_expires_in_is_refused(expires_in: Any) -> None:
    with pytest.raises(jb.ResponseFormatError, match="expires_in"):
        parse(200, {"access_token": "at", "expires_in": expires_in})


def test_negative_expires_in_means_already_expired() -> None:
    assert parse(200, {"access_token": "at", "expires_in": -5}).expires_at == NOW


@pytest.mark.parametrize("body", [b"", b"   ", b"[1,2]", b'"text"', b"not json at all",
                                  b"\xff\xfe\x00garbage"])
def test_non_token_bodies_with_200_are_format_errors(body: bytes) -> None:
    with pytest.raises(jb.ResponseFormatError):
        parse(200, body)


WHITELABEL = (
    b"<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit mapping for "
    b"/error, so you are seeing this as a fallback.</p><div>There was an unexpected error "
    b"(type=Unauthorized, status=401).</div></body></html>"
)
MAINTENANCE = (
    b"<!DOCTYPE html>\n<html><head><title>Salesforce - Maintenance</title><style>body{color:red}"
    b"</style></head><body><div class='msg'>Salesforce is down for maintenance &amp; will be "
    b"back shortly.</div></body></html>"
)


def test_html_401_names_status_and_gives_a_text_excerpt() -> None:
    with pytest.raises(jb.ResponseFormatError) as info:
        parse(401, WHITELABEL, {"Content-Type": "text/html;charset=UTF-8"})
    text = str(info.value)
    assert "answered HTML with status 401" in text
    assert "Whitelabel Error Page This application has no explicit mapping" in text
    assert "<" not in text.split("status 401")[1].split("Check")[0]
    assert info.value.status == 401


def test_html_maintenance_page_without_content_type() -> None:
    with pytest.raises(jb.ResponseFormatError) as info:
        parse(503, MAINTENANCE, {})
    text = str(info.value)
    assert "status 503" in text
    assert "Salesforce - Maintenance Salesforce is down for maintenance & will be back" in text
    assert "color:red" not in text


def test_html_excerpt_is_short() -> None:
    page = b"<html><body>" + b"word " * 5000 + b"</body></html>"
    with pytest.raises(jb.ResponseFormatError) as info:
        parse(500, page, {"Content-Type": "text/html"})
    assert len(str(info.value)) < 500


# -- error answers ------------------------------------------------------------------------------


def test_invalid_grant_becomes_its_class_with_every_field() -> None:
    body = {"error": "invalid_grant", "error_description": "user hasn't approved this consumer",
            "error_uri": "https://docs/errors"}
    with pytest.raises(jb.InvalidGrant) as info:
        parse(400, body)
    err = info.value
    assert (err.status, err.error, err.error_uri) == (400, "invalid_grant", "https://docs/errors")
    assert err.error_description == "user hasn't approved this consumer"
    assert str(err).startswith('Error 400: {"error": "invalid_grant"')
    assert isinstance(err, jb.JWTBearerTokenExchangeException)


def test_an_error_inside_a_200_is_an_error() -> None:
    with pytest.raises(jb.InvalidClient) as info:
        parse(200, {"error": "invalid_client", "access_token": "ignored"})
    assert info.value.status == 200


def test_github_style_form_error() -> None:
    body = b"error=bad_verification_code&error_description=The+code+is+incorrect"
    with pytest.raises(jb.TokenEndpointError) as info:
        parse(200, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert info.value.error == "bad_verification_code"
    assert info.value.error_description == "The code is incorrect"


@pytest.mark.parametrize(("status", "cls"), [(401, jb.TokenEndpointError), (500, ServerError),
                                              (502, ServerError), (429, RateLimited)])
def test_plain_text_errors_by_status(status: int, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        parse(status, b"Bad Gateway", {"Content-Type": "text/plain"})
    assert str(info.value).startswith(f"Error {status}: Bad Gateway")


def test_429_keeps_retry_after_seconds_and_dates() -> None:
    with pytest.raises(RateLimited) as info:
        parse(429, {"error": "rate_limited"}, {"Retry-After": "7"})
    assert info.value.retry_after == 7
    date = "Fri, 15 Jan 2027 08:00:30 GMT"
    import email.utils
    when = email.utils.parsedate_to_datetime(date).timestamp()
    with pytest.raises(RateLimited) as info:
        jb.client.protocol.parse_token_response(429, {"retry-after": date}, b"{}", now=when - 30)
    assert info.value.retry_after == 30


@pytest.mark.parametrize(("location", "named"), [
    ("https://evil.example.net/x", "evil.example.net"),
    ("/login", "a relative URL"),
    (None, "no Location"),
])
def test_redirects_name_the_location_host(location: str | None, named: str) -> None:
    headers = {} if location is None else {"Location": location}
    with pytest.raises(UnexpectedRedirect) as info:
        parse(302, b"", headers)
    assert named in str(info.value)
    assert info.value.status == 302


def test_bodies_over_one_mebibyte_are_refused() -> None:
    with pytest.raises(jb.ResponseFormatError, match="larger than 1024 KiB"):
        parse(200, b" " * (MAX_RESPONSE_BYTES + 1))


def test_secrets_in_error_bodies_are_redacted() -> None:
    body = {"error": "invalid_request", "client_secret": "hunter2-secret",
            "access_token": "at-leaked-value"}
    with pytest.raises(InvalidRequest) as info:
        parse(400, body)
    assert "hunter2-secret" not in str(info.value) and "at-leaked-value" not in str(info.value)


# -- the bounded body reader --------------------------------------------------------------------


def test_body_reader_stops_a_gzip_bomb_at_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (20 * MAX_RESPONSE_BYTES))
    reader = BodyReader("gzip", host="h")
    with pytest.raises(jb.ResponseFormatError, match="after decompression"):
        for start in range(0, len(bomb), 4096):
            reader.feed(bomb[start:start + 4096])


def test_body_reader_refuses_unknown_encodings_and_corrupt_gzip() -> None:
    with pytest.raises(jb.ResponseFormatError, match="br"):
        BodyReader("br", host="h")
    with pytest.raises(jb.ResponseFormatError, match="corrupt"):
        BodyReader("gzip", host="h").feed(b"definitely not gzip")


def test_body_reader_refuses_a_large_content_length_up_front() -> None:
    with pytest.raises(jb.ResponseFormatError):
        BodyReader(None, host="h", content_length=str(MAX_RESPONSE_BYTES + 1))


# -- arbitrary input: a Token or a jwtbearer error, nothing else --------------------------------

_content_types = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "text/html", "text/plain", "",
    "application/json; charset=utf-8",
])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_token_like = st.fixed_dictionaries(
    {},
    optional={
        "access_token": _json_values, "token_type": _json_values, "expires_in": _json_values,
        "scope": _json_values, "refresh_token": _json_values, "error": _json_values,
        "error_description": _json_values, "id_token": _json_values,
    },
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _token_like.map(lambda d: json.dumps(d).encode()),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode()
    ),
    st.text(max_size=200).map(lambda t: f"<html><body>{t}</body></html>".encode()),
)
_headers = st.fixed_dictionaries(
    {"Content-Type": _content_types},
    optional={"Retry-After": st.text(max_size=40), "Location": st.text(max_size=40)},
)


@settings(max_examples=400, deadline=None)
@given(status=st.integers(min_value=100, max_value=599), headers=_headers, body=_bodies,
       previous=st.none() | st.text(min_size=1, max_size=10))
def test_any_answer_gives_a_token_or_a_jwtbearer_error(
    status: int, headers: dict[str, str], body: bytes, previous: str | None
) -> None:
    try:
        token = jb.client.protocol.parse_token_response(status, headers, body, now=NOW,
                                        previous_refresh_token=previous)
    except jb.JWTBearerError as exc:
        assert str(exc)
        return
    assert 200 <= status < 300
    assert token.access_token and token.access_token.isascii()
    assert token.authorization.startswith(token.token_type if token.token_type.lower()
                                          != "bearer" else "Bearer")
    assert token.expires_at is None or token.expires_at >= NOW


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=60))
def test_any_retry_after_is_a_delay_or_none(value: str) -> None:
    delay = jb.client.protocol.parse_retry_after(value, now=NOW)
    assert delay is None or delay >= 0
