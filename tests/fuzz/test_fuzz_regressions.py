"""Inputs the fuzz suite found that escaped as raw exceptions, kept as fixed examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fuzzkeys import CERT, PEMS, PRIVATE_JWKS

from jwtbearer import KeyLoadError, SigningKey
from jwtbearer.jose import VerifyingKey, load_jwks


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


@pytest.mark.parametrize("key", ["signing_key", "state_dir"])
def test_a_nul_byte_in_a_config_path_is_a_configuration_error(key: str, tmp_path: Path) -> None:
    from jwtbearer.server.config import parse_config
    from jwtbearer.server.registry import ServerConfigError

    with pytest.raises(ServerConfigError, match=key):
        parse_config({"issuer": "http://127.0.0.1:8000", key: "key.pem\x00x"}, base=tmp_path)


def test_a_nul_byte_in_a_key_path_is_a_key_load_error() -> None:
    with pytest.raises(KeyLoadError, match="cannot read key file"):
        SigningKey.from_file("key.pem\x00x")


@pytest.mark.parametrize("name", ["binary.p12", "jwks\x00.json"])
def test_an_unreadable_jwks_file_is_a_configuration_error(name: str, tmp_path: Path) -> None:
    from fuzzkeys import DERS

    from jwtbearer.server.config import parse_config
    from jwtbearer.server.registry import ServerConfigError

    (tmp_path / "binary.p12").write_bytes(DERS[1])  # not UTF-8
    client = {"client_id": "c", "token_endpoint_auth_method": "private_key_jwt",
              "grant_types": ["client_credentials"], "jwks": name}
    with pytest.raises(ServerConfigError, match="jwks"):
        parse_config({"issuer": "http://127.0.0.1:8000", "state_dir": "state",
                      "clients": [client]}, base=tmp_path)


@pytest.mark.parametrize("name", ["binary.p12", "secret\x00.txt"])
def test_an_unreadable_secret_file_is_a_configuration_error(name: str, tmp_path: Path) -> None:
    from fuzzkeys import DERS

    from jwtbearer import ConfigurationError
    from jwtbearer.profiles import Profile

    (tmp_path / "binary.p12").write_bytes(DERS[1])  # not UTF-8
    profile = Profile.from_mapping("p", {"token_url": "https://h/t", "grant": "client-credentials",
                                         "client_auth": "client_secret_basic", "client_id": "c",
                                         "client_secret": f"file:{name}"}, base_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        profile.resolve_secret(f"file:{name}", "client_secret")
