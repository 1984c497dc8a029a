"""RFC 7515 Appendix A and RFC 7638 §3.1, from the JSON fixtures beside this file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jwtbearer import SigningKey
from jwtbearer.errors import JWSError
from jwtbearer.jose import VerifyingKey
from jwtbearer.jose.jws import sign_with_header, verify_compact

HERE = Path(__file__).parent
RFC7515 = json.loads((HERE / "rfc7515_appendix_a.json").read_text())["examples"]
RFC7638 = json.loads((HERE / "rfc7638_thumbprint.json").read_text())


def _example(name: str) -> dict[str, Any]:
    return next(e for e in RFC7515 if e["name"] == name)


@pytest.mark.parametrize("name", [e["name"] for e in RFC7515 if e["deterministic"]])
def test_rfc7515_deterministic_examples_are_reproduced_byte_for_byte(name: str) -> None:
    ex = _example(name)
    key = SigningKey.from_jwk(ex["jwk"], alg=ex["alg"])
    token = sign_with_header(
        ex["protected_header_utf8"].encode(), ex["payload_utf8"].encode(), key
    )
    assert token == ex["compact"]


@pytest.mark.parametrize("name", [e["name"] for e in RFC7515])
def test_rfc7515_examples_verify_and_give_back_the_payload(name: str) -> None:
    ex = _example(name)
    key = VerifyingKey.from_jwk(ex["jwk"], alg=ex["alg"])
    verified = verify_compact(ex["compact"], key)
    assert verified.payload == ex["payload_utf8"].encode()
    assert verified.header["alg"] == ex["alg"]


@pytest.mark.parametrize("name", [e["name"] for e in RFC7515])
def test_rfc7515_examples_fail_when_one_payload_byte_changes(name: str) -> None:
    ex = _example(name)
    header, payload, signature = ex["compact"].split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(JWSError):
        verify_compact(f"{header}.{tampered}.{signature}", VerifyingKey.from_jwk(ex["jwk"]))


def test_rfc7515_a1_header_is_the_appendix_text_with_crlf() -> None:
    ex = _example("A.1")
    assert ex["protected_header_utf8"] == '{"typ":"JWT",\r\n "alg":"HS256"}'
    assert ex["compact"].endswith(".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")


def test_rfc7515_ecdsa_signatures_are_fresh_but_verify() -> None:
    ex = _example("A.3")
    key = SigningKey.from_jwk(ex["jwk"])
    first = sign_with_header(ex["protected_header_utf8"], ex["payload_utf8"], key)
    second = sign_with_header(ex["protected_header_utf8"], ex["payload_utf8"], key)
    assert first != second
    for token in (first, second):
        assert token.rsplit(".", 1)[0] == ex["compact"].rsplit(".", 1)[0]
        verify_compact(token, key.verifying_key())


def test_rfc7638_thumbprint_example() -> None:
    key = VerifyingKey.from_jwk(RFC7638["jwk"])
    assert key.thumbprint() == RFC7638["thumbprint"]
    assert key.kid == "2011-04-29"
