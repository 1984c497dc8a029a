"""requests-oauth2client against the reference server: PrivateKeyJwt, ClientSecretJwt,
ClientSecretBasic (which sends the id and secret raw, not form-urlencoded) and ClientSecretPost
for client credentials; the JWT bearer grant; and the authorization code flow with PKCE from
the server's discovery document, its issuer checked (RFC 9207) and its ID token validated,
then a refresh."""

from __future__ import annotations

import pytest
import requests
from jwskate import Jwk
from requests_oauth2client import (
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    OAuth2Client,
    PrivateKeyJwt,
)
from requests_oauth2client.exceptions import InvalidGrant

from conftest import REDIRECT_URI, SUBJECT, TEST_USER, Interop
from jwtbearer.jose.assertion import make_assertion
from jwtbearer.jose.jws import unverified_claims

pytestmark = pytest.mark.flow


def private_jwk(interop: Interop) -> Jwk:
    """The same RSA key as a jwskate JWK, with the kid the server has registered."""
    jwk = Jwk.from_pem(interop.rsa.private_pem())
    return Jwk({**dict(jwk), "kid": interop.rsa.kid, "alg": "RS256"})


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt",
                                    "client_secret_basic_raw", "client_secret_post"])
def test_client_credentials(interop: Interop, method: str) -> None:
    auth = {
        "private_key_jwt": lambda: PrivateKeyJwt("svc", private_jwk(interop), alg="RS256"),
        "client_secret_jwt": lambda: ClientSecretJwt("hs", interop.secrets["hs"]),
        # Raw Basic: a secret with '+', '/', '=', '%' and ':' sent without form-urlencoding.
        "client_secret_basic_raw": lambda: ClientSecretBasic("basic", interop.secrets["basic"]),
        "client_secret_post": lambda: ClientSecretPost("post", interop.secrets["post"]),
    }[method]()
    client = OAuth2Client(interop.token_url, auth=auth, testing=True)
    token = client.client_credentials(scope="api:read")
    assert token.scope == "api:read" and token.access_token


def test_wrong_raw_basic_secret_is_refused(interop: Interop) -> None:
    client = OAuth2Client(interop.token_url, testing=True,
                          auth=ClientSecretBasic("basic", interop.secrets["basic"] + "x"))
    with pytest.raises(Exception, match="client secret does not match"):
        client.client_credentials(scope="api:read")


def test_jwt_bearer_grant(interop: Interop) -> None:
    import time

    assertion = make_assertion(key=interop.rsa, iss="svc", sub=SUBJECT, aud=interop.token_url,
                               now=time.time(), lifetime=120)
    client = OAuth2Client(interop.token_url, testing=True,
                          auth=PrivateKeyJwt("svc", private_jwk(interop), alg="RS256"))
    token = client.jwt_bearer(assertion, scope="api:write")
    assert token.scope == "api:write"
    assert unverified_claims(str(token.access_token))["sub"] == SUBJECT


def test_authorization_code_with_pkce_from_discovery_then_refresh(interop: Interop) -> None:
    client = OAuth2Client.from_discovery_endpoint(
        interop.issuer + "/.well-known/openid-configuration", testing=True,
        auth=ClientSecretBasic("web", interop.secrets["web"]), redirect_uri=REDIRECT_URI,
        id_token_signed_response_alg="EdDSA")
    request = client.authorization_request(scope="openid api:read")
    redirect = requests.get(str(request.uri), allow_redirects=False, timeout=10)
    assert redirect.status_code == 302, redirect.text
    response = request.validate_callback(redirect.headers["location"])  # state and iss checked
    token = client.authorization_code(response)  # the ID token is validated too
    assert token.id_token is not None and token.id_token.subject == TEST_USER
    assert token.refresh_token
    refreshed = client.refresh_token(token)
    assert refreshed.refresh_token and refreshed.refresh_token != token.refresh_token
    with pytest.raises(InvalidGrant):
        client.refresh_token(str(token.refresh_token))
