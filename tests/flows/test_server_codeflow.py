"""authorization_code (+PKCE) and refresh_token against the real server on loopback: the
PingOne-shaped flow of our own TokenClient, the authorization endpoint's refusals, rotation
and family revocation, codes and refresh tokens kept in a real Redis, and a 413 read in full
by a real client over a real socket."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from server_craft import REDIRECT_URI, SUBJECT, FlowServer

import jwtbearer as jb
from jwtbearer.jose import load_jwks
from jwtbearer.jose.jws import verify_compact
from jwtbearer.server.app import serve_config

pytestmark = pytest.mark.flow


def authorize(server: FlowServer, **params: str) -> httpx.Response:
    query = {"response_type": "code", "redirect_uri": REDIRECT_URI, **params}
    return httpx.get(server.url + "/authorize", params=query, timeout=10.0)


def redirected(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_for(server: FlowServer, client_id: str, pkce: jb.PKCE | None, **params: str) -> str:
    extra = {"code_challenge": pkce.challenge, "code_challenge_method": "S256"} if pkce else {}
    answer = redirected(authorize(server, client_id=client_id, state="xyz", **extra, **params))
    assert answer["state"] == "xyz" and answer["iss"] == server.url
    return answer["code"]


def web_client(server: FlowServer) -> jb.TokenClient:
    return jb.TokenClient(server.token_url, auth=jb.ClientSecretJWT("web", server.secrets["web"]))


def test_pingone_shaped_flow_authorize_code_client_secret_jwt_refresh(
        token_server: FlowServer) -> None:
    pkce = jb.PKCE.generate()
    code = code_for(token_server, "web", pkce, scope="openid api:read", nonce="n-0S6")
    with web_client(token_server) as client:
        token = client.authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)
        assert token.scope == "openid api:read"
        assert token.refresh_token and token.id_token
        keys = load_jwks(httpx.get(token_server.url + "/jwks", timeout=10.0).text)
        id_claims = verify_compact(token.id_token, keys).claims()
        assert id_claims["aud"] == "web" and id_claims["sub"] == "tester@example.com"
        assert id_claims["nonce"] == "n-0S6" and id_claims["iss"] == token_server.url
        access = verify_compact(token.access_token, keys).claims()
        assert access["sub"] == "tester@example.com" and access["client_id"] == "web"

        refreshed = client.refresh(token.refresh_token, scope="api:read")
        assert refreshed.scope == "api:read"
        assert refreshed.refresh_token and refreshed.refresh_token != token.refresh_token
        again = client.refresh(refreshed.refresh_token)  # rotation keeps the granted scope
        assert again.scope == "openid api:read" and again.id_token

        # A spent refresh token presented again revokes the family: the newest one too.
        with pytest.raises(jb.InvalidGrant, match="already used"):
            client.refresh(token.refresh_token)
        assert again.refresh_token is not None
        with pytest.raises(jb.InvalidGrant, match="revoked"):
            client.refresh(again.refresh_token)


def test_a_code_is_redeemed_once_and_its_reuse_revokes_the_tokens(
        token_server: FlowServer) -> None:
    pkce = jb.PKCE.generate()
    code = code_for(token_server, "web", pkce)
    with web_client(token_server) as client:
        token = client.authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)
        with pytest.raises(jb.InvalidGrant, match="already used"):
            client.authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)
        assert token.refresh_token is not None
        with pytest.raises(jb.InvalidGrant, match="revoked"):
            client.refresh(token.refresh_token)


@pytest.mark.parametrize(("case", "match"), [
    ("wrong_verifier", "does not match"),
    ("missing_verifier", "code_verifier is missing"),
    ("other_redirect_uri", "redirect_uri"),
    ("other_client", "another client"),
])
def test_code_exchange_refusals(token_server: FlowServer, case: str, match: str) -> None:
    pkce = jb.PKCE.generate()
    code = code_for(token_server, "web", pkce)
    verifier: str | None = pkce.verifier
    redirect = REDIRECT_URI
    client = web_client(token_server)
    if case == "wrong_verifier":
        verifier = jb.PKCE.generate().verifier
    elif case == "missing_verifier":
        verifier = None
    elif case == "other_redirect_uri":
        redirect = "http://127.0.0.1:9/other"
    else:
        client = jb.TokenClient(token_server.token_url, auth=jb.NoClientAuth("spa"))
    with client, pytest.raises(jb.InvalidGrant, match=match):
        client.authorization_code(code, redirect, code_verifier=verifier)


def test_public_client_needs_pkce_and_gets_tokens_with_it(token_server: FlowServer) -> None:
    refused = redirected(authorize(token_server, client_id="spa", state="s"))
    assert refused["error"] == "invalid_request" and "PKCE" in refused["error_description"]
    plain = redirected(authorize(token_server, client_id="spa", code_challenge="a" * 43,
                                 code_challenge_method="plain"))
    assert plain["error"] == "invalid_request"
    pkce = jb.PKCE.generate()
    code = code_for(token_server, "spa", pkce, login_hint=SUBJECT)
    with pytest.raises(jb.InvalidClient):  # a public client with a secret it does not have
        jb.TokenClient(token_server.token_url, auth=jb.ClientSecretPost("spa", "x" * 32)
                       ).authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)
    code = code_for(token_server, "spa", pkce, login_hint=SUBJECT)
    with jb.TokenClient(token_server.token_url, auth=jb.NoClientAuth("spa")) as client:
        token = client.authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)
    assert token.refresh_token and token.id_token is None


def test_authorization_endpoint_refusals(token_server: FlowServer) -> None:
    # Never a redirect to an unregistered URI, nor for an unknown client (open redirector).
    for params in ({"client_id": "web", "redirect_uri": "https://evil.example/cb"},
                   {"client_id": "nobody"}):
        response = authorize(token_server, **params)
        assert response.status_code == 400 and "location" not in response.headers
        assert response.json()["error"] == "invalid_request"
    denied = redirected(authorize(token_server, client_id="web", login_hint="mallory"))
    assert denied["error"] == "access_denied"
    scope = redirected(authorize(token_server, client_id="web", scope="admin"))
    assert scope["error"] == "invalid_scope"
    unauthorized = httpx.get(token_server.url + "/authorize", timeout=10.0, params={
        "client_id": "pkjwt", "response_type": "code"})
    assert unauthorized.status_code == 400  # pkjwt has no redirect URIs at all
    no_code = redirected(authorize(token_server, client_id="web", response_type="token"))
    assert no_code["error"] == "unsupported_response_type"


def test_confidential_client_must_authenticate_for_the_code(token_server: FlowServer) -> None:
    pkce = jb.PKCE.generate()
    code = code_for(token_server, "web", pkce)
    with jb.TokenClient(token_server.token_url, auth=jb.NoClientAuth("web")) as client, \
            pytest.raises(jb.InvalidClient, match="client_secret_jwt, not none"):
        client.authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)


def test_metadata_lists_the_authorization_endpoint_and_grants(token_server: FlowServer) -> None:
    meta = httpx.get(token_server.url + "/.well-known/oauth-authorization-server",
                     timeout=10.0).json()
    assert meta["authorization_endpoint"] == token_server.url + "/authorize"
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    oidc = httpx.get(token_server.url + "/.well-known/openid-configuration", timeout=10.0)
    assert oidc.json() == meta


def _config(issuer: str, redis_url: str, secret: str) -> str:
    return f"""
issuer = "{issuer}"
state_dir = "state"
replay = "{redis_url}"
test_user = "tester@example.com"

[[clients]]
client_id = "web"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{secret}"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT_URI}"]
scopes = ["api:read"]
"""


@pytest.mark.redis
def test_codes_and_refresh_tokens_live_in_redis(tmp_path: Path, redis_url: str) -> None:
    import redis

    # A database of its own: the session's Redis is shared with the replay-cache tests.
    redis_url = redis_url.rsplit("/", 1)[0] + "/7"
    secret = "s3cr3t+/with:odd%chars"
    server, _ = serve_config(lambda url: _config(url, redis_url, secret), tmp_path / "s.toml")
    with server:
        pkce = jb.PKCE.generate()
        location = httpx.get(server.url + "/authorize", timeout=10.0, params={
            "response_type": "code", "client_id": "web", "code_challenge": pkce.challenge,
            "code_challenge_method": "S256"}).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        r = redis.Redis.from_url(redis_url)
        before = set(r.keys("jwtbearer:grant:code:*"))
        assert before
        with jb.TokenClient(server.url + "/token",
                            auth=jb.ClientSecretBasic("web", secret)) as client:
            token = client.authorization_code(code, REDIRECT_URI, code_verifier=pkce.verifier)
            assert token.refresh_token is not None
            assert r.keys("jwtbearer:grant:rt:*")
            rotated = client.refresh(token.refresh_token)
            with pytest.raises(jb.InvalidGrant, match="already used"):
                client.refresh(token.refresh_token)
            assert r.keys("jwtbearer:grant:family:*")
            assert rotated.refresh_token is not None
            with pytest.raises(jb.InvalidGrant, match="revoked"):
                client.refresh(rotated.refresh_token)
        r.flushdb()
        r.close()


def _post_raw(url: str, body: bytes) -> bytes:
    """POST ``body`` in full over a plain socket, then read until the server closes."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10.0) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        received = b""
        for _ in range(10_000):  # bounded; a reset or a timeout raises
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
    raise AssertionError("the server never closed the connection")


@pytest.mark.parametrize("size", [200 * 1024, 3 * 1024 * 1024])
def test_a_body_over_the_cap_gets_its_413_read_then_a_graceful_close(
        token_server: FlowServer, size: int) -> None:
    body = b"grant_type=client_credentials&pad=" + b"a" * size
    received = _post_raw(token_server.url, body)  # EOF, not ECONNRESET nor a timeout
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"connection: close" in head.lower()
    assert b'"error":"invalid_request"' in payload
    # And through real HTTP clients, which send the whole body before reading.
    response = httpx.post(token_server.token_url, content=body, timeout=10.0,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and response.json()["error"] == "invalid_request"
    chunked = httpx.post(token_server.token_url, timeout=10.0,
                         content=iter([b"grant_type=x&pad="] + [b"a" * 8192] * (size // 8192)),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413


def test_a_body_past_the_drain_limit_still_gets_its_413(token_server: FlowServer) -> None:
    import requests

    body = b"a" * (9 * 1024 * 1024)
    response = requests.post(token_server.token_url, data=body, timeout=30.0,
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_a_client_waiting_for_100_continue_gets_the_413_before_sending(
        token_server: FlowServer) -> None:
    parts = urlsplit(token_server.url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10.0) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 10000000\r\n\r\n")
        received = b""
        for _ in range(1000):  # bounded; the server closes after the answer
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"100 Continue" not in received


def test_the_authorization_endpoint_is_get_only(token_server: FlowServer) -> None:
    response = httpx.post(token_server.url + "/authorize", timeout=10.0)
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")
