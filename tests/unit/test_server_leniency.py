"""What real clients send, accepted; what is dangerous, still refused (issue points 1-4, 6).

The core without a socket: assertion-only JWT bearer authentication and its strict opt-out,
raw and encoded Basic credentials, token_path and assertion_audiences, the presets, the kid
check. The flows against a running server are in tests/flows and tests/interop.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtbearer.jose import SigningKey
from jwtbearer.jose.assertion import make_assertion
from jwtbearer.jose.jws import b64url_encode, unverified_claims
from jwtbearer.server.app import app_for
from jwtbearer.server.config import PRESETS, parse_config
from jwtbearer.server.core import CLIENT_ASSERTION_TYPE, TokenEndpoint
from jwtbearer.server.registry import JWT_BEARER, ServerConfigError

ISSUER = "https://as.example.com"
NOW = 1_800_000_000.0
FORM = {"content-type": "application/x-www-form-urlencoded"}
SECRET = "a+b/c%2Fd:e=f g" + "x" * 20  # Base64-looking: '+', '/', '%', ':' and a space
HS_SECRET = "h" * 40


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return SigningKey.generate("RS256", kid="rsa-1")


@pytest.fixture(scope="module")
def other() -> SigningKey:
    return SigningKey.generate("RS256", kid="rsa-2")


def clients(rsa: SigningKey) -> list[dict[str, Any]]:
    both = ["client_credentials", JWT_BEARER]
    jwks = {"keys": [rsa.public_jwk()]}
    return [
        {"client_id": "svc", "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
         "grant_types": both, "scopes": ["api:read", "api:write"], "subjects": ["alice"]},
        {"client_id": "strict", "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
         "grant_types": both, "subjects": ["alice"], "require_client_authentication": True},
        {"client_id": "secret-only", "token_endpoint_auth_method": "client_secret_basic",
         "client_secret": HS_SECRET, "grant_types": both, "subjects": ["alice"]},
        {"client_id": "basic", "token_endpoint_auth_method": "client_secret_basic",
         "client_secret": SECRET, "grant_types": ["client_credentials"]},
        {"client_id": "urn:colon:id", "token_endpoint_auth_method": "client_secret_basic",
         "client_secret": SECRET, "grant_types": ["client_credentials"]},
        {"client_id": "a+b", "token_endpoint_auth_method": "client_secret_basic",
         "client_secret": SECRET, "grant_types": ["client_credentials"]},
    ]


def endpoint_for(tmp: Path, rsa: SigningKey, **top: Any) -> TokenEndpoint:
    data: dict[str, Any] = {"issuer": ISSUER, "state_dir": "state", "clients": clients(rsa)}
    data.update(top)
    return TokenEndpoint(parse_config(data, base=tmp, source="test.toml"), clock=lambda: NOW)


@pytest.fixture
def endpoint(tmp_path: Path, rsa: SigningKey) -> TokenEndpoint:
    return endpoint_for(tmp_path, rsa)


def post(endpoint: TokenEndpoint, fields: dict[str, str],
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    response = endpoint.token(urlencode(fields).encode(), headers or FORM)
    return response.status, dict(response.body)


def grant(key: SigningKey, iss: str = "svc", *, aud: str = ISSUER, sub: str | None = "alice",
          **extra: Any) -> dict[str, str]:
    assertion = make_assertion(key=key, iss=iss, sub=sub or "", aud=aud, now=NOW, lifetime=300,
                               extra_claims=extra)
    if sub is None:  # rebuild without sub, as google-auth signs it
        claims = unverified_claims(assertion)
        del claims["sub"]
        from jwtbearer.jose.jws import sign_compact
        assertion = sign_compact(claims, key)
    return {"grant_type": JWT_BEARER, "assertion": assertion}


def basic_header(raw: str) -> dict[str, str]:
    return {**FORM, "authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


# -- 1. JWT bearer: the verified assertion authenticates the client --------------------------

def test_registered_keys_authenticate_a_jwt_bearer_grant_without_client_auth(
        endpoint: TokenEndpoint, rsa: SigningKey) -> None:
    status, body = post(endpoint, grant(rsa))
    assert status == 200, body
    status, body = post(endpoint, {**grant(rsa), "client_id": "svc"})
    assert status == 200, body


def test_a_secret_only_client_authenticates_with_an_hs256_assertion(
        endpoint: TokenEndpoint) -> None:
    key = SigningKey.from_secret(HS_SECRET, alg="HS256")
    status, body = post(endpoint, grant(key, "secret-only"))
    assert status == 200, body


def test_the_assertion_must_still_verify_with_the_registered_keys(
        endpoint: TokenEndpoint, other: SigningKey) -> None:
    status, body = post(endpoint, grant(other.with_kid("rsa-1")))
    assert (status, body["error"]) == (400, "invalid_grant")


def test_require_client_authentication_keeps_the_strict_behaviour(
        endpoint: TokenEndpoint, rsa: SigningKey) -> None:
    status, body = post(endpoint, grant(rsa, "strict"))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "registered for private_key_jwt, not none" in body["error_description"]
    client_assertion = make_assertion(key=rsa, iss="strict", sub="strict", aud=ISSUER, now=NOW,
                                      lifetime=60)
    status, body = post(endpoint, {**grant(rsa, "strict"),
                                   "client_assertion_type": CLIENT_ASSERTION_TYPE,
                                   "client_assertion": client_assertion})
    assert status == 200, body


def test_sent_client_auth_must_be_the_registered_method_and_the_assertion_issuer(
        endpoint: TokenEndpoint, rsa: SigningKey) -> None:
    # svc is private_key_jwt: Basic (even with a right-looking secret) is the wrong method.
    status, body = post(endpoint, grant(rsa), basic_header("svc:whatever"))
    assert (status, body["error"]) == (401, "invalid_client")
    # Authenticated as one client, asserting as another.
    status, body = post(endpoint, grant(rsa, "svc"), basic_header(f"basic:{SECRET}"))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "not the authenticated client" in body["error_description"]
    status, body = post(endpoint, {**grant(rsa, "svc"), "client_id": "strict"})
    assert (status, body["error"]) == (400, "invalid_grant")


def test_client_credentials_still_needs_client_authentication(endpoint: TokenEndpoint) -> None:
    status, body = post(endpoint, {"grant_type": "client_credentials", "client_id": "svc"})
    assert (status, body["error"]) == (401, "invalid_client")


# -- 2. Basic credentials: form-urlencoded or raw ----------------------------------------------

@pytest.mark.parametrize("client_id", ["basic", "a+b"])
@pytest.mark.parametrize("form", ["encoded", "raw"])
def test_basic_credentials_are_accepted_encoded_or_raw(endpoint: TokenEndpoint, client_id: str,
                                                       form: str) -> None:
    raw = (f"{quote_plus(client_id)}:{quote_plus(SECRET)}" if form == "encoded"
           else f"{client_id}:{SECRET}")
    status, body = post(endpoint, {"grant_type": "client_credentials"}, basic_header(raw))
    assert status == 200, body


def test_a_client_id_with_a_colon_works_in_the_encoded_form_only(
        endpoint: TokenEndpoint) -> None:
    encoded = f"{quote_plus('urn:colon:id')}:{quote_plus(SECRET)}"
    assert post(endpoint, {"grant_type": "client_credentials"}, basic_header(encoded))[0] == 200
    status, body = post(endpoint, {"grant_type": "client_credentials"},
                        basic_header(f"urn:colon:id:{SECRET}"))
    assert (status, body["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("wrong", [SECRET[:-1], SECRET + "x", quote_plus(quote_plus(SECRET)),
                                   SECRET.replace("+", " "), ""])
def test_only_the_secret_itself_matches(endpoint: TokenEndpoint, wrong: str) -> None:
    status, body = post(endpoint, {"grant_type": "client_credentials"},
                        basic_header(f"basic:{wrong}"))
    assert (status, body["error"]) == (401, "invalid_client")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
               max_size=40))
def test_no_other_secret_matches(endpoint: TokenEndpoint, candidate: str) -> None:
    headers = basic_header(f"basic:{candidate}")
    status, _ = post(endpoint, {"grant_type": "client_credentials"}, headers)
    from urllib.parse import unquote_plus
    matches = SECRET in (candidate, unquote_plus(candidate))
    assert (status == 200) == matches


# -- 3. token_path and assertion_audiences -----------------------------------------------------

def test_token_path_moves_the_endpoint_and_the_metadata(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = endpoint_for(tmp_path, rsa, token_path="/services/oauth2/token")
    meta = endpoint.metadata().body
    assert meta["token_endpoint"] == ISSUER + "/services/oauth2/token"
    assert app_for(endpoint).token_path == "/services/oauth2/token"
    # The token endpoint URL is an accepted aud; the old /token is not.
    assert post(endpoint, grant(rsa, aud=ISSUER + "/services/oauth2/token"))[0] == 200
    assert post(endpoint, grant(rsa, aud=ISSUER + "/token"))[0] == 400


@pytest.mark.parametrize("path", ["token", "/token?x=1", "/jwks", "/a/",
                                  "/.well-known/openid-configuration"])
def test_bad_token_paths_are_refused(tmp_path: Path, rsa: SigningKey, path: str) -> None:
    with pytest.raises(ServerConfigError, match="token_path"):
        endpoint_for(tmp_path, rsa, token_path=path)


def test_assertion_audiences_are_accepted_and_others_named_in_the_error(
        tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = endpoint_for(tmp_path, rsa, assertion_audiences=["https://login.example.com"])
    assert post(endpoint, grant(rsa, aud="https://login.example.com"))[0] == 200
    status, body = post(endpoint, grant(rsa, aud="https://elsewhere.example"))
    assert (status, body["error"]) == (400, "invalid_grant")
    text = body["error_description"]
    assert "'https://elsewhere.example'" in text
    assert "https://login.example.com" in text and ISSUER + "/token" in text
    client_assertion = make_assertion(key=rsa, iss="svc", sub="svc", now=NOW, lifetime=60,
                                      aud="https://elsewhere.example")
    status, body = post(endpoint, {"grant_type": "client_credentials",
                                   "client_assertion_type": CLIENT_ASSERTION_TYPE,
                                   "client_assertion": client_assertion})
    assert (status, body["error"]) == (401, "invalid_client")
    assert "https://elsewhere.example" in body["error_description"]
    assert "https://login.example.com" in body["error_description"]


# -- 4. presets ----------------------------------------------------------------------------------

def test_salesforce_preset(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = endpoint_for(tmp_path, rsa, preset="salesforce")
    config = endpoint.config
    assert config.token_endpoint == ISSUER + "/services/oauth2/token"
    assert set(config.assertion_audiences) == {"https://login.salesforce.com",
                                               "https://test.salesforce.com"}
    assert config.instance_url == ISSUER and not config.require_jti
    status, body = post(endpoint, grant(rsa, aud="https://test.salesforce.com"))
    assert status == 200 and body["instance_url"] == ISSUER and body["issued_at"].isdigit()
    # Without jti, as Salesforce accepts.
    claims = unverified_claims(grant(rsa, aud="https://login.salesforce.com")["assertion"])
    del claims["jti"]
    from jwtbearer.jose.jws import sign_compact
    assert post(endpoint, {"grant_type": JWT_BEARER,
                           "assertion": sign_compact(claims, rsa)})[0] == 200


@pytest.mark.parametrize(("case", "error", "description"), [
    ("expired", "invalid_grant", "expired authorization code"),
    ("signature", "invalid_grant", "invalid assertion"),
    ("kid", "invalid_grant", "invalid assertion"),
    ("unapproved", "invalid_grant", "user hasn't approved this consumer"),
    ("unknown", "invalid_client_id", "client identifier invalid"),
])
def test_salesforce_preset_words_errors_as_salesforce(tmp_path: Path, rsa: SigningKey,
                                                      other: SigningKey, case: str, error: str,
                                                      description: str) -> None:
    endpoint = endpoint_for(tmp_path, rsa, preset="salesforce")
    aud = "https://login.salesforce.com"
    fields = {
        "expired": lambda: {"grant_type": JWT_BEARER, "assertion": make_assertion(
            key=rsa, iss="svc", sub="alice", aud=aud, now=NOW - 1000, lifetime=300)},
        "signature": lambda: grant(other.with_kid("rsa-1"), aud=aud),
        "kid": lambda: grant(rsa.with_kid("nope"), aud=aud),
        "unapproved": lambda: grant(rsa, aud=aud, sub="mallory"),
        "unknown": lambda: grant(rsa, "3MVGunknown", aud=aud),
    }[case]()
    status, body = post(endpoint, fields)
    assert (status, body) == (400, {"error": error, "error_description": description})


def test_google_preset(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = endpoint_for(tmp_path, rsa, preset="google")
    aud = "https://oauth2.googleapis.com/token"
    # As google-auth signs it: no sub, no jti, the scope in a claim.
    status, body = post(endpoint, grant(rsa, aud=aud, sub=None, scope="api:read"))
    assert status == 200, body
    assert body["scope"] == "api:read"
    access = unverified_claims(body["access_token"])
    assert access["sub"] == "svc"
    # The form's scope wins over the claim; the claim is checked against the registration.
    assert post(endpoint, {**grant(rsa, aud=aud, scope="api:read"), "scope": "api:write"})[1][
        "scope"] == "api:write"
    assert post(endpoint, grant(rsa, aud=aud, scope="admin"))[1]["error"] == "invalid_scope"


def test_without_the_google_preset_sub_and_jti_stay_required(endpoint: TokenEndpoint,
                                                            rsa: SigningKey) -> None:
    status, body = post(endpoint, grant(rsa, sub=None))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "no sub" in body["error_description"]


def test_explicit_keys_override_a_preset(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = endpoint_for(tmp_path, rsa, preset="salesforce", token_path="/oauth/token",
                            require_jti=True, instance_url="https://na9.example.com")
    config = endpoint.config
    assert config.token_path == "/oauth/token" and config.require_jti
    assert config.instance_url == "https://na9.example.com"
    assert config.authorize_path == PRESETS["salesforce"]["authorize_path"]


def test_an_unknown_preset_is_refused(tmp_path: Path, rsa: SigningKey) -> None:
    with pytest.raises(ServerConfigError, match="preset: 'okta' is not a preset; known: google"):
        endpoint_for(tmp_path, rsa, preset="okta")


# -- 6. stricter: a kid naming no registered key -----------------------------------------------

def test_a_kid_naming_no_registered_key_is_refused(endpoint: TokenEndpoint,
                                                   rsa: SigningKey) -> None:
    status, body = post(endpoint, grant(rsa.with_kid("someone-else")))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "kid 'someone-else' names no key" in body["error_description"]
    assert "rsa-1" in body["error_description"]
    client_assertion = make_assertion(key=rsa.with_kid("x"), iss="svc", sub="svc", aud=ISSUER,
                                      now=NOW, lifetime=60)
    status, body = post(endpoint, {"grant_type": "client_credentials",
                                   "client_assertion_type": CLIENT_ASSERTION_TYPE,
                                   "client_assertion": client_assertion})
    assert (status, body["error"]) == (401, "invalid_client")


def test_no_kid_still_verifies_with_the_single_key(endpoint: TokenEndpoint,
                                                   rsa: SigningKey) -> None:
    header = b64url_encode(b'{"alg":"RS256","typ":"JWT"}')
    claims = unverified_claims(grant(rsa)["assertion"])
    import json
    payload = b64url_encode(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}"
    token = f"{signing_input}.{b64url_encode(rsa.sign(signing_input.encode()))}"
    assert post(endpoint, {"grant_type": JWT_BEARER, "assertion": token})[0] == 200
