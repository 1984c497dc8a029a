"""One hint table: the provider entries give both TokenEndpointError.hint and explain; explain
reads what users paste; the Salesforce aud default; access tokens in inspect."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer.diagnose import KNOWN_ERRORS, explain_error, inspect_assertion
from jwtbearer.errors import TokenEndpointError
from jwtbearer.jose import SigningKey
from jwtbearer.jose.jws import sign_compact
from jwtbearer.oauth import default_assertion_audience


def _description(known: object) -> str:
    return " ".join(known.needles)  # type: ignore[attr-defined]


@pytest.mark.parametrize("known", KNOWN_ERRORS, ids=lambda k: f"{k.provider}:{k.needles[0]}")
def test_every_catalogued_error_is_explained_and_hinted_alike(known: object) -> None:
    error = known.error or "invalid_grant"  # type: ignore[attr-defined]
    description = _description(known)
    body = json.dumps({"error": error, "error_description": description})
    explained = explain_error(400, body)
    assert explained.recognised
    assert explained.provider == known.provider  # type: ignore[attr-defined]
    assert explained.what == known.what  # type: ignore[attr-defined]
    # The hint under the error is the same advice explain gives: one table.
    exc = TokenEndpointError(400, error=error, error_description=description, body=body)
    assert exc.hint == explained.fix
    # And explain reads the error's own text back the same way.
    assert explain_error(None, str(exc)).fix == explained.fix


def test_salesforce_audience_advice_is_right_under_the_error_and_in_explain() -> None:
    body = '{"error":"invalid_grant","error_description":"audience is invalid"}'
    exc = TokenEndpointError(400, error="invalid_grant", error_description="audience is invalid",
                             body=body)
    assert exc.hint is not None
    assert "https://login.salesforce.com" in exc.hint
    assert "token endpoint URL or its issuer" not in exc.hint
    assert explain_error(None, str(exc)).fix == exc.hint


@pytest.mark.parametrize(("token_url", "aud"), [
    ("https://login.salesforce.com/services/oauth2/token", "https://login.salesforce.com"),
    ("https://test.salesforce.com/services/oauth2/token", "https://test.salesforce.com"),
    ("https://acme.my.salesforce.com/services/oauth2/token", "https://login.salesforce.com"),
    ("https://acme--uat.sandbox.my.salesforce.com/services/oauth2/token",
     "https://test.salesforce.com"),
    ("https://acme.my.site.com.force.com/services/oauth2/token", "https://login.salesforce.com"),
    ("https://acme.lightning.force.com/services/oauth2/token", "https://login.salesforce.com"),
    ("https://evilsalesforce.com/token", "https://evilsalesforce.com/token"),
    ("https://idp.example/oauth2/token", "https://idp.example/oauth2/token"),
])
def test_default_audience(token_url: str, aud: str) -> None:
    assert default_assertion_audience(token_url) == aud


PASTED = [
    ('Error 400: {"error":"invalid_scope","error_description":"x"}', 400, "invalid_scope"),
    ('error: Error 401: {"error":"invalid_client"}\nhint: Check the client id\n'
     "Run `jwtbearer explain` with the error body for more.", 401, "invalid_client"),
    ("Authentication failed (code: invalid_grant): user hasn't approved this consumer", None,
     "invalid_grant"),
    ("invalid_grant: user hasn't approved this consumer", None, "invalid_grant"),  # old s-s
    ("invalid_grant: audience is invalid", None, "invalid_grant"),  # Authlib OAuthError
    ("requests_oauth2client.exceptions.InvalidGrant: audience is invalid", None,
     "invalid_grant"),
    ("authlib.integrations.base_client.errors.OAuthError: invalid_client: bad", None,
     "invalid_client"),
    ("error=invalid_grant&error_description=expired", None, "invalid_grant"),
    ('{"error":"invalid_grant"}', None, "invalid_grant"),
    ("invalid_grant", None, "invalid_grant"),
]


@pytest.mark.parametrize(("text", "status", "error"), PASTED)
def test_explain_reads_what_people_paste(text: str, status: int | None, error: str) -> None:
    explained = explain_error(None, text)
    assert explained.recognised
    assert explained.status == status and explained.error == error


def test_a_description_alone_is_recognised_by_its_wording() -> None:
    # requests-oauth2client prints the description alone.
    explained = explain_error(None, "user hasn't approved this consumer")
    assert explained.recognised and explained.provider == "Salesforce"


def test_spring_whitelabel_401_means_client_authentication_was_refused() -> None:
    page = ("<html><head><title>Error</title></head><body><h1>Whitelabel Error Page</h1>"
            "<p>This application has no explicit mapping for /error.</p><div>There was an "
            "unexpected error (type=Unauthorized, status=401).</div></body></html>")
    explained = explain_error(None, page)
    assert explained.recognised and explained.status == 401
    assert "client authentication was refused" in explained.what
    assert explained.error_description is not None
    assert "Whitelabel Error Page" in explained.error_description


def test_an_html_page_quotes_its_title() -> None:
    explained = explain_error(502, "<!doctype html><title>Bad Gateway</title><p>nginx</p>")
    assert explained.page_title == "Bad Gateway" and "HTML page 'Bad Gateway'" in explained.what


def test_text_that_is_no_error_is_not_recognised() -> None:
    assert not explain_error(None, "hello world").recognised


@given(st.text(max_size=300))
def test_explain_never_raises_on_any_text(text: str) -> None:
    explained = explain_error(None, text)
    assert isinstance(explained.recognised, bool)


def _jwt(header: dict[str, object], claims: dict[str, object]) -> str:
    key = SigningKey.generate("RS256", kid="k")
    typ = header.get("typ")
    return sign_compact(claims, key, typ=typ if isinstance(typ, str) else None)


def test_an_access_token_is_not_linted_as_an_assertion() -> None:
    now = 1_700_000_000
    token = _jwt({"typ": "at+jwt"}, {"iss": "https://as.example", "client_id": "c",
                                     "exp": now + 3600, "iat": now, "scope": "api"})
    report = inspect_assertion(token, now=now)
    assert report.kind == "access_token"
    codes = report.codes()
    assert "access-token" in codes
    assert not codes & {"exp-too-far", "exp-far", "jti-missing", "aud-missing", "sub-missing"}


def test_an_expired_access_token_is_still_an_error() -> None:
    now = 1_700_000_000
    token = _jwt({}, {"client_id": "c", "exp": now - 10, "iat": now - 3600})
    report = inspect_assertion(token, now=now)
    assert report.kind == "access_token" and "exp-expired" in report.codes()
