"""The RFC 6750 answers of the integrations, called directly (the served versions are in
tests/flows/test_validation_flows.py): challenges, 400 for a malformed header, 503 without keys."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

import jwtbearer as jb
from jwtbearer.integrations import challenge
from jwtbearer.integrations.asgi import BearerAuthMiddleware as ASGIMiddleware
from jwtbearer.integrations.wsgi import BearerAuthMiddleware as WSGIMiddleware
from jwtbearer.jose import sign_compact

ISS, AUD = "https://issuer.example.com", "https://api.example.com"


@pytest.fixture(scope="module")
def key() -> jb.SigningKey:
    return jb.SigningKey.generate("ES256", kid="k")


def good(key: jb.SigningKey, **extra: Any) -> str:
    now = int(time.time())
    return sign_compact({"iss": ISS, "aud": AUD, "exp": now + 60, "scope": "a", **extra}, key)


def call_wsgi(app: Any, authorization: str | None, path: str = "/") -> tuple[str, dict[str, str],
                                                                             bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["jwtbearer.jwt"].claims["iss"].encode() if "jwtbearer.jwt" in environ
            else b"open"]


def test_challenge_values_are_quoted_safely() -> None:
    value = challenge(realm="api", error="invalid_token", description='bad "x" \\ é')
    assert value == 'Bearer realm="api", error="invalid_token", error_description="bad \'x\' / ?"'
    assert challenge() == "Bearer"


def test_wsgi_middleware_answers(key: jb.SigningKey) -> None:
    v = jb.JWTValidator(issuer=ISS, audience=AUD, keys=[key])
    app = WSGIMiddleware(inner, v, scopes=["a"], realm="api", exempt=["/health"])
    assert call_wsgi(app, f"Bearer {good(key)}")[2] == ISS.encode()
    assert call_wsgi(app, None, "/health")[2] == b"open"
    status, headers, _ = call_wsgi(app, None)
    assert status.startswith("401") and headers["WWW-Authenticate"] == 'Bearer realm="api"'
    status, headers, _ = call_wsgi(app, "Basic dXNlcjpwYXNz")
    assert status.startswith("401") and "error=" not in headers["WWW-Authenticate"]
    status, headers, _ = call_wsgi(app, "Bearer a b")
    assert status.startswith("400") and 'error="invalid_request"' in headers["WWW-Authenticate"]
    status, headers, _ = call_wsgi(app, f"Bearer {good(key, exp=1)}")
    assert status.startswith("401") and "expired" in headers["WWW-Authenticate"]
    status, headers, _ = call_wsgi(app, f"Bearer {good(key, scope='b')}")
    assert status.startswith("403") and 'scope="a"' in headers["WWW-Authenticate"]


def test_no_keys_at_all_is_503_not_401(key: jb.SigningKey) -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    v = jb.JWTValidator(issuer=ISS, audience=AUD, jwks_uri=f"http://127.0.0.1:{port}/jwks")
    status, headers, body = call_wsgi(WSGIMiddleware(inner, v), f"Bearer {good(key)}")
    assert status.startswith("503") and "WWW-Authenticate" not in headers
    assert b"unavailable" in body


def test_asgi_middleware_answers(key: jb.SigningKey) -> None:
    v = jb.JWTValidator(issuer=ISS, audience=AUD, keys=[key])
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["state"]["jwt"].claims["iss"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def run(authorization: str | None) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        headers = [] if authorization is None else [(b"authorization", authorization.encode())]
        await ASGIMiddleware(app, v)({"type": "http", "path": "/", "headers": headers},
                                     receive, send)
        return sent

    ok = anyio.run(run, f"Bearer {good(key)}")
    assert ok[0]["status"] == 204 and reached == [ISS]
    refused = anyio.run(run, "Bearer nope")
    assert refused[0]["status"] == 401
    assert (b"www-authenticate", b'Bearer error="invalid_token", error_description='
            b'"a compact JWS has 3 dot-separated parts, this one has 1"') in refused[0]["headers"]
