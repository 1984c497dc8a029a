"""A URL's password never reaches a repr, str, CLI output, log line or error.

One helper (``jwtbearer._util.redact_url``) does it for Redis URLs, proxy URLs and token URLs
alike; this file tests the helper and every place that shows a URL.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from jwtbearer import CachedSource, ConfigurationError, RedisStore
from jwtbearer._util import REDACTED, redact_url
from jwtbearer.cli import app
from jwtbearer.errors import StoreError
from jwtbearer.profiles import Profile, load_profiles

PASSWORD = "hunter2-s3cret-pw"


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:pw@127.0.0.1:6379/0", f"redis://:{REDACTED}@127.0.0.1:6379/0"),
    ("rediss://user:pw@[::1]:6380/2", f"rediss://user:{REDACTED}@[::1]:6380/2"),
    ("http://proxy-user:pw@proxy.example:3128", f"http://proxy-user:{REDACTED}@proxy.example:3128"),
    ("redis://127.0.0.1/0?password=pw&db=1", f"redis://127.0.0.1/0?password={REDACTED}&db=1"),
    ("https://h/t?access_token=pw#x", f"https://h/t?access_token={REDACTED}#x"),
    ("redis://user@127.0.0.1/0", "redis://user@127.0.0.1/0"),  # no password: unchanged
    ("https://login.example.com/token", "https://login.example.com/token"),
    ("unix:///run/redis.sock?password=pw", f"unix:///run/redis.sock?password={REDACTED}"),
    ("could not reach redis://:pw@h:1/0 (timeout)", f"could not reach redis://:{REDACTED}@h:1/0 "
                                                     "(timeout)"),
    ("redis://:p@ss@host/0", f"redis://:{REDACTED}@host/0"),  # the last @ ends the userinfo
])
def test_redact_url_replaces_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


_SAFE = st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="-._~!$*+,"),
                min_size=6, max_size=40)


@given(user=st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=10),
       password=_SAFE, scheme=st.sampled_from(["redis", "rediss", "http", "https", "socks5"]))
def test_no_password_survives_redaction(user: str, password: str, scheme: str) -> None:
    url = f"{scheme}://{user}:{password}@host.example:1234/0"
    assert password not in redact_url(url).replace(f"{user}:", "", 1).replace("host.example", "")
    query = f"{scheme}://host.example/0?password={password}"
    assert password not in redact_url(query).replace("host.example", "")


@given(st.text(max_size=300))
def test_redact_url_never_raises(text: str) -> None:
    assert isinstance(redact_url(text), str)


def _profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(f"""
[profiles.fleet]
token_url = "https://svc:{PASSWORD}@idp.example.com/oauth2/token"
grant = "client-credentials"
client_id = "cid"
client_auth = "client_secret_basic"
client_secret = "env:FLEET_SECRET"
cache = "redis://:{PASSWORD}@127.0.0.1:6390/0"
""")
    return path


def test_profile_repr_and_str_hide_url_passwords(tmp_path: Path) -> None:
    profile = load_profiles(_profile_file(tmp_path))["fleet"]
    for text in (repr(profile), str(profile), f"{profile}"):
        assert PASSWORD not in text
        assert f"redis://:{REDACTED}@127.0.0.1:6390/0" in text
        assert "idp.example.com/oauth2/token" in text
    assert profile.cache.endswith("@127.0.0.1:6390/0")  # the value itself is intact
    assert PASSWORD in profile.cache


def test_bad_cache_setting_error_hides_the_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        Profile.from_mapping("p", {"token_url": "https://h/t", "grant": "client-credentials",
                                   "cache": f"memcached://u:{PASSWORD}@h/0"})
    assert PASSWORD not in str(info.value) and REDACTED in str(info.value)


def test_profiles_show_and_list_hide_url_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWTBEARER_PROFILES", str(_profile_file(tmp_path)))
    runner = CliRunner()
    shown = runner.invoke(app, ["profiles", "show", "fleet"], catch_exceptions=False)
    listed = runner.invoke(app, ["profiles", "list"], catch_exceptions=False)
    assert shown.exit_code == 0 and listed.exit_code == 0
    for output in (shown.output, listed.output):
        assert PASSWORD not in output
    assert REDACTED in shown.output and "127.0.0.1:6390/0" in shown.output


def test_redis_store_logs_and_errors_hide_the_password(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisStore(f"redis://admin:{PASSWORD}@127.0.0.1:{port}/0?password={PASSWORD}",
                       plaintext=True)
    assert PASSWORD not in repr(store) and f"admin:{REDACTED}@127.0.0.1:{port}/0" in repr(store)
    with pytest.raises(StoreError) as info, store.lock("k"):
        pass
    assert PASSWORD not in str(info.value)

    class Source:
        cache_key = "k"

        def token(self) -> object:
            raise RuntimeError("endpoint down")

    with caplog.at_level(logging.DEBUG), pytest.raises(RuntimeError):
        CachedSource(Source(), store=store).token()  # type: ignore[arg-type]
    assert "fetching the token directly" in caplog.text
    assert PASSWORD not in caplog.text
    with pytest.raises(ConfigurationError) as bad:
        RedisStore(f"redis://:{PASSWORD}@host:notaport/0", plaintext=True)
    assert PASSWORD not in str(bad.value)
