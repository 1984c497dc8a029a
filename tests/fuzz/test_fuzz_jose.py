"""Fuzz: compact JWS verification and parsing, JWK/JWKS import, PEM/DER/PKCS#12 loading."""

from __future__ import annotations

import json
from typing import Any

from fuzzkeys import DERS, KEYS, PEMS, PRIVATE_JWKS, b64
from fuzzkit import FUZZ, b64ish, json_text, json_values, survive
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer import SigningKey
from jwtbearer.jose import VerifyingKey, load_jwks
from jwtbearer.jose.jws import sign_compact, unverified_claims, unverified_header, verify_compact

ALGS = sorted(KEYS)
_HEADER_NAMES = ["alg", "typ", "kid", "crit", "b64", "zip", "cty", "jku", "jwk", "x5u", "x5c",
                 "x5t#S256", "enc"]
_ALG_VALUES = st.one_of(st.sampled_from([*ALGS, "none", "None", "HS512", "RS512", "PS256",
                                         "ES384", "Ed25519", "dir", ""]), json_values)
headers = st.fixed_dictionaries({"alg": _ALG_VALUES},
                                optional={n: json_values for n in _HEADER_NAMES[1:]})


@st.composite
def tokens(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["segments", "mutated", "text", "dots"]))
    if kind == "segments":
        header = b64(json_text(draw(headers)).encode())
        payload = b64(draw(st.one_of(st.binary(max_size=200),
                                     json_values.map(lambda v: json_text(v).encode()))))
        return f"{header}.{payload}.{draw(b64ish)}"
    if kind == "mutated":
        alg = draw(st.sampled_from(ALGS))
        good = sign_compact({"sub": "x", "n": draw(st.integers())}, KEYS[alg])
        at = draw(st.integers(0, len(good) - 1))
        return good[:at] + draw(st.text(min_size=0, max_size=3)) + good[at + 1:]
    if kind == "dots":
        return ".".join(draw(st.lists(b64ish, max_size=7)))
    return draw(st.text(max_size=500))


@FUZZ
@given(token=tokens(), alg=st.sampled_from(ALGS), many=st.booleans())
def test_compact_jws_verification(token: str, alg: str, many: bool) -> None:
    keys: Any = [KEYS[a].verifying_key() for a in ALGS if a != "HS256"] if many else \
        KEYS[alg].verifying_key()
    survive("jws_verify", lambda: verify_compact(token, keys))
    survive("jws_unverified", lambda: (unverified_header(token), unverified_claims(token)))


@FUZZ
@given(alg=st.sampled_from(ALGS), at=st.integers(0, 10_000), new=st.characters())
def test_a_changed_token_never_verifies(alg: str, at: int, new: str) -> None:
    good = sign_compact({"sub": "alice", "scope": "api"}, KEYS[alg])
    at %= len(good)
    bad = good[:at] + new + good[at + 1:]
    result = survive("jws_tamper", lambda: verify_compact(bad, KEYS[alg].verifying_key()))
    assert bad == good or isinstance(result, Exception), "a changed token verified"


def _mutate_jwk(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any] | str:
    jwk: dict[str, Any] = dict(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "drop", "junk-b64", "add"]))
        name = draw(st.sampled_from(sorted(jwk) or ["kty"]))
        if op == "set":
            jwk[name] = draw(json_values)
        elif op == "drop":
            jwk.pop(name, None)
        elif op == "junk-b64":
            jwk[name] = draw(b64ish)
        else:
            jwk[draw(st.sampled_from(["use", "key_ops", "x5c", "crv", "oth", "ext"]))] = \
                draw(json_values)
    return json.dumps(jwk) if draw(st.booleans()) else jwk


@st.composite
def jwks_inputs(draw: st.DrawFn) -> dict[str, Any] | str:
    kind = draw(st.sampled_from(["mutated", "random", "text"]))
    if kind == "mutated":
        return _mutate_jwk(draw, PRIVATE_JWKS[draw(st.sampled_from(ALGS))])
    if kind == "random":
        return draw(st.fixed_dictionaries(
            {"kty": st.one_of(st.sampled_from(["RSA", "EC", "OKP", "oct", "rsa", ""]),
                              json_values)},
            optional={n: st.one_of(b64ish, json_values)
                      for n in ["n", "e", "d", "p", "q", "x", "y", "crv", "k", "alg", "use"]}))
    return draw(st.text(max_size=300))


@FUZZ
@given(jwk=jwks_inputs(), alg=st.one_of(st.none(), st.sampled_from([*ALGS, "PS256", "none"])))
def test_jwk_import(jwk: dict[str, Any] | str, alg: str | None) -> None:
    survive("jwk_signing", lambda: SigningKey.from_jwk(jwk, alg=alg))
    survive("jwk_verifying", lambda: VerifyingKey.from_jwk(jwk, alg=alg))


def _object(entry: dict[str, Any] | str) -> Any:
    try:
        return json.loads(entry) if isinstance(entry, str) else entry
    except ValueError:
        return entry


@FUZZ
@given(keys=st.lists(jwks_inputs(), max_size=4), wrap=st.sampled_from(["set", "bare", "junk"]))
def test_jwks_import(keys: list[Any], wrap: str) -> None:
    entries = [_object(k) for k in keys]
    document: Any = {"keys": entries} if wrap == "set" else entries if wrap == "bare" else \
        json.dumps({"keys": entries})[::-1]
    survive("jwks", lambda: load_jwks(document))


def _flip(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(out) - 1)))
        if op == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del out[at:at + draw(st.integers(1, 64))]
        else:
            out[at:at] = draw(st.binary(max_size=16))
    return bytes(out)


@st.composite
def key_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["pem", "der", "armor", "bytes"]))
    if kind == "pem":
        return _flip(draw, draw(st.sampled_from(PEMS)))
    if kind == "der":
        return _flip(draw, draw(st.sampled_from(DERS)))
    if kind == "armor":
        label = draw(st.sampled_from(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY",
                                      "ENCRYPTED PRIVATE KEY", "PUBLIC KEY", "CERTIFICATE",
                                      "OPENSSH PRIVATE KEY", "X"]))
        body = draw(st.one_of(b64ish, st.binary(max_size=300).map(
            lambda b: __import__("base64").b64encode(b).decode())))
        return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()
    return draw(st.binary(max_size=2000))


@FUZZ
@given(data=key_files(), password=st.sampled_from([None, "pw", b"pw", "", "wrong"]))
def test_pem_der_and_pkcs12_loading(data: bytes, password: str | bytes | None) -> None:
    survive("pem_signing", lambda: SigningKey.from_pem(data, password=password))
    survive("pem_verifying", lambda: VerifyingKey.from_pem(data))
    survive("pkcs12", lambda: SigningKey.from_pkcs12(data, password=password))
