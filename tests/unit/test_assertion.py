"""JWT and JWS, the Apex ``Auth.JWT`` / ``Auth.JWS`` pair, checked with PyJWT as an oracle."""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer import JWS, JWT, ConfigurationError, KeyLoadError, KeyStore, SigningKey
from jwtbearer.jose import REGISTERED_CLAIMS, make_assertion, unverified_header
from jwtbearer.jose.jws import b64url_decode, b64url_encode

NOW = 1_700_000_000


def clock() -> float:
    return NOW + 0.75  # a fractional clock: claims must still be whole seconds


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.generate("RS256")


def public_pem(key: SigningKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def decode(token: str, key: SigningKey, aud: str | None = None) -> dict[str, Any]:
    """PyJWT, an independent implementation, verifies and decodes (time checks off: fixed now)."""
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
    claims: dict[str, Any] = pyjwt.decode(
        token, public_pem(key), algorithms=[key.alg], audience=aud, options=options
    )
    return claims


def apex_jwt() -> JWT:
    return JWT(iss="3MVG9-client", sub="user@example.com", aud="https://login.salesforce.com")


def test_claims_are_integer_seconds_with_default_validity_300(rsa_key: SigningKey) -> None:
    token = JWS(apex_jwt(), rsa_key, clock=clock).compact_serialization()
    claims = decode(token, rsa_key, aud="https://login.salesforce.com")
    assert claims["iss"] == "3MVG9-client"
    assert claims["sub"] == "user@example.com"
    assert claims["iat"] == NOW and type(claims["iat"]) is int
    assert claims["exp"] == NOW + 300 and type(claims["exp"]) is int
    assert "nbf" not in claims
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 22
    # The wire JSON itself writes the times as integers, never 1700000000.75 or 1.7e9.
    wire = b64url_decode(token.split(".")[1]).decode()
    assert f'"iat":{NOW},' in wire and f'"exp":{NOW + 300},' in wire


def test_validity_length_and_nbf_clock_skew(rsa_key: SigningKey) -> None:
    jwt = apex_jwt()
    jwt.validity_length = 120
    jwt.nbf_clock_skew = 30
    claims = decode(JWS(jwt, rsa_key, clock=clock).compact_serialization(), rsa_key,
                    aud="https://login.salesforce.com")
    assert claims["exp"] == NOW + 120
    assert claims["nbf"] == NOW - 30
    assert all(type(claims[name]) is int for name in ("iat", "exp", "nbf"))


@pytest.mark.parametrize("bad", [0, -5, 1.5, "300", True, 1_700_000_300_000])
def test_validity_length_refuses_non_seconds(bad: Any) -> None:
    jwt = apex_jwt()
    with pytest.raises(ConfigurationError):
        jwt.validity_length = bad
    assert jwt.validity_length == 300


def test_a_millisecond_clock_is_refused(rsa_key: SigningKey) -> None:
    jws = JWS(apex_jwt(), rsa_key, clock=lambda: 1_700_000_000_000.0)
    with pytest.raises(ConfigurationError, match="milliseconds"):
        jws.compact_serialization()


@pytest.mark.parametrize("name", sorted(REGISTERED_CLAIMS))
def test_additional_claims_may_not_name_a_registered_claim(name: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as info:
        JWT(iss="a", additional_claims={name: 1})
    assert isinstance(info.value, ValueError)
    jwt = JWT(iss="a")
    with pytest.raises(ValueError):
        jwt.additional_claims = {"scope": "api", name: 1}


def test_registered_claim_slipped_in_place_is_refused_at_signing(rsa_key: SigningKey) -> None:
    jwt = apex_jwt()
    jwt.additional_claims["exp"] = 99
    with pytest.raises(ConfigurationError, match="exp"):
        JWS(jwt, rsa_key).compact_serialization()


def test_additional_claims_are_signed(rsa_key: SigningKey) -> None:
    jwt = apex_jwt()
    jwt.additional_claims = {"scope": "api refresh_token", "nested": {"a": [1, 2]}}
    claims = decode(JWS(jwt, rsa_key).compact_serialization(), rsa_key,
                    aud="https://login.salesforce.com")
    assert claims["scope"] == "api refresh_token"
    assert claims["nested"] == {"a": [1, 2]}


def test_additional_claims_must_be_json() -> None:
    with pytest.raises(ConfigurationError, match="JSON"):
        JWT(additional_claims={"when": object()})


def test_to_json_is_the_claim_set() -> None:
    data = json.loads(apex_jwt().to_json(now=NOW))
    assert data["aud"] == "https://login.salesforce.com"
    assert data["exp"] - data["iat"] == 300 and data["iat"] == NOW


def test_clone_is_independent() -> None:
    original = apex_jwt()
    original.additional_claims = {"scope": "api", "roles": ["a"]}
    copy = original.clone()
    copy.sub = "other@example.com"
    copy.validity_length = 60
    copy.additional_claims["roles"].append("b")
    copy.additional_claims["scope"] = "web"
    assert original.sub == "user@example.com"
    assert original.validity_length == 300
    assert original.additional_claims == {"scope": "api", "roles": ["a"]}


def test_each_jws_gets_a_fresh_jti_and_one_jws_signs_once(rsa_key: SigningKey) -> None:
    jwt = apex_jwt()
    first, second = JWS(jwt, rsa_key), JWS(jwt, rsa_key)
    a = decode(first.compact_serialization(), rsa_key, aud="https://login.salesforce.com")
    b = decode(second.compact_serialization(), rsa_key, aud="https://login.salesforce.com")
    assert a["jti"] != b["jti"]
    assert first.compact_serialization() == first.compact_serialization()
    again = first.clone()
    assert not again.signed
    c = decode(again.compact_serialization(), rsa_key, aud="https://login.salesforce.com")
    assert c["jti"] not in (a["jti"], b["jti"])


def test_jws_clone_copies_the_jwt(rsa_key: SigningKey) -> None:
    jws = JWS(apex_jwt(), rsa_key)
    copy = jws.clone()
    assert copy.jwt is not None and jws.jwt is not None
    copy.jwt.sub = "changed"
    assert jws.jwt.sub == "user@example.com"


def test_jws_of_a_json_string_signs_it_verbatim(rsa_key: SigningKey) -> None:
    payload = '{"iss":"x","sub":"y","aud":"z","exp":1700000300}'
    token = JWS(payload, rsa_key).compact_serialization()
    assert token.split(".")[1] == b64url_encode(payload.encode())
    assert decode(token, rsa_key, aud="z")["exp"] == 1_700_000_300


def test_jws_of_a_base64url_payload_as_apex_documents(rsa_key: SigningKey) -> None:
    payload = '{"iss":"x","aud":"z"}'
    token = JWS(b64url_encode(payload.encode()), rsa_key).compact_serialization()
    assert decode(token, rsa_key, aud="z") == {"iss": "x", "aud": "z"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "JSON object"),
        ("[1, 2]", "JSON object"),
        ('{"exp": 1700000300000}', "milliseconds"),
        ('{"exp": "1700000300"}', "seconds"),
    ],
)
def test_bad_payload_strings_are_refused(rsa_key: SigningKey, payload: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        JWS(payload, rsa_key)


def test_jws_by_key_store_name(rsa_key: SigningKey) -> None:
    created = KeyStore().create("my-cert")  # $JWTBEARER_HOME is a fresh folder for this test
    token = JWS(apex_jwt(), "my-cert").compact_serialization()
    header = unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == created.thumbprint()
    assert decode(token, created, aud="https://login.salesforce.com")["sub"] == "user@example.com"


def test_unknown_key_name_says_how_to_create_it() -> None:
    with pytest.raises(KeyLoadError, match="keys create nope"):
        JWS(apex_jwt(), "nope")


def test_x5t_s256_header_option() -> None:
    key = KeyStore().create("with-cert")
    token = JWS(apex_jwt(), key, x5t_s256=True).compact_serialization()
    header = unverified_header(token)
    assert header["x5t#S256"] == key.x5t_s256
    assert "x5t#S256" not in unverified_header(JWS(apex_jwt(), key).compact_serialization())


def test_x5t_s256_needs_a_certificate(rsa_key: SigningKey) -> None:
    with pytest.raises(ConfigurationError, match="certificate"):
        JWS(apex_jwt(), rsa_key, x5t_s256=True)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
def test_every_asymmetric_algorithm_verifies_in_pyjwt(alg: str) -> None:
    key = SigningKey.generate(alg)
    token = JWS(apex_jwt(), key, clock=clock).compact_serialization()
    assert decode(token, key, aud="https://login.salesforce.com")["exp"] == NOW + 300


def test_hmac_assertion_verifies_in_pyjwt() -> None:
    secret = "s" * 32
    key = SigningKey.from_secret(secret, alg="HS256")
    token = JWS(apex_jwt(), key).compact_serialization()
    claims = pyjwt.decode(
        token, secret, algorithms=["HS256"], audience="https://login.salesforce.com"
    )
    assert claims["iss"] == "3MVG9-client"


def test_make_assertion_keyword_form(rsa_key: SigningKey) -> None:
    token = make_assertion(key=rsa_key, iss="c", sub="c", aud=["a", "b"], lifetime=60,
                           now=NOW + 0.9, nbf_skew=5, extra_claims={"x": 1})
    claims = decode(token, rsa_key, aud="a")
    assert (claims["iat"], claims["exp"], claims["nbf"]) == (NOW, NOW + 60, NOW - 5)
    assert claims["aud"] == ["a", "b"] and claims["x"] == 1


def test_repr_shows_no_signature(rsa_key: SigningKey) -> None:
    jws = JWS(apex_jwt(), rsa_key)
    signature = jws.compact_serialization().split(".")[2]
    assert signature not in repr(jws)
    assert "signed" in repr(jws)


@given(
    validity=st.integers(min_value=1, max_value=10**8),
    skew=st.none() | st.integers(min_value=0, max_value=3600),
    now=st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False),
)
def test_time_claims_are_always_integers(validity: int, skew: int | None, now: float) -> None:
    jwt = JWT(iss="i", validity_length=validity, nbf_clock_skew=skew)
    claims = jwt.claims(now=now)
    assert type(claims["iat"]) is int and claims["iat"] == int(now)
    assert type(claims["exp"]) is int and claims["exp"] == int(now) + validity
    if skew is None:
        assert "nbf" not in claims
    else:
        assert type(claims["nbf"]) is int and claims["nbf"] == int(now) - skew
    assert "." not in json.dumps({k: claims[k] for k in ("iat", "exp")})
