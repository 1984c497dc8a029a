"""DPoP pieces without a socket: the proof a client signs (RFC 9449 §4.2), the nonce memory,
the server's proof checks on hostile input, and the configuration keys of DPoP and mTLS."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jwtbearer as jb
from jwtbearer.jose import unverified_claims, unverified_header, verify_compact
from jwtbearer.jose.dpop import access_token_hash, htu_of, jwk_thumbprint
from jwtbearer.server.dpop import ProofChecker
from jwtbearer.server.registry import ServerConfigError, parse_client
from jwtbearer.server.replay import MemoryReplayCache
from jwtbearer.server.validation import Refusal

NOW = 1_800_000_000.0
URL = "https://as.example/token"


def test_proof_header_and_claims() -> None:
    key = jb.SigningKey.generate("ES256", kid="k1")
    dpop = jb.DPoP(key)
    proof = dpop.proof("post", "HTTPS://AS.example:443/token?x=1#frag", access_token="tok",
                       now=NOW)
    header = unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert "d" not in header["jwk"] and "kid" not in header["jwk"]
    claims = unverified_claims(proof)
    assert claims["htm"] == "POST" and claims["htu"] == URL and claims["iat"] == int(NOW)
    assert claims["ath"] == access_token_hash("tok") and "nonce" not in claims
    verify_compact(proof, key.verifying_key())
    assert dpop.jkt == key.thumbprint() == jwk_thumbprint(header["jwk"])
    assert dpop.proof("POST", URL, now=NOW) != dpop.proof("POST", URL, now=NOW)  # fresh jti
    assert "d=" not in repr(dpop) and dpop.jkt in repr(dpop)


def test_htu_normalisation() -> None:
    assert htu_of("http://127.0.0.1:80/a?b") == "http://127.0.0.1/a"
    assert htu_of("https://[::1]:8443/t") == "https://[::1]:8443/t"
    assert htu_of("https://h.example") == "https://h.example/"


def test_nonces_are_remembered_per_server() -> None:
    dpop = jb.DPoP()
    assert dpop.remember(URL, httpx.Headers({"DPoP-Nonce": "n1"})) == "n1"
    assert dpop.remember(URL, httpx.Headers({"DPoP-Nonce": "n1"})) is None  # not new
    assert unverified_claims(dpop.proof("POST", "https://as.example/other"))["nonce"] == "n1"
    assert "nonce" not in unverified_claims(dpop.proof("POST", "https://rs.example/api"))


@pytest.mark.parametrize("key", [jb.SigningKey.from_secret("s" * 32, alg="HS256"), "a-key"])
def test_dpop_needs_an_asymmetric_key(key: Any) -> None:
    with pytest.raises(jb.ConfigurationError):
        jb.DPoP(key)


def test_token_client_wants_a_dpop_object() -> None:
    with pytest.raises(jb.ConfigurationError, match="dpop"):
        jb.TokenClient(URL, dpop="yes")  # type: ignore[arg-type]


def _checker() -> ProofChecker:
    return ProofChecker(replay=MemoryReplayCache(), leeway=30, nonce_key=b"n" * 32)


def test_checker_accepts_then_refuses_a_replay() -> None:
    checker = _checker()
    proof = checker.verify(jb.DPoP().proof("POST", URL, now=NOW), htm="POST", htu=URL, now=NOW)
    checker.consume(proof, NOW)
    with pytest.raises(Refusal, match="replayed") as caught:
        checker.consume(proof, NOW)
    assert caught.value.error == "invalid_dpop_proof"


def test_checker_nonce_round_trip() -> None:
    checker, dpop = _checker(), jb.DPoP()
    first = checker.verify(dpop.proof("POST", URL, now=NOW), htm="POST", htu=URL, now=NOW)
    with pytest.raises(Refusal) as caught:
        checker.require_nonce(first, NOW)
    assert caught.value.error == "use_dpop_nonce"
    nonce = dict(caught.value.headers)["dpop-nonce"]
    second = checker.verify(dpop.proof("POST", URL, nonce=nonce, now=NOW), htm="POST", htu=URL,
                            now=NOW)
    checker.require_nonce(second, NOW + 200)  # still good in the next window
    with pytest.raises(Refusal):
        checker.require_nonce(second, NOW + 1000)


def test_checker_wants_ath_for_an_access_token() -> None:
    proof = jb.DPoP().proof("GET", URL, access_token="other", now=NOW)
    with pytest.raises(Refusal, match="ath"):
        _checker().verify(proof, htm="GET", htu=URL, now=NOW, access_token="tok")


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(max_size=200),
    st.builds(lambda h, c, s: f"{_segment(h)}.{_segment(c)}.{s}",
              st.dictionaries(st.sampled_from(["typ", "alg", "jwk", "kid"]),
                              st.one_of(st.text(max_size=10), st.integers(),
                                        st.just("dpop+jwt"), st.just("ES256"),
                                        st.dictionaries(st.text(max_size=4),
                                                        st.text(max_size=8), max_size=4))),
              st.dictionaries(st.text(max_size=5), st.integers(), max_size=4),
              st.text(alphabet="abcXYZ-_", max_size=20)),
))
def test_any_garbage_is_invalid_dpop_proof(proof: str) -> None:
    with pytest.raises(Refusal) as caught:
        _checker().verify(proof, htm="POST", htu=URL, now=NOW)
    assert caught.value.error == "invalid_dpop_proof" and caught.value.status == 400


def _client(**table: Any) -> Any:
    base = {"client_id": "c", "grant_types": ["client_credentials"]}
    return parse_client({**base, **table}, index=0, base=Path("."), source="server.toml")


def test_tls_client_auth_needs_exactly_one_name() -> None:
    with pytest.raises(ServerConfigError, match="exactly one"):
        _client(token_endpoint_auth_method="tls_client_auth")
    with pytest.raises(ServerConfigError, match="exactly one"):
        _client(token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn="CN=a",
                tls_client_auth_san_dns="a.example")
    with pytest.raises(ServerConfigError, match="RFC 4514"):
        _client(token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn="junk")
    client = _client(token_endpoint_auth_method="tls_client_auth",
                     tls_client_auth_san_uri="spiffe://example/svc", dpop_bound_access_tokens=True)
    assert client.tls_client_auth_san == ("uri", "spiffe://example/svc")
    assert client.dpop_bound_access_tokens and not client.dpop_nonce


def test_sender_constraint_keys_are_checked() -> None:
    with pytest.raises(ServerConfigError, match="needs the client's certificate"):
        _client(token_endpoint_auth_method="self_signed_tls_client_auth")
    with pytest.raises(ServerConfigError, match="only for"):
        _client(token_endpoint_auth_method="client_secret_post", client_secret="x" * 32,
                tls_client_auth_subject_dn="CN=a")
    with pytest.raises(ServerConfigError, match="true or false"):
        _client(token_endpoint_auth_method="client_secret_post", client_secret="x" * 32,
                dpop_nonce="yes")
    with pytest.raises(ServerConfigError, match="IP address"):
        _client(token_endpoint_auth_method="tls_client_auth", tls_client_auth_san_ip="nope")


def test_mtls_endpoint_alias_from_metadata() -> None:
    from jwtbearer.client.discovery import ServerMetadata, client_arguments

    metadata = ServerMetadata.from_document({
        "issuer": "https://as.example", "token_endpoint": "https://as.example/token",
        "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.as.example/token"},
        "token_endpoint_auth_methods_supported": ["tls_client_auth", "client_secret_basic"],
    })
    assert client_arguments(jb.TLSClientAuth("c"), metadata)[0] == "https://mtls.as.example/token"
    basic = jb.ClientSecretBasic("c", "s")
    assert client_arguments(basic, metadata)[0] == "https://as.example/token"
    assert client_arguments(basic, metadata, mtls=True)[0] == "https://mtls.as.example/token"
    with pytest.raises(jb.ConfigurationError, match="self_signed_tls_client_auth"):
        client_arguments(jb.SelfSignedTLSClientAuth("c"), metadata)


def test_any_signer_signs_proofs() -> None:
    key = jb.SigningKey.generate("ES256")
    signer = jb.CallableSigner("ES256", key.sign, public_jwk=key.public_jwk())
    dpop = jb.DPoP(signer)
    assert dpop.jkt == key.thumbprint()
    proof = dpop.proof("POST", URL, now=NOW)
    assert _checker().verify(proof, htm="POST", htu=URL, now=NOW).jkt == key.thumbprint()
