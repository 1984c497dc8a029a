"""Grants as form fields (RFC 7523 §2.1, RFC 6749 §4.1.3/§4.4/§6, RFC 7636)."""

from __future__ import annotations

import pytest

import jwtbearer as jb

ENDPOINT = "https://auth.example.com/oauth2/token"
NOW = 1_800_000_000.0


@pytest.fixture
def key() -> jb.SigningKey:
    return jb.SigningKey.generate("ES256")


def test_jwt_bearer_signs_the_template_afresh_on_every_form(key: jb.SigningKey) -> None:
    grant = jb.JWTBearer(jb.JWT(iss="client", sub="alice@example.com"), key)
    first = grant.form(ENDPOINT, now=NOW)
    second = grant.form(ENDPOINT, now=NOW + 10)
    assert jb.oauth.JWT_BEARER_GRANT == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert first["grant_type"] == jb.oauth.JWT_BEARER_GRANT
    assert first["assertion"] != second["assertion"]
    one = jb.jose.verify_compact(first["assertion"], key.verifying_key()).claims()
    two = jb.jose.verify_compact(second["assertion"], key.verifying_key()).claims()
    assert one["jti"] != two["jti"]
    assert (one["iat"], one["exp"]) == (int(NOW), int(NOW) + 300)
    assert (two["iat"], two["exp"]) == (int(NOW) + 10, int(NOW) + 310)
    assert one["aud"] == ENDPOINT  # the template had no aud: the token endpoint is used
    assert one["iss"] == "client" and one["sub"] == "alice@example.com"
    assert "scope" not in first


def test_jwt_bearer_keeps_an_explicit_audience_and_sends_scope(key: jb.SigningKey) -> None:
    jwt = jb.JWT(iss="c", sub="s", aud="https://login.salesforce.com")
    form = jb.JWTBearer(jwt, key, scope=["api", "refresh_token"]).form(ENDPOINT, now=NOW)
    assert jb.jose.unverified_claims(form["assertion"])["aud"] == "https://login.salesforce.com"
    assert form["scope"] == "api refresh_token"


def test_jwt_bearer_resolves_a_key_store_name() -> None:
    store = jb.KeyStore()
    store.create("my-cert")
    form = jb.JWTBearer(jb.JWT(iss="c", sub="s"), "my-cert").form(ENDPOINT, now=NOW)
    assert jb.jose.verify_compact(form["assertion"], store.get("my-cert").verifying_key())


def test_jwt_bearer_with_a_ready_made_assertion_sends_it_as_is(key: jb.SigningKey) -> None:
    ready = jb.JWS(jb.JWT(iss="c", sub="s", aud="a"), key).compact_serialization()
    grant = jb.JWTBearer(ready)
    assert grant.form(ENDPOINT, now=NOW)["assertion"] == ready
    assert grant.form(ENDPOINT, now=NOW + 5)["assertion"] == ready
    assert grant.cache_identity()["subject"] == "s"
    signature = ready.rsplit(".", 1)[1]
    assert signature not in repr(grant) and "<signature removed>" in repr(grant)
    with pytest.raises(jb.ConfigurationError, match="as is"):
        jb.JWTBearer(ready, key)
    with pytest.raises(jb.ConfigurationError, match="compact JWS"):
        jb.JWTBearer("not-a-jwt")


def test_jwt_bearer_resigns_a_jws_over_a_jwt(key: jb.SigningKey) -> None:
    grant = jb.JWTBearer(jb.JWS(jb.JWT(iss="c", sub="s"), key))
    a, b = (grant.form(ENDPOINT, now=NOW)["assertion"] for _ in range(2))
    assert jb.jose.unverified_claims(a)["jti"] != jb.jose.unverified_claims(b)["jti"]
    assert jb.jose.unverified_claims(a)["aud"] == ENDPOINT


def test_jwt_bearer_needs_a_key_for_a_template() -> None:
    with pytest.raises(jb.ConfigurationError, match="key="):
        jb.JWTBearer(jb.JWT(iss="c", sub="s"))


def test_jwt_bearer_identity_names_issuer_subject_audience_scope(key: jb.SigningKey) -> None:
    grant = jb.JWTBearer(jb.JWT(iss="c", sub="s", aud="https://x"), key, scope="api")
    assert grant.cache_identity() == {
        "grant_type": jb.oauth.JWT_BEARER_GRANT, "issuer": "c", "subject": "s",
        "audience": "https://x", "scope": "api",
    }


def test_client_credentials_form_and_identity() -> None:
    grant = jb.ClientCredentials(scope="read write", audience="https://api", resource="urn:r",
                                 extra={"tenant": "t1"})
    assert grant.form(ENDPOINT, now=NOW) == {
        "grant_type": "client_credentials", "scope": "read write", "audience": "https://api",
        "resource": "urn:r", "tenant": "t1",
    }
    identity = grant.cache_identity()
    assert identity["scope"] == "read write" and identity["audience"] == "https://api"
    assert identity["extra.tenant"] == "t1"
    assert jb.ClientCredentials().form(ENDPOINT, now=NOW) == {"grant_type": "client_credentials"}


@pytest.mark.parametrize("field", ["grant_type", "client_id", "client_secret",
                                   "client_assertion", "client_assertion_type", "scope"])
def test_client_credentials_extra_may_not_override(field: str) -> None:
    with pytest.raises(jb.ConfigurationError, match=field):
        jb.ClientCredentials(extra={field: "x"})


def test_client_credentials_extra_is_a_frozen_copy() -> None:
    extra = {"tenant": "t1"}
    grant = jb.ClientCredentials(extra=extra)
    extra["tenant"] = "t2"
    assert grant.form(ENDPOINT, now=NOW)["tenant"] == "t1"


def test_pkce_matches_rfc_7636_appendix_b() -> None:
    pkce = jb.PKCE.from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce.method == "S256"
    fresh = jb.PKCE.generate()
    assert 43 <= len(fresh.verifier) <= 128 and fresh.verifier not in repr(fresh)
    with pytest.raises(jb.ConfigurationError, match="43 to 128"):
        jb.PKCE.from_verifier("short")


def test_authorization_code_form_hides_the_code() -> None:
    verifier = jb.PKCE.generate().verifier
    grant = jb.AuthorizationCode("the-code-123", "https://app/cb", verifier)
    assert grant.form(ENDPOINT, now=NOW) == {
        "grant_type": "authorization_code", "code": "the-code-123",
        "redirect_uri": "https://app/cb", "code_verifier": verifier,
    }
    assert "the-code-123" not in repr(grant) and verifier not in repr(grant)
    assert "the-code-123" not in str(grant.cache_identity())
    assert "code_verifier" not in jb.AuthorizationCode("c", "https://app/cb").form(
        ENDPOINT, now=NOW
    )


def test_refresh_token_form_and_repr() -> None:
    grant = jb.RefreshToken("rt-secret-value", scope="api")
    assert grant.form(ENDPOINT, now=NOW) == {
        "grant_type": "refresh_token", "refresh_token": "rt-secret-value", "scope": "api",
    }
    assert "rt-secret-value" not in repr(grant)
    assert "rt-secret-value" not in str(grant.cache_identity())
    with pytest.raises(jb.ConfigurationError):
        jb.RefreshToken("")


@pytest.mark.parametrize("scope", ['a"b', "a\\b", 5])
def test_scope_syntax_is_checked(scope: object) -> None:
    with pytest.raises(jb.ConfigurationError, match="scope"):
        jb.ClientCredentials(scope=scope)  # type: ignore[arg-type]


def test_grants_satisfy_the_protocol(key: jb.SigningKey) -> None:
    for grant in (jb.JWTBearer(jb.JWT(iss="c", sub="s"), key), jb.ClientCredentials(),
                  jb.AuthorizationCode("c", "https://x"), jb.RefreshToken("r")):
        assert isinstance(grant, jb.client.Grant)
        assert grant.form(ENDPOINT, now=NOW)["grant_type"] == grant.grant_type
