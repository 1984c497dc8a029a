"""inspect_assertion lints crafted assertions; explain_error recognises providers' messages."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtbearer.diagnose import (
    KNOWN_ERRORS,
    duration,
    explain_error,
    inspect_assertion,
    numeric_date,
)
from jwtbearer.errors import JWTBearerError
from jwtbearer.jose.jws import sign_compact
from jwtbearer.jose.keys import SigningKey, VerifyingKey

NOW = 1_700_000_000.0
TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.generate("RS256")


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def good_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "client-id", "sub": "alice@example.com", "aud": "https://login.salesforce.com",
        "iat": int(NOW), "exp": int(NOW) + 180, "jti": "abc123",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def codes(token: str, **kwargs: Any) -> set[str]:
    return inspect_assertion(token, now=NOW, **kwargs).codes()


def test_a_good_assertion_has_no_errors(rsa_key: SigningKey) -> None:
    token = sign_compact(good_claims(), rsa_key)
    report = inspect_assertion(token, now=NOW, expected_audience=TOKEN_URL, key=rsa_key)
    assert report.is_jwt and report.ok
    assert report.signature_valid is True
    assert report.signature_length == 256
    assert report.claims["sub"] == "alice@example.com"
    assert not report.warnings


@pytest.mark.parametrize(
    ("changes", "code", "level"),
    [
        ({"exp": int(NOW * 1000) + 180_000}, "exp-milliseconds", "error"),
        ({"iat": int(NOW * 1000)}, "iat-milliseconds", "error"),
        ({"exp": None}, "exp-missing", "error"),
        ({"exp": str(int(NOW) + 100)}, "exp-string", "error"),
        ({"exp": int(NOW) - 10}, "exp-expired", "error"),
        ({"exp": int(NOW) + 600}, "exp-far", "warning"),
        ({"exp": int(NOW) + 7200}, "exp-too-far", "error"),
        ({"iat": NOW + 0.5}, "iat-float", "warning"),
        ({"iat": int(NOW) + 600}, "iat-future", "error"),
        ({"iat": int(NOW) + 10}, "iat-future", "warning"),
        ({"iat": None}, "iat-missing", "info"),
        ({"nbf": int(NOW) + 600}, "nbf-future", "error"),
        ({"jti": None}, "jti-missing", "warning"),
        ({"jti": 5}, "jti-not-string", "error"),
        ({"aud": None}, "aud-missing", "error"),
        ({"aud": ["https://login.salesforce.com"]}, "aud-array", "warning"),
        ({"iss": None}, "iss-missing", "error"),
        ({"sub": None}, "sub-missing", "warning"),
        ({"exp": True}, "exp-not-number", "error"),
    ],
)
def test_claim_findings(rsa_key: SigningKey, changes: dict[str, Any], code: str,
                        level: str) -> None:
    token = sign_compact(good_claims(**changes), rsa_key)
    report = inspect_assertion(token, now=NOW)
    found = {f.code: f for f in report.findings}
    assert code in found, report.findings
    assert found[code].level == level
    assert found[code].fix
    assert report.ok is (not any(f.level == "error" for f in report.findings))


def test_audience_is_compared_with_the_token_url_or_its_issuer(rsa_key: SigningKey) -> None:
    issuer_aud = sign_compact(good_claims(), rsa_key)
    assert "aud-mismatch" not in codes(issuer_aud, expected_audience=TOKEN_URL)
    exact = sign_compact(good_claims(aud=TOKEN_URL), rsa_key)
    assert "aud-mismatch" not in codes(exact, expected_audience=TOKEN_URL)
    wrong = sign_compact(good_claims(aud="https://test.salesforce.com"), rsa_key)
    report = inspect_assertion(wrong, now=NOW, expected_audience=TOKEN_URL)
    finding = next(f for f in report.findings if f.code == "aud-mismatch")
    assert "login.salesforce.com" in (finding.fix or "")


@pytest.mark.parametrize(
    ("header", "code", "level"),
    [
        ({"alg": "none"}, "alg-none", "error"),
        ({"alg": "RS256", "crit": ["exp"]}, "header-crit", "error"),
        ({"alg": "RS256", "jku": "https://evil.example/jwks"}, "header-jku", "warning"),
        ({"alg": "RS256", "x5u": "https://evil.example/c"}, "header-x5u", "warning"),
        ({"alg": "RS256", "jwk": {"kty": "RSA"}}, "header-jwk", "warning"),
        ({"alg": "RS256", "x5c": ["AAAA"]}, "header-x5c", "warning"),
        ({"alg": "RS256", "typ": "at+jwt"}, "typ-unexpected", "warning"),
        ({"alg": "RS256"}, "kid-missing", "info"),
        ({"typ": "JWT"}, "alg-missing", "error"),
        ({"alg": "XX999"}, "alg-unknown", "error"),
    ],
)
def test_header_findings(header: dict[str, Any], code: str, level: str) -> None:
    token = f"{b64(header)}.{b64(good_claims())}.{b64(b'x' * 32)}"
    found = {f.code: f.level for f in inspect_assertion(token, now=NOW).findings}
    assert found.get(code) == level


def test_unsigned_token_is_an_error() -> None:
    token = f"{b64({'alg': 'RS256'})}.{b64(good_claims())}."
    assert "alg-none" in codes(token)


def test_hmac_assertion_warns(rsa_key: SigningKey) -> None:
    token = sign_compact(good_claims(), SigningKey.from_secret(b"k" * 32))
    assert "alg-hmac" in codes(token)


def test_signature_checked_only_with_a_key(rsa_key: SigningKey) -> None:
    token = sign_compact(good_claims(), rsa_key)
    assert inspect_assertion(token, now=NOW).signature_valid is None
    other = SigningKey.generate("RS256")
    report = inspect_assertion(token, now=NOW, key=other.verifying_key())
    assert report.signature_valid is False
    assert "signature-invalid" in report.codes() and not report.ok
    es = SigningKey.generate("ES256")
    assert inspect_assertion(token, now=NOW, key=[es.verifying_key()]).signature_valid is False
    pub = VerifyingKey.from_public_key(rsa_key.public_key())
    assert inspect_assertion(token, now=NOW, key=pub).signature_valid is True


@pytest.mark.parametrize(
    "text",
    ["", "hello", "a.b", "a.b.c.d", "!!!.###.$$$", "eyJhbGciOiJSUzI1NiJ9.e30", "{}.{}.{}",
     f"{b64(b'[1]')}.{b64({})}.", f"{b64({'alg': 'RS256'})}.{b64(b'not json')}.AAAA"],
)
def test_not_a_jwt(text: str) -> None:
    report = inspect_assertion(text, now=NOW)
    assert not report.is_jwt
    assert report.codes() == {"not-a-jwt"}
    assert not report.ok


def test_jwe_is_named() -> None:
    report = inspect_assertion("a.b.c.d.e", now=NOW)
    assert "JWE" in report.findings[0].message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_inspect_never_raises_on_any_text(text: str) -> None:
    report = inspect_assertion(text, now=NOW)
    assert report.is_jwt or report.codes() == {"not-a-jwt"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "jku", "x5c", "zz"]),
                       json_values, max_size=5),
       st.dictionaries(st.sampled_from(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "x"]),
                       json_values, max_size=8),
       st.binary(max_size=64), st.none() | st.text(max_size=30))
def test_inspect_never_raises_on_any_claims(header: dict[str, Any], claims: dict[str, Any],
                                            sig: bytes, expected: str | None) -> None:
    token = f"{b64(header)}.{b64(claims)}.{b64(sig)}"
    report = inspect_assertion(token, now=NOW, expected_audience=expected)
    assert report.is_jwt
    for finding in report.findings:
        assert finding.level in ("error", "warning", "info")


# -- explain_error ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "provider", "word"),
    [
        (400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
         "Salesforce", "pre-authorized"),
        (400, '{"error":"invalid_grant","error_description":"audience is invalid"}',
         "Salesforce", "login.salesforce.com"),
        (400, '{"error":"invalid_grant","error_description":"invalid assertion"}',
         "Salesforce", "certificate"),
        (400, '{"error":"invalid_grant","error_description":"expired authorization code"}',
         "Salesforce", "exp"),
        (400, '{"error":"invalid_client_id","error_description":"client identifier invalid"}',
         "Salesforce", "consumer key"),
        (401, {"error": "invalid_client", "error_description":
               "The client_assertion token has an expiration too far into the future."},
         "Okta", "300"),
        (401, {"error": "invalid_client", "error_description": "AADSTS700027: Client assertion "
               "contains an invalid signature. [Reason - The key was not found.]"},
         "Microsoft Entra ID (Azure AD)", "certificate"),
        (401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
               "secret provided. Ensure the secret being sent in the request is the client "
               "secret value, not the client secret ID"}, "Microsoft Entra ID (Azure AD)",
         "Value"),
        (400, {"error": "invalid_request", "error_description": "AADSTS50027: JWT token is "
               "invalid or malformed."}, "Microsoft Entra ID (Azure AD)", "inspect"),
        (403, {"error": "access_denied", "error_description":
               "Service not enabled within domain: https://api.example.com"}, "Auth0",
         "Identifier"),
        (401, {"error": "invalid_client", "error_description":
               "Request denied: Unsupported authentication method"}, "PingOne", "--auth"),
        (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
         "Google", "client_email"),
        (400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a "
               "short-lived token (60 minutes) and in a reasonable timeframe. Check your iat "
               "and exp values in the JWT claim."}, "Google", "3600"),
    ],
)
def test_known_messages(status: int, body: Any, provider: str, word: str) -> None:
    ex = explain_error(status, body)
    assert ex.provider == provider
    assert word in ex.fix + ex.why + ex.what
    assert ex.status == status


def test_aadsts_code_must_match_exactly() -> None:
    # AADSTS7000215 must not be taken for AADSTS700021x or the reverse.
    ex = explain_error(401, {"error": "invalid_client", "error_description": "AADSTS7000222: x"})
    assert "expired" in ex.what
    unknown = explain_error(401, {"error": "invalid_client", "error_description": "AADSTS99999"})
    assert unknown.provider == "Microsoft Entra ID (Azure AD)"
    assert unknown.what == "Client authentication failed."


def test_generic_codes_and_statuses() -> None:
    assert explain_error(400, {"error": "invalid_scope"}).what.startswith("A requested scope")
    assert "rate" in explain_error(429, "").why
    assert explain_error(503, "oops").what == "The server failed."
    assert "not an OAuth error" in explain_error(None, "plain text").what
    assert "custom_thing" in explain_error(400, {"error": "custom_thing"}).what


def test_form_encoded_body() -> None:
    ex = explain_error(400, "error=invalid_grant&error_description=audience+is+invalid")
    assert ex.error == "invalid_grant" and ex.provider == "Salesforce"


def test_html_body() -> None:
    ex = explain_error(401, "<html><body><h1>Whitelabel Error Page</h1></body></html>")
    assert "HTML" in ex.what and "401" in ex.what


def test_success_body_is_not_echoed() -> None:
    secret = "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.sl.eyJzdWIiOiIxIn0.abcdefghijk"
    ex = explain_error(200, json.dumps({"access_token": secret, "token_type": "Bearer"}))
    assert secret not in repr(ex)
    assert "not an error" in ex.what


def test_description_with_a_token_is_redacted() -> None:
    jwt = f"{b64({'alg': 'RS256'})}.{b64({'sub': 'x'})}.c2lnbmF0dXJlc2lnbmF0dXJl"
    ex = explain_error(400, {"error": "invalid_grant", "error_description": f"bad {jwt}"})
    assert "c2lnbmF0dXJlc2lnbmF0dXJl" not in repr(ex)


def test_table_is_well_formed() -> None:
    providers = {k.provider for k in KNOWN_ERRORS}
    assert providers == {"Salesforce", "Okta", "Microsoft Entra ID (Azure AD)", "Auth0",
                         "PingOne", "Google"}
    for known in KNOWN_ERRORS:
        assert known.needles and all(known.needles)
        assert known.what and known.why and known.fix


@settings(max_examples=300, deadline=None)
@given(st.none() | st.integers(min_value=-1, max_value=999), st.text(max_size=400))
def test_explain_never_raises_on_text(status: int | None, body: str) -> None:
    try:
        ex = explain_error(status, body)
    except JWTBearerError:
        return
    assert ex.what and ex.fix


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["error", "error_description", "message", "x"]),
                       json_values, max_size=4))
def test_explain_never_raises_on_mappings(body: dict[str, Any]) -> None:
    ex = explain_error(400, body)
    assert ex.what
    assert explain_error(400, json.dumps(body)).what


def test_pasted_forms_are_understood(rsa_key: SigningKey) -> None:
    token = sign_compact(good_claims(), rsa_key)
    for pasted in (f"Bearer {token}", f"assertion={token}", f'"{token}"\n', f"  {token}  "):
        report = inspect_assertion(pasted, now=NOW, key=rsa_key)
        assert report.is_jwt and report.signature_valid is True


def test_a_bare_error_code_is_explained() -> None:
    ex = explain_error(None, "invalid_grant")
    assert ex.error == "invalid_grant"
    assert ex.what.startswith("The grant")


def test_an_aadsts_number_is_not_taken_for_its_prefix() -> None:
    # AADSTS500121 (strong authentication failed) starts with AADSTS50012's digits.
    ex = explain_error(400, {"error": "invalid_grant", "error_description":
                             "AADSTS500121: Authentication failed during strong authentication."})
    assert ex.known is None
    assert ex.provider == "Microsoft Entra ID (Azure AD)"
    assert ex.what.startswith("The grant")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45.9, "45 s"), (-45, "45 s"), (119, "119 s"), (120, "2 min"),
     (299, "4 min 59 s"), (300, "5 min"), (7200, "2 h"), (7500, "2 h 5 min"),
     (3 * 86400 + 5, "3 days")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(1_700_000_000, 1_700_000_000.0), (1_700_000_000_000, 1_700_000_000.0), (1.5, 1.5),
     (True, None), ("1700000000", None), (None, None), ([1], None)],
)
def test_numeric_date(value: Any, seconds: float | None) -> None:
    assert numeric_date(value) == seconds
