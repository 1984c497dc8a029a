"""The README's PKCS#11 and KMS examples, run as written against SoftHSM2 and a loopback KMS
(tests/test_readme.py skips them: they need these services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from fake_kms import FakeKms

import jwtbearer as jb
from conftest import SoftHsm, reference_server
from jwtbearer.signers.pkcs11 import generate_key
from test_readme import BLOCKS, Block, run_block

MARK = "tests/signers/test_signer_readme.py"


def blocks(needle: str) -> list[Block]:
    found = [b for b in BLOCKS if b.skip_reason and MARK in b.skip_reason
             and needle in b.code]
    assert found, f"the README has no {needle} example marked for {MARK}"
    return found


def test_the_pkcs11_example(softhsm: SoftHsm, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = blocks("Pkcs11Signer")
    assert softhsm.module in block.code or "/usr/lib/softhsm/libsofthsm2.so" in block.code
    code = block.code.replace("/usr/lib/softhsm/libsofthsm2.so", softhsm.module)
    generate_key(softhsm.module, softhsm.token_label, "svc-key", pin=softhsm.pin).close()
    with jb.Pkcs11Signer(softhsm.module, softhsm.token_label, "svc-key",
                         pin=softhsm.pin) as key:
        jwk = key.public_jwk()
    monkeypatch.setenv("JWTBEARER_PKCS11_PIN", softhsm.pin)
    with reference_server(tmp_path, {"svc": jwk}) as (_, token_url):
        namespace: dict[str, Any] = {"TOKEN_URL": token_url}
        run_block(Block(block.section, block.line, code, None, None, None), namespace)
    assert namespace["token"].access_token and namespace["token"].scope == "api:read"


def test_the_kms_example(fake_kms: FakeKms, aws_env: None,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = blocks("AwsKmsSigner")
    key_id = fake_kms.create_key("RSA_2048")
    fake_kms.keys["alias/jwt-signer"] = fake_kms.keys[key_id]
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", fake_kms.url)
    namespace: dict[str, Any] = {"TOKEN_URL": "https://idp.example.com/token"}
    run_block(Block(block.section, block.line, block.code, None, None, None), namespace)
    signer = namespace["signer"]
    claims = pyjwt.decode(namespace["assertion"], signer.public_key(), algorithms=["RS256"],
                          audience="https://idp.example.com/token")
    assert claims["iss"] == "svc"
    assert fake_kms.calls == {"GetPublicKey": 1, "Sign": 1}
