"""Profiles: the TOML file is checked key by key, secrets stay out of it, sources are cached."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from jwtbearer.errors import ConfigurationError, KeyLoadError
from jwtbearer.jose import KeyStore, SigningKey, default_key_store
from jwtbearer.lifecycle.caching import CachedSource
from jwtbearer.lifecycle.stores import MemoryStore, RedisStore, SQLiteStore
from jwtbearer.profiles import Profile, load_profiles, profile, profiles_path
from jwtbearer.testing import MockRequest, MockTokenEndpoint

SF_URL = "https://login.example.com/services/oauth2/token"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home() -> Path:
    return Path(os.environ["JWTBEARER_HOME"])


@pytest.fixture
def sf_key(home: Path) -> SigningKey:
    return default_key_store().create("sf-key")


def test_default_path_follows_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    assert profiles_path() == home / "profiles.toml"
    monkeypatch.setenv("JWTBEARER_PROFILES", str(tmp_path / "p.toml"))
    assert profiles_path() == tmp_path / "p.toml"


def test_jwt_bearer_profile_gets_and_caches_a_token(home: Path, sf_key: SigningKey) -> None:
    write(home / "profiles.toml", f"""
[profiles.sf]
token_url = "{SF_URL}"
client_id = "3MVG9-consumer-key"
subject = "alice@example.com"
audience = "https://login.example.com"
key = "sf-key"
scope = "api"
""")
    mock = MockTokenEndpoint(access_token="tok-123", extra={"instance_url": "https://i.example"})
    with mock.install():
        source = profile("sf")
        assert isinstance(source, CachedSource)
        assert profile("sf") is source
        token = source.token()
        assert source.token() is token
    assert token.access_token == "tok-123"
    assert token.extra["instance_url"] == "https://i.example"
    assert len(mock.requests) == 1
    request = mock.last_request
    assert request.grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = request.assertion_claims
    assert claims is not None
    assert claims["iss"] == "3MVG9-consumer-key"
    assert claims["sub"] == "alice@example.com"
    assert claims["aud"] == "https://login.example.com"
    assert claims["exp"] - claims["iat"] == 300
    assert request.assertion_header is not None
    assert request.assertion_header["kid"] == sf_key.kid
    # The default cache is the SQLite file under $JWTBEARER_HOME, shared by later processes.
    assert (home / "tokens.db").exists()


def test_sqlite_cache_is_reused_by_a_new_source(home: Path, sf_key: SigningKey) -> None:
    file = write(home / "profiles.toml", f"""
[profiles.sf]
token_url = "{SF_URL}"
client_id = "cid"
subject = "alice"
key = "sf-key"
""")
    mock = MockTokenEndpoint(access_token="tok-1")
    with mock.install():
        first = load_profiles(file)["sf"].source().token()
        second = load_profiles(file)["sf"].source().token()
    assert first.access_token == second.access_token == "tok-1"
    assert len(mock.requests) == 1


CLIENT_CREDENTIALS = """
[profiles.svc]
token_url = "https://idp.example.com/oauth/token"
grant = "client-credentials"
client_id = "svc"
audience = "https://api.example.com"
scope = "read write"
cache = "memory"
{auth}
"""


def _basic_credentials(request: MockRequest) -> object:
    return request.basic_credentials


def _posted_secret(request: MockRequest) -> object:
    return request.form.get("client_secret")


def _client_assertion_iss_and_sub(request: MockRequest) -> object:
    claims = request.client_assertion_claims
    return None if claims is None else (claims["iss"], claims["sub"])


@pytest.mark.parametrize(
    ("auth", "client_auth", "secret", "sent", "expected"),
    [
        pytest.param('client_secret = "env:SVC_SECRET"', "client_secret_basic", "s3cr3t-value",
                     _basic_credentials, ("svc", "s3cr3t-value"), id="secret-from-env"),
        # The file name is relative to the profiles file, not to the working directory.
        pytest.param('client_auth = "client_secret_post"\nclient_secret = "file:secret.txt"',
                     "client_secret_post", "file-secret", _posted_secret, "file-secret",
                     id="secret-from-file-relative-to-the-profiles-file"),
        pytest.param('key = "k.pem"', "private_key_jwt", None, _client_assertion_iss_and_sub,
                     ("svc", "svc"), id="private-key-jwt-with-a-key-file"),
    ],
)
def test_client_credentials_authenticates_as_configured(
    home: Path, monkeypatch: pytest.MonkeyPatch, auth: str, client_auth: str, secret: str | None,
    sent: Callable[[MockRequest], object], expected: object,
) -> None:
    monkeypatch.setenv("SVC_SECRET", "s3cr3t-value")
    write(home / "secret.txt", "file-secret\n")
    key = SigningKey.generate("ES256")
    (home / "k.pem").write_bytes(key.private_pem())
    write(home / "profiles.toml", CLIENT_CREDENTIALS.format(auth=auth))
    prof = load_profiles()["svc"]
    assert prof.client_auth == client_auth
    assert "s3cr3t-value" not in repr(prof) and "file-secret" not in repr(prof)
    if secret is None:
        assert prof.client_secret is None
    else:
        assert prof.resolve_secret(prof.client_secret or "", "client_secret") == secret
    assert isinstance(prof.store(), MemoryStore)
    mock = MockTokenEndpoint(access_token="cc-token", verify_with=key.verifying_key())
    with mock.install():
        assert prof.source().token().access_token == "cc-token"
    request = mock.last_request
    assert sent(request) == expected
    assert request.form["audience"] == "https://api.example.com"
    assert request.form["scope"] == "read write"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('token_url = "u"\nclient_secret = "plain"\ngrant = "client-credentials"\n'
         'client_id = "c"', ["client_secret", "literal", "env:VARIABLE", "file:/path"]),
        ('grant = "jwt-bearer"', ["token_url", "required"]),
        ('token_url = "u"\ngrant = "password"', ["grant", "password"]),
        ('token_url = "u"\nclient_id = "c"\nkey = "k"\ntokenurl = "x"', ["unknown", "tokenurl"]),
        ('token_url = "u"\nclient_id = "c"\nkey = "k"\nlifetime = "300"', ["lifetime", "integer"]),
        ('token_url = "u"\nclient_id = "c"\nkey = "k"\nlifetime = 86400', ["lifetime", "3600"]),
        ('token_url = "u"\nclient_id = "c"', ["key", "required"]),
        ('token_url = "u"\nclient_id = "c"\nkey = "k"\nclient_auth = "magic"', ["client_auth"]),
        ('token_url = "u"\ngrant = "client-credentials"\nclient_id = "c"\n'
         'client_auth = "client_secret_basic"', ["client_secret"]),
        ('token_url = "u"\nclient_id = "c"\nkey = "k"\ncache = "mongo"', ["cache"]),
        ('token_url = "u"\nclient_id = "c"\nkey = "k"\nallow_insecure_http = 1',
         ["allow_insecure_http"]),
    ],
)
def test_errors_name_file_profile_and_key(tmp_path: Path, body: str, words: list[str]) -> None:
    file = write(tmp_path / "p.toml", f"[profiles.bad]\n{body}\n")
    with pytest.raises(ConfigurationError) as info:
        load_profiles(file)
    message = str(info.value)
    assert str(file) in message and "[profiles.bad]" in message
    for word in words:
        assert word in message


def test_a_literal_secret_is_never_echoed(tmp_path: Path) -> None:
    file = write(tmp_path / "p.toml", '[profiles.x]\ntoken_url = "u"\ngrant = '
                 '"client-credentials"\nclient_id = "c"\nclient_secret = "hunter2-literal"\n')
    with pytest.raises(ConfigurationError) as info:
        load_profiles(file)
    assert "hunter2-literal" not in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no profiles file"):
        load_profiles(tmp_path / "missing.toml")
    bad = write(tmp_path / "bad.toml", "[profiles.x\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_profiles(bad)
    good = write(tmp_path / "good.toml", '[profiles.a]\ntoken_url = "u"\nclient_id = "c"\n'
                 'key = "k"\n')
    with pytest.raises(ConfigurationError, match=r"no profile named 'b' \(known: a\)"):
        profile("b", path=good)


def test_missing_env_secret_and_missing_key(tmp_path: Path) -> None:
    file = write(tmp_path / "p.toml", """
[profiles.svc]
token_url = "https://idp.example.com/token"
grant = "client-credentials"
client_id = "svc"
client_secret = "env:JWTBEARER_TEST_UNSET_VARIABLE"
[profiles.sf]
token_url = "https://idp.example.com/token"
client_id = "c"
key = "no-such-key"
""")
    profiles = load_profiles(file)
    with pytest.raises(ConfigurationError, match=r"\$JWTBEARER_TEST_UNSET_VARIABLE is not set"):
        profiles["svc"].source()
    with pytest.raises(KeyLoadError, match="no-such-key"):
        profiles["sf"].source()


def test_cache_choices(tmp_path: Path) -> None:
    base = {"token_url": "https://x/token", "client_id": "c", "key": "k"}
    sqlite = Profile.from_mapping("p", {**base, "cache": "sqlite:tok.db"}, base_dir=tmp_path)
    store = sqlite.store()
    assert isinstance(store, SQLiteStore)
    assert (tmp_path / "tok.db").exists()
    redis = Profile.from_mapping("p", {**base, "cache": "redis://127.0.0.1:1/0"})
    assert isinstance(redis.store(), RedisStore)


def test_key_store_name_versus_path(tmp_path: Path) -> None:
    KeyStore(tmp_path / "other").create("elsewhere")
    prof = Profile.from_mapping("p", {"token_url": "https://x/token", "client_id": "c",
                                      "key": "other/elsewhere.key.pem"}, base_dir=tmp_path)
    assert prof.signing_key().alg == "RS256"


def test_salesforce_login_hosts_get_their_origin_as_audience(sf_key: SigningKey) -> None:
    prof = Profile.from_mapping("sf", {
        "token_url": "https://login.salesforce.com/services/oauth2/token", "client_id": "c",
        "subject": "alice", "key": "sf-key", "cache": "memory"})
    mock = MockTokenEndpoint()
    with mock.install():
        prof.source().token()
    claims = mock.last_request.assertion_claims
    assert claims is not None and claims["aud"] == "https://login.salesforce.com"
