"""The Redis jti replay cache against a real redis-server, and its fail-closed behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwtbearer.server.replay import RedisReplayCache, ReplayCacheUnavailable, replay_cache_for

pytestmark = pytest.mark.redis


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


def test_two_servers_sharing_redis_refuse_each_others_replays(redis_url: str,
                                                              tmp_path: Path) -> None:
    from urllib.parse import urlencode

    from jwtbearer.assertion import make_assertion
    from jwtbearer.keys import SigningKey
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
