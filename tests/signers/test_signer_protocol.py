"""The Signer seam: any object with alg, kid, x5t_s256, public_jwk() and sign() signs wherever a
key is taken; CallableSigner; the DER <-> r||s conversions."""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given
from hypothesis import strategies as st

import jwtbearer as jb
from jwtbearer.jose import VerifyingKey, make_assertion, sign_compact
from jwtbearer.jose.jws import sign_with_header
from jwtbearer.signers import der_to_raw, raw_to_der

AUD = "https://as.example/token"


class ForeignSigner:
    """A signer written by someone else: only the five protocol members."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(65537, 2048)
        self.alg, self.kid, self.x5t_s256 = "PS256", "foreign-1", None
        self.calls = 0

    def public_jwk(self) -> dict[str, Any]:
        return VerifyingKey.from_public_key(self._key.public_key(), alg="PS256",
                                               kid=self.kid).public_jwk()

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        return self._key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                              hashes.SHA256())


def check(token: str, signer: ForeignSigner) -> dict[str, Any]:
    assert pyjwt.get_unverified_header(token)["kid"] == "foreign-1"
    return pyjwt.decode(token, signer._key.public_key(), algorithms=["PS256"],
                        options={"verify_aud": False, "verify_exp": False})


def test_a_foreign_signer_satisfies_the_protocol() -> None:
    assert isinstance(ForeignSigner(), jb.Signer)
    assert isinstance(jb.SigningKey.generate("ES256"), jb.Signer)


def test_a_foreign_signer_signs_everywhere_a_key_is_taken() -> None:
    signer = ForeignSigner()
    check(jb.JWS(jb.JWT(iss="a", sub="b", aud=AUD), signer).compact_serialization(), signer)
    check(sign_compact({"x": 1}, signer), signer)
    check(sign_compact({"x": 1}, signer, headers={"cty": "x"}), signer)
    check(sign_with_header(b'{"alg":"PS256","kid":"foreign-1"}', b'{"x":1}', signer), signer)
    check(make_assertion(key=signer, iss="a", sub="a", aud=AUD, now=1_700_000_000), signer)
    _, form = jb.PrivateKeyJWT("client", signer).apply(AUD, now=1_700_000_000)
    assert check(form["client_assertion"], signer)["iss"] == "client"
    fields = jb.JWTBearer(jb.JWT(iss="a", sub="b"), key=signer).form(AUD, now=1_700_000_000)
    assert check(fields["assertion"], signer)["aud"] == AUD
    assert signer.calls == 7


def test_a_foreign_signer_gets_the_header_a_signing_key_gets() -> None:
    # One header builder for both: same alg and kid, same protected header bytes.
    signer = ForeignSigner()
    key = jb.SigningKey.generate("PS256", kid="foreign-1")
    for options in ({}, {"typ": None}, {"headers": {"cty": "x"}}):
        ours, theirs = sign_compact({"x": 1}, key, **options), sign_compact({"x": 1}, signer,
                                                                          **options)
        assert ours.split(".")[:2] == theirs.split(".")[:2]
    with pytest.raises(jb.ConfigurationError, match="no certificate"):
        sign_compact({"x": 1}, signer, x5t_s256=True)


def test_things_that_are_not_signers_are_refused_clearly() -> None:
    with pytest.raises(jb.ConfigurationError, match="a signer"):
        jb.JWS(jb.JWT(iss="a"), object())  # type: ignore[arg-type]
    with pytest.raises(jb.ConfigurationError, match="a signer"):
        jb.PrivateKeyJWT("c", 42)  # type: ignore[arg-type]
    hmac_like = ForeignSigner()
    hmac_like.alg = "HS256"
    with pytest.raises(jb.ConfigurationError, match="asymmetric"):
        jb.PrivateKeyJWT("c", hmac_like)
    with pytest.raises(jb.ConfigurationError, match="needs key="):
        jb.JWTBearer(jb.JWT(iss="a"))


def test_callable_signer_with_the_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    raw = jb.SigningKey.from_private_key(private)
    signer = jb.CallableSigner("ES256", sign=raw.sign, public_jwk=raw.public_jwk())
    assert signer.kid == raw.thumbprint()  # RFC 7638 by default
    assert signer.public_jwk()["kid"] == signer.kid
    token = sign_compact({"a": 1}, signer)
    assert pyjwt.decode(token, private.public_key(), algorithms=["ES256"]) == {"a": 1}
    assert "CallableSigner(alg='ES256'" in repr(signer)


def test_callable_signer_returning_der_is_caught_and_der_to_raw_fixes_it() -> None:
    private = ec.generate_private_key(ec.SECP256R1())

    def kms_like(data: bytes) -> bytes:  # what KMS services answer: DER
        return private.sign(data, ec.ECDSA(hashes.SHA256()))

    wrong = jb.CallableSigner("ES256", sign=kms_like, public_jwk=private.public_key())
    with pytest.raises(jb.KeyLoadError, match="not DER"):
        sign_compact({"a": 1}, wrong)
    right = jb.CallableSigner("ES256", sign=lambda d: der_to_raw(kms_like(d), "ES256"),
                              public_jwk=private.public_key())
    assert pyjwt.decode(sign_compact({"a": 1}, right), private.public_key(),
                        algorithms=["ES256"]) == {"a": 1}


def test_callable_signer_without_the_public_key() -> None:
    key = jb.SigningKey.generate("ES256")
    signer = jb.CallableSigner("ES256", sign=key.sign, kid="k1")
    token = sign_compact({"a": 1}, signer)
    assert pyjwt.get_unverified_header(token)["kid"] == "k1"
    with pytest.raises(jb.ConfigurationError, match="public_jwk="):
        signer.public_jwk()
    with pytest.raises(jb.ConfigurationError, match="not bytes"):
        text = jb.CallableSigner("ES256", sign=lambda d: "text", kid="k")  # type: ignore[arg-type,return-value]
        sign_compact({"a": 1}, text)
    with pytest.raises(jb.ConfigurationError, match=r"SigningKey\.from_secret"):
        jb.CallableSigner("HS256", sign=key.sign)
    with pytest.raises(jb.KeyLoadError):
        jb.CallableSigner("RS256", sign=key.sign, public_jwk=key.public_jwk())  # an EC key


@given(st.integers(1, 2**256 - 1), st.integers(1, 2**256 - 1))
def test_der_and_raw_round_trip(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert der_to_raw(raw_to_der(raw, "ES256"), "ES256") == raw


def test_der_to_raw_refuses_what_is_not_der() -> None:
    with pytest.raises(jb.KeyLoadError, match="not a DER"):
        der_to_raw(b"\x00" * 64, "ES256")
    with pytest.raises(jb.KeyLoadError, match="too large"):
        der_to_raw(raw_to_der(b"\xff" * 132, "ES512"), "ES256")
    with pytest.raises(jb.ConfigurationError, match="not an ECDSA"):
        der_to_raw(b"", "RS256")
