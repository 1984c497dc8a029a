"""JWTValidator and JWTUtil on tokens made here: every refusal is typed and names both values."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

import jwtbearer as jb
from jwtbearer.errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidIssuer,
    InvalidSignature,
    InvalidTokenType,
    MalformedToken,
    MissingClaim,
    TokenNotYetValid,
    UnknownKey,
)
from jwtbearer.jose.jws import b64url_encode, sign_compact
from jwtbearer.testing import FakeClock

ISS = "https://issuer.example.com"
AUD = "https://api.example.com"
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def key() -> jb.SigningKey:
    return jb.SigningKey.generate("ES256", kid="k1")


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "svc", "iat": NOW, "exp": NOW + 300,
                            "scope": "api:read api:write"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(key: jb.SigningKey, typ: str | None = "at+jwt", **overrides: Any) -> str:
    return sign_compact(claims(**overrides), key, typ=typ)


def validator(key: jb.SigningKey, **kw: Any) -> jb.JWTValidator:
    kw.setdefault("clock", FakeClock(NOW))
    return jb.JWTValidator(issuer=ISS, audience=AUD, keys=[key.verifying_key()], **kw)


def raw(header: dict[str, Any], payload: dict[str, Any], key: jb.SigningKey) -> str:
    signing_input = (f"{b64url_encode(json.dumps(header).encode())}."
                     f"{b64url_encode(json.dumps(payload).encode())}")
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"


def test_a_good_token_validates(key: jb.SigningKey) -> None:
    result = validator(key, typ="at+jwt").validate(token(key))
    assert result.claims["sub"] == "svc" and result.subject == "svc"
    assert result.issuer == ISS and result.scopes == {"api:read", "api:write"}
    assert result.header["kid"] == "k1" and result.key.kid == "k1"
    assert "eyJ" not in repr(result)


def test_audience_may_be_an_array_containing_ours(key: jb.SigningKey) -> None:
    v = validator(key)
    assert v.validate(token(key, aud=["https://other", AUD])).claims["aud"][1] == AUD
    with pytest.raises(InvalidAudience) as info:
        v.validate(token(key, aud=["https://other"]))
    assert info.value.claim == "aud" and info.value.actual == ["https://other"]
    assert AUD in str(info.value) and "https://other" in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "error", "claim"),
    [
        ({"iss": "https://evil.example"}, InvalidIssuer, "iss"),
        ({"iss": None}, MissingClaim, "iss"),
        ({"aud": "https://other"}, InvalidAudience, "aud"),
        ({"aud": None}, MissingClaim, "aud"),
        ({"exp": NOW - 31}, ExpiredToken, "exp"),
        ({"exp": None}, MissingClaim, "exp"),
        ({"nbf": NOW + 31}, TokenNotYetValid, "nbf"),
        ({"iat": NOW + 31}, TokenNotYetValid, "iat"),
        ({"exp": "tomorrow"}, MalformedToken, "exp"),
        ({"exp": True}, MalformedToken, "exp"),
    ],
)
def test_each_refusal_is_typed_and_names_the_claim(
    key: jb.SigningKey, overrides: dict[str, Any], error: type[jb.InvalidToken], claim: str
) -> None:
    with pytest.raises(error) as info:
        validator(key).validate(token(key, **overrides))
    exc = info.value
    assert isinstance(exc, jb.InvalidToken) and isinstance(exc, jb.JWTValidationException)
    assert exc.claim == claim and claim in str(exc)
    assert exc.expected is not None
    if claim in overrides and overrides[claim] is not None:
        assert exc.actual == overrides[claim]


def test_leeway_is_honoured_both_ways(key: jb.SigningKey) -> None:
    v = validator(key)
    assert v.validate(token(key, exp=NOW - 29, nbf=NOW + 29, iat=NOW + 29))
    strict = validator(key, leeway=0)
    with pytest.raises(ExpiredToken):
        strict.validate(token(key, exp=NOW))


def test_required_claims(key: jb.SigningKey) -> None:
    v = validator(key, required_claims=("exp", "jti"))
    with pytest.raises(MissingClaim, match="jti"):
        v.validate(token(key))
    assert v.validate(token(key, jti="x")).claims["jti"] == "x"


def test_typ_at_jwt_is_required_when_asked(key: jb.SigningKey) -> None:
    v = validator(key, typ="at+jwt")
    assert v.validate(token(key, typ="application/at+jwt"))
    for typ in ("JWT", None):
        with pytest.raises(InvalidTokenType) as info:
            v.validate(token(key, typ=typ))
        assert info.value.claim == "typ" and info.value.expected == "at+jwt"
        assert info.value.actual == typ


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_headers_are_refused(key: jb.SigningKey, name: str) -> None:
    t = raw({"alg": "ES256", "kid": "k1", name: "http://127.0.0.1:9/keys"}, claims(), key)
    with pytest.raises(InvalidSignature, match=name) as info:
        validator(key).validate(t)
    assert info.value.claim == name


def test_alg_none_crit_and_hs_with_a_public_key_are_refused(key: jb.SigningKey) -> None:
    body = b64url_encode(json.dumps(claims()).encode())
    none = b64url_encode(b'{"alg":"none"}') + f".{body}."
    with pytest.raises(InvalidSignature, match="none"):
        validator(key).validate(none)
    crit = raw({"alg": "ES256", "kid": "k1", "crit": ["exp"], "exp": 1}, claims(), key)
    with pytest.raises(InvalidSignature, match="crit"):
        validator(key).validate(crit)
    # The classic confusion: an HMAC made with the public key's PEM as the secret.
    rsa = jb.SigningKey.generate("RS256", kid="r1")
    pem = rsa.public_key().public_bytes(Encoding.PEM,
                                                        PublicFormat.SubjectPublicKeyInfo)
    signing_input = (b64url_encode(b'{"alg":"HS256","kid":"r1"}') + "."
                     + b64url_encode(json.dumps(claims()).encode()))
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url_encode(mac)}"
    v = jb.JWTValidator(issuer=ISS, audience=AUD, keys=[rsa.verifying_key()],
                        clock=FakeClock(NOW))
    with pytest.raises(InvalidSignature, match="HS256"):
        v.validate(forged)


def test_a_tampered_or_foreign_signature_fails(key: jb.SigningKey) -> None:
    other = jb.SigningKey.generate("ES256", kid="k1")
    with pytest.raises(InvalidSignature):
        validator(key).validate(token(other))
    head, _, sig = token(key).split(".")
    tampered = f"{head}.{b64url_encode(json.dumps(claims(sub='admin')).encode())}.{sig}"
    with pytest.raises(InvalidSignature):
        validator(key).validate(tampered)


def test_unknown_kid_among_static_keys(key: jb.SigningKey) -> None:
    stranger = jb.SigningKey.generate("ES256", kid="nope")
    with pytest.raises(UnknownKey) as info:
        validator(key).validate(token(stranger))
    assert info.value.claim == "kid" and info.value.actual == "nope"


def test_algorithms_restrict_what_is_accepted(key: jb.SigningKey) -> None:
    with pytest.raises(InvalidSignature, match="not accepted") as info:
        validator(key, algorithms=["RS256"]).validate(token(key))
    assert info.value.actual == "ES256"


def test_configuration_is_checked(key: jb.SigningKey) -> None:
    with pytest.raises(jb.ConfigurationError, match="audience"):
        jb.JWTValidator(issuer=ISS, audience=[], keys=[key.verifying_key()])
    with pytest.raises(jb.ConfigurationError, match="algorithms"):
        jb.JWTValidator(issuer=ISS, audience=AUD, keys=[key], algorithms=["none"])
    with pytest.raises(jb.ConfigurationError, match="https"):
        jb.JWTValidator(issuer=ISS, audience=AUD, jwks_uri="http://keys.example.com/jwks")


def test_a_jwk_set_dict_is_accepted_as_keys(key: jb.SigningKey) -> None:
    v = jb.JWTValidator(issuer=ISS, audience=AUD, keys={"keys": [key.public_jwk()]},
                        clock=FakeClock(NOW))
    assert v.validate(token(key)).claims["iss"] == ISS


def test_errors_never_carry_the_token(key: jb.SigningKey) -> None:
    t = token(key, exp=NOW - 1000)
    with pytest.raises(ExpiredToken) as info:
        validator(key).validate(t)
    assert t.split(".")[2] not in str(info.value) + repr(info.value)


def test_avalidate_is_the_same_check(key: jb.SigningKey) -> None:
    import anyio

    async def main() -> None:
        v = validator(key)
        assert (await v.avalidate(token(key))).subject == "svc"
        with pytest.raises(ExpiredToken):
            await v.avalidate(token(key, exp=NOW - 100))

    anyio.run(main)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b64url_encode(b)))
def test_garbage_is_always_a_typed_refusal(text: str) -> None:
    v = jb.JWTValidator(issuer=ISS, audience=AUD, keys=[jb.SigningKey.from_secret("s" * 32)])
    with pytest.raises(jb.InvalidToken):
        v.validate(text)
    with pytest.raises(jb.InvalidToken):
        v.validate(f"eyJhbGciOiJIUzI1NiJ9.{text}.{text}")


# -- JWTUtil (Apex Auth.JWTUtil) --------------------------------------------------------------


def test_jwtutil_parse_without_validation_returns_a_jwt(key: jb.SigningKey) -> None:
    parsed = jb.JWTUtil.parse_jwt_from_string_without_validation(
        token(key, exp=NOW - 1000, client_id="c"))
    assert isinstance(parsed, jb.JWT)
    assert (parsed.iss, parsed.sub, parsed.aud) == (ISS, "svc", AUD)
    assert parsed.additional_claims == {"scope": "api:read api:write", "client_id": "c"}
    assert parsed.claims_set["exp"] == NOW - 1000 and parsed.header["kid"] == "k1"


def test_jwtutil_validate_with_key_checks_signature_and_times(key: jb.SigningKey) -> None:
    import time

    now = int(time.time())
    good = token(key, iat=now, exp=now + 300)
    for form in (key.verifying_key(), key.public_jwk(), json.dumps(key.public_jwk()),
                 key.public_key().public_bytes(
                     Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)):
        parsed = jb.JWTUtil.validate_jwt_with_key(good, form)  # type: ignore[arg-type]
        assert parsed.sub == "svc" and parsed.validity_length == 300
    with pytest.raises(jb.JWTValidationException):
        jb.JWTUtil.validate_jwt_with_key(token(key, iat=now - 400, exp=now - 100), key)
    with pytest.raises(TokenNotYetValid):
        jb.JWTUtil.validate_jwt_with_key(token(key, iat=now, nbf=now + 100, exp=now + 300),
                                         key)
    with pytest.raises(InvalidSignature):
        jb.JWTUtil.validate_jwt_with_key(good, jb.SigningKey.generate("ES256"))


def test_jwtutil_validate_with_cert_by_name_or_path(tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("JWTBEARER_HOME", str(tmp_path))
    store = jb.KeyStore()
    signer = store.create("partner-cert")
    now = int(time.time())
    good = sign_compact(claims(iat=now, exp=now + 60), signer)
    assert jb.JWTUtil.validate_jwt_with_cert(good, "partner-cert").iss == ISS
    assert jb.JWTUtil.validate_jwt_with_cert(good, store.certificate_path("partner-cert")).sub
    with pytest.raises(InvalidSignature):
        jb.JWTUtil.validate_jwt_with_cert(sign_compact(claims(iat=now, exp=now + 60),
                                                       jb.SigningKey.generate("RS256")),
                                          "partner-cert")
    with pytest.raises(jb.KeyLoadError, match="no key named"):
        jb.JWTUtil.validate_jwt_with_cert(good, "missing-cert")
