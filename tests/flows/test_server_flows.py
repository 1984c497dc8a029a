"""Every grant and client authentication of the client library against the reference server
under uvicorn, sync and async; access tokens checked with PyJWT and joserfc as oracles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from server_craft import API, SUBJECT, FlowServer

import jwtbearer as jb
from jwtbearer.errors import InvalidScope, InvalidTarget, UnauthorizedClient

pytestmark = [
    pytest.mark.flow,
    # joserfc prefers the RFC 9864 name Ed25519; EdDSA is what RFC 8037 and RFC 9068 peers use.
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated"),
]

MODES = ("sync", "async")


def fetch(server: FlowServer, mode: str, auth: Any, call: str, *args: Any,
          **kwargs: Any) -> jb.Token:
    """Run ``client.<call>(*args, **kwargs)`` on a TokenClient or an AsyncTokenClient."""
    if mode == "sync":
        with jb.TokenClient(server.token_url, auth=auth) as client:
            result: jb.Token = getattr(client, call)(*args, **kwargs)
            return result

    async def run() -> jb.Token:
        async with jb.AsyncTokenClient(server.token_url, auth=auth) as client:
            result: jb.Token = await getattr(client, call)(*args, **kwargs)
            return result

    return asyncio.run(run())


def claims_by_pyjwt(server: FlowServer, token: str, audience: str) -> dict[str, Any]:
    jwks = pyjwt.PyJWKSet.from_json(httpx.get(server.url + "/jwks").text)
    header = pyjwt.get_unverified_header(token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = pyjwt.decode(token, key.key, algorithms=["EdDSA"], audience=audience,
                                          issuer=server.url)
    assert header["typ"] == "at+jwt"  # RFC 9068 §2.1
    return claims


def claims_by_joserfc(server: FlowServer, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(server.url + "/jwks").json())
    decoded = jose_jwt.decode(token, keys, algorithms=["EdDSA"])
    return dict(decoded.claims)


AUTHS: dict[str, Callable[[FlowServer], Any]] = {
    "client_secret_basic": lambda s: jb.ClientSecretBasic("basic", s.secrets["basic"]),
    "client_secret_post": lambda s: jb.ClientSecretPost("post", s.secrets["post"]),
    "client_secret_jwt": lambda s: jb.ClientSecretJWT("hs", s.secrets["hs"]),
    "private_key_jwt_rsa": lambda s: jb.PrivateKeyJWT("pkjwt", s.rsa),
    "private_key_jwt_ec": lambda s: jb.PrivateKeyJWT("ec-pkjwt", s.ec),
    "private_key_jwt_aud_issuer": lambda s: jb.PrivateKeyJWT("pkjwt", s.rsa, audience=s.url),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", sorted(AUTHS))
def test_client_credentials_every_client_authentication(token_server: FlowServer, mode: str,
                                                        method: str) -> None:
    auth = AUTHS[method](token_server)
    before = time.time()
    token = fetch(token_server, mode, auth, "client_credentials", scope="api:read")
    assert token.token_type == "Bearer"
    assert token.scope == "api:read"
    assert token.expires_at is not None and before + 590 <= token.expires_at <= time.time() + 610
    claims = claims_by_pyjwt(token_server, token.access_token, token_server.url)
    assert claims["sub"] == claims["client_id"] == auth.client_id
    assert claims["scope"] == "api:read"
    assert claims["exp"] - claims["iat"] == 600
    assert claims_by_joserfc(token_server, token.access_token)["jti"] == claims["jti"]
    # Salesforce-like fields (instance_url configured) land in Token.extra.
    assert token.extra["instance_url"] == "https://example.my.salesforce.com"
    assert int(token.extra["issued_at"]) // 1000 == claims["iat"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("param", ["audience", "resource"])
def test_client_credentials_audience_and_default_scope(token_server: FlowServer, mode: str,
                                                       param: str) -> None:
    auth = jb.PrivateKeyJWT("pkjwt", token_server.rsa)
    token = fetch(token_server, mode, auth, "client_credentials", **{param: API})
    claims = claims_by_pyjwt(token_server, token.access_token, API)
    assert claims["aud"] == API
    assert token.scope == claims["scope"] == "api:read api:write"  # every registered scope


BEARER_AUTHS: dict[str, Callable[[FlowServer], tuple[Any, str, jb.SigningKey]]] = {
    "none_salesforce_shape": lambda s: (jb.NoClientAuth(), "sf", s.rsa),
    "none_with_client_id": lambda s: (jb.NoClientAuth("sf"), "sf", s.rsa),
    "private_key_jwt": lambda s: (jb.PrivateKeyJWT("pkjwt", s.rsa), "pkjwt", s.rsa),
    "client_secret_basic": lambda s: (jb.ClientSecretBasic("basic", s.secrets["basic"]), "basic",
                                      s.rsa),
    "client_secret_jwt_hmac_assertion": lambda s: (
        jb.ClientSecretJWT("hs", s.secrets["hs"]), "hs",
        jb.SigningKey.from_secret(s.secrets["hs"])),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", sorted(BEARER_AUTHS))
def test_jwt_bearer_grant_every_client_authentication(token_server: FlowServer, mode: str,
                                                      method: str) -> None:
    auth, client_id, key = BEARER_AUTHS[method](token_server)
    assertion = jb.JWT(iss=client_id, sub=SUBJECT, aud=token_server.url)
    token = fetch(token_server, mode, auth, "jwt_bearer", assertion, key)
    claims = claims_by_pyjwt(token_server, token.access_token, token_server.url)
    assert (claims["sub"], claims["client_id"]) == (SUBJECT, client_id)


@pytest.mark.parametrize("mode", MODES)
def test_jwt_bearer_default_audience_is_the_token_endpoint(token_server: FlowServer,
                                                           mode: str) -> None:
    assertion = jb.JWT(iss="sf", sub=SUBJECT)  # aud None: the client uses the endpoint URL
    token = fetch(token_server, mode, jb.NoClientAuth(), "jwt_bearer", assertion, token_server.rsa,
                  scope="api")
    assert token.scope == "api"


def test_apex_exchange_against_the_server(token_server: FlowServer) -> None:
    jws = jb.JWS(jb.JWT(iss="sf", sub=SUBJECT, aud=token_server.url), token_server.rsa)
    exchange = jb.JWTBearerTokenExchange(token_server.token_url, jws)
    access_token = exchange.get_access_token()
    assert claims_by_pyjwt(token_server, access_token, token_server.url)["sub"] == SUBJECT
    response = exchange.get_http_response()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


ERRORS: dict[str, tuple[type[Exception], Callable[[FlowServer], tuple[Any, str, tuple[Any, ...],
                                                                       dict[str, Any]]]]] = {
    "wrong_secret": (jb.InvalidClient, lambda s: (
        jb.ClientSecretBasic("basic", "wrong"), "client_credentials", (), {})),
    "unknown_client": (jb.InvalidClient, lambda s: (
        jb.ClientSecretPost("ghost", "x" * 20), "client_credentials", (), {})),
    "method_not_registered": (jb.InvalidClient, lambda s: (
        jb.ClientSecretPost("basic", s.secrets["basic"]), "client_credentials", (), {})),
    "scope_not_registered": (InvalidScope, lambda s: (
        jb.ClientSecretPost("post", s.secrets["post"]), "client_credentials", ("admin",), {})),
    "audience_not_registered": (InvalidTarget, lambda s: (
        jb.ClientSecretPost("post", s.secrets["post"]), "client_credentials", (),
        {"audience": "https://other.example.com"})),
    "bearer_not_registered": (UnauthorizedClient, lambda s: (
        jb.PrivateKeyJWT("cc-only", s.rsa), "jwt_bearer",
        (jb.JWT(iss="cc-only", sub=SUBJECT), s.rsa), {})),
    "client_credentials_without_auth": (jb.InvalidClient, lambda s: (
        jb.NoClientAuth("sf"), "client_credentials", (), {})),
    "strict_client_unauthenticated": (jb.InvalidClient, lambda s: (
        jb.NoClientAuth(), "jwt_bearer", (jb.JWT(iss="strict", sub=SUBJECT), s.rsa), {})),
    "assertion_iss_not_the_client": (jb.InvalidGrant, lambda s: (
        jb.PrivateKeyJWT("pkjwt", s.rsa), "jwt_bearer", (jb.JWT(iss="sf", sub=SUBJECT), s.rsa),
        {})),
    "subject_not_approved": (jb.InvalidGrant, lambda s: (
        jb.NoClientAuth(), "jwt_bearer", (jb.JWT(iss="sf", sub="mallory"), s.rsa), {})),
    "authorization_code_not_registered": (UnauthorizedClient, lambda s: (
        jb.ClientSecretPost("post", s.secrets["post"]), "authorization_code",
        ("code", "https://app.example.com/cb"), {})),
    "refresh_not_registered": (UnauthorizedClient, lambda s: (
        jb.ClientSecretPost("post", s.secrets["post"]), "refresh", ("rt",), {})),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_refusals_arrive_as_typed_errors(token_server: FlowServer, mode: str, case: str) -> None:
    expected, build = ERRORS[case]
    auth, call, args, kwargs = build(token_server)
    with pytest.raises(expected) as info:
        fetch(token_server, mode, auth, call, *args, **kwargs)
    assert isinstance(info.value, jb.TokenEndpointError)
    assert info.value.error_description
    if case == "subject_not_approved":
        assert info.value.error_description == "user hasn't approved this consumer"
        assert info.value.hint is not None and "pre-authorized" in info.value.hint


def test_metadata_and_jwks(token_server: FlowServer) -> None:
    meta = httpx.get(token_server.url + "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == token_server.url
    assert meta["token_endpoint"] == token_server.token_url
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    jwks = httpx.get(meta["jwks_uri"]).json()
    assert [k["alg"] for k in jwks["keys"]] == ["EdDSA"]
    assert all("d" not in k for k in jwks["keys"])
    assert httpx.get(token_server.url + "/healthz").json() == {
        "status": "ok", "replay_entries": token_server.endpoint.replay_entries}


def test_http_edges(token_server: FlowServer) -> None:
    get = httpx.get(token_server.token_url)
    assert (get.status_code, get.json()["error"]) == (405, "invalid_request")
    big = httpx.post(token_server.token_url, content=b"a=" + b"x" * 70_000,
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert (big.status_code, big.json()["error"]) == (413, "invalid_request")

    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 4096

    chunked = httpx.post(token_server.token_url, content=chunks(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413
    json_body = httpx.post(token_server.token_url, json={"grant_type": "client_credentials"})
    assert (json_body.status_code, json_body.json()["error"]) == (400, "invalid_request")
