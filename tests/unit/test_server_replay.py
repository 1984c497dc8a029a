"""The jti replay caches: the in-memory one (expiry buckets, bounded, purged in bulk) and the
Redis one against a real redis-server, with its fail-closed behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtbearer.errors import ConfigurationError
from jwtbearer.server.replay import (
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCacheUnavailable,
    replay_cache_for,
)


def test_memory_cache_keeps_entries_until_their_expiry_then_drops_them_in_bulk() -> None:
    cache = MemoryReplayCache(purge_interval=10)
    for n in range(100):
        assert cache.first_use("c", f"j{n}", expires_at=1000 + n, now=900)
    assert len(cache) == 100
    # Expiries 1000..1089 lie in buckets that end by 1090; 1090..1099 do not yet.
    assert cache.purge(1090) == 90
    assert len(cache) == 10
    assert cache.purge(1090) == 0
    assert not cache.first_use("c", "j99", expires_at=2000, now=1098.5)  # exp 1099: still live
    assert cache.first_use("c", "j5", expires_at=2000, now=1098.5)  # exp 1005: forgotten
    assert cache.purge(1100) == 10 and len(cache) == 1


def test_memory_cache_purges_on_its_own_as_the_clock_moves() -> None:
    cache = MemoryReplayCache(purge_interval=1)
    for n in range(50):
        assert cache.first_use("c", f"old{n}", expires_at=100.5, now=50)
    assert len(cache) == 50
    assert cache.first_use("c", "new", expires_at=500, now=102)  # a purge is due: old ones go
    assert len(cache) == 1


def test_memory_cache_treats_an_expired_entry_as_new_even_before_a_purge() -> None:
    cache = MemoryReplayCache(purge_interval=3600)
    assert cache.first_use("c", "j", expires_at=100, now=0)
    assert not cache.first_use("c", "j", expires_at=100, now=99)
    assert cache.first_use("c", "j", expires_at=300, now=100)  # expired at 100: forgotten
    assert not cache.first_use("c", "j", expires_at=400, now=200)
    # The old bucket (exp 100) holds the key too; dropping it must keep the live entry.
    assert cache.purge(7300) == 1 and len(cache) == 0
    cache2 = MemoryReplayCache(purge_interval=1)
    assert cache2.first_use("c", "j", expires_at=100, now=0)
    assert cache2.first_use("c", "j", expires_at=300, now=150)
    assert cache2.purge(200) == 0 and not cache2.first_use("c", "j", expires_at=400, now=200)


def test_memory_cache_is_bounded_and_frees_expired_slots_before_refusing() -> None:
    cache = MemoryReplayCache(max_entries=3, purge_interval=3600)
    for n in range(3):
        assert cache.first_use("c", f"j{n}", expires_at=10 + n, now=0)
    with pytest.raises(ReplayCacheUnavailable, match="replay_max_entries"):
        cache.first_use("c", "j3", expires_at=50, now=5)  # full of live entries: fail closed
    assert not cache.first_use("c", "j0", expires_at=50, now=5)  # a replay is still a replay
    assert cache.first_use("c", "j3", expires_at=50, now=11.5)  # full, but j0, j1 expired
    assert len(cache) == 2


def test_memory_cache_keys_by_issuer_and_jti_without_ambiguity() -> None:
    cache = MemoryReplayCache()
    assert cache.first_use("a\x00b", "c", expires_at=100, now=0)
    assert cache.first_use("a", "b\x00c", expires_at=100, now=0)
    assert cache.first_use("ab", "c", expires_at=100, now=0)
    assert not cache.first_use("a\x00b", "c", expires_at=100, now=0)


def test_memory_cache_refuses_nonsense_settings() -> None:
    with pytest.raises(ConfigurationError):
        MemoryReplayCache(max_entries=0)
    with pytest.raises(ConfigurationError):
        MemoryReplayCache(purge_interval=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 40), st.integers(0, 30)),
                max_size=60), st.sampled_from([0.5, 1.0, 7.0]))
def test_memory_cache_agrees_with_a_plain_model(events: list[tuple[str, int, int]],
                                                interval: float) -> None:
    # events: (jti, lifetime, clock step); the model keeps every entry until it expires.
    cache = MemoryReplayCache(purge_interval=interval)
    model: dict[str, float] = {}
    now = 0.0
    for jti, lifetime, step in events:
        now += step
        expected = not (jti in model and model[jti] > now)
        assert cache.first_use("c", jti, expires_at=now + lifetime, now=now) is expected
        if expected:
            model[jti] = now + lifetime
        assert len(cache) >= sum(1 for exp in model.values() if exp > now)
    cache.purge(now + 100)
    assert len(cache) == 0


@pytest.mark.redis
def test_redis_cache_refuses_a_second_use_and_expires(redis_url: str) -> None:
    import redis

    cache = replay_cache_for(redis_url, max_entries=1)
    assert isinstance(cache, RedisReplayCache)
    assert cache.first_use("client", "jti-1", expires_at=1060.0, now=1000.0)
    assert not cache.first_use("client", "jti-1", expires_at=1060.0, now=1001.0)
    assert cache.first_use("other", "jti-1", expires_at=1060.0, now=1001.0)
    # Entries carry a TTL of exp - now (here 60 s), so Redis forgets them on its own.
    conn = redis.Redis.from_url(redis_url)
    keys = conn.keys("jwtbearer:jti:*")
    assert keys and all(0 < conn.pttl(k) <= 60_000 for k in keys)
    conn.close()
    cache.close()


@pytest.mark.redis
def test_redis_down_fails_closed(unused_tcp_port: int) -> None:
    cache = RedisReplayCache(f"redis://127.0.0.1:{unused_tcp_port}/0")
    with pytest.raises(ReplayCacheUnavailable):
        cache.first_use("client", "jti", expires_at=10.0, now=0.0)


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.redis
def test_two_servers_sharing_redis_refuse_each_others_replays(redis_url: str,
                                                              tmp_path: Path) -> None:
    from urllib.parse import urlencode

    from jwtbearer.jose.assertion import make_assertion
    from jwtbearer.jose.keys import SigningKey
    from jwtbearer.server.config import parse_config
    from jwtbearer.server.core import TokenEndpoint
    from jwtbearer.server.registry import JWT_BEARER

    key = SigningKey.generate("ES256")
    data = {"issuer": "https://as.example.com", "state_dir": "s", "replay": redis_url,
            "clients": [{"client_id": "sf", "token_endpoint_auth_method": "none",
                         "jwks": {"keys": [key.public_jwk()]}, "grant_types": [JWT_BEARER],
                         "subjects": ["*"]}]}
    now = 1_800_000_000.0
    first, second = (TokenEndpoint(parse_config(data, base=tmp_path), clock=lambda: now)
                     for _ in range(2))
    assertion = make_assertion(key=key, iss="sf", sub="bob", aud="https://as.example.com", now=now)
    body = urlencode({"grant_type": JWT_BEARER, "assertion": assertion}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert first.token(body, headers).status == 200
    replayed = second.token(body, headers)
    assert replayed.status == 400 and "already used" in replayed.body["error_description"]


@pytest.mark.redis
def test_redis_grant_store_keeps_records_until_their_expiry(redis_url: str) -> None:
    import redis

    store = RedisReplayCache(redis_url, grant_prefix="test:grant:")
    store.put("code:abc", b'{"c":"x"}', expires_at=1000.0 + 30, now=1000.0)
    assert store.get("code:abc", now=1000.0) == b'{"c":"x"}'
    assert store.get("code:missing", now=1000.0) is None
    conn = redis.Redis.from_url(redis_url)
    ttl = conn.pttl("test:grant:code:abc")
    assert 0 < ttl <= 30_000
    conn.close()
    store.close()


@pytest.mark.redis
def test_redis_grant_store_down_fails_closed(unused_tcp_port: int) -> None:
    store = RedisReplayCache(f"redis://127.0.0.1:{unused_tcp_port}/0")
    with pytest.raises(ReplayCacheUnavailable):
        store.put("k", b"v", expires_at=10.0, now=0.0)
    with pytest.raises(ReplayCacheUnavailable):
        store.get("k", now=0.0)
