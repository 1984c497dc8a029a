"""Our own TokenClient through PingOne's documented flow, against a server shaped like a
PingOne environment (issuer ``.../ENV-ID/as``, endpoints under it): discovery, ``/authorize``
with PKCE, the code exchanged with ``client_secret_jwt`` (aud = the issuer, as PingOne's
documentation signs it), the ID token checked against the published keys, then a refresh."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import jwtbearer as jb
from conftest import TEST_USER, Interop
from jwtbearer.jose import load_jwks
from jwtbearer.jose.jws import verify_compact

pytestmark = pytest.mark.flow
CALLBACK = "https://app.example.com/callback"


def test_authorize_code_client_secret_jwt_exchange_refresh(pingone: Interop) -> None:
    issuer = pingone.issuer
    assert issuer.endswith("/ENV-ID/as")
    meta = httpx.get(issuer + "/.well-known/openid-configuration", timeout=10.0).json()
    assert meta["issuer"] == issuer
    assert meta["token_endpoint"] == issuer + "/token"
    assert meta["authorization_endpoint"] == issuer + "/authorize"
    assert httpx.get(f"{urlsplit(issuer).scheme}://{urlsplit(issuer).netloc}"
                     "/.well-known/oauth-authorization-server/ENV-ID/as",
                     timeout=10.0).json() == meta  # RFC 8414 §3.1

    pkce = jb.PKCE.generate()
    redirect = httpx.get(meta["authorization_endpoint"], timeout=10.0, params={
        "response_type": "code", "client_id": "my-web-app", "redirect_uri": CALLBACK,
        "scope": "openid profile", "state": "st-1", "nonce": "n-1",
        "code_challenge": pkce.challenge, "code_challenge_method": "S256"})
    assert redirect.status_code == 302
    answer = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["location"]).query).items()}
    assert answer["state"] == "st-1" and answer["iss"] == issuer

    client = jb.TokenClient(meta["token_endpoint"], auth=jb.ClientSecretJWT(
        "my-web-app", pingone.secrets["my-web-app"], audience=issuer))
    with client:
        token = client.authorization_code(answer["code"], CALLBACK,
                                          code_verifier=pkce.verifier)
        assert token.refresh_token and token.id_token and token.scope == "openid profile"
        keys = load_jwks(httpx.get(meta["jwks_uri"], timeout=10.0).text)
        id_claims = verify_compact(token.id_token, keys).claims()
        assert (id_claims["sub"], id_claims["aud"], id_claims["nonce"]) == (
            TEST_USER, "my-web-app", "n-1")
        refreshed = client.refresh(token.refresh_token)
        assert refreshed.refresh_token not in (None, token.refresh_token)
        with pytest.raises(jb.InvalidGrant, match="already used"):
            client.refresh(token.refresh_token)
