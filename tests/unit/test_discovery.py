"""Discovery rules on canned answers (error paths; real servers are in flows/ and interop/)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jwtbearer as jb
from jwtbearer.client import discovery
from jwtbearer.errors import InvalidIssuer
from jwtbearer.jose import sign_compact, unverified_claims
from jwtbearer.testing import FakeClock

ISSUER = "https://as.example.com"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    discovery._cache.clear()


def doc(issuer: str = ISSUER, **extra: Any) -> dict[str, Any]:
    base = {"issuer": issuer, "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "grant_types_supported": ["client_credentials"], "custom": 1}
    base.update(extra)
    return base


Handler = Callable[[httpx.Request], httpx.Response]


def serving(routes: dict[str, httpx.Response], seen: list[str] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(str(request.url))
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.Client(transport=httpx.MockTransport(handler))


def ok(body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def test_urls_follow_rfc8414_path_insertion_then_openid() -> None:
    assert discovery.metadata_urls("https://as.example.com/tenant/1") == [
        "https://as.example.com/.well-known/oauth-authorization-server/tenant/1",
        "https://as.example.com/tenant/1/.well-known/openid-configuration",
    ]
    assert discovery.metadata_urls("https://as.example.com/") == [
        "https://as.example.com/.well-known/oauth-authorization-server",
        "https://as.example.com/.well-known/openid-configuration",
    ]


def test_metadata_is_parsed_with_every_other_member_in_extra() -> None:
    seen: list[str] = []
    http = serving({f"{ISSUER}/.well-known/oauth-authorization-server": ok(doc())}, seen)
    md = jb.discover(ISSUER, http=http)
    assert md.token_endpoint == f"{ISSUER}/token" and md.jwks_uri == f"{ISSUER}/jwks"
    assert md.token_endpoint_auth_methods_supported == ("private_key_jwt", "client_secret_basic")
    assert md.extra == {"custom": 1} and md.dpop_signing_alg_values_supported == ()
    assert len(seen) == 1


def test_openid_configuration_is_tried_when_rfc8414_is_absent() -> None:
    seen: list[str] = []
    http = serving({f"{ISSUER}/t/.well-known/openid-configuration": ok(doc(f"{ISSUER}/t"))}, seen)
    md = jb.discover(f"{ISSUER}/t", http=http)
    assert md.issuer == f"{ISSUER}/t" and md.url.endswith("/openid-configuration")  # type: ignore[union-attr]
    assert seen[0] == f"{ISSUER}/.well-known/oauth-authorization-server/t"


def test_a_document_for_another_issuer_is_refused() -> None:
    http = serving({f"{ISSUER}/.well-known/oauth-authorization-server":
                    ok(doc("https://evil.example.com"))})
    with pytest.raises(jb.DiscoveryError, match=r"evil\.example\.com") as info:
        jb.discover(ISSUER, http=http)
    assert isinstance(info.value, jb.ConfigurationError)
    assert "8414" in str(info.value)


def test_a_trailing_slash_difference_is_forgiven() -> None:
    http = serving({f"{ISSUER}/.well-known/oauth-authorization-server": ok(doc(ISSUER + "/"))})
    assert jb.discover(ISSUER, http=http).issuer == ISSUER + "/"


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.Response(200, text="<html>login</html>"), "JSON"),
        (ok({"token_endpoint": "x"}), "issuer"),
        (ok(doc(grant_types_supported="client_credentials")), "array"),
        (httpx.Response(302, headers={"location": "https://elsewhere/"}), "redirect"),
        (httpx.Response(500), "500"),
    ],
)
def test_unusable_documents_are_discovery_errors(answer: httpx.Response, words: str) -> None:
    http = serving({f"{ISSUER}/.well-known/oauth-authorization-server": answer})
    with pytest.raises(jb.DiscoveryError, match=words):
        jb.discover(ISSUER, http=http)


def test_nothing_found_names_both_urls() -> None:
    with pytest.raises(jb.DiscoveryError, match="openid-configuration"):
        jb.discover(ISSUER, http=serving({}))


def test_body_is_capped_even_when_compressed() -> None:
    bomb = gzip.compress(b" " * (2 * 1024 * 1024))
    answer = httpx.Response(200, content=bomb, headers={"content-encoding": "gzip"})
    http = serving({f"{ISSUER}/.well-known/oauth-authorization-server": answer})
    with pytest.raises(jb.ResponseFormatError, match="KiB"):
        jb.discover(ISSUER, http=http)


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(jb.ConfigurationError, match="http://"):
        jb.discover("http://as.example.com")


def test_cache_honours_max_age_without_a_floor() -> None:
    clock = FakeClock(1000)
    seen: list[str] = []
    url = f"{ISSUER}/.well-known/oauth-authorization-server"
    http = serving({url: ok(doc(), **{"cache-control": "max-age=60"})}, seen)
    jb.discover(ISSUER, http=http, clock=clock)
    jb.discover(ISSUER, http=http, clock=clock)
    assert len(seen) == 1
    clock.advance(61)
    jb.discover(ISSUER, http=http, clock=clock)
    assert len(seen) == 2
    discovery._cache.clear()
    http0 = serving({url: ok(doc(), **{"cache-control": "max-age=0"})}, seen)
    jb.discover(ISSUER, http=http0, clock=clock)
    jb.discover(ISSUER, http=http0, clock=clock)
    assert len(seen) == 4


def test_adiscover_is_the_same_and_shares_the_cache() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return ok(doc())

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            md = await jb.adiscover(ISSUER, http=http)
            assert md.issuer == ISSUER
        assert jb.discover(ISSUER, http=serving({})).issuer == ISSUER  # from the cache

    anyio.run(main)
    assert len(seen) == 1


# -- from_issuer --------------------------------------------------------------------------------


def _from_issuer(auth: Any, **extra: Any) -> jb.TokenClient:
    discovery._cache.clear()
    http = serving({f"{ISSUER}/.well-known/oauth-authorization-server": ok(doc(**extra))})
    return jb.TokenClient.from_issuer(ISSUER, auth, http=http)


def test_from_issuer_uses_the_endpoint_and_the_issuer_as_aud() -> None:
    key = jb.SigningKey.generate("ES256")
    client = _from_issuer(jb.PrivateKeyJWT("c", key))
    assert client.endpoint == f"{ISSUER}/token"
    assert client.auth.audience == ISSUER  # type: ignore[attr-defined]
    explicit = _from_issuer(jb.PrivateKeyJWT("c", key, audience=f"{ISSUER}/token"))
    assert explicit.auth.audience == f"{ISSUER}/token"  # type: ignore[attr-defined]


def test_from_issuer_refuses_a_method_or_alg_the_server_does_not_take() -> None:
    with pytest.raises(jb.ConfigurationError, match=r"client_secret_post.*private_key_jwt"):
        _from_issuer(jb.ClientSecretPost("c", "s" * 32))
    with pytest.raises(jb.ConfigurationError, match=r"EdDSA.*ES256, RS256"):
        _from_issuer(jb.PrivateKeyJWT("c", jb.SigningKey.generate("EdDSA")))
    with pytest.raises(jb.DiscoveryError, match="token_endpoint"):
        _from_issuer(jb.NoClientAuth(), token_endpoint=None)


def test_from_issuer_sends_the_assertion_to_the_discovered_endpoint() -> None:
    key = jb.SigningKey.generate("ES256")
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return ok(doc())
        sent.append(request)
        return ok({"access_token": "at", "token_type": "Bearer", "expires_in": 60})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = jb.TokenClient.from_issuer(ISSUER, jb.PrivateKeyJWT("c", key), http=http)
    client.client_credentials()
    form = dict(httpx.QueryParams(sent[0].content.decode()))
    assert unverified_claims(form["client_assertion"])["aud"] == ISSUER
    assert json.loads(json.dumps(str(sent[0].url))) == f"{ISSUER}/token"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                           max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["issuer", "token_endpoint", "jwks_uri",
                                        "grant_types_supported",
                                        "token_endpoint_auth_methods_supported", "other"]),
                       json_values, max_size=6))
def test_any_json_object_is_metadata_or_a_discovery_error(document: dict[str, Any]) -> None:
    try:
        md = jb.ServerMetadata.from_document(document)
    except jb.DiscoveryError:
        return
    assert md.issuer == document["issuer"]
    assert all(isinstance(m, str) for m in md.grant_types_supported)


def test_validator_accepts_the_metadata_spelling_of_the_issuer() -> None:
    key = jb.SigningKey.generate("ES256", kid="k")
    published = ISSUER + "/"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return ok({"keys": [key.public_jwk()]})
        return ok(doc(published, jwks_uri=f"{ISSUER}/jwks"))

    http = httpx.Client(transport=httpx.MockTransport(handler))
    v = jb.JWTValidator(issuer=ISSUER, audience="api", http=http)
    token = sign_compact({"iss": published, "aud": "api", "exp": 4_000_000_000}, key)
    assert v.validate(token).issuer == published
    other = sign_compact({"iss": "https://as.example.com.evil", "aud": "api",
                             "exp": 4_000_000_000}, key)
    with pytest.raises(InvalidIssuer):
        v.validate(other)
