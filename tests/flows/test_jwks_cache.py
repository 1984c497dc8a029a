"""The JWKS cache against a real JWKS endpoint on loopback: rotation, kid floods, outages and
concurrent misses. Time is a FakeClock; every JWKS request is counted by the server itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import anyio
import pytest

import jwtbearer as jb
from jwks_server import JWKSServer, jwks_server
from jwtbearer.errors import InvalidSignature, UnknownKey
from jwtbearer.jose.jws import sign_compact
from jwtbearer.testing import FakeClock

ISS = "https://issuer.example.com"
AUD = "https://api.example.com"
START = 1_700_000_000.0


def token(key: jb.SigningKey, clock: FakeClock) -> str:
    now = int(clock())
    return sign_compact({"iss": ISS, "aud": AUD, "iat": now, "exp": now + 7200}, key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def old_key() -> jb.SigningKey:
    return jb.SigningKey.generate("ES256", kid="2026-01")


@pytest.fixture
def server(old_key: jb.SigningKey) -> Iterator[JWKSServer]:
    with jwks_server([old_key]) as running:
        yield running


def make(server: JWKSServer, clock: FakeClock, **kw: float) -> jb.JWTValidator:
    return jb.JWTValidator(issuer=ISS, audience=AUD, jwks_uri=server.url, clock=clock,
                           jwks_cooldown=kw.get("cooldown", 30),
                           jwks_max_age=kw.get("max_age", 3600))


def test_rotation_new_key_found_old_tokens_valid_until_the_old_key_leaves(
    server: JWKSServer, clock: FakeClock, old_key: jb.SigningKey
) -> None:
    v = make(server, clock)
    old_token = token(old_key, clock)
    assert v.validate(old_token).header["kid"] == "2026-01"
    assert server.requests == 1
    assert v.validate(old_token) and server.requests == 1  # cached

    new_key = jb.SigningKey.generate("ES256", kid="2026-02")
    server.keys = [old_key, new_key]  # the issuer publishes the next key, then signs with it
    clock.advance(31)
    new_token = token(new_key, clock)
    assert v.validate(new_token).header["kid"] == "2026-02"
    assert server.requests == 2  # the unknown kid refetched once
    assert v.validate(old_token) and v.validate(new_token) and server.requests == 2

    server.keys = [new_key]  # the old key leaves the JWKS
    clock.advance(600)
    assert v.validate(old_token), "held keys stay valid until the cache ages out"
    clock.advance(3600)
    with pytest.raises(UnknownKey) as info:
        v.validate(old_token)
    assert info.value.actual == "2026-01"
    assert server.requests == 3  # the max-age refresh; no second fetch for the unknown kid
    assert v.validate(new_token) and server.requests == 3


def test_a_flood_of_unknown_kids_costs_one_fetch_per_cooldown(
    server: JWKSServer, clock: FakeClock, old_key: jb.SigningKey
) -> None:
    v = make(server, clock, cooldown=30)
    v.validate(token(old_key, clock))
    assert server.requests == 1
    strangers = [jb.SigningKey.generate("ES256", kid=f"random-{i}") for i in range(50)]
    for round_ in range(3):
        clock.advance(31)
        for stranger in strangers:
            with pytest.raises(UnknownKey):
                v.validate(token(stranger, clock))
            clock.advance(0.1)
        assert server.requests == 2 + round_, "one JWKS request per cooldown, not per token"
    assert v.jwks is not None and v.jwks.fetches == server.requests
    assert v.validate(token(old_key, clock))


def test_cooldown_counts_from_the_previous_request_of_any_kind(
    server: JWKSServer, clock: FakeClock, old_key: jb.SigningKey
) -> None:
    v = make(server, clock, cooldown=30)
    v.validate(token(old_key, clock))  # first fetch at START
    clock.advance(10)
    stranger = jb.SigningKey.generate("ES256", kid="late")
    with pytest.raises(UnknownKey):
        v.validate(token(stranger, clock))
    assert server.requests == 1  # 10 s after the initial fetch: still cooling down
    clock.advance(21)
    server.keys = [old_key, stranger]
    assert v.validate(token(stranger, clock))
    assert server.requests == 2


def test_stale_keys_are_used_when_the_jwks_endpoint_is_down(
    server: JWKSServer, clock: FakeClock, old_key: jb.SigningKey,
    caplog: pytest.LogCaptureFixture
) -> None:
    v = make(server, clock, cooldown=30, max_age=300)
    t = token(old_key, clock)
    v.validate(t)
    port = server.port
    server.stop()
    clock.advance(301)
    with caplog.at_level(logging.WARNING, logger="jwtbearer"):
        assert v.validate(t).header["kid"] == "2026-01"
    assert any("keeping the 1 keys held" in r.getMessage() for r in caplog.records)
    assert v.jwks is not None and v.jwks.fetches == 2
    v.validate(t)
    assert v.jwks.fetches == 2  # no new attempt within the cooldown after a failure
    clock.advance(31)
    v.validate(t)
    assert v.jwks.fetches == 3

    server.port = port
    server.status = 503  # up again, but failing
    server.start()
    clock.advance(31)
    assert v.validate(t) and server.requests == 2  # the first fetch and this 503
    server.status = 200
    new_key = jb.SigningKey.generate("ES256", kid="2026-02")
    server.keys = [new_key]
    clock.advance(31)
    with pytest.raises(UnknownKey):
        v.validate(t)  # the refresh succeeded: the old key is gone
    assert server.requests == 3


def test_no_keys_at_all_is_a_transport_error_retried_per_cooldown(clock: FakeClock) -> None:
    with jwks_server([]) as down:
        url = down.url
    v = jb.JWTValidator(issuer=ISS, audience=AUD, jwks_uri=url, clock=clock)
    key = jb.SigningKey.generate("ES256", kid="x")
    with pytest.raises(jb.TransportError, match="no keys"):
        v.validate(token(key, clock))
    with pytest.raises(jb.TransportError):
        v.validate(token(key, clock))
    assert v.jwks is not None and v.jwks.fetches == 1
    clock.advance(31)
    with pytest.raises(jb.TransportError):
        v.validate(token(key, clock))
    assert v.jwks.fetches == 2


def test_concurrent_threads_share_one_fetch(server: JWKSServer, clock: FakeClock,
                                            old_key: jb.SigningKey) -> None:
    v = make(server, clock)
    t = token(old_key, clock)
    barrier = threading.Barrier(16)
    results: list[object] = []

    def worker() -> None:
        barrier.wait(timeout=30)
        results.append(v.validate(t).header["kid"])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == ["2026-01"] * 16
    assert server.requests == 1


def test_concurrent_tasks_share_one_fetch(server: JWKSServer, clock: FakeClock,
                                          old_key: jb.SigningKey) -> None:
    v = make(server, clock)
    t = token(old_key, clock)
    results: list[object] = []

    async def one() -> None:
        results.append((await v.avalidate(t)).header["kid"])

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(16):
                group.start_soon(one)

    anyio.run(main)
    assert results == ["2026-01"] * 16
    assert server.requests == 1


def test_published_secrets_are_ignored_and_rsa_without_alg_is_pinned(
    clock: FakeClock
) -> None:
    import base64

    secret = b"s" * 48
    rsa = jb.SigningKey.generate("RS256", kid="rsa")
    jwk = {k: v for k, v in rsa.public_jwk().items() if k != "alg"}
    oct_jwk = {"kty": "oct", "kid": "hs", "alg": "HS256",
               "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    with jwks_server() as server:
        server.raw = [oct_jwk, jwk]
        v = make(server, clock)
        assert v.validate(token(rsa, clock)).key.alg == "RS256"
        hs = jb.SigningKey.from_secret(secret, alg="HS256").with_kid("hs")
        with pytest.raises(UnknownKey):
            v.validate(token(hs, clock))
        ps = jb.SigningKey.from_pem(rsa.private_pem(), alg="PS256").with_kid("rsa")
        with pytest.raises(InvalidSignature, match="PS256"):
            v.validate(token(ps, clock))
