"""Authlib (requests integration) against the reference server: AssertionSession for the JWT
bearer grant, OAuth2Session for client credentials with every client authentication it has,
and the authorization code flow with PKCE S256 followed by a refresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from authlib.integrations.requests_client import AssertionSession, OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from conftest import JWT_BEARER, REDIRECT_URI, SUBJECT, TEST_USER, Interop
from jwtbearer.jose.jws import unverified_claims

pytestmark = pytest.mark.flow


@pytest.fixture(autouse=True)
def loopback_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Authlib refuses plain http unless told; the server runs on 127.0.0.1.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    yield


def test_assertion_session_jwt_bearer_without_client_authentication(interop: Interop) -> None:
    session = AssertionSession(
        token_endpoint=interop.token_url, issuer="svc", subject=SUBJECT,
        audience=interop.token_url, grant_type=JWT_BEARER, scope="api:read",
        key=interop.rsa.private_pem().decode(), header={"alg": "RS256", "kid": interop.rsa.kid})
    token = session.refresh_token()
    assert token["token_type"] == "Bearer" and token["scope"] == "api:read"
    assert unverified_claims(token["access_token"])["sub"] == SUBJECT
    # A second request signs anew (fresh jti): accepted too.
    assert session.refresh_token()["access_token"] != token["access_token"]


def test_assertion_session_with_an_unapproved_subject_is_refused(interop: Interop) -> None:
    session = AssertionSession(
        token_endpoint=interop.token_url, issuer="svc", subject="mallory",
        audience=interop.token_url, grant_type=JWT_BEARER,
        key=interop.rsa.private_pem().decode(), header={"alg": "RS256"})
    with pytest.raises(Exception, match="hasn't approved"):
        session.refresh_token()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post",
                                    "client_secret_jwt", "private_key_jwt"])
def test_oauth2_session_client_credentials(interop: Interop, method: str) -> None:
    if method == "private_key_jwt":
        session = OAuth2Session("svc", interop.rsa.private_pem().decode(),
                                token_endpoint_auth_method=PrivateKeyJWT(interop.token_url))
    elif method == "client_secret_jwt":
        session = OAuth2Session("hs", interop.secrets["hs"],
                                token_endpoint_auth_method=ClientSecretJWT(interop.token_url))
    else:
        client_id = "basic" if method == "client_secret_basic" else "post"
        session = OAuth2Session(client_id, interop.secrets[client_id],
                                token_endpoint_auth_method=method)
    token = session.fetch_token(interop.token_url, grant_type="client_credentials",
                                scope="api:read")
    assert token["token_type"] == "Bearer" and token["scope"] == "api:read"


def _code(session: OAuth2Session, interop: Interop, verifier: str) -> str:
    url, _state = session.create_authorization_url(interop.authorize_url, code_verifier=verifier)
    redirect = requests.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302, redirect.text
    return str(redirect.headers["location"])


@pytest.mark.parametrize("client_id", ["web", "spa"])
def test_authorization_code_with_pkce_then_refresh(interop: Interop, client_id: str) -> None:
    verifier = "v" * 20 + "-._~" + "0123456789abcdefghijklmnopqrstuvwxyz"
    assert create_s256_code_challenge(verifier)
    secret = interop.secrets.get(client_id)
    session = OAuth2Session(client_id, secret, scope="openid api:read",
                            redirect_uri=REDIRECT_URI, code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_basic" if secret
                            else "none")
    location = _code(session, interop, verifier)
    token = session.fetch_token(interop.token_url, authorization_response=location,
                                code_verifier=verifier)
    assert token["scope"] == "openid api:read" and "id_token" in token
    assert unverified_claims(token["access_token"])["sub"] == TEST_USER
    first_refresh = token["refresh_token"]
    refreshed = session.refresh_token(interop.token_url, refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    with pytest.raises(Exception, match="already used"):
        session.refresh_token(interop.token_url, refresh_token=first_refresh)
