"""Our DPoP client against panva ``oidc-provider`` (npm) with its DPoP feature on and nonces
required: a server nobody here wrote (RFC 9449).

The provider (``tests/interop/dpop_node/server.js``, installed by ``make test``) answers the
first token request with ``use_dpop_nonce``; the client resends once with the nonce, remembers
it, and the introspected token is bound to the client's key (``cnf.jkt``).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

import jwtbearer as jb

NODE_DIR = Path(__file__).resolve().parent / "dpop_node"
SECRET = secrets.token_urlsafe(32)

pytestmark = pytest.mark.flow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Not a skip: `make test` installs both, and a missing install must fail, not hide.
    assert shutil.which("node") is not None, "node is missing: run `make test` (dpop-node)"
    assert (NODE_DIR / "node_modules" / "oidc-provider").is_dir(), (
        f"oidc-provider is not installed: run `make test` (npm ci in {NODE_DIR})")
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["node", "server.js", str(port), SECRET], cwd=NODE_DIR,
                                stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # bounded: 30 s
            if proc.poll() is not None:
                pytest.fail(f"oidc-provider exited: {log.read_text()}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("oidc-provider did not start")
        yield issuer
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _posts(log: list[httpx.Request]) -> httpx.Client:
    return httpx.Client(event_hooks={"request": [log.append]})


def test_metadata_advertises_dpop(provider: str) -> None:
    meta = httpx.get(f"{provider}/.well-known/openid-configuration").json()
    assert "ES256" in meta["dpop_signing_alg_values_supported"]


def test_dpop_bound_token_with_nonce(provider: str) -> None:
    dpop = jb.DPoP()
    sent: list[httpx.Request] = []
    with _posts(sent) as http:
        client = jb.TokenClient(f"{provider}/token", jb.ClientSecretBasic("dpop-client", SECRET),
                                dpop=dpop, http=http)
        token = client.client_credentials(scope="api")
        assert token.token_type == "DPoP"
        assert token.authorization.startswith("DPoP ")
        # The first proof had no nonce: the provider asked for one, the client resent once.
        assert len(sent) == 2
        first, second = (jb.jose.unverified_claims(r.headers["DPoP"]) for r in sent)
        assert "nonce" not in first and second["nonce"]
        assert first["jti"] != second["jti"]
        assert second["htm"] == "POST" and second["htu"] == f"{provider}/token"
        # The nonce is remembered for the next request: one POST, no second round trip.
        again = client.client_credentials(scope="api")
        assert len(sent) == 3 and "nonce" in jb.jose.unverified_claims(sent[2].headers["DPoP"])
        introspected = httpx.post(f"{provider}/token/introspection",
                                  data={"token": again.access_token},
                                  auth=("dpop-client", SECRET)).json()
    assert introspected["active"] is True
    assert introspected["cnf"] == {"jkt": dpop.jkt}
    assert introspected["token_type"] == "DPoP"


def test_async_client_gets_a_bound_token(provider: str) -> None:
    dpop = jb.DPoP(jb.SigningKey.generate("EdDSA"))

    async def main() -> jb.Token:
        async with jb.AsyncTokenClient(f"{provider}/token",
                                       jb.ClientSecretBasic("dpop-client", SECRET),
                                       dpop=dpop) as client:
            return await client.client_credentials(scope="api")

    token = anyio.run(main)
    assert token.token_type == "DPoP"


def test_without_dpop_the_provider_refuses(provider: str) -> None:
    client = jb.TokenClient(f"{provider}/token", jb.ClientSecretBasic("dpop-client", SECRET))
    with pytest.raises(jb.TokenEndpointError) as caught:
        client.client_credentials(scope="api")
    # oidc-provider refuses a DPoP-bound client's proof-less request as invalid_grant.
    assert caught.value.error == "invalid_grant"
