"""The memory replay cache's byte bound, its size at ``/healthz``, and the config key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jwtbearer.server.config import parse_config
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.registry import ServerConfigError
from jwtbearer.server.replay import MemoryReplayCache, RedisReplayCache, ReplayCacheUnavailable


def entry_bytes(issuer: str, jti: str) -> int:
    return sys.getsizeof(issuer) + sys.getsizeof(jti) + MemoryReplayCache.ENTRY_OVERHEAD


def test_long_jti_values_fill_the_byte_bound_first_and_are_refused() -> None:
    jti = "j" * 4000
    each = entry_bytes("client", jti + "0")
    cache = MemoryReplayCache(max_entries=1_000_000, max_bytes=3 * each)
    for n in range(3):
        assert cache.first_use("client", f"{jti}{n}", expires_at=100.0, now=0.0)
    assert (len(cache), cache.size_bytes) == (3, 3 * each)
    with pytest.raises(ReplayCacheUnavailable, match="replay_max_bytes") as info:
        cache.first_use("client", f"{jti}3", expires_at=100.0, now=1.0)
    assert "3 unexpired jti values" in str(info.value)
    # A short value does not fit either: the bound is in bytes, and none are left.
    with pytest.raises(ReplayCacheUnavailable):
        cache.first_use("client", "short", expires_at=100.0, now=1.0)
    # Known values are still recognised as replays while full.
    assert not cache.first_use("client", f"{jti}0", expires_at=100.0, now=1.0)
    # Once they expire, their bytes are released and new values are accepted again.
    assert cache.first_use("client", f"{jti}3", expires_at=300.0, now=200.0)
    assert (len(cache), cache.size_bytes) == (1, each)


def test_the_byte_count_returns_to_zero_when_everything_expired() -> None:
    cache = MemoryReplayCache(max_entries=100, max_bytes=10**6, purge_interval=1.0)
    for n in range(50):
        assert cache.first_use(f"iss-{n % 3}", f"jti-{n}", expires_at=10.0 + n, now=0.0)
    # A value seen again after it expired is counted once.
    assert cache.first_use("iss-0", "jti-0", expires_at=80.0, now=20.0)
    assert cache.size_bytes == sum(entry_bytes(k[0], k[1]) for k in cache._seen)
    cache.purge(1000.0)
    assert (len(cache), cache.size_bytes) == (0, 0)


def test_the_entry_bound_still_holds_under_the_byte_bound() -> None:
    cache = MemoryReplayCache(max_entries=2, max_bytes=10**9)
    assert cache.first_use("c", "a", expires_at=10.0, now=0.0)
    assert cache.first_use("c", "b", expires_at=10.0, now=0.0)
    with pytest.raises(ReplayCacheUnavailable, match="replay_max_entries 2"):
        cache.first_use("c", "c", expires_at=10.0, now=0.0)


def _config(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"issuer": "http://127.0.0.1:8000", "state_dir": str(tmp_path / "state"), **extra}


def test_replay_max_bytes_is_a_checked_config_key(tmp_path: Path) -> None:
    assert parse_config(_config(tmp_path), base=tmp_path).replay_max_bytes == 256 * 1024 * 1024
    config = parse_config(_config(tmp_path, replay_max_bytes=1 << 20), base=tmp_path)
    assert config.replay_max_bytes == 1 << 20
    endpoint = TokenEndpoint(config)
    assert endpoint._replay._max_bytes == 1 << 20  # type: ignore[attr-defined]
    assert endpoint.replay_entries == 0
    for bad in (0, 1024, "1MB", True):
        with pytest.raises(ServerConfigError, match="replay_max_bytes"):
            parse_config(_config(tmp_path, replay_max_bytes=bad), base=tmp_path)


def test_a_redis_replay_cache_reports_no_entry_count(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path, replay="redis://127.0.0.1:1/0"), base=tmp_path)
    endpoint = TokenEndpoint(config)
    assert isinstance(endpoint._replay, RedisReplayCache)
    assert endpoint.replay_entries is None
