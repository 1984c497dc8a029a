"""google-auth's service-account credentials (the JWT bearer grant as Google's libraries send
it: aud https://oauth2.googleapis.com/token whatever token_uri says, no jti, the scope in a
claim, sub only for domain-wide delegation) against ``preset = "google"``."""

from __future__ import annotations

import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from conftest import GOOGLE_SCOPE, SERVICE_ACCOUNT, SUBJECT, Interop
from jwtbearer.jose.jws import unverified_claims

pytestmark = pytest.mark.flow


def credentials(server: Interop, scopes: list[str]) -> service_account.Credentials:
    info = {
        "type": "service_account",
        "project_id": "project-id",
        "private_key_id": server.rsa.kid,
        "private_key": server.rsa.private_pem().decode(),
        "client_email": SERVICE_ACCOUNT,
        "client_id": "1234567890",
        "token_uri": server.token_url,
    }
    return service_account.Credentials.from_service_account_info(info, scopes=scopes)


def test_service_account_credentials_get_a_token(google: Interop) -> None:
    creds = credentials(google, [GOOGLE_SCOPE])
    creds.refresh(Request())
    assert creds.valid and creds.token and creds.expiry is not None
    claims = unverified_claims(creds.token)
    assert claims["sub"] == SERVICE_ACCOUNT  # no sub: the service account acts for itself
    assert claims["scope"] == GOOGLE_SCOPE  # taken from the assertion's scope claim
    assert claims["iss"] == google.issuer


def test_domain_wide_delegation_acts_for_an_approved_subject(google: Interop) -> None:
    creds = credentials(google, [GOOGLE_SCOPE]).with_subject(SUBJECT)
    creds.refresh(Request())
    assert unverified_claims(creds.token)["sub"] == SUBJECT
    refused = credentials(google, [GOOGLE_SCOPE]).with_subject("mallory@example.com")
    with pytest.raises(RefreshError, match="hasn't approved"):
        refused.refresh(Request())


def test_a_scope_outside_the_registration_is_refused(google: Interop) -> None:
    creds = credentials(google, ["https://www.googleapis.com/auth/admin"])
    with pytest.raises(RefreshError, match="invalid_scope"):
        creds.refresh(Request())


def test_the_default_strict_server_refuses_google_s_assertion(interop: Interop) -> None:
    # Without the preset: no sub is refused, and Google's fixed aud is not this server.
    with pytest.raises(RefreshError, match="no sub"):
        credentials(interop, [GOOGLE_SCOPE]).refresh(Request())
    delegated = credentials(interop, [GOOGLE_SCOPE]).with_subject(SUBJECT)
    with pytest.raises(RefreshError, match=r"oauth2\.googleapis\.com/token' is not accepted"):
        delegated.refresh(Request())
