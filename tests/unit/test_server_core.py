"""The token endpoint core, without a socket: form + headers + injected clock → status + JSON."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtbearer.errors import JWSError
from jwtbearer.jose.assertion import make_assertion
from jwtbearer.jose.jws import sign_compact, unverified_claims, unverified_header, verify_compact
from jwtbearer.jose.keys import SigningKey, load_jwks
from jwtbearer.server.config import ServerConfig, parse_config
from jwtbearer.server.core import CLIENT_ASSERTION_TYPE, TokenEndpoint
from jwtbearer.server.registry import JWT_BEARER
from jwtbearer.server.replay import MemoryReplayCache
from jwtbearer.server.validation import Refusal, parse_assertion

ISSUER = "https://as.example.com"
NOW = 1_800_000_000.0
FORM = {"content-type": "application/x-www-form-urlencoded"}
SECRET = "p@ss:word/with&odd=chars+"
HS_SECRET = "k" * 40
# The endpoint fixture is stateless across examples apart from its replay cache (fresh jti).
FIXTURE_CHECK = HealthCheck.function_scoped_fixture


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return SigningKey.generate("RS256", kid="rsa-1")


def make_config(tmp: Path, rsa: SigningKey, **top: Any) -> ServerConfig:
    data: dict[str, Any] = {
        "issuer": ISSUER,
        "state_dir": "state",
        "instance_url": "https://na1.example.com",
        "clients": [
            {"client_id": "basic", "token_endpoint_auth_method": "client_secret_basic",
             "client_secret": SECRET, "grant_types": ["client_credentials"], "scopes": ["a", "b"]},
            {"client_id": "hs", "token_endpoint_auth_method": "client_secret_jwt",
             "client_secret": HS_SECRET, "grant_types": ["client_credentials"]},
            {"client_id": "sf", "token_endpoint_auth_method": "none",
             "jwks": {"keys": [rsa.public_jwk()]}, "grant_types": [JWT_BEARER],
             "subjects": ["alice"]},
        ],
    }
    data.update(top)
    return parse_config(data, base=tmp, source="test.toml")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(tmp_path: Path, rsa: SigningKey, clock: Clock) -> TokenEndpoint:
    return TokenEndpoint(make_config(tmp_path, rsa), clock=clock)


def basic(user: str, password: str) -> dict[str, str]:
    raw = f"{quote_plus(user)}:{quote_plus(password)}".encode()
    return {**FORM, "authorization": "Basic " + base64.b64encode(raw).decode()}


def post(endpoint: TokenEndpoint, fields: dict[str, str] | bytes,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = fields if isinstance(fields, bytes) else urlencode(fields).encode()
    response = endpoint.token(body, headers if headers is not None else FORM)
    return response.status, dict(response.body), dict(response.headers)


def bearer(endpoint: TokenEndpoint, rsa: SigningKey, now: float, **claims: Any) -> dict[str, str]:
    assertion = make_assertion(key=rsa, iss=claims.pop("iss", "sf"), sub=claims.pop("sub", "alice"),
                               aud=claims.pop("aud", ISSUER), now=now,
                               lifetime=claims.pop("lifetime", 300))
    return {"grant_type": JWT_BEARER, "assertion": assertion}


def test_client_secret_basic_decodes_form_urlencoded_credentials(endpoint: TokenEndpoint) -> None:
    status, body, headers = post(endpoint, {"grant_type": "client_credentials", "scope": "b"},
                                 basic("basic", SECRET))
    assert status == 200, body
    assert (body["scope"], body["expires_in"], body["token_type"]) == ("b", 3600, "Bearer")
    assert (body["instance_url"], body["issued_at"]) == ("https://na1.example.com",
                                                         str(int(NOW) * 1000))
    assert headers["cache-control"] == "no-store"
    token = verify_compact(body["access_token"], load_jwks(endpoint.jwks().body))
    assert token.header["typ"] == "at+jwt"
    assert token.claims()["iat"] == int(NOW)


def test_failed_basic_gets_401_with_challenge(endpoint: TokenEndpoint) -> None:
    for headers in (basic("basic", "nope"), {**FORM, "authorization": "Basic !!!"},
                    {**FORM, "authorization": "Basic " + base64.b64encode(b"nocolon").decode()}):
        status, body, sent = post(endpoint, {"grant_type": "client_credentials"}, headers)
        assert (status, body["error"]) == (401, "invalid_client")
        assert sent["www-authenticate"].startswith("Basic ")


def test_clock_is_injected_and_leeway_applies(endpoint: TokenEndpoint, rsa: SigningKey,
                                              clock: Clock) -> None:
    issued = NOW - 1000
    # exp = issued + 300 = NOW - 700: far past the 30 s leeway at NOW ...
    status, body, _ = post(endpoint, bearer(endpoint, rsa, issued))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "expired" in body["error_description"]
    # ... but 29 s past exp is inside it, and 31 s is not.
    for late, ok in ((29, True), (31, False)):
        clock.now = issued + 300 + late
        assert (post(endpoint, bearer(endpoint, rsa, issued))[0] == 200) is ok


def test_request_shape_errors(endpoint: TokenEndpoint) -> None:
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b"grant_type=client_credentials", {"content-type": "application/json"}, 400,
         "Content-Type"),
        (b"", FORM, 400, "grant_type is missing"),
        (b"grant_type=client_credentials&grant_type=x", FORM, 400, "repeated"),
        (b"scope=&grant_type=client_credentials&scope=a", FORM, 400, "repeated"),
        (b"grant_type", FORM, 400, "malformed"),
        (b"grant_type=%ff%fe", FORM, 400, "UTF-8"),
        ("grant_type=é".encode(), FORM, 400, "UTF-8"),
        (b"&".join([b"a%d=1" % i for i in range(40)]), FORM, 400, "malformed"),
        (b"grant_type=password", FORM, 400, "not served"),
        (b"x" * 70_000, FORM, 413, "cap"),
    ]
    for body, headers, status, words in cases:
        got, answer, _ = post(endpoint, body, headers)
        assert got == status and words in answer["error_description"], (body[:40], answer)


def test_empty_parameters_are_omitted_and_one_auth_method_only(endpoint: TokenEndpoint) -> None:
    status, body, _ = post(endpoint, {"grant_type": "client_credentials", "client_secret": ""},
                           basic("basic", SECRET))
    assert status == 200, body
    status, body, _ = post(endpoint, {"grant_type": "client_credentials", "client_id": "basic",
                                      "client_secret": SECRET}, basic("basic", SECRET))
    assert (status, body["error"]) == (400, "invalid_request")
    assert "more than one" in body["error_description"]


def test_client_secret_jwt_and_wrong_assertion_type(endpoint: TokenEndpoint) -> None:
    key = SigningKey.from_secret(HS_SECRET)
    assertion = make_assertion(key=key, iss="hs", sub="hs", aud=ISSUER + "/token", now=NOW)
    fields = {"grant_type": "client_credentials", "client_assertion": assertion,
              "client_assertion_type": CLIENT_ASSERTION_TYPE}
    assert post(endpoint, fields)[0] == 200
    fields["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    status, body, _ = post(endpoint, fields)
    assert (status, body["error"]) == (400, "invalid_request")


def test_minimal_error_detail_hides_the_failed_check(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = TokenEndpoint(make_config(tmp_path, rsa, error_detail="minimal"), clock=lambda: NOW)
    status, body, _ = post(endpoint, bearer(endpoint, rsa, NOW, sub="mallory"))
    assert status == 400
    assert body == {"error": "invalid_grant", "error_description": "the grant is invalid"}


def test_audience_array_accepted_only_when_configured(tmp_path: Path, rsa: SigningKey) -> None:
    strict = TokenEndpoint(make_config(tmp_path, rsa), clock=lambda: NOW)
    lax = TokenEndpoint(make_config(tmp_path, rsa, allow_audience_array=True), clock=lambda: NOW)
    assert post(strict, bearer(strict, rsa, NOW, aud=[ISSUER, "x"]))[0] == 400
    assert post(lax, bearer(lax, rsa, NOW, aud=["x", ISSUER]))[0] == 200
    assert post(lax, bearer(lax, rsa, NOW, aud=["x", "y"]))[0] == 400


def test_jti_optional_when_configured(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = TokenEndpoint(make_config(tmp_path, rsa, require_jti=False), clock=lambda: NOW)
    claims = {"iss": "sf", "sub": "alice", "aud": ISSUER, "exp": int(NOW) + 60}
    from jwtbearer.jose.jws import sign_compact

    status, _, _ = post(endpoint, {"grant_type": JWT_BEARER,
                                   "assertion": sign_compact(claims, rsa)})
    assert status == 200


def test_full_replay_cache_answers_503(tmp_path: Path, rsa: SigningKey) -> None:
    endpoint = TokenEndpoint(make_config(tmp_path, rsa), clock=lambda: NOW,
                             replay=MemoryReplayCache(max_entries=1))
    assert post(endpoint, bearer(endpoint, rsa, NOW))[0] == 200
    status, body, _ = post(endpoint, bearer(endpoint, rsa, NOW))
    assert (status, body["error"]) == (503, "temporarily_unavailable")


def test_memory_replay_cache_forgets_expired_entries() -> None:
    cache = MemoryReplayCache()
    assert cache.first_use("c", "j1", expires_at=100, now=0)
    assert not cache.first_use("c", "j1", expires_at=100, now=50)
    assert cache.first_use("other-client", "j1", expires_at=100, now=50)  # unique per issuer
    assert cache.first_use("c", "j2", expires_at=300, now=60)
    assert len(cache) == 3
    assert cache.first_use("c", "j1", expires_at=400, now=101)  # expired: forgotten
    assert len(cache) == 2


def test_logs_and_repr_hold_no_secret(endpoint: TokenEndpoint, rsa: SigningKey,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jwtbearer.server")
    post(endpoint, {"grant_type": "client_credentials"}, basic("basic", SECRET + "x"))
    fields = bearer(endpoint, rsa, NOW, sub="mallory")
    post(endpoint, fields)
    signature = fields["assertion"].rsplit(".", 1)[1]
    good = endpoint.token(urlencode({"grant_type": "client_credentials"}).encode(),
                          basic("basic", SECRET))
    assert "<hidden>" in repr(good) and str(good.body["access_token"]) not in repr(good)
    text = caplog.text
    assert "user hasn't approved" in text
    assert SECRET not in text and signature not in text
    assert SECRET not in repr(endpoint.config.clients["basic"])


def test_metadata_rfc8414(endpoint: TokenEndpoint) -> None:
    meta = endpoint.metadata().body
    assert meta["issuer"] == ISSUER and meta["token_endpoint"] == ISSUER + "/token"
    assert JWT_BEARER in meta["grant_types_supported"]
    assert "none" not in meta["token_endpoint_auth_signing_alg_values_supported"]


@settings(max_examples=300, deadline=None, suppress_health_check=[FIXTURE_CHECK])
@given(body=st.binary(max_size=300), auth=st.text(max_size=60),
       ctype=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""]))
def test_any_input_gets_a_4xx_json_answer_never_an_exception(
        endpoint: TokenEndpoint, body: bytes, auth: str, ctype: str) -> None:
    response = endpoint.token(body, {"content-type": ctype, "authorization": auth})
    assert 400 <= response.status < 500
    assert response.json_bytes().startswith(b'{"error":')


@settings(max_examples=200, deadline=None, suppress_health_check=[FIXTURE_CHECK])
@given(header=st.text(max_size=80), payload=st.text(max_size=80), sig=st.text(max_size=20))
def test_any_assertion_text_is_refused_cleanly(endpoint: TokenEndpoint, header: str,
                                               payload: str, sig: str) -> None:
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).rstrip(b"=").decode()

    for assertion in (f"{b64(header)}.{b64(payload)}.{b64(sig)}", f"{header}.{payload}.{sig}"):
        for fields in ({"grant_type": JWT_BEARER, "assertion": assertion},
                       {"grant_type": "client_credentials", "client_assertion": assertion,
                        "client_assertion_type": CLIENT_ASSERTION_TYPE}):
            status, body, _ = post(endpoint, fields)
            assert status in (400, 401) and body["error"] in (
                "invalid_grant", "invalid_client", "invalid_request"), body


def test_client_authentication_typ_only_for_client_assertions(endpoint: TokenEndpoint,
                                                              rsa: SigningKey) -> None:
    from jwtbearer.jose.jws import sign_compact

    hs = SigningKey.from_secret(HS_SECRET)
    claims = {"iss": "hs", "sub": "hs", "aud": ISSUER, "exp": int(NOW) + 60, "jti": "j-typ"}
    client = sign_compact(claims, hs, typ="client-authentication+jwt")
    assert post(endpoint, {"grant_type": "client_credentials", "client_assertion": client,
                           "client_assertion_type": CLIENT_ASSERTION_TYPE})[0] == 200
    grant = sign_compact({"iss": "sf", "sub": "alice", "aud": ISSUER, "exp": int(NOW) + 60,
                          "jti": "g-typ"}, rsa, typ="client-authentication+jwt")
    status, body, _ = post(endpoint, {"grant_type": JWT_BEARER, "assertion": grant})
    assert (status, body["error"]) == (400, "invalid_grant") and "typ" in body["error_description"]


def test_a_vetted_header_is_remembered_per_kind_of_assertion(rsa: SigningKey) -> None:
    # typ client-authentication+jwt passes for a client assertion; the same header, remembered
    # from that check, must still be refused for a grant assertion (RFC 8725 §3.11).
    token = sign_compact({"iss": "x"}, rsa, typ="client-authentication+jwt")
    for _ in range(2):
        assert parse_assertion(token, client_assertion=True, max_size=16_384).claims["iss"] == "x"
        with pytest.raises(Refusal, match="typ") as refused:
            parse_assertion(token, client_assertion=False, max_size=16_384)
        assert refused.value.error == "invalid_grant"


def test_a_remembered_header_does_not_let_a_malformed_token_through(
        endpoint: TokenEndpoint, rsa: SigningKey) -> None:
    fields = bearer(endpoint, rsa, NOW)
    assert post(endpoint, fields)[0] == 200  # the header is now remembered
    header, payload, signature = fields["assertion"].split(".")
    for broken in (f"{header}.{payload}", f"{header}.{payload}!.{signature}",
                   f"{header}.{payload}.{signature}.x.y", f"{header}..{signature}"):
        status, body, _ = post(endpoint, {**fields, "assertion": broken})
        assert (status, body["error"]) == (400, "invalid_grant"), broken
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    status, body, _ = post(endpoint, {**fields, "assertion": tampered})
    assert (status, body["error"]) == (400, "invalid_grant")


def test_known_encoded_values_decode_as_any_other(endpoint: TokenEndpoint, rsa: SigningKey) -> None:
    fields = bearer(endpoint, rsa, NOW)
    # The common encoding (':' as %3A) and a needlessly encoded one ('-' as %2D) both work.
    loose = urlencode(fields).replace("grant-type", "grant%2Dtype").encode()
    assert post(endpoint, loose)[0] == 200
    assert post(endpoint, bearer(endpoint, rsa, NOW))[0] == 200


def test_access_token_and_answer_are_the_bytes_json_would_write(endpoint: TokenEndpoint,
                                                                 rsa: SigningKey) -> None:
    # The endpoint writes both JSON texts directly; they must be what a JSON encoder gives.
    import json

    from jwtbearer.jose.jws import b64url_decode

    fields = bearer(endpoint, rsa, NOW, sub="alice")
    response = endpoint.token(urlencode(fields).encode(), FORM)
    assert response.status == 200
    compact = {"separators": (",", ":"), "ensure_ascii": True}
    assert response.json_bytes() == json.dumps(dict(response.body), **compact).encode()
    payload = b64url_decode(response.body["access_token"].split(".")[1])
    claims = json.loads(payload)
    assert payload == json.dumps(claims, **compact).encode()
    assert list(claims) == ["iss", "sub", "aud", "client_id", "iat", "exp", "jti"]
    assert (claims["sub"], claims["client_id"], claims["exp"]) == ("alice", "sf", int(NOW) + 3600)


@pytest.mark.parametrize("subject", ['quote"back\\slash', "ünïcødé ✓", "line\nbreak", "\x7f"])
def test_access_token_quotes_any_subject(tmp_path: Path, rsa: SigningKey, subject: str) -> None:
    import json

    config = make_config(tmp_path, rsa)
    sf = config.clients["sf"]
    clients = {**config.clients, "sf": type(sf)(
        client_id="sf", token_endpoint_auth_method="none", grant_types=sf.grant_types,
        keys=sf.keys, subjects=(subject,), scopes=("x",))}
    from dataclasses import replace

    endpoint = TokenEndpoint(replace(config, clients=clients), clock=lambda: NOW)
    status, body, _ = post(endpoint, bearer(endpoint, rsa, NOW, sub=subject))
    assert status == 200, body
    claims = verify_compact(body["access_token"], load_jwks(endpoint.jwks().body)).claims()
    assert claims["sub"] == subject and claims["scope"] == "x"
    response = endpoint.token(urlencode(bearer(endpoint, rsa, NOW, sub=subject)).encode(), FORM)
    assert json.loads(response.json_bytes()) == dict(response.body)


def _one_pass(token: str, client_assertion: bool) -> tuple[str, str] | str:
    try:
        return parse_assertion(token, client_assertion=client_assertion,
                               max_size=400).claims["iss"]
    except Refusal as refusal:
        return refusal.error, refusal.description


def _two_passes(token: str, client_assertion: bool) -> tuple[str, str] | str:
    """The reference: the header checked with the library's generic parser, then the claims
    parsed again from the start, as the server did before it parsed in one pass."""
    from jwtbearer.server import validation

    code, status = ("invalid_client", 401) if client_assertion else ("invalid_grant", 400)
    try:
        if len(token) > 400:
            return "invalid_request", f"assertion is {len(token)} bytes, over the 400 byte cap"
        try:
            header = unverified_header(token, max_length=400)
            validation._vet_header(token.partition(".")[0], header, client_assertion, code,
                                   status)
            claims = unverified_claims(token)
        except JWSError as exc:
            return code, f"malformed assertion: {exc}"
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            return code, "assertion has no iss (RFC 7523 §3 item 1)"
        return iss
    except Refusal as refusal:
        return refusal.error, refusal.description


_SEGMENTS = st.one_of(
    st.sampled_from(["eyJhbGciOiJSUzI1NiJ9", "eyJhbGciOiJub25lIn0", "eyJpc3MiOiJzZiJ9",
                     "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJSUzI1NiJ9", "e30", "W10", "eyJqa3UiOjF9",
                     "", "a", "ab=", "eyJhIjoxLCJhIjoyfQ", "_w", "_x"]),
    st.text(alphabet="AQgw-_abcXYZ019", max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SEGMENTS, min_size=1, max_size=4).map(".".join)
       | st.text(max_size=30), st.booleans())
def test_one_pass_parse_refuses_exactly_as_the_two_checks_do(token: str,
                                                             client_assertion: bool) -> None:
    assert _one_pass(token, client_assertion) == _two_passes(token, client_assertion)


def test_parsed_assertion_repr_holds_no_signature(rsa: SigningKey) -> None:
    from jwtbearer.server.validation import parse_assertion

    token = sign_compact({"iss": "sf", "sub": "alice"}, rsa)
    parsed = parse_assertion(token, client_assertion=False, max_size=16_384)
    assert token.rsplit(".", 1)[1] not in repr(parsed) and "sf" in repr(parsed)


_JSON_BITS = st.sampled_from(['{', '}', '[', ']', ',', ':', '"a"', '"b"', '1', '1.5', '1e999',
                              'NaN', 'true', 'null', ' ', '\n', '"\\u00e9"', '"\\ud800"', 'x'])


@settings(max_examples=400, deadline=None)
@given(st.lists(_JSON_BITS, max_size=14).map("".join)
       | st.recursive(st.just("1"), lambda inner: inner.map(lambda v: '{"a":' + v + "}"),
                      max_leaves=30))
def test_claims_parse_fast_path_agrees_with_the_full_decoder(text: str) -> None:
    # Claims are parsed on every request through the decoder's scanner alone; whatever the
    # input, the value or the error must be the full decoder's.
    from jwtbearer.errors import JWSError
    from jwtbearer.jose import jws

    def outcome() -> object:
        try:
            return jws.parse_json_object(text.encode(), "JWT claims")
        except JWSError as exc:
            return str(exc)

    fast = outcome()
    with pytest.MonkeyPatch.context() as patch:
        def no_scanner(text: str, index: int) -> Any:
            raise StopIteration(index)

        patch.setattr(jws, "_scan_json", no_scanner)
        assert outcome() == fast


@pytest.mark.parametrize(("name", "value"), [
    ("exp", 10**400), ("exp", -10**400), ("nbf", 10**400), ("nbf", -10**400),
    ("iat", 10**400), ("iat", -10**400), ("exp", 2**63), ("exp", 1e300),
], ids=lambda v: v if isinstance(v, str) else f"{'-' if v < 0 else ''}{len(str(abs(int(v))))}d")
def test_numeric_dates_beyond_float_range_are_refused_not_raised(
        endpoint: TokenEndpoint, rsa: SigningKey, name: str, value: float) -> None:
    # A signed assertion whose time claim is a huge integer once raised OverflowError (a 500).
    claims = {"iss": "sf", "sub": "alice", "aud": ISSUER, "iat": int(NOW), "exp": int(NOW) + 300,
              "jti": f"j-{name}-{value > 0}-{type(value).__name__}", name: value}
    status, body, _ = post(endpoint, {"grant_type": JWT_BEARER,
                                      "assertion": sign_compact(claims, rsa)})
    assert (status, body["error"]) == (400, "invalid_grant"), body
    assert "out of range" in body["error_description"]
    assert len(body["error_description"]) < 200


def test_malformed_form_errors_never_echo_a_value(
        endpoint: TokenEndpoint, caplog: pytest.LogCaptureFixture) -> None:
    # A client that forgets to percent-encode '&' in its secret splits the secret in two; the
    # tail is a malformed field that must not come back in the answer or the log.
    caplog.set_level(logging.INFO, logger="jwtbearer.server")
    for body in (b"grant_type=client_credentials&client_id=basic&client_secret=ab&Tail5ecret",
                 b"grant_type=client_credentials&=Tail5ecret"):
        status, answer, _ = post(endpoint, body)
        assert (status, answer["error"]) == (400, "invalid_request")
        assert "malformed" in answer["error_description"]
        assert "Tail5ecret" not in answer["error_description"]
    assert "Tail5ecret" not in caplog.text


def test_an_authorization_header_without_scheme_is_not_echoed(
        endpoint: TokenEndpoint, caplog: pytest.LogCaptureFixture) -> None:
    # Credentials sent without "Basic " would be read as the scheme name.
    caplog.set_level(logging.INFO, logger="jwtbearer.server")
    raw = base64.b64encode(b"basic:Sup3rSecretValue").decode()
    for header in (raw, "Token " + raw, "X" * 30 + " y"):
        status, answer, _ = post(endpoint, {"grant_type": "client_credentials"},
                                 {**FORM, "authorization": header})
        assert (status, answer["error"]) == (401, "invalid_client")
        assert "Basic" in answer["error_description"]
        assert raw[:10] not in answer["error_description"] and "XXXXX" not in answer[
            "error_description"]
    assert raw[:10] not in caplog.text
    # A well-known scheme name is still named, to help the caller.
    _, answer, _ = post(endpoint, {"grant_type": "client_credentials"},
                        {**FORM, "authorization": "Bearer abc"})
    assert "'Bearer'" in answer["error_description"]
