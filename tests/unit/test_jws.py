"""Compact JWS: every algorithm, interop with PyJWT and joserfc both ways, and hostile input."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import string
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwk as jose_jwk
from joserfc import jws as jose_jws

from jwtbearer import ConfigurationError, KeyLoadError, SigningKey
from jwtbearer.errors import JWSError
from jwtbearer.jose import VerifyingKey
from jwtbearer.jose.jws import (
    MAX_TOKEN_LENGTH,
    VerifiedJWS,
    b64url_decode,
    b64url_encode,
    parse_json_object,
    sign_compact,
    sign_with_header,
    unverified_claims,
    unverified_header,
    verify_compact,
)

ALGS = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
]
CLAIMS = {"iss": "client", "sub": "user@example.com", "aud": "https://idp.example/token",
          "iat": 1_700_000_000, "exp": 1_700_000_300, "jti": "a1b2c3"}


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys(rsa_private: rsa.RSAPrivateKey) -> dict[str, SigningKey]:
    made: dict[str, SigningKey] = {}
    curves = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
    for alg in ALGS:
        if alg[:2] in ("RS", "PS"):
            made[alg] = SigningKey(rsa_private, alg=alg)
        elif alg in curves:
            made[alg] = SigningKey(ec.generate_private_key(curves[alg]))
        elif alg == "EdDSA":
            made[alg] = SigningKey(ed25519.Ed25519PrivateKey.generate())
        else:
            made[alg] = SigningKey.from_secret(bytes(range(64))[: int(alg[2:]) // 8 + 3], alg)
    return made


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _token(header: Any, payload: Any = None, signature: bytes = b"sig") -> str:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
    return f"{_b64(head)}.{_b64(body)}.{_b64(signature)}"


def _raw_key(key: SigningKey) -> Any:
    return key._key


def _public_raw(key: SigningKey) -> Any:
    return key._key if key.is_symmetric else key.public_key()


def _jose_key(raw: Any, key: SigningKey) -> Any:
    return jose_jwk.import_key(raw, key.kty)  # type: ignore[call-overload]


# -- every algorithm, and the peers both ways ------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_round_trip(keys: dict[str, SigningKey], alg: str) -> None:
    key = keys[alg]
    token = sign_compact(CLAIMS, key)
    verified = verify_compact(token, key.verifying_key())
    assert isinstance(verified, VerifiedJWS)
    assert verified.claims() == CLAIMS
    assert verified.header == {"alg": alg, "typ": "JWT"}
    assert verify_compact(token, key).claims() == CLAIMS  # a SigningKey verifies too


# joserfc warns that RFC 9864 deprecates the name "EdDSA"; the check still runs.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("alg", ALGS)
def test_our_tokens_verify_in_pyjwt_and_joserfc(keys: dict[str, SigningKey], alg: str) -> None:
    key = keys[alg]
    token = sign_compact(CLAIMS, key)
    decoded = pyjwt.decode(
        token, _public_raw(key), algorithms=[alg], audience=CLAIMS["aud"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == CLAIMS
    jose = jose_jws.deserialize_compact(token, _jose_key(_public_raw(key), key), algorithms=[alg])
    assert json.loads(jose.payload) == CLAIMS


# joserfc warns that RFC 9864 deprecates the name "EdDSA"; the check still runs.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("alg", ALGS)
def test_their_tokens_verify_in_ours(keys: dict[str, SigningKey], alg: str) -> None:
    key = keys[alg]
    from_pyjwt = pyjwt.encode(CLAIMS, _raw_key(key), algorithm=alg)
    assert verify_compact(from_pyjwt, key.verifying_key()).claims() == CLAIMS
    from_jose = jose_jws.serialize_compact(
        {"alg": alg}, json.dumps(CLAIMS).encode(), _jose_key(_raw_key(key), key), algorithms=[alg]
    )
    assert verify_compact(from_jose, key.verifying_key()).claims() == CLAIMS


@pytest.mark.parametrize(("alg", "size"), [("ES256", 64), ("ES384", 96), ("ES512", 132)])
def test_ecdsa_signature_is_raw_r_s(keys: dict[str, SigningKey], alg: str, size: int) -> None:
    signature = b64url_decode(sign_compact(CLAIMS, keys[alg]).split(".")[2])
    assert len(signature) == size  # r||s, not DER (RFC 7518 §3.4)


def test_header_building(rsa_private: rsa.RSAPrivateKey) -> None:
    key = SigningKey(rsa_private, kid="k-1")
    assert unverified_header(sign_compact({}, key)) == {"alg": "RS256", "typ": "JWT", "kid": "k-1"}
    assert unverified_header(sign_compact({}, key, typ=None)) == {"alg": "RS256", "kid": "k-1"}
    custom = unverified_header(sign_compact({}, key, headers={"typ": "at+jwt", "x": [1]}))
    assert custom == {"alg": "RS256", "typ": "at+jwt", "kid": "k-1", "x": [1]}
    with pytest.raises(JWSError, match="differs"):
        sign_compact({}, key, headers={"alg": "RS512"})
    with pytest.raises(ConfigurationError, match="crit"):
        sign_compact({}, key, headers={"crit": ["exp"]})
    with pytest.raises(ConfigurationError, match="no certificate"):
        sign_compact({}, key, x5t_s256=True)
    with pytest.raises(ConfigurationError, match="JSON values"):
        sign_compact({"when": object()}, key)


def test_payload_forms(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    for payload in (b'{"a":1}', '{"a":1}', bytearray(b'{"a":1}')):
        assert verify_compact(sign_compact(payload, key), key).payload == b'{"a":1}'
    from types import MappingProxyType

    assert verify_compact(sign_compact(MappingProxyType({"a": 1}), key), key).claims() == {
        "a": 1
    }
    with pytest.raises(ConfigurationError):
        sign_compact(42, key)


def test_sign_with_header_checks_the_header(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    token = sign_with_header(b'{"alg":"HS256", "cty":"x"}', b"raw", key)
    assert verify_compact(token, key).header == {"alg": "HS256", "cty": "x"}
    with pytest.raises(JWSError, match="not the key's"):
        sign_with_header(b'{"alg":"HS512"}', b"", key)
    with pytest.raises(JWSError):
        sign_with_header(b"[1]", b"", key)


# -- the algorithm is the key's --------------------------------------------------------------


@pytest.mark.parametrize("none", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"anything"])
def test_alg_none_is_never_accepted(
    keys: dict[str, SigningKey], none: str, signature: bytes
) -> None:
    token = _token({"alg": none, "typ": "JWT"}, CLAIMS, signature)
    for key in keys.values():
        with pytest.raises(JWSError, match="none"):
            verify_compact(token, key.verifying_key())


@pytest.mark.parametrize("alg", ALGS)
def test_any_other_alg_is_rejected(keys: dict[str, SigningKey], alg: str) -> None:
    token = sign_compact(CLAIMS, keys[alg])
    for key in keys.values():
        if key.verifying_key().alg != alg:
            with pytest.raises(JWSError):
                verify_compact(token, key.verifying_key())
    with pytest.raises(JWSError, match="not a supported"):
        verify_compact(_token({"alg": "HS1"}, CLAIMS), keys[alg].verifying_key())


def test_hs256_signed_with_the_rsa_public_key_is_rejected(
    rsa_private: rsa.RSAPrivateKey,
) -> None:
    public = rsa_private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}))
    body = _b64(json.dumps(CLAIMS))
    forged = f"{head}.{body}.{_b64(hmac.digest(pem, f'{head}.{body}'.encode(), 'sha256'))}"
    with pytest.raises(JWSError, match="fixed by the key"):
        verify_compact(forged, VerifyingKey(public))
    with pytest.raises(JWSError):
        verify_compact(forged, VerifyingKey.from_pem(pem))
    with pytest.raises(KeyLoadError, match="cannot sign or verify HS256"):
        VerifyingKey.from_pem(pem, alg="HS256")
    with pytest.raises(KeyLoadError, match="PEM key"):
        VerifyingKey.from_secret(pem)


@pytest.mark.parametrize("extra", [{"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]},
                                   {"b64": False}])
def test_crit_and_b64_are_rejected(keys: dict[str, SigningKey], extra: dict[str, Any]) -> None:
    key = keys["HS256"]
    with pytest.raises(JWSError, match=r"crit|b64"):
        verify_compact(_forge(key, {"alg": "HS256", **extra}), key)


def _forge(key: SigningKey, header: dict[str, Any], payload: bytes = b"{}") -> str:
    """A token correctly signed by ``key`` under any header (bypassing the signer's checks)."""
    signing_input = f"{_b64(json.dumps(header))}.{_b64(payload)}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def test_key_sets_select_by_kid(keys: dict[str, SigningKey]) -> None:
    a = SigningKey.generate("ES256", kid="a")
    b = SigningKey.generate("ES256", kid="b")
    anonymous = SigningKey.generate("ES256")
    pool = [a.verifying_key(), b.verifying_key(), anonymous.verifying_key()]
    assert verify_compact(sign_compact({"k": "b"}, b), pool).key.kid == "b"
    assert verify_compact(sign_compact({}, anonymous), pool).key.kid is None
    assert verify_compact(sign_compact({}, b), [a, b]).key.kid == "b"
    stranger = SigningKey.generate("ES256", kid="c")
    with pytest.raises(JWSError, match="does not verify"):
        verify_compact(sign_compact({}, stranger), pool)
    twin = a.verifying_key().with_kid("b")
    with pytest.raises(JWSError, match="share the token's kid"):
        verify_compact(sign_compact({}, b), [b.verifying_key(), twin])
    with pytest.raises(JWSError, match="mixes shared secrets"):
        verify_compact(sign_compact({}, b), [b.verifying_key(), keys["HS256"].verifying_key()])
    with pytest.raises(JWSError, match="no key"):
        verify_compact(sign_compact({}, b), [])
    with pytest.raises(ConfigurationError):
        verify_compact(sign_compact({}, b), "key")


def test_verified_header_is_a_private_copy(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    token = sign_compact({}, key)
    first = verify_compact(token, key)
    first.header["alg"] = "none"
    assert verify_compact(token, key).header["alg"] == "HS256"


def test_tampering_is_detected(keys: dict[str, SigningKey]) -> None:
    key = keys["ES256"]
    head, body, sig = sign_compact(CLAIMS, key).split(".")
    other = _b64(json.dumps({**CLAIMS, "sub": "admin"}))
    with pytest.raises(JWSError, match="does not verify"):
        verify_compact(f"{head}.{other}.{sig}", key)
    with pytest.raises(JWSError, match="does not verify"):
        verify_compact(f"{head}.{body}.{_b64(b'x' * 64)}", key)


# -- malformed input -------------------------------------------------------------------------


def _good(keys: dict[str, SigningKey]) -> str:
    return sign_compact(CLAIMS, keys["HS256"])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.rsplit(".", 1)[0], "3 dot-separated parts, this one has 2"),
        (lambda t: t + ".x", "has 4"),
        (lambda t: t + ".x.y", "JWE"),
        (lambda t: t + "=", "not base64url"),
        (lambda t: t.replace(".", "=.", 1), "not base64url"),
        (lambda t: t[:-1] + "+", "not base64url"),
        (lambda t: t[:-1] + "/", "not base64url"),
        (lambda t: t + "\n", "not base64url"),
        (lambda t: " " + t, "not base64url"),
        (lambda t: t.replace(".", ". ", 1), "not base64url"),
        (lambda t: "." + t.split(".", 1)[1], "header"),
        (lambda t: t[:-1] + "é", "not base64url"),
        (lambda t: t.split(".")[0] + ".é." + t.split(".")[2], "payload is not base64url"),
        (lambda t: "", "has 1"),
    ],
)
def test_malformed_tokens(keys: dict[str, SigningKey], mangle: Any, message: str) -> None:
    with pytest.raises(JWSError, match=message):
        verify_compact(mangle(_good(keys)), keys["HS256"])


def test_non_canonical_signature_and_payload(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    head, body, sig = _good(keys).split(".")
    assert len(sig) % 4 == 3  # 32 bytes: the last character carries 2 unused bits
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    bumped = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]  # sets an unused low bit
    assert b64url_decode(bumped[:-1] + sig[-1]) == b64url_decode(sig)
    with pytest.raises(JWSError, match="canonical"):
        verify_compact(f"{head}.{body}.{bumped}", key)
    odd = _forge(key, {"alg": "HS256"}, b"\x00")  # payload "AA"
    head2, _, _ = odd.split(".")
    signing_input = f"{head2}.AB"
    forged = f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"
    with pytest.raises(JWSError, match="canonical"):
        verify_compact(forged, key)
    with pytest.raises(JWSError, match="canonical"):
        b64url_decode("AB")
    with pytest.raises(JWSError, match="canonical"):
        b64url_decode("AAAAA")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"alg":"HS256","alg":"none"}', "duplicate JSON member 'alg'"),
        (b'{"alg":"HS256","x":{"a":1,"a":2}}', "duplicate"),
        (b'["alg","HS256"]', "must be a JSON object"),
        (b'"HS256"', "must be a JSON object"),
        (b"1", "must be a JSON object"),
        (b'{"alg":"HS256","x":NaN}', "NaN"),
        (b'{"alg":"HS256","x":-Infinity}', "Infinity"),
        (b'{"alg":"HS256","x":1e999}', "out of range"),
        (b'{"alg":"HS256","x":' + b"[" * 40 + b"]" * 40 + b"}", "nested deeper"),
        (b'{"alg":"HS256","x":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
        (b'{"alg":"HS256"', "not valid JSON"),
        (b"{}", "no 'alg'"),
        (b'{"alg":256}', "no 'alg'"),
        (b'\xef\xbb\xbf{"alg":"HS256"}', "JSON"),
    ],
)
def test_malformed_headers(keys: dict[str, SigningKey], header: bytes, message: str) -> None:
    token = f"{_b64(header)}.{_b64(b'{}')}.{_b64(b'sig')}"
    with pytest.raises(JWSError, match=message):
        verify_compact(token, keys["HS256"])
    if message != "no 'alg'":  # the unverified view does not judge alg
        with pytest.raises(JWSError):
            unverified_header(token)


def test_oversized_token(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    big = sign_compact({"pad": "x" * MAX_TOKEN_LENGTH}, key)
    with pytest.raises(JWSError, match="over the limit"):
        verify_compact(big, key)
    with pytest.raises(JWSError, match="over the limit"):
        unverified_header(big)
    small = sign_compact({"pad": "x" * 100}, key)
    with pytest.raises(JWSError, match="over the limit of 50"):
        verify_compact(small, key, max_length=50)
    assert verify_compact(big, key, max_length=len(big)).claims()["pad"].startswith("x")


def test_types_other_than_text(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    token = _good(keys)
    assert verify_compact(token.encode(), key).claims() == CLAIMS
    for value in (None, 42, ["a"], "é".encode()):
        with pytest.raises(JWSError):
            verify_compact(value, key)
    with pytest.raises(JWSError):
        parse_json_object(None)
    with pytest.raises(JWSError):
        b64url_decode(None)


def test_unverified_views(keys: dict[str, SigningKey]) -> None:
    token = _good(keys)
    assert unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert unverified_claims(token) == CLAIMS
    assert unverified_header(_token({"alg": "none"}, {})) == {"alg": "none"}


def test_claims_are_parsed_strictly(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    token = sign_compact(b'{"sub":"a","sub":"b"}', key)
    verified = verify_compact(token, key)
    with pytest.raises(JWSError, match="duplicate JSON member 'sub'"):
        verified.claims()
    with pytest.raises(JWSError, match="duplicate"):
        unverified_claims(token)


def test_errors_never_carry_the_signature(keys: dict[str, SigningKey]) -> None:
    key = keys["HS256"]
    head, body, sig = _good(keys).split(".")
    wrong = _b64(b"\x01" * 32)
    with pytest.raises(JWSError) as info:
        verify_compact(f"{head}.{body}.{wrong}", key)
    assert wrong not in str(info.value) and sig not in str(info.value)


# -- base64url -------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert b64url_decode(encoded) == data
    assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=40))
def test_b64url_each_string_decodes_to_one_encoding(text: str) -> None:
    try:
        decoded = b64url_decode(text)
    except JWSError:
        return
    assert b64url_encode(decoded) == text


# -- hypothesis: only JWSError escapes ------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10,
)
_headers = st.one_of(
    st.binary(max_size=60),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "b64", "x"]),
        st.sampled_from(["HS256", "none", "RS256", "", 1, None, ["x"], {"a": 1}]),
        max_size=4,
    ).map(lambda d: json.dumps(d).encode()),
)


def _only_jws_error(call: Any, *args: Any) -> None:
    with contextlib.suppress(JWSError):
        call(*args)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_arbitrary_input_only_raises_jws_error(value: Any) -> None:
    key = VerifyingKey.from_secret(b"k" * 32)
    _only_jws_error(verify_compact, value, key)
    _only_jws_error(unverified_header, value)
    _only_jws_error(unverified_claims, value)
    _only_jws_error(parse_json_object, value)
    _only_jws_error(b64url_decode, value)


@settings(max_examples=300, deadline=None)
@given(
    _headers,
    st.one_of(st.binary(max_size=60), _json_values.map(lambda v: json.dumps(v).encode())),
    st.binary(max_size=70),
    st.sampled_from(["", ".", "=", "+", "\x00", " "]),
)
def test_structured_tokens_only_raise_jws_error(
    header: bytes, payload: bytes, signature: bytes, junk: str
) -> None:
    token = f"{_b64(header)}.{_b64(payload)}.{_b64(signature)}{junk}"
    hs = VerifyingKey.from_secret(b"k" * 32)
    es = SigningKey.generate("ES256").verifying_key()
    for keys in (hs, es, [hs], [es, es.with_kid("x")]):
        try:
            verify_compact(token, keys)
        except JWSError:
            continue
        raise AssertionError("a forged token verified")
    _only_jws_error(unverified_header, token)
    _only_jws_error(unverified_claims, token)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), _json_values.map(json.dumps)))
def test_parse_json_object_returns_a_dict_or_raises_jws_error(value: Any) -> None:
    try:
        parsed = parse_json_object(value)
    except JWSError:
        return
    assert type(parsed) is dict


def test_text_payload_must_be_valid_unicode(keys: dict[str, SigningKey]) -> None:
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        sign_compact("\ud800", keys["HS256"])
