"""The server's TOML configuration: every documented key, and refusals naming file and key."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from jwtbearer.jose.keys import SigningKey
from jwtbearer.server.config import load_config
from jwtbearer.server.registry import JWT_BEARER, ServerConfigError

ISSUER = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.generate("RS256")


def write(tmp_path: Path, body: str, rsa_key: SigningKey | None = None) -> Path:
    if rsa_key is not None:
        (tmp_path / "svc.jwks.json").write_text(json.dumps({"keys": [rsa_key.public_jwk()]}))
    path = tmp_path / "server.toml"
    path.write_text(body)
    return path


ISSUE_EXAMPLE = f"""
issuer = "{ISSUER}"          # token endpoint = issuer + "/token"
access_token_lifetime = 3600
leeway = 30
max_assertion_lifetime = 3600
state_dir = "state"
[[clients]]
client_id = "svc"
token_endpoint_auth_method = "private_key_jwt"
jwks = "svc.jwks.json"
grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
scopes = ["api:read", "api:write"]
subjects = ["alice"]
"""


def test_the_documented_example_loads(tmp_path: Path, rsa_key: SigningKey,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE, rsa_key)
    monkeypatch.chdir(tmp_path.parent)  # relative paths are relative to the file, not the cwd
    config = load_config(path)
    assert config.token_endpoint == ISSUER + "/token"
    client = config.clients["svc"]
    assert client.grant_types == ("client_credentials", JWT_BEARER)
    assert client.keys[0].thumbprint() == rsa_key.thumbprint()
    assert client.approves("alice") and not client.approves("bob")
    assert config.signing_key.alg == "EdDSA"  # hardened defaults
    assert (config.require_jti, config.allow_audience_array, config.leeway) == (True, False, 30)


def test_signing_key_generated_once_into_state_dir(tmp_path: Path, rsa_key: SigningKey) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE, rsa_key)
    first = load_config(path).signing_key
    files = list((tmp_path / "state").iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert load_config(path).signing_key.kid == first.kid


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_access_token_alg_configurable(tmp_path: Path, rsa_key: SigningKey, alg: str) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE.replace("leeway = 30", f'access_token_alg = "{alg}"'),
                 rsa_key)
    assert load_config(path).signing_key.alg == alg


def test_signing_key_file_and_env_secret(tmp_path: Path) -> None:
    key = SigningKey.generate("ES256")
    (tmp_path / "k.pem").write_bytes(key.private_pem())
    path = write(tmp_path, f"""
issuer = "{ISSUER}"
signing_key = "k.pem"
access_token_alg = "ES256"
[[clients]]
client_id = "b"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "env:B_SECRET"
grant_types = ["client_credentials"]
""")
    config = load_config(path, environ={"B_SECRET": "from-the-environment"})
    assert config.signing_key.thumbprint() == key.thumbprint()
    assert config.clients["b"].client_secret == "from-the-environment"
    assert "from-the-environment" not in repr(config.clients["b"])


BAD: dict[str, tuple[str, str, str]] = {
    # name: (text replacing the example's issuer line or appended, key named, words in problem)
    "missing_issuer": ("", "issuer", "required"),
    "issuer_not_url": ('issuer = "127.0.0.1:8000"', "issuer", "not an http(s) URL"),
    "issuer_query": (f'issuer = "{ISSUER}/?x=1"', "issuer", "no query"),
    "unknown_key": (f'issuer = "{ISSUER}"\nleway = 3', "leway", "unknown key"),
    "int_range": (f'issuer = "{ISSUER}"\nmax_body_size = 10', "max_body_size", "whole number"),
    "int_string": (f'issuer = "{ISSUER}"\nmax_assertion_size = "30"', "max_assertion_size",
                   "whole number"),
    "bad_alg": (f'issuer = "{ISSUER}"\naccess_token_alg = "HS256"', "access_token_alg",
                "must be one of"),
    "bad_replay": (f'issuer = "{ISSUER}"\nreplay = "memcached://x"', "replay", "redis://"),
    "bad_detail": (f'issuer = "{ISSUER}"\nerror_detail = "none"', "error_detail", "minimal"),
    "bool_setting": (f'issuer = "{ISSUER}"\nrequire_jti = 1', "require_jti", "true or false"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_top_level_settings_name_file_and_key(tmp_path: Path, rsa_key: SigningKey,
                                                  case: str) -> None:
    replacement, key, words = BAD[case]
    text = ISSUE_EXAMPLE.replace(f'issuer = "{ISSUER}"          # token endpoint = issuer + '
                                 '"/token"', replacement)
    path = write(tmp_path, text, rsa_key)
    with pytest.raises(ServerConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert words in info.value.problem
    assert str(info.value).startswith(f"{path}: {key}: ")


CLIENT_BAD: dict[str, tuple[str, str, str]] = {
    "no_client_id": ('client_id = "svc"', "client_id", "required"),
    "bad_method": ('token_endpoint_auth_method = "private_key_jwt"',
                   "token_endpoint_auth_method", "must be one of"),
    "unknown_client_key": ('scopes = ["api:read", "api:write"]', "scope", "unknown key"),
    "bad_grant": ('grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:'
                  'jwt-bearer"]', "grant_types", "not served"),
    "bad_scope": ('scopes = ["api:read", "api:write"]', "scopes", "scope token"),
    "jwks_missing_file": ('jwks = "svc.jwks.json"', "jwks", "cannot read"),
    "no_keys": ('jwks = "svc.jwks.json"', "clients[0] (svc)", "private_key_jwt needs"),
}
CLIENT_REPLACEMENTS = {
    "no_client_id": "",
    "bad_method": 'token_endpoint_auth_method = "private-key-jwt"',
    "unknown_client_key": 'scope = ["api:read"]',
    "bad_grant": 'grant_types = ["password"]',
    "bad_scope": 'scopes = ["has space", "quote\\""]',
    "jwks_missing_file": 'jwks = "missing.json"',
    "no_keys": "",
}


@pytest.mark.parametrize("case", sorted(CLIENT_BAD))
def test_bad_client_tables_name_the_key(tmp_path: Path, rsa_key: SigningKey, case: str) -> None:
    original, key, words = CLIENT_BAD[case]
    path = write(tmp_path, ISSUE_EXAMPLE.replace(original, CLIENT_REPLACEMENTS[case]), rsa_key)
    with pytest.raises(ServerConfigError) as info:
        load_config(path)
    assert key in info.value.key
    assert words in info.value.problem


def _client(body: str) -> str:
    return f'issuer = "{ISSUER}"\nstate_dir = "s"\n[[clients]]\nclient_id = "c"\n{body}\n'


SECRET_BAD = {
    "basic_without_secret": (_client('token_endpoint_auth_method = "client_secret_basic"\n'
                                     'grant_types = ["client_credentials"]'),
                             "needs client_secret"),
    "env_not_set": (_client('token_endpoint_auth_method = "client_secret_post"\n'
                            'client_secret = "env:NOT_SET_ANYWHERE"\n'
                            'grant_types = ["client_credentials"]'), "NOT_SET_ANYWHERE"),
    "hmac_secret_too_short": (_client('token_endpoint_auth_method = "client_secret_jwt"\n'
                                      'client_secret = "short"\n'
                                      'grant_types = ["client_credentials"]'), "at least 32 bytes"),
    "public_client_credentials": (_client('token_endpoint_auth_method = "none"\n'
                                          'certificate = "x.pem"\n'
                                          'grant_types = ["client_credentials"]'), "confidential"),
    "duplicate_client": (_client('token_endpoint_auth_method = "client_secret_post"\n'
                                 'client_secret = "x"\ngrant_types = ["client_credentials"]') * 1
                         + '[[clients]]\nclient_id = "c"\ntoken_endpoint_auth_method = '
                         '"client_secret_post"\nclient_secret = "y"\n'
                         'grant_types = ["client_credentials"]\n', "registered twice"),
}


@pytest.mark.parametrize("case", sorted(SECRET_BAD))
def test_client_authentication_requirements(tmp_path: Path, case: str) -> None:
    text, words = SECRET_BAD[case]
    key = SigningKey.generate("RS256")
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "x.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ServerConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert words in info.value.problem


def test_syntax_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "issuer = "))
    with pytest.raises(ServerConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    assert not os.path.exists(tmp_path / "absent.toml")
