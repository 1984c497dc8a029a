"""RFC 8693 token exchange at the reference server under uvicorn on 127.0.0.1: the server's own
access tokens and JWTs of trusted issuers (a JWK Set file, and a JWK Set URL on a loopback
server) traded for new access tokens, checked with PyJWT; every refusal by its RFC 8693 code.
requests-oauth2client drives one exchange as an independent client."""

from __future__ import annotations

import json
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from requests_oauth2client import ClientSecretBasic, OAuth2Client
from test_server_readme_config import documented_config

from jwtbearer.jose.jws import sign_compact
from jwtbearer.jose.keys import SigningKey
from jwtbearer.server.app import serve_config
from jwtbearer.server.config import parse_config
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.registry import ServerConfigError

pytestmark = pytest.mark.flow

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
IDP = "https://idp.example"
IDP_URL_ISSUER = "https://other-idp.example"
OUR_AUDIENCE = "https://exchange.example"
BACKEND = "https://backend.example"
SECRETS = {"svc": "svc-secret-0123456789", "gateway": "gateway-secret-0123456789",
           "cc": "cc-secret-0123456789"}


@dataclass
class Exchange:
    url: str
    endpoint: TokenEndpoint
    idp: SigningKey
    url_idp: SigningKey

    def post(self, client: str, **form: str) -> httpx.Response:
        return httpx.post(self.url + "/token", data=form, auth=(client, SECRETS[client]),
                          timeout=10.0)

    def own_token(self, client: str, **form: str) -> str:
        answer = self.post(client, grant_type="client_credentials", **form)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def claims(self, token: str, audience: str) -> dict[str, Any]:
        jwks = pyjwt.PyJWKSet.from_json(httpx.get(self.url + "/jwks", timeout=10.0).text)
        claims: dict[str, Any] = pyjwt.decode(token, jwks.keys[0].key, algorithms=["EdDSA"],
                                              audience=audience, issuer=self.url)
        assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"
        return claims


def _jwks_server(key: SigningKey) -> ThreadingHTTPServer:
    body = json.dumps({"keys": [key.public_jwk()]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    tmp = tmp_path_factory.mktemp("exchange")
    idp = SigningKey.generate("ES256", kid="idp-1")
    url_idp = SigningKey.generate("RS256", kid="url-1")
    (tmp / "idp.jwks.json").write_text(json.dumps({"keys": [idp.public_jwk()]}))
    jwks = _jwks_server(url_idp)
    thread = threading.Thread(target=jwks.serve_forever, daemon=True)
    thread.start()
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks"

    def render(issuer: str) -> str:
        return f"""
issuer = "{issuer}"
state_dir = "state"
access_token_lifetime = 600

[[clients]]
client_id = "svc"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRETS['svc']}"
grant_types = ["client_credentials", "{EXCHANGE}"]
scopes = ["api:read", "api:write"]

[[clients]]
client_id = "gateway"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRETS['gateway']}"
grant_types = ["client_credentials", "{EXCHANGE}"]
scopes = ["api:read", "orders"]
audiences = ["{BACKEND}"]

[[clients]]
client_id = "cc"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRETS['cc']}"
grant_types = ["client_credentials"]

[[trusted_issuers]]
issuer = "{IDP}"
jwks = "idp.jwks.json"
audience = "{OUR_AUDIENCE}"

[[trusted_issuers]]
issuer = "{IDP_URL_ISSUER}"
jwks = "{jwks_url}"
"""

    server, endpoint = serve_config(render, tmp / "server.toml")
    # The URL was read while the configuration loaded; the JWK Set server is not needed now.
    jwks.shutdown()
    jwks.server_close()
    with server:
        yield Exchange(url=server.url, endpoint=endpoint, idp=idp, url_idp=url_idp)


def _idp_token(key: SigningKey, issuer: str, audience: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": issuer, "sub": "workload-1", "aud": audience, "iat": now, "exp": now + 300,
            **claims}
    return sign_compact({k: v for k, v in body.items() if v is not None}, key)


def test_own_access_token_for_another_audience(exchange: Exchange) -> None:
    subject = exchange.own_token("svc", scope="api:read api:write")
    held = pyjwt.decode(subject, options={"verify_signature": False})
    answer = exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, audience=BACKEND)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ACCESS
    assert body["token_type"] == "Bearer"
    assert answer.headers["cache-control"] == "no-store"
    claims = exchange.claims(body["access_token"], BACKEND)
    assert claims["sub"] == "svc"
    assert claims["client_id"] == "gateway"  # RFC 8693 §4.3: the client that asked
    assert "act" not in claims
    # The subject held api:read and api:write; gateway is registered for api:read only.
    assert claims["scope"] == body["scope"] == "api:read"
    assert claims["exp"] <= held["exp"]
    assert body["expires_in"] <= 600


def test_actor_token_yields_act_and_a_chain_nests(exchange: Exchange) -> None:
    subject = exchange.own_token("svc")
    actor = exchange.own_token("gateway")
    answer = exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, actor_token=actor,
                           actor_token_type=ACCESS)
    assert answer.status_code == 200, answer.text
    first = exchange.claims(answer.json()["access_token"], exchange.url)
    assert first["sub"] == "svc"
    assert first["act"] == {"sub": "gateway", "iss": exchange.url}
    # The delegated token exchanged again, with svc acting now: the earlier actor nests.
    again = exchange.post("svc", grant_type=EXCHANGE,
                          subject_token=answer.json()["access_token"], subject_token_type=JWT,
                          actor_token=exchange.own_token("svc"), actor_token_type=ACCESS)
    assert again.status_code == 200, again.text
    second = exchange.claims(again.json()["access_token"], exchange.url)
    assert second["act"] == {"sub": "svc", "iss": exchange.url,
                             "act": {"sub": "gateway", "iss": exchange.url}}
    # Without an actor the delegation is kept, not dropped.
    plain = exchange.post("svc", grant_type=EXCHANGE,
                          subject_token=again.json()["access_token"], subject_token_type=ACCESS)
    assert exchange.claims(plain.json()["access_token"], exchange.url)["act"] == second["act"]


def test_trusted_issuer_from_file_and_from_url(exchange: Exchange) -> None:
    token = _idp_token(exchange.idp, IDP, OUR_AUDIENCE, scope="orders")
    answer = exchange.post("gateway", grant_type=EXCHANGE, subject_token=token,
                           subject_token_type=JWT)
    assert answer.status_code == 200, answer.text
    claims = exchange.claims(answer.json()["access_token"], exchange.url)
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("workload-1", "gateway",
                                                                     "orders")
    # The URL issuer's audience defaults to this server's issuer.
    token = _idp_token(exchange.url_idp, IDP_URL_ISSUER, exchange.url)
    answer = exchange.post("svc", grant_type=EXCHANGE, subject_token=token,
                           subject_token_type=JWT, scope="api:write")
    assert answer.status_code == 200, answer.text
    assert exchange.claims(answer.json()["access_token"], exchange.url)["scope"] == "api:write"


def _refused(answer: httpx.Response, error: str, *words: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == error, body
    for word in words:
        assert word in body["error_description"], body


def test_subject_token_refusals(exchange: Exchange) -> None:
    def send(token: str, token_type: str = JWT) -> httpx.Response:
        return exchange.post("gateway", grant_type=EXCHANGE, subject_token=token,
                             subject_token_type=token_type)

    _refused(send(_idp_token(exchange.idp, IDP, exchange.url)), "invalid_request", "aud")
    _refused(send(_idp_token(exchange.idp, IDP, OUR_AUDIENCE, exp=int(time.time()) - 120)),
             "invalid_request", "expired")
    _refused(send(_idp_token(exchange.idp, IDP, OUR_AUDIENCE, exp=None)), "invalid_request",
             "exp")
    _refused(send(_idp_token(exchange.idp, "https://stranger.example", OUR_AUDIENCE)),
             "invalid_request", "trusted_issuers")
    # Signed by the URL issuer's key but claiming the file issuer: the issuer's keys only.
    _refused(send(_idp_token(exchange.url_idp, IDP, OUR_AUDIENCE)), "invalid_request",
             "refused")
    token = exchange.own_token("svc")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    _refused(send(tampered, ACCESS), "invalid_request", "refused")
    # Signed with the server's own key but not an access token (an ID token's typ JWT).
    now = int(time.time())
    id_like = sign_compact({"iss": exchange.url, "sub": "svc", "aud": exchange.url,
                            "iat": now, "exp": now + 60}, exchange.endpoint.config.signing_key)
    _refused(send(id_like), "invalid_request", "at+jwt")
    _refused(send("not-a-jwt"), "invalid_request", "not a JWT")
    _refused(send(token, "urn:ietf:params:oauth:token-type:saml2"), "invalid_request",
             "subject_token_type")


def test_request_refusals(exchange: Exchange) -> None:
    subject = exchange.own_token("svc")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject),
             "invalid_request", "subject_token_type is missing")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token_type=ACCESS),
             "invalid_request", "subject_token is missing")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, audience="https://elsewhere.example"),
             "invalid_target", "elsewhere")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, resource="https://elsewhere.example"),
             "invalid_target")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, requested_token_type=JWT[:-3] + "saml2"),
             "invalid_request", "requested_token_type")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, actor_token=subject),
             "invalid_request", "actor_token_type")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS, actor_token_type=ACCESS),
             "invalid_request", "without actor_token")
    # An exchange narrows the scope the subject token holds, never widens it.
    narrow = exchange.own_token("svc", scope="api:write")
    _refused(exchange.post("gateway", grant_type=EXCHANGE, subject_token=narrow,
                           subject_token_type=ACCESS, scope="api:read"),
             "invalid_scope", "beyond")
    _refused(exchange.post("cc", grant_type=EXCHANGE, subject_token=subject,
                           subject_token_type=ACCESS), "unauthorized_client")
    unauthenticated = httpx.post(exchange.url + "/token", timeout=10.0, data={
        "grant_type": EXCHANGE, "client_id": "gateway", "subject_token": subject,
        "subject_token_type": ACCESS})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "invalid_client"


def test_may_act_limits_the_actor(exchange: Exchange) -> None:
    token = _idp_token(exchange.idp, IDP, OUR_AUDIENCE, may_act={"sub": "svc"})
    common = {"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": JWT,
              "actor_token_type": ACCESS}
    _refused(exchange.post("gateway", actor_token=exchange.own_token("gateway"), **common),
             "invalid_request", "may_act")
    answer = exchange.post("gateway", actor_token=exchange.own_token("svc"), **common)
    assert answer.status_code == 200, answer.text
    assert exchange.claims(answer.json()["access_token"], exchange.url)["act"]["sub"] == "svc"


def test_metadata_lists_the_grant(exchange: Exchange) -> None:
    metadata = httpx.get(exchange.url + "/.well-known/oauth-authorization-server",
                         timeout=10.0).json()
    assert EXCHANGE in metadata["grant_types_supported"]


def test_requests_oauth2client_exchanges(exchange: Exchange) -> None:
    client = OAuth2Client(exchange.url + "/token",
                          auth=ClientSecretBasic("gateway", SECRETS["gateway"]), testing=True)
    token = client.token_exchange(subject_token=exchange.own_token("svc"),
                                  subject_token_type="access_token",
                                  actor_token=exchange.own_token("gateway"),
                                  actor_token_type="access_token", audience=BACKEND)
    claims = exchange.claims(token.access_token, BACKEND)
    assert (claims["sub"], claims["client_id"], claims["act"]["sub"]) == ("svc", "gateway",
                                                                          "gateway")


def test_jwks_url_refused_when_not_https(tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError, match=r"trusted_issuers\[0\]\.jwks.*https"):
        parse_config({"issuer": "http://127.0.0.1:9", "state_dir": "s", "trusted_issuers": [
            {"issuer": IDP, "jwks": "http://idp.example/jwks"}]}, base=tmp_path)
    with pytest.raises(ServerConfigError, match="cannot fetch"):
        # A loopback port nobody listens on: refused at start, naming the URL.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        parse_config({"issuer": "http://127.0.0.1:9", "state_dir": "s", "trusted_issuers": [
            {"issuer": IDP, "jwks": url + "/jwks"}]}, base=tmp_path)


def test_the_readme_trusted_issuer_table_loads(tmp_path: Path) -> None:
    key = SigningKey.generate("ES256")
    (tmp_path / "idp.jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))
    data = tomllib.loads(documented_config("### Token exchange (RFC 8693), server side"))
    config = parse_config({"issuer": "http://127.0.0.1:9", "state_dir": "s", **data},
                          base=tmp_path)
    (trusted,) = config.trusted_issuers
    assert (trusted.issuer, trusted.audience) == (IDP, OUR_AUDIENCE)
    assert trusted.keys[0].thumbprint() == key.verifying_key().thumbprint()


def test_jwtbearer_token_client_exchanges(exchange: Exchange) -> None:
    import jwtbearer as jb
    from jwtbearer.errors import InvalidTarget
    from jwtbearer.oauth import ACCESS_TOKEN_TYPE

    with jb.TokenClient(exchange.url + "/token",
                        auth=jb.ClientSecretBasic("gateway", SECRETS["gateway"])) as client:
        token = client.token_exchange(exchange.own_token("svc"), ACCESS_TOKEN_TYPE,
                                      actor_token=exchange.own_token("gateway"),
                                      actor_token_type=ACCESS_TOKEN_TYPE, audience=BACKEND)
        assert token.issued_token_type == ACCESS_TOKEN_TYPE
        claims = exchange.claims(token.access_token, BACKEND)
        assert (claims["sub"], claims["client_id"], claims["act"]) == (
            "svc", "gateway", {"sub": "gateway", "iss": exchange.url})
        with pytest.raises(InvalidTarget) as refused:
            client.token_exchange(exchange.own_token("svc"), ACCESS_TOKEN_TYPE,
                                  audience="https://elsewhere.example")
        assert "elsewhere" in str(refused.value)
