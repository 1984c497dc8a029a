"""requests-oauth2client's DPoP support (RFC 9449) against the reference server: a client
nobody here wrote sends the proofs, and answers the server's ``use_dpop_nonce``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from requests_oauth2client import ClientSecretBasic, DPoPToken, OAuth2Client
from requests_oauth2client.exceptions import EndpointError

from jwtbearer.jose import verify_compact
from jwtbearer.jose.dpop import jwk_thumbprint
from jwtbearer.server.app import serve_config
from jwtbearer.server.core import TokenEndpoint

SECRET = secrets.token_urlsafe(24)

pytestmark = pytest.mark.flow


def _config(issuer: str) -> str:
    clients = ""
    for cid, extra in (("bound", "dpop_bound_access_tokens = true"),
                       ("nonce", "dpop_bound_access_tokens = true\ndpop_nonce = true")):
        clients += (f'[[clients]]\nclient_id = "{cid}"\ntoken_endpoint_auth_method = '
                    f'"client_secret_basic"\nclient_secret = "{SECRET}"\n'
                    f'grant_types = ["client_credentials"]\nscopes = ["api"]\n{extra}\n')
    return f'issuer = "{issuer}"\nstate_dir = "state"\n' + clients


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenEndpoint]]:
    background, endpoint = serve_config(_config, tmp_path_factory.mktemp("roc") / "server.toml")
    with background:
        yield f"{background.url}/token", endpoint


def _claims(endpoint: TokenEndpoint, token: str) -> dict[str, Any]:
    return verify_compact(token, endpoint.config.signing_key.verifying_key()).claims()


@pytest.mark.parametrize("client_id", ["bound", "nonce"])
def test_dpop_bound_token_for_their_key(server: tuple[str, TokenEndpoint],
                                        client_id: str) -> None:
    url, endpoint = server
    client = OAuth2Client(url, auth=ClientSecretBasic(client_id, SECRET),
                          dpop_bound_access_tokens=True, testing=True)
    token = client.client_credentials(scope="api")
    assert isinstance(token, DPoPToken)
    assert token.token_type == "DPoP"
    jkt = jwk_thumbprint(dict(token.dpop_key.private_key.public_jwk()))
    assert _claims(endpoint, token.access_token)["cnf"] == {"jkt": jkt}


def test_without_a_proof_a_bound_client_is_refused(server: tuple[str, TokenEndpoint]) -> None:
    url, _ = server
    client = OAuth2Client(url, auth=ClientSecretBasic("bound", SECRET), testing=True)
    with pytest.raises(EndpointError) as caught:
        client.client_credentials(scope="api")
    assert caught.value.error == "invalid_dpop_proof"
