"""Token exchange (RFC 8693), client side: the request form, the answer (issued_token_type,
token_type N_A), errors, and a round trip over HTTP to a loopback stand-in endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

import anyio
import pytest

import jwtbearer as jb
from jwtbearer.errors import InvalidTarget
from jwtbearer.oauth import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from jwtbearer.testing import MockAnswer, MockTokenEndpoint

URL = "https://sts.example.com/token"
SUBJECT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def test_the_form_carries_every_field_given() -> None:
    grant = jb.TokenExchange(SUBJECT, JWT_TOKEN_TYPE, actor_token="actor.tok.en",
                             actor_token_type=ACCESS_TOKEN_TYPE,
                             requested_token_type=ACCESS_TOKEN_TYPE,
                             audience="orders", resource="https://orders.example.com/api",
                             scope=["orders:read", "orders:write"])
    assert grant.form(URL, now=0) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": SUBJECT,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "actor_token": "actor.tok.en",
        "actor_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "orders",
        "resource": "https://orders.example.com/api",
        "scope": "orders:read orders:write",
    }
    minimal = jb.TokenExchange("opaque-token", ACCESS_TOKEN_TYPE).form(URL, now=0)
    assert set(minimal) == {"grant_type", "subject_token", "subject_token_type"}


def test_tokens_never_show_in_repr_nor_in_cache_keys() -> None:
    grant = jb.TokenExchange("opaque-secret-token", ACCESS_TOKEN_TYPE,
                             actor_token="actor-secret", actor_token_type=ACCESS_TOKEN_TYPE)
    assert "secret" not in repr(grant)
    identity = grant.cache_identity()
    assert "secret" not in json.dumps(identity)
    other = jb.TokenExchange("another-token", ACCESS_TOKEN_TYPE).cache_identity()
    assert identity["subject"] != other["subject"]  # different subjects, different tokens


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"subject_token": ""}, "subject_token must be"),
    ({"subject_token": "Bearer abc"}, "whitespace"),
    ({"subject_token_type": "access_token"}, "token type URI"),
    ({"actor_token": "a.b.c"}, "needs actor_token_type"),
    ({"actor_token_type": ACCESS_TOKEN_TYPE}, "without actor_token"),
    ({"requested_token_type": "jwt"}, "token type URI"),
    ({"resource": "orders"}, "absolute URI"),
    ({"resource": "https://a.example/#x"}, "absolute URI"),
    ({"audience": ["a", "b"]}, "one value"),
])
def test_bad_requests_are_refused_before_sending(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"subject_token": SUBJECT,
                                 "subject_token_type": JWT_TOKEN_TYPE, **kwargs}
    with pytest.raises(jb.ConfigurationError, match=message):
        jb.TokenExchange(**arguments)


def test_issued_token_type_and_n_a() -> None:
    mock = MockTokenEndpoint()
    mock.respond(MockAnswer.token("new-access", extra={"issued_token_type": ACCESS_TOKEN_TYPE}))
    mock.respond(MockAnswer.token("an.id.token", token_type="N_A", expires_in=None,
                                  extra={"issued_token_type": ID_TOKEN_TYPE}))
    with mock.install():
        client = jb.TokenClient(URL, auth=jb.ClientSecretBasic("svc", "secret"))
        token = client.token_exchange(SUBJECT, JWT_TOKEN_TYPE, audience="orders")
        assert token.issued_token_type == ACCESS_TOKEN_TYPE
        assert token.authorization == "Bearer new-access"
        other = client.token_exchange(SUBJECT, JWT_TOKEN_TYPE,
                                      requested_token_type=ID_TOKEN_TYPE)
    assert other.token_type == "N_A" and other.issued_token_type == ID_TOKEN_TYPE
    assert other.access_token == "an.id.token"
    with pytest.raises(jb.ConfigurationError, match="not an access token"):
        other.authorization  # noqa: B018
    assert mock.requests[0].form["audience"] == "orders"
    assert mock.requests[0].grant_type == TOKEN_EXCHANGE_GRANT
    assert jb.Token(access_token="x").issued_token_type is None  # other grants


def test_invalid_target_is_typed() -> None:
    mock = MockTokenEndpoint()
    mock.respond(MockAnswer.error("invalid_target", "audience not allowed"))
    with mock.install(), pytest.raises(InvalidTarget):
        jb.TokenClient(URL).token_exchange(SUBJECT, JWT_TOKEN_TYPE, audience="elsewhere")


class StandIn(BaseHTTPRequestHandler):
    """Answers as RFC 8693 §2.2 describes; refuses what §2.1 forbids."""

    seen: ClassVar[list[dict[str, list[str]]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        StandIn.seen.append(form)
        well_formed = form.get("grant_type") == [TOKEN_EXCHANGE_GRANT] and (
            "subject_token" in form and "subject_token_type" in form
        ) and ("actor_token" in form) == ("actor_token_type" in form)
        if not well_formed:
            status, body = 400, {"error": "invalid_request"}
        else:
            status, body = 200, {"access_token": "exchanged-1", "token_type": "Bearer",
                                 "expires_in": 60, "issued_token_type": ACCESS_TOKEN_TYPE}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_over_http_sync_and_async(stand_in: str) -> None:
    StandIn.seen.clear()
    client = jb.TokenClient(stand_in, auth=jb.ClientSecretPost("svc", "s3cret"))
    token = client.token_exchange(SUBJECT, JWT_TOKEN_TYPE, actor_token="act.or.tok",
                                  actor_token_type=JWT_TOKEN_TYPE, scope="orders:read")
    assert token.access_token == "exchanged-1" and token.issued_token_type == ACCESS_TOKEN_TYPE

    async def main() -> jb.Token:
        async with jb.AsyncTokenClient(stand_in) as client:
            return await client.token_exchange(SUBJECT, ACCESS_TOKEN_TYPE)

    assert anyio.run(main).issued_token_type == ACCESS_TOKEN_TYPE
    assert StandIn.seen[0]["actor_token_type"] == [JWT_TOKEN_TYPE]
    assert StandIn.seen[0]["client_id"] == ["svc"] and StandIn.seen[0]["scope"] == ["orders:read"]
    assert StandIn.seen[1]["subject_token_type"] == [ACCESS_TOKEN_TYPE]


def test_cached_exchanges_are_kept_apart_by_subject() -> None:
    mock = MockTokenEndpoint()
    with mock.install():
        client = jb.TokenClient(URL)
        first = jb.CachedSource(client.source(jb.TokenExchange("subject-a", JWT_TOKEN_TYPE)))
        second = jb.CachedSource(client.source(jb.TokenExchange("subject-b", JWT_TOKEN_TYPE)))
        assert first.token().access_token != second.token().access_token
        assert first.token().access_token == first.token().access_token
    assert len(mock.requests) == 2
