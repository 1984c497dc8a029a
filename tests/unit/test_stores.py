"""Token stores: MemoryStore, SQLiteStore (real files), RedisStore (real redis-server)."""

from __future__ import annotations

import base64
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_lifecycle import HERE, FakeClock, FakeSource
from hypothesis import given, settings
from hypothesis import strategies as st

import jwtbearer
from jwtbearer import CachedSource, MemoryStore, RedisStore, SQLiteStore, Token
from jwtbearer.errors import StoreError, StoreLockTimeout
from jwtbearer.lifecycle import store_key
from jwtbearer.lifecycle.stores._base import Sealer, hashed

SECRET_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJlLXZhbHVl-secret"
KEY_A = base64.urlsafe_b64encode(b"A" * 32).decode()
KEY_B = base64.urlsafe_b64encode(b"B" * 32).decode()


def sample(expires_in: float = 3600, access_token: str = SECRET_TOKEN) -> Token:
    now = time.time()
    return Token(access_token=access_token, expires_at=now + expires_in, issued_at=now,
                 scope="api", extra={"instance_url": "https://example.my.salesforce.com"})


def test_store_key_is_stable_hashed_and_distinct() -> None:
    base = {"token_endpoint": "https://idp/token", "client_id": "svc",
            "grant_type": "client_credentials", "subject": None, "scope": "api",
            "audience": None}
    key = store_key(**base)
    assert key == store_key(**base)
    assert len(key) == 64 and "svc" not in key
    for field, other in [("token_endpoint", "https://idp2/token"), ("client_id", "svc2"),
                         ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                         ("subject", "alice"), ("scope", "api2"), ("audience", "aud")]:
        assert store_key(**{**base, field: other}) != key


def test_memory_store_round_trip() -> None:
    store = MemoryStore()
    token = sample()
    store.set("k", token)
    assert store.get("k") is token
    store.delete("k")
    store.delete("k")
    assert store.get("k") is None
    with store.lock("k"):
        pass
    assert SECRET_TOKEN not in repr(store)


@settings(max_examples=40, deadline=None)
@given(
    access=st.text(min_size=1, max_size=40),
    expires=st.one_of(st.none(), st.floats(min_value=0, max_value=4e9)),
    scope=st.one_of(st.none(), st.text(max_size=20)),
    extra=st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
def test_sealing_round_trips_any_token(
    access: str, expires: float | None, scope: str | None, extra: dict[str, int]
) -> None:
    token = Token(access_token=access, expires_at=expires, scope=scope, issued_at=1.0, extra=extra)
    for sealer in (Sealer(KEY_A, False), Sealer(None, True)):
        assert sealer.open("h", sealer.seal("h", token), "test") == token


def test_sealed_entry_is_bound_to_its_key() -> None:
    sealer = Sealer(KEY_A, False)
    blob = sealer.seal("key-1", sample())
    assert sealer.open("key-2", blob, "test") is None


def test_sqlite_round_trip_is_encrypted_and_private(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "tokens.db"
    store = SQLiteStore(path)
    token = sample()
    store.set("client-secret-looking-key", token)
    assert store.get("client-secret-looking-key") == token
    assert SQLiteStore(path).get("client-secret-looking-key") == token
    for name in ("tokens.db", "tokens.db-wal", "tokens.db-shm"):
        file = path.parent / name
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, name
            raw = file.read_bytes()
            assert SECRET_TOKEN.encode() not in raw
            assert b"client-secret-looking-key" not in raw
    assert (path.parent / "tokens.db").exists()
    # The key lives under $JWTBEARER_HOME, never beside the database.
    key_file = Path(os.environ["JWTBEARER_HOME"]) / "cache.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.key"))
    store.delete("client-secret-looking-key")
    assert store.get("client-secret-looking-key") is None
    assert SECRET_TOKEN not in repr(store)


def test_sqlite_key_from_environment_and_wrong_key_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.db"
    monkeypatch.setenv("JWTBEARER_CACHE_KEY", KEY_A)
    SQLiteStore(path).set("k", sample())
    assert SQLiteStore(path, encryption_key=base64.urlsafe_b64decode(KEY_A)).get("k") is not None
    assert not (Path(os.environ["JWTBEARER_HOME"]) / "cache.key").exists()
    with caplog.at_level(logging.WARNING, logger="jwtbearer.stores"):
        assert SQLiteStore(path, encryption_key=KEY_B).get("k") is None
        assert SQLiteStore(path, plaintext=True).get("k") is None
    assert "does not decrypt" in caplog.text
    assert "configured otherwise" in caplog.text


def test_plaintext_only_when_asked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "plain.db"
    plain = SQLiteStore(path, plaintext=True)
    plain.set("k", sample())
    with sqlite3.connect(path) as conn:
        (blob,) = conn.execute("SELECT value FROM tokens").fetchone()
    assert SECRET_TOKEN.encode() in blob
    with caplog.at_level(logging.WARNING):
        assert SQLiteStore(path).get("k") is None  # no silent downgrade to plaintext
    with pytest.raises(jwtbearer.ConfigurationError, match="not both"):
        SQLiteStore(path, plaintext=True, encryption_key=KEY_A)


@pytest.mark.parametrize("bad", ["not base64 !!", base64.urlsafe_b64encode(b"short").decode()])
def test_bad_encryption_key_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(jwtbearer.ConfigurationError, match="encryption_key"):
        SQLiteStore(tmp_path / "t.db", encryption_key=bad)


def test_sqlite_loose_file_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "loose.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    SQLiteStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_lock_excludes_and_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "lock.db"
    holder = SQLiteStore(path, lock_ttl=30, clock=clock)
    other = SQLiteStore(path, lock_ttl=30, lock_timeout=0, clock=clock)
    with holder.lock("k"):
        with pytest.raises(StoreLockTimeout, match="lock_ttl=30"), other.lock("k"):
            pass
        with other.lock("another-key"):
            pass
        clock.advance(31)  # the holder is presumed dead once its lock expires
        with other.lock("k"):
            pass
    with other.lock("k"):
        pass


def test_sqlite_lock_is_renewed_while_held(tmp_path: Path) -> None:
    path = tmp_path / "renewed.db"
    holder = SQLiteStore(path, lock_ttl=1.0)
    other = SQLiteStore(path, lock_ttl=1.0, lock_timeout=0)
    with holder.lock("k"):
        time.sleep(3.0)  # three times the time-to-live: the holder kept renewing it
        with pytest.raises(StoreLockTimeout), other.lock("k"):
            pass
    with other.lock("k"):
        pass


def test_sqlite_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=r"dir\.db"):
        SQLiteStore(tmp_path / "dir.db")


_WRITER = """
import sys, time
from jwtbearer import SQLiteStore, Token
store = SQLiteStore(sys.argv[1])
i = 0
while i < 200000:
    i += 1
    store.set("k", Token(access_token=f"tok-{i}", expires_at=time.time() + 3600))
"""


def test_sqlite_survives_sigkill_during_writes(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    reader = SQLiteStore(path)
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
    try:
        seen = 0
        deadline = time.monotonic() + 30
        while seen < 50 and time.monotonic() < deadline and child.poll() is None:
            token = reader.get("k")
            seen = int(token.access_token.split("-")[1]) if token else 0
            time.sleep(0.01)
        assert seen >= 50, "the writer did not get going"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    last = SQLiteStore(path).get("k")
    assert last is not None
    assert int(last.access_token.split("-")[1]) >= seen


def test_redis_round_trip_expiry_and_encryption(redis_url: str) -> None:
    store = RedisStore(redis_url, encryption_key=KEY_A, prefix="t1:")
    token = sample(expires_in=120)
    store.set("k", token)
    assert store.get("k") == token
    raw = store._redis.get(f"t1:token:{hashed('k')}")
    assert SECRET_TOKEN.encode() not in raw
    ttl_ms = store._redis.pttl(f"t1:token:{hashed('k')}")
    assert 100_000 < ttl_ms <= 120_000
    assert RedisStore(redis_url, encryption_key=KEY_B, prefix="t1:").get("k") is None
    store.set("gone", sample(expires_in=-5))
    assert store.get("gone") is None
    store.delete("k")
    assert store.get("k") is None
    store.close()


def test_redis_lock_is_exclusive_and_released_only_by_its_holder(redis_url: str) -> None:
    first = RedisStore(redis_url, encryption_key=KEY_A, prefix="t2:")
    other = RedisStore(redis_url, encryption_key=KEY_A, prefix="t2:", lock_timeout=0)
    lock_name = f"t2:lock:{hashed('k')}"
    with first.lock("k"):
        with pytest.raises(StoreLockTimeout), other.lock("k"):
            pass
        # The first holder lost its lock (it expired while the holder could not renew it) and
        # another host holds it now.
        other._redis.set(lock_name, "another-host:5000", px=5000)
    # The first holder's release must not delete the second holder's lock.
    assert other._redis.get(lock_name) == b"another-host:5000"
    other._redis.delete(lock_name)
    with other.lock("k"):
        assert other._redis.exists(lock_name) == 1
    assert other._redis.exists(lock_name) == 0


def test_redis_lock_is_renewed_while_held(redis_url: str) -> None:
    holder = RedisStore(redis_url, encryption_key=KEY_A, prefix="t3:", lock_ttl=1.5)
    other = RedisStore(redis_url, encryption_key=KEY_A, prefix="t3:", lock_timeout=0)
    lock_name = f"t3:lock:{hashed('k')}"
    with holder.lock("k"):
        time.sleep(4.0)  # well past the 1.5 s time-to-live: the holder kept renewing it
        with pytest.raises(StoreLockTimeout), other.lock("k"):
            pass
        assert other._redis.pttl(lock_name) > 0
    assert other._redis.exists(lock_name) == 0


def test_redis_lock_never_left_is_not_renewed_for_ever(redis_url: str) -> None:
    # A holder that never leaves its with-block (a cancelled task, a lost context manager)
    # stops renewing after lock_timeout, so the lock expires and others can take it.
    holder = RedisStore(redis_url, encryption_key=KEY_A, prefix="t6:", lock_ttl=1.0,
                        lock_timeout=1.0)
    lock_name = f"t6:lock:{hashed('k')}"
    stuck = holder.lock("k")
    stuck.__enter__()
    deadline = time.monotonic() + 15
    while holder._redis.exists(lock_name):
        assert time.monotonic() < deadline, "the abandoned lock was renewed for ever"
        time.sleep(0.1)
    stuck.__exit__(None, None, None)


@pytest.mark.parametrize(("value", "px"), [
    ("gone-holder:5000", 1000),   # 1 s left of 5: its holder missed renewals
    ("late-set-nx:5000", 1500),
    ("no-expiry", None),          # a lock without a time-to-live would strand everyone
])
def test_redis_lock_nobody_renews_is_taken_over(
    redis_url: str, value: str, px: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(redis_url, encryption_key=KEY_A, prefix="t4:", lock_timeout=0)
    lock_name = f"t4:lock:{hashed('k')}"
    store._redis.set(lock_name, value, px=px)
    with caplog.at_level(logging.WARNING), store.lock("k"):
        assert store._redis.get(lock_name) != value.encode()
    assert "took over the refresh lock" in caplog.text
    assert store._redis.exists(lock_name) == 0


def test_redis_lock_being_renewed_is_not_taken_over(redis_url: str) -> None:
    store = RedisStore(redis_url, encryption_key=KEY_A, prefix="t5:", lock_timeout=0)
    lock_name = f"t5:lock:{hashed('k')}"
    # Another holder with a 30 s time-to-live, 20 s left: still inside its renewal window
    # even though 20 s is far more than this store's own 5 s.
    store._redis.set(lock_name, "live-holder:30000", px=20000)
    with pytest.raises(StoreLockTimeout), store.lock("k"):
        pass
    assert store._redis.get(lock_name) == b"live-holder:30000"
    store._redis.delete(lock_name)


def test_redis_down_raises_store_error_and_source_fetches(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisStore(f"redis://user:hunter2pass@127.0.0.1:{port}/0", encryption_key=KEY_A)
    with pytest.raises(StoreError) as info:
        store.get("k")
    assert "hunter2pass" not in str(info.value) and "hunter2pass" not in repr(store)
    clock = FakeClock()
    source = FakeSource(clock)
    cached = CachedSource(source, store=store, clock=clock)
    with caplog.at_level(logging.WARNING):
        assert cached.token().access_token == "tok-1"
    assert "fetching the token directly" in caplog.text
    assert "hunter2pass" not in caplog.text


def test_redis_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(jwtbearer.ConfigurationError, match=r"jwtbearer\[redis\]"):
        RedisStore("redis://127.0.0.1:6379/0")


def test_helpers_folder_is_importable() -> None:
    assert (HERE / "conftest_lifecycle.py").exists()


def test_valid_token_is_served_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "busy.db"
    source = FakeSource(clock, lifetime=3600)
    cached = CachedSource(source, store=SQLiteStore(path, clock=clock), clock=clock)
    first = cached.token()
    clock.advance(3600 - 30)  # due for refresh, still valid
    other_process = SQLiteStore(path, clock=clock)
    with other_process.lock(cached.key):
        assert cached.token() is first  # no wait for the lock, no request
        assert source.calls == 1
    clock.advance(1)
    assert cached.token().access_token == "tok-2"
    assert source.calls == 2
    # Another instance (another process) now finds the new token in the file.
    again = CachedSource(FakeSource(clock), store=SQLiteStore(path, clock=clock), clock=clock)
    assert again.token().access_token == "tok-2"


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:{port}/0?password=hunter2pass",
    "redis://127.0.0.1:{port}/0?username=u&password=hunter2pass#frag",
    "redis://:hunter2pass@127.0.0.1:{port}/0",
])
def test_redis_password_in_any_part_of_the_url_stays_out_of_messages(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisStore(url.format(port=port), encryption_key=KEY_A)
    assert "hunter2pass" not in repr(store)
    assert f"127.0.0.1:{port}/0" in repr(store)  # still says where the store is
    with pytest.raises(StoreError) as info:
        store.get("k")
    assert "hunter2pass" not in str(info.value)
    with caplog.at_level(logging.WARNING):
        CachedSource(FakeSource(FakeClock()), store=store).token()
    assert "hunter2pass" not in caplog.text
