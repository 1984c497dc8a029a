"""Every hostile assertion is refused with the right error, both as a grant and as a client
assertion (RFC 7523 §3, RFC 8725, published JOSE CVEs), and the server never reaches a URL
named in a token."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from server_craft import (
    JWT_BEARER,
    SUBJECT,
    FlowServer,
    Trap,
    compact,
    hmac_signed,
    segment,
    signed,
)

from jwtbearer.jose.jws import b64url_encode
from jwtbearer.jose.keys import SigningKey

pytestmark = pytest.mark.flow

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Builder = Callable[[FlowServer, Trap, dict[str, Any]], str]


def good_claims(server: FlowServer, role: str) -> dict[str, Any]:
    now = int(time.time())
    if role == "grant":
        iss, sub, aud = "sf", SUBJECT, server.url
    else:
        iss, sub, aud = "pkjwt", "pkjwt", server.token_url
    return {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 120,
            "jti": secrets.token_urlsafe(12)}


def present(server: FlowServer, role: str, assertion: str) -> httpx.Response:
    if role == "grant":
        data = {"grant_type": JWT_BEARER, "assertion": assertion}
    else:
        data = {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion}
    return httpx.post(server.token_url, data=data, timeout=10)


def _self_signed(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _rsa_pem(server: FlowServer) -> bytes:
    return server.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)


def _with(**changes: Any) -> Builder:
    def build(s: FlowServer, t: Trap, c: dict[str, Any]) -> str:
        claims = {**c, **changes}
        return signed({k: v for k, v in claims.items() if v is not None}, s.rsa, kid=s.rsa.kid)
    return build


def _header(**header: Any) -> Builder:
    def build(s: FlowServer, t: Trap, c: dict[str, Any]) -> str:
        return signed(c, s.rsa, kid=s.rsa.kid, **header)
    return build


def _time(field: str, delta: int) -> Builder:
    def build(s: FlowServer, t: Trap, c: dict[str, Any]) -> str:
        return signed({**c, field: int(time.time()) + delta}, s.rsa, kid=s.rsa.kid)
    return build


def _flip_signature(s: FlowServer, t: Trap, c: dict[str, Any]) -> str:
    token = signed(c, s.rsa, kid=s.rsa.kid)
    head, _, sig = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 0x01
    return f"{head}.{b64url_encode(bytes(raw))}"


def _noncanonical_signature(s: FlowServer, t: Trap, c: dict[str, Any]) -> str:
    token = signed(c, s.rsa, kid=s.rsa.kid)
    head, _, sig = token.rpartition(".")
    # 256 bytes are 342 characters with 4 spare bits: flipping one changes the text only.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return f"{head}.{sig[:-1]}{alphabet[alphabet.index(sig[-1]) ^ 1]}"


_attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)

HOSTILE: dict[str, Builder] = {
    # algorithm attacks (RFC 8725 §2.1, §3.1; CVE-2015-9235, CVE-2016-10555)
    "alg_none": lambda s, t, c: compact({"alg": "none", "typ": "JWT"}, c, None),
    "alg_None_mixed_case": lambda s, t, c: compact({"alg": "nOnE"}, c, None),
    "alg_none_with_signature": lambda s, t, c: compact({"alg": "none"}, c, None) + "c2ln",
    "alg_missing": lambda s, t, c: compact({"typ": "JWT"}, c, s.rsa),
    "hs256_with_rsa_public_key": lambda s, t, c: hmac_signed(c, _rsa_pem(s)),
    "rs512_with_registered_rs256_key": lambda s, t, c: signed(
        c, SigningKey.from_pem(s.rsa.private_pem(), alg="RS512"), kid=s.rsa.kid),
    "ps256_with_registered_rs256_key": lambda s, t, c: signed(
        c, SigningKey.from_pem(s.rsa.private_pem(), alg="PS256"), kid=s.rsa.kid),
    "es256_key_not_registered": lambda s, t, c: signed(c, s.ec),
    "signed_by_another_rsa_key": lambda s, t, c: signed(c, s.other_rsa, kid=s.rsa.kid),
    "signature_bit_flipped": _flip_signature,
    "signature_empty": lambda s, t, c: signed(c, s.rsa).rpartition(".")[0] + ".",
    "signature_noncanonical_base64": _noncanonical_signature,
    # key-location headers are never fetched or trusted (RFC 8725 §3.10; CVE-2018-0114)
    "jku_to_loopback": lambda s, t, c: signed(c, s.other_rsa, jku=t.url + "/jwks.json"),
    "x5u_to_loopback": lambda s, t, c: signed(c, s.other_rsa, x5u=t.url + "/cert.pem"),
    "embedded_jwk": lambda s, t, c: signed(c, s.other_rsa, jwk=s.other_rsa.public_jwk()),
    "embedded_x5c": lambda s, t, c: signed(
        c, SigningKey.from_private_key(_attacker), x5c=[_self_signed(_attacker)]),
    "jku_with_valid_signature": _header(jku="https://127.0.0.1:1/jwks"),
    # headers with meanings the server does not implement
    "crit_header": _header(crit=["exp"], exp=1),
    "crit_empty": _header(crit=[]),
    "b64_false": _header(b64=False, crit=["b64"]),
    "zip_header": _header(zip="DEF"),
    "cty_nested_jwt": _header(cty="JWT"),
    "typ_access_token": _header(typ="at+jwt"),
    "typ_logout_token": _header(typ="logout+jwt"),
    "typ_not_a_string": _header(typ=7),
    "jwe_five_parts": lambda s, t, c: ".".join([segment({"alg": "RSA-OAEP", "enc": "A256GCM"}),
                                                 "a", "b", "c", "d"]),
    # malformed structure and JSON (RFC 7515 §5.2, RFC 8725 §3.2)
    "not_a_jws": lambda s, t, c: "not-a-jwt",
    "two_parts": lambda s, t, c: f"{segment({'alg': 'RS256'})}.{segment(c)}",
    "padding_in_base64": lambda s, t, c: signed(c, s.rsa).replace(".", "=.", 1),
    "header_not_json": lambda s, t, c: compact(b"{alg:RS256}", c, s.rsa),
    "header_duplicate_alg": lambda s, t, c: compact(
        b'{"alg":"none","alg":"RS256","typ":"JWT"}', c, s.rsa),
    "payload_duplicate_iss": lambda s, t, c: compact(
        {"alg": "RS256", "typ": "JWT"},
        json.dumps(c)[:-1] + ',"iss":"someone-else"}', s.rsa),
    "payload_not_utf8": lambda s, t, c: compact(
        {"alg": "RS256"}, json.dumps(c)[:-1].encode() + b',"x":"\xff\xfe"}', s.rsa),
    "header_not_utf8": lambda s, t, c: compact(b'{"alg":"RS256","x":"\xc3\x28"}', c, s.rsa),
    "payload_array": lambda s, t, c: compact({"alg": "RS256"}, b"[1,2]", s.rsa),
    "payload_deeply_nested": lambda s, t, c: signed({**c, "x": _nested(100)}, s.rsa),
    "payload_nan": lambda s, t, c: compact({"alg": "RS256"},
                                           json.dumps(c)[:-1] + ',"x":NaN}', s.rsa),
    # claims (RFC 7523 §3)
    "iss_unknown_client": _with(iss="nobody"),
    "iss_missing": _with(iss=None),
    "sub_missing": _with(sub=None),
    "aud_wrong": _with(aud="https://login.salesforce.com"),
    "aud_missing": _with(aud=None),
    "aud_array_injection": lambda s, t, c: signed({**c, "aud": [c["aud"], "https://evil"]},
                                                  s.rsa, kid=s.rsa.kid),
    "exp_missing": _with(exp=None),
    "exp_expired": _time("exp", -300),
    "exp_as_string": lambda s, t, c: signed({**c, "exp": str(c["exp"])}, s.rsa, kid=s.rsa.kid),
    "exp_as_boolean": _with(exp=True),
    "exp_in_milliseconds": lambda s, t, c: signed({**c, "exp": c["exp"] * 1000}, s.rsa),
    "lifetime_over_cap": _time("exp", 7200),
    "nbf_in_future": _time("nbf", 600),
    "nbf_as_string": lambda s, t, c: signed({**c, "nbf": str(c["iat"])}, s.rsa),
    "iat_in_future": _time("iat", 600),
    "iat_too_old": _time("iat", -7200),
    "iat_as_string": lambda s, t, c: signed({**c, "iat": str(c["iat"])}, s.rsa),
    # a NumericDate past the float range once overflowed the time arithmetic (a 500)
    "exp_huge_integer": _with(exp=10**400),
    "exp_huge_negative_integer": _with(exp=-(10**400)),
    "nbf_huge_integer": _with(nbf=10**400),
    "iat_huge_negative_integer": _with(iat=-(10**400)),
    "jti_missing": _with(jti=None),
    "jti_not_a_string": _with(jti=12345),
    "jti_too_long": _with(jti="x" * 300),
}
# Why each is refused: a fragment of error_description, so a refusal for another reason fails.
REASONS = {
    "alg_": "not none", "hs256_": "not the registered key's algorithm",
    "rs512_": "not the registered key's algorithm", "ps256_": "not the registered key's algorithm",
    "es256_": "not the registered key's algorithm", "signed_by_": "does not verify",
    "signature_bit": "does not verify", "signature_empty": "does not verify",
    "signature_non": "canonical", "jku": "'jku' refused", "x5u": "'x5u' refused",
    "embedded_jwk": "'jwk' refused", "embedded_x5c": "'x5c' refused", "crit": "'crit'",
    "b64": "'b64'", "zip": "'zip'", "cty": "'cty'", "typ_": "typ", "jwe": "JWE",
    "not_a_jws": "3 dot-separated", "two_parts": "3 dot-separated", "padding": "base64url",
    "header_not_json": "not valid JSON", "header_dup": "duplicate JSON member 'alg'",
    "payload_dup": "duplicate JSON member 'iss'", "payload_not_utf8": "not UTF-8",
    "header_not_utf8": "not UTF-8", "payload_array": "JSON object", "payload_deep": "nested",
    "payload_nan": "NaN", "iss_unknown": "nobody", "iss_missing": "no iss",
    "sub_missing": "no sub", "aud_array": "single string", "aud_": "audience",
    "exp_huge": "out of range", "nbf_huge": "out of range", "iat_huge": "out of range",
    "exp_missing": "no exp", "exp_expired": "expired", "exp_as": "NumericDate",
    "exp_in_milli": "maximum lifetime", "lifetime": "maximum lifetime", "nbf_in": "not valid yet",
    "nbf_as": "NumericDate", "iat_in": "future", "iat_too": "maximum lifetime",
    "iat_as": "NumericDate", "jti_missing": "no jti", "jti_not": "string of 1 to 256",
    "jti_too": "string of 1 to 256",
}


def reason(case: str) -> str:
    return next(v for k, v in REASONS.items() if case.startswith(k))


ROLES = {"grant": (400, "invalid_grant"), "client": (401, "invalid_client")}


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_assertion_refused(token_server: FlowServer, url_trap: Trap, role: str,
                                   case: str) -> None:
    token = HOSTILE[case](token_server, url_trap, good_claims(token_server, role))
    response = present(token_server, role, token)
    status, error = ROLES[role]
    body = response.json()
    assert (response.status_code, body["error"]) == (status, error), body
    assert reason(case) in body["error_description"], body
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in body


@pytest.mark.parametrize("role", sorted(ROLES))
def test_good_assertion_is_accepted_so_the_refusals_mean_something(
        token_server: FlowServer, role: str) -> None:
    token = signed(good_claims(token_server, role), token_server.rsa, kid=token_server.rsa.kid)
    response = present(token_server, role, token)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_replayed_jti_refused(token_server: FlowServer, role: str) -> None:
    token = signed(good_claims(token_server, role), token_server.rsa, kid=token_server.rsa.kid)
    assert present(token_server, role, token).status_code == 200
    again = present(token_server, role, token)
    assert (again.status_code, again.json()["error"]) == ROLES[role]
    assert "already used" in again.json()["error_description"]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_oversized_assertion_is_invalid_request(token_server: FlowServer, role: str) -> None:
    claims = {**good_claims(token_server, role), "pad": "x" * 17_000}
    response = present(token_server, role, signed(claims, token_server.rsa))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert "cap" in response.json()["error_description"]


def test_unapproved_subject_gets_salesforce_message(token_server: FlowServer) -> None:
    claims = {**good_claims(token_server, "grant"), "sub": "mallory@example.com"}
    response = present(token_server, "grant", signed(claims, token_server.rsa))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant",
                               "error_description": "user hasn't approved this consumer"}


def test_client_assertion_sub_must_be_the_client(token_server: FlowServer) -> None:
    claims = {**good_claims(token_server, "client"), "sub": SUBJECT}
    response = present(token_server, "client", signed(claims, token_server.rsa))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_aud_token_endpoint_and_issuer_both_accepted(token_server: FlowServer) -> None:
    for aud in (token_server.url, token_server.token_url):
        claims = {**good_claims(token_server, "grant"), "aud": aud}
        assert present(token_server, "grant", signed(claims, token_server.rsa)).status_code == 200


def test_no_url_named_in_a_token_is_ever_reached(token_server: FlowServer,
                                                 url_trap: Trap) -> None:
    for case in ("jku_to_loopback", "x5u_to_loopback"):
        for role in ROLES:
            token = HOSTILE[case](token_server, url_trap, good_claims(token_server, role))
            assert present(token_server, role, token).status_code in (400, 401)
    # The trap accepts with a 0.1 s poll; give it time to count a connection had one come.
    time.sleep(0.3)
    assert url_trap.connections == 0
    # The trap does count real connections.
    with httpx.Client() as probe, pytest.raises(httpx.HTTPError):
        probe.get(url_trap.url, timeout=2)
    time.sleep(0.3)
    assert url_trap.connections == 1
    url_trap.connections = 0


@pytest.mark.parametrize("order", ["good_first", "bad_first"])
def test_a_repeated_authorization_header_is_refused(token_server: FlowServer, order: str) -> None:
    # Authorization is a singleton field (RFC 9110 §11.6.2): with two, a proxy and this server
    # could each act on a different one. Refused like a repeated parameter (RFC 6749 §3.2).
    def basic(secret: str) -> tuple[str, str]:
        raw = f"basic:{quote_plus(secret)}".encode()
        return ("Authorization", "Basic " + base64.b64encode(raw).decode())

    good, bad = basic(token_server.secrets["basic"]), basic("wrong")
    headers = [good, bad] if order == "good_first" else [bad, good]
    response = httpx.post(token_server.token_url, data={"grant_type": "client_credentials"},
                          headers=[*headers, ("Content-Type",
                                              "application/x-www-form-urlencoded")], timeout=10)
    body = response.json()
    assert (response.status_code, body["error"]) == (400, "invalid_request"), body
    assert "Authorization" in body["error_description"]
    assert "access_token" not in body
    # One header alone still works, so the refusal is about the repetition.
    alone = httpx.post(token_server.token_url, data={"grant_type": "client_credentials"},
                       headers=[good], timeout=10)
    assert alone.status_code == 200, alone.text
