"""Inputs the fuzz suite found that escaped as raw exceptions, kept as fixed examples."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fuzzkeys import CERT, PEMS, PRIVATE_JWKS

from jwtbearer import KeyLoadError, SigningKey, VerifyingKey
from jwtbearer.keys import load_jwks


@pytest.mark.parametrize("change", [
    {"crv": ["P-256"]}, {"crv": {}}, {"key_ops": [["verify"]]}, {"key_ops": [{}, "verify"]},
])
def test_jwk_members_of_the_wrong_type_are_key_load_errors(change: dict[str, Any]) -> None:
    jwk = {**PRIVATE_JWKS["ES256"], **change}
    if "key_ops" in change and any(op == "verify" for op in change["key_ops"]):
        assert VerifyingKey.from_jwk(jwk).alg == "ES256"  # a string "verify" among junk counts
        return
    with pytest.raises(KeyLoadError):
        VerifyingKey.from_jwk(jwk)
    with pytest.raises(KeyLoadError):
        SigningKey.from_jwk(jwk)


def test_jwks_entry_with_a_list_alg_is_skipped() -> None:
    public = {k: v for k, v in PRIVATE_JWKS["ES256"].items() if k != "d"}
    assert load_jwks({"keys": [{**public, "alg": []}, public]})[0].alg == "ES256"


def _cert_pem(old: bytes, new: bytes) -> bytes:
    der = CERT.public_bytes(serialization.Encoding.DER)
    assert old in der
    patched = der.replace(old, new, 1)
    body = __import__("base64").encodebytes(patched).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()


@pytest.mark.parametrize(("old", "new"), [
    (bytes.fromhex("a003020102"), bytes.fromhex("a003020101")),      # X.509 version 2
    (bytes.fromhex("2a8648ce3d0201"), bytes.fromhex("268648ce3d0201")),  # unknown key OID
])
def test_unreadable_certificates_are_key_load_errors(old: bytes, new: bytes) -> None:
    pem = _cert_pem(old, new)
    with pytest.raises(KeyLoadError):
        VerifyingKey.from_pem(pem)
    key_and_cert = PEMS[1].split(b"-----BEGIN CERTIFICATE-----")[0] + pem
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(key_and_cert)
