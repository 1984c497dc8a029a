"""Wycheproof vectors (tests/vectors/wycheproof/, Apache-2.0) graded through the public API.

One test per test group. ``valid`` must be accepted and ``invalid`` rejected; ``acceptable``
may go either way and what we did is recorded in ``ACCEPTABLE_SEEN``. Where our policy is
stricter than, or the vector file contradicts, Wycheproof's grade, the case is listed in
``POLICY_EXCEPTIONS`` with the reason; a listed case that no longer differs fails the test, so
the list stays exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtbearer import KeyLoadError, SigningKey
from jwtbearer.errors import JWSError
from jwtbearer.jose import VerifyingKey
from jwtbearer.jose.jws import verify_compact

HERE = Path(__file__).parent / "wycheproof"

# tcId -> why our answer differs from Wycheproof's, per file.
POLICY_EXCEPTIONS: dict[str, dict[int, str]] = {
    "json_web_signature_test": {
        346: "the key is stored with alg PS256 but the RFC 7520 §4.2 token is signed PS384; the "
             "algorithm is pinned by the key, never taken from the token (RFC 8725 §3.1)",
        347: "the RFC 7520 P-521 key is stored with alg 'ES521', which no registry defines "
             "(RFC 7518 §3.1 names ES512); a JWK naming an unknown alg is refused",
        350: "same as 346, the key with key_ops",
        351: "same key as 347 (alg 'ES521') with key_ops; refused for the same reason",
        367: "named invalidBase64Padding, but the stored token has no padding and is byte for "
             "byte the valid token 357, so it verifies",
        370: "named invalidBase64PaddingInPayload, but the stored token is byte for byte the "
             "valid token 357, so it verifies",
        372: "a '?' inside the header segment is not base64url (RFC 7515 §2); strict decoding "
             "refuses it, where Wycheproof grades a lenient decoder's answer",
        373: "a '?' inside the payload segment is not base64url (RFC 7515 §2); refused as 372",
    },
}
# (file, tcId) -> True when accepted; "acceptable" cases, recorded as observed.
ACCEPTABLE_SEEN: dict[tuple[str, int], bool] = {
    ("rsa_signature_2048_sha256_test", 8): False,  # MissingNull: DigestInfo without NULL
}
HMAC_OUT_OF_SCOPE = {
    (128, 256): "an HS256 secret shorter than 256 bits is refused (RFC 7518 §3.2)",
    (128, 128): "an HS256 secret shorter than 256 bits is refused (RFC 7518 §3.2)",
    (256, 128): "JWS HS256 carries the full 256-bit tag (RFC 7518 §3.2); truncated tags fail",
    (520, 128): "JWS HS256 carries the full 256-bit tag (RFC 7518 §3.2); truncated tags fail",
}


def _groups() -> Iterator[Any]:
    for path in sorted(HERE.glob("*_test.json")):
        data = json.loads(path.read_text())
        for index, group in enumerate(data["testGroups"]):
            yield pytest.param(path.stem, group, id=f"{path.stem}-{index}")


def _grade(stem: str, group: dict[str, Any], accepts: Callable[[dict[str, Any]], bool]) -> None:
    exceptions = POLICY_EXCEPTIONS.get(stem, {})
    wrong = []
    for case in group["tests"]:
        tc, result = case["tcId"], case["result"]
        got = accepts(case)
        if result == "acceptable":
            assert ACCEPTABLE_SEEN.get((stem, tc)) == got, f"record acceptable {stem} {tc}: {got}"
            continue
        differs = got != (result == "valid")
        if differs != (tc in exceptions):
            wrong.append((tc, result, case.get("comment"), "accepted" if got else "rejected"))
    assert not wrong, f"{stem}: graded wrong (or a stale exception): {wrong}"


def _accepts_jws(keys: Any, token: str) -> bool:
    if keys is None:
        return False
    try:
        verify_compact(token, keys)
    except JWSError:
        return False
    return True


def _jws_group(stem: str, group: dict[str, Any]) -> None:
    jwk = group.get("public") or group["private"]
    try:
        key: VerifyingKey | None = VerifyingKey.from_jwk(jwk)
    except KeyLoadError:
        key = None
    _grade(stem, group, lambda case: _accepts_jws(key, case["jws"]))


def _jwk_group(stem: str, group: dict[str, Any]) -> None:
    public = group.get("public") or group["private"]
    try:
        keys: list[VerifyingKey] | None = [VerifyingKey.from_jwk(k) for k in public["keys"]]
    except KeyLoadError:
        keys = None
    try:
        # A "private" set may hold public keys too: those load as VerifyingKey.
        private: list[SigningKey | VerifyingKey] | None = [
            SigningKey.from_jwk(k) if "d" in k or "k" in k else VerifyingKey.from_jwk(k)
            for k in group["private"]["keys"]
        ]
    except KeyLoadError:
        private = None
    # The private key set must be refused exactly when its public half is.
    assert (private is None) == (keys is None), group["comment"]
    _grade(stem, group, lambda case: _accepts_jws(keys, case["jws"]))
    if private is not None:
        _grade(stem, group, lambda case: _accepts_jws(private, case["jws"]))


def _signature_group(stem: str, group: dict[str, Any], alg: str) -> None:
    jwk = group.get("publicKeyJwk") or group.get("keyJwk")
    if jwk is not None:
        key = VerifyingKey.from_jwk(jwk, alg=alg)
    else:  # a few groups give the key only as PEM
        key = VerifyingKey.from_pem(group["publicKeyPem"], alg=alg)
    _grade(
        stem,
        group,
        lambda case: key.verify(bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])),
    )


def _hmac_group(stem: str, group: dict[str, Any]) -> None:
    scope = HMAC_OUT_OF_SCOPE.get((group["keySize"], group["tagSize"]))
    for case in group["tests"]:
        try:
            key = VerifyingKey.from_secret(bytes.fromhex(case["key"]), "HS256")
        except KeyLoadError:
            assert scope is not None and group["keySize"] < 256
            continue
        got = key.verify(bytes.fromhex(case["msg"]), bytes.fromhex(case["tag"]))
        if scope is None:
            assert got == (case["result"] == "valid"), case
        else:
            assert not got, (scope, case)


SIGNATURE_ALGS = {
    "ecdsa_secp256r1_sha256_p1363_test": "ES256",
    "ecdsa_secp384r1_sha384_p1363_test": "ES384",
    "ed25519_test": "EdDSA",
    "rsa_signature_2048_sha256_test": "RS256",
}


@pytest.mark.parametrize(("stem", "group"), list(_groups()))
def test_wycheproof_group(stem: str, group: dict[str, Any]) -> None:
    if stem == "json_web_signature_test":
        _jws_group(stem, group)
    elif stem == "json_web_key_test":
        _jwk_group(stem, group)
    elif stem == "hmac_sha256_test":
        _hmac_group(stem, group)
    else:
        _signature_group(stem, group, SIGNATURE_ALGS[stem])


def test_every_vector_file_is_graded() -> None:
    stems = {p.stem for p in HERE.glob("*_test.json")}
    handled = set(SIGNATURE_ALGS) | {
        "json_web_signature_test", "json_web_key_test", "hmac_sha256_test"
    }
    assert stems == handled
