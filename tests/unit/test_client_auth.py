"""Client authentication values (RFC 6749 §2.3, RFC 7523 §2.2/§3)."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

import jwt as pyjwt
import pytest

import jwtbearer as jb
from jwtbearer.client.client_auth import CLIENT_ASSERTION_TYPE

ENDPOINT = "https://auth.example.com/oauth2/token"
NOW = 1_800_000_000.0
SECRET = "s3cr3t-value-that-is-long-enough-for-hs256!"


def _basic_pair(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    decoded = base64.b64decode(value).decode("ascii")
    user, _, password = decoded.partition(":")
    return unquote_plus(user), unquote_plus(password)


def test_no_client_auth_sends_client_id_only_when_given() -> None:
    assert jb.NoClientAuth().apply(ENDPOINT, now=NOW) == ({}, {})
    assert jb.NoClientAuth("app").apply(ENDPOINT, now=NOW) == ({}, {"client_id": "app"})
    with pytest.raises(jb.ConfigurationError):
        jb.NoClientAuth("")


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("app", "plain"), ("a:b", "p:w"), ("100%", "50%+1"), ("with space", "a b+c"),
     ("ünïcode", "pässwörd€"), ("a&b=c", "/?#[]@!$'()*,;")],
)
def test_client_secret_basic_urlencodes_before_base64(client_id: str, secret: str) -> None:
    headers, form = jb.ClientSecretBasic(client_id, secret).apply(ENDPOINT, now=NOW)
    assert form == {}
    assert _basic_pair(headers["Authorization"]) == (client_id, secret)
    raw = base64.b64decode(headers["Authorization"].split()[1]).decode("ascii")
    assert raw.count(":") == 1  # a ':' in the id or secret is percent-encoded (RFC 6749 §2.3.1)


def test_client_secret_basic_encodes_space_as_plus() -> None:
    headers, _ = jb.ClientSecretBasic("my app", "x y").apply(ENDPOINT, now=NOW)
    assert base64.b64decode(headers["Authorization"][6:]) == b"my+app:x+y"


def test_client_secret_post_puts_both_in_the_form() -> None:
    headers, form = jb.ClientSecretPost("app", "pw").apply(ENDPOINT, now=NOW)
    assert headers == {}
    assert form == {"client_id": "app", "client_secret": "pw"}


def test_secrets_are_not_in_repr() -> None:
    for value in (
        jb.ClientSecretBasic("app", SECRET),
        jb.ClientSecretPost("app", SECRET),
        jb.ClientSecretJWT("app", SECRET),
    ):
        assert SECRET not in repr(value) and SECRET not in str(value)
        assert "app" in repr(value)


def _decode(assertion: str, key: str | object, alg: str, audience: str) -> dict[str, object]:
    return pyjwt.decode(assertion, key, algorithms=[alg], audience=audience,  # type: ignore[arg-type]
                        options={"verify_exp": False, "verify_iat": False})


def test_client_secret_jwt_assertion_claims() -> None:
    auth = jb.ClientSecretJWT("app", SECRET)
    headers, form = auth.apply(ENDPOINT, now=NOW)
    assert headers == {}
    assert form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    claims = _decode(form["client_assertion"], SECRET, "HS256", ENDPOINT)
    assert claims["iss"] == claims["sub"] == "app"
    assert claims["aud"] == ENDPOINT
    assert claims["iat"] == int(NOW) and claims["exp"] == int(NOW) + 60
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_client_secret_jwt_audience_alg_and_lifetime() -> None:
    auth = jb.ClientSecretJWT("app", SECRET * 2, alg="HS512", audience="https://issuer",
                              lifetime=120)
    _, form = auth.apply(ENDPOINT, now=NOW)
    claims = _decode(form["client_assertion"], SECRET * 2, "HS512", "https://issuer")
    assert claims["exp"] == int(NOW) + 120


def test_every_apply_signs_a_new_jti() -> None:
    auth = jb.PrivateKeyJWT("app", jb.SigningKey.generate("ES256"))
    jtis = {
        jb.jose.unverified_claims(auth.apply(ENDPOINT, now=NOW)[1]["client_assertion"])["jti"]
        for _ in range(20)
    }
    assert len(jtis) == 20


def test_short_hmac_secret_is_refused_at_construction() -> None:
    with pytest.raises(jb.KeyLoadError, match="at least 32 bytes"):
        jb.ClientSecretJWT("app", "short")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_private_key_jwt_verifies_with_the_public_key(alg: str) -> None:
    key = jb.SigningKey.generate(alg, kid="k1")
    _, form = jb.PrivateKeyJWT("svc", key).apply(ENDPOINT, now=NOW)
    assertion = form["client_assertion"]
    assert jb.jose.unverified_header(assertion)["kid"] == "k1"
    claims = jb.jose.verify_compact(assertion, key.verifying_key()).claims()
    assert claims["iss"] == claims["sub"] == "svc"
    assert claims["aud"] == ENDPOINT


def test_private_key_jwt_takes_a_key_store_name() -> None:
    jb.KeyStore().create("svc-key")
    auth = jb.PrivateKeyJWT("svc", "svc-key", audience="https://issuer.example.com")
    _, form = auth.apply(ENDPOINT, now=NOW)
    claims = jb.jose.verify_compact(
        form["client_assertion"], jb.KeyStore().get("svc-key").verifying_key()
    ).claims()
    assert claims["aud"] == "https://issuer.example.com"


def test_private_key_jwt_refuses_a_shared_secret() -> None:
    with pytest.raises(jb.ConfigurationError, match="ClientSecretJWT"):
        jb.PrivateKeyJWT("svc", jb.SigningKey.from_secret(SECRET))


@pytest.mark.parametrize("lifetime", [0, -1, 3601, 1.5, True])
def test_lifetime_must_be_short_whole_seconds(lifetime: object) -> None:
    with pytest.raises(jb.ConfigurationError, match="lifetime"):
        jb.ClientSecretJWT("app", SECRET, lifetime=lifetime)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", None, 5])
def test_client_id_and_secret_must_be_strings(bad: object) -> None:
    with pytest.raises(jb.ConfigurationError):
        jb.ClientSecretBasic(bad, "x")  # type: ignore[arg-type]
    with pytest.raises(jb.ConfigurationError):
        jb.ClientSecretPost("app", bad)  # type: ignore[arg-type]


def test_values_are_frozen_and_satisfy_the_protocol() -> None:
    auth = jb.ClientSecretBasic("app", SECRET)
    with pytest.raises(AttributeError):
        auth.client_id = "other"  # type: ignore[misc]
    for value in (jb.NoClientAuth(), auth, jb.ClientSecretPost("a", "b"),
                  jb.ClientSecretJWT("a", SECRET),
                  jb.PrivateKeyJWT("a", jb.SigningKey.generate("ES256"))):
        assert isinstance(value, jb.client.ClientAuth)
