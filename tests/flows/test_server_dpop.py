"""DPoP (RFC 9449) end to end on loopback: our client and our server, and a resource server
that checks the binding, with every refusal the RFC names.

Clients: ``bound`` gets DPoP-bound tokens only; ``nonce`` also needs a server nonce; ``plain``
may send a proof or not.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import jwtbearer as jb
from jwtbearer.jose import unverified_claims, verify_compact
from jwtbearer.server.app import BackgroundServer, serve_config
from jwtbearer.server.auth import CLIENT_CERT
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.dpop import ProofChecker, check_bound_token
from jwtbearer.server.replay import MemoryReplayCache
from jwtbearer.server.validation import Refusal

SECRET = secrets.token_urlsafe(24)

pytestmark = pytest.mark.flow


def _config(issuer: str) -> str:
    clients = ""
    for cid, extra in (("bound", "dpop_bound_access_tokens = true"),
                       ("nonce", "dpop_bound_access_tokens = true\ndpop_nonce = true"),
                       ("plain", "")):
        clients += f"""
[[clients]]
client_id = "{cid}"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRET}"
grant_types = ["client_credentials"]
scopes = ["api"]
{extra}
"""
    return f'issuer = "{issuer}"\nstate_dir = "state"\n' + clients


class Server:
    def __init__(self, url: str, endpoint: TokenEndpoint) -> None:
        self.url = url
        self.token_url = f"{url}/token"
        self.endpoint = endpoint

    def client(self, cid: str, **kwargs: Any) -> jb.TokenClient:
        return jb.TokenClient(self.token_url, jb.ClientSecretBasic(cid, SECRET), **kwargs)

    def post(self, cid: str, proof: str | None) -> httpx.Response:
        headers = {} if proof is None else {"DPoP": proof}
        return httpx.post(self.token_url, data={"grant_type": "client_credentials"},
                          auth=(cid, SECRET), headers=headers)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    background, endpoint = serve_config(_config, tmp_path_factory.mktemp("dpop") / "server.toml")
    with background:
        yield Server(background.url, endpoint)


def _claims(server: Server, token: jb.Token) -> dict[str, Any]:
    key = server.endpoint.config.signing_key.verifying_key()
    return verify_compact(token.access_token, key).claims()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _crafted(key: jb.SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def test_metadata_advertises_dpop(server: Server) -> None:
    meta = httpx.get(f"{server.url}/.well-known/oauth-authorization-server").json()
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    assert "none" not in meta["dpop_signing_alg_values_supported"]


def test_bound_token_carries_the_keys_thumbprint(server: Server) -> None:
    dpop = jb.DPoP()
    token = server.client("bound", dpop=dpop).client_credentials()
    assert token.token_type == "DPoP"
    assert _claims(server, token)["cnf"] == {"jkt": dpop.jkt}


def test_nonce_is_asked_for_once_then_remembered(server: Server) -> None:
    dpop = jb.DPoP(jb.SigningKey.generate("RS256"))
    sent: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [sent.append]}) as http:
        client = server.client("nonce", dpop=dpop, http=http)
        first = client.client_credentials()
        assert len(sent) == 2
        client.client_credentials()
        assert len(sent) == 3
    assert _claims(server, first)["cnf"] == {"jkt": dpop.jkt}
    assert unverified_claims(sent[1].headers["DPoP"])["nonce"]


def test_async_client_and_optional_dpop(server: Server) -> None:
    dpop = jb.DPoP()

    async def main() -> jb.Token:
        async with jb.AsyncTokenClient(server.token_url, jb.ClientSecretBasic("nonce", SECRET),
                                       dpop=dpop) as client:
            return await client.client_credentials()

    assert anyio.run(main).token_type == "DPoP"
    # A client without the requirement gets a bearer token without a proof, bound with one.
    assert server.client("plain").client_credentials().token_type == "Bearer"
    assert server.client("plain", dpop=dpop).client_credentials().token_type == "DPoP"


def _refused(response: httpx.Response, error: str = "invalid_dpop_proof") -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    return str(body["error_description"])


def test_bound_client_without_proof_is_refused(server: Server) -> None:
    assert "DPoP proof" in _refused(server.post("bound", None))
    with pytest.raises(jb.TokenEndpointError) as caught:
        server.client("bound").client_credentials()
    assert caught.value.error == "invalid_dpop_proof"


def test_proof_for_another_url_or_method(server: Server) -> None:
    dpop = jb.DPoP()
    assert "htu" in _refused(server.post("bound", dpop.proof("POST", f"{server.url}/other")))
    assert "htm" in _refused(server.post("bound", dpop.proof("GET", server.token_url)))
    # Query and fragment are not part of htu (RFC 9449 §4.3): this one passes.
    ok = server.post("bound", dpop.proof("POST", server.token_url + "?a=1#f"))
    assert ok.status_code == 200 and ok.json()["token_type"] == "DPoP"


def test_replayed_proof(server: Server) -> None:
    proof = jb.DPoP().proof("POST", server.token_url)
    assert server.post("bound", proof).status_code == 200
    assert "replayed" in _refused(server.post("bound", proof))


def test_private_jwk_in_the_header(server: Server) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = jb.SigningKey.from_private_key(private, alg="ES256")
    jwk = {**key.public_jwk(), "d": _b64(private.private_numbers().private_value.to_bytes(32,
                                                                                      "big"))}
    claims = {"jti": secrets.token_urlsafe(8), "htm": "POST", "htu": server.token_url,
              "iat": int(time.time())}
    proof = _crafted(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, claims)
    assert "private" in _refused(server.post("plain", proof))


@pytest.mark.parametrize("change", ["typ", "alg", "signature", "iat", "jti"])
def test_malformed_proofs(server: Server, change: str) -> None:
    key = jb.SigningKey.generate("ES256")
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()}
    claims: dict[str, Any] = {"jti": secrets.token_urlsafe(8), "htm": "POST",
                              "htu": server.token_url, "iat": int(time.time())}
    if change == "typ":
        header["typ"] = "JWT"
    elif change == "alg":
        header["alg"] = "HS256"
    elif change == "iat":
        claims["iat"] -= 3600
    elif change == "jti":
        del claims["jti"]
    proof = _crafted(key, header, claims)
    if change == "signature":
        other = jb.SigningKey.generate("ES256")
        proof = proof.rsplit(".", 1)[0] + "." + _crafted(other, header, claims).rsplit(".", 1)[1]
    _refused(server.post("plain", proof))


# -- a resource server that checks the binding (RFC 9449 §7) ----------------------------------


def _resource_app(server: Server, require_nonce: bool) -> Any:
    checker = ProofChecker(replay=MemoryReplayCache(), leeway=30, nonce_key=b"k" * 32)
    verify_key = server.endpoint.config.signing_key.verifying_key()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status, extra, body = 200, [], b'{"ok":true}'
        now = time.time()
        try:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme != "DPoP" or "dpop" not in headers:
                raise Refusal("invalid_token", "a DPoP token and proof are needed", status=401)
            url = f"http://{headers['host']}{scope['path']}"
            proof = checker.verify(headers["dpop"], htm=scope["method"], htu=url, now=now,
                                   access_token=token)
            if require_nonce:
                checker.require_nonce(proof, now)
            checker.consume(proof, now)
            check_bound_token(verify_compact(token, verify_key).claims(), proof=proof)
        except Refusal as refusal:
            status = 401
            body = json.dumps({"error": refusal.error}).encode()
            extra = [(b"www-authenticate", f'DPoP error="{refusal.error}"'.encode()),
                     *((k.encode(), v.encode()) for k, v in refusal.headers)]
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), *extra]})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture(scope="module", params=[False, True], ids=["no-nonce", "nonce"])
def resource(request: pytest.FixtureRequest, server: Server) -> Iterator[str]:
    with BackgroundServer(_resource_app(server, request.param)) as api:
        yield api.url


def test_bearer_auth_sends_dpop_token_and_proof(server: Server, resource: str) -> None:
    source = jb.CachedSource(server.client("bound", dpop=jb.DPoP()).source(jb.ClientCredentials()))
    sent: list[httpx.Request] = []
    with httpx.Client(auth=jb.BearerAuth(source), event_hooks={"request": [sent.append]}) as api:
        assert api.get(f"{resource}/data?x=1").status_code == 200
        assert api.post(f"{resource}/data", content=b"body").status_code == 200
    last = sent[-1]
    assert last.headers["Authorization"].startswith("DPoP ")
    proof = unverified_claims(last.headers["DPoP"])
    assert proof["htm"] == "POST" and proof["htu"] == f"{resource}/data" and "ath" in proof


def test_bearer_auth_async_and_requests(server: Server, resource: str) -> None:
    import requests

    client = server.client("plain", dpop=jb.DPoP())
    auth = jb.BearerAuth(jb.CachedSource(client.source(jb.ClientCredentials())))

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth) as api:
            return (await api.get(f"{resource}/a")).status_code

    assert anyio.run(main) == 200
    assert requests.get(f"{resource}/b", auth=auth, timeout=10).status_code == 200


def test_token_presented_with_the_wrong_key(server: Server, resource: str) -> None:
    token = server.client("bound", dpop=jb.DPoP()).client_credentials()
    thief = jb.DPoP()
    url = f"{resource}/data"
    for _ in range(2):  # a nonce round, when the resource server asks for one
        answer = httpx.get(url, headers={"Authorization": f"DPoP {token.access_token}",
                                         "DPoP": thief.proof("GET", url,
                                                             access_token=token.access_token)})
        thief.remember(url, answer.headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"


def test_cache_keeps_the_binding(server: Server, tmp_path: Path) -> None:
    store = jb.SQLiteStore(tmp_path / "tokens.db")
    one, two = jb.DPoP(), jb.DPoP()
    first = jb.CachedSource(server.client("bound", dpop=one).source(jb.ClientCredentials()),
                            store=store)
    second = jb.CachedSource(server.client("bound", dpop=two).source(jb.ClientCredentials()),
                             store=store)
    assert first.key != second.key
    a, b = first.token(), second.token()
    assert a.access_token != b.access_token
    assert _claims(server, b)["cnf"]["jkt"] == two.jkt
    assert first.dpop is one


def test_a_bearer_answer_to_a_dpop_request_is_refused() -> None:
    answer = {"access_token": "x", "token_type": "Bearer", "expires_in": 60}
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=answer)))
    client = jb.TokenClient("https://as.example/token", jb.ClientSecretBasic("c", "s"),
                            dpop=jb.DPoP(), http=http)
    with pytest.raises(jb.ResponseFormatError, match="DPoP"):
        client.client_credentials()


def test_client_cert_header_cannot_be_forged(server: Server) -> None:
    # The certificate pseudo-header is never copied from HTTP headers.
    response = httpx.post(server.token_url, data={"grant_type": "client_credentials"},
                          auth=("plain", SECRET), headers={CLIENT_CERT[1:]: "x"})
    assert response.status_code == 200


def test_jwt_validator_checks_the_proof_against_cnf(server: Server) -> None:
    dpop = jb.DPoP()
    token = server.client("bound", dpop=dpop).client_credentials().access_token
    validator = jb.JWTValidator(issuer=server.url, audience=server.url, typ="at+jwt",
                                keys=server.endpoint.config.signing_key.verifying_key())
    api = "https://api.example/orders?page=2"
    ok = validator.validate(token, dpop_proof=dpop.proof("GET", api, access_token=token),
                            htm="GET", htu=api)
    assert ok.claims["cnf"] == {"jkt": dpop.jkt}
    for proof, why in ((None, "needs the request's DPoP proof"),
                       (jb.DPoP().proof("GET", api, access_token=token), "another key"),
                       (dpop.proof("GET", api), "ath"),
                       (dpop.proof("POST", api, access_token=token), "htm")):
        with pytest.raises(jb.InvalidToken, match=why):
            validator.validate(token, dpop_proof=proof, htm="GET", htu=api)
    bearer = server.client("plain").client_credentials().access_token
    with pytest.raises(jb.InvalidToken, match="not DPoP-bound"):
        validator.validate(bearer, dpop_proof=dpop.proof("GET", api, access_token=bearer),
                           htm="GET", htu=api)
