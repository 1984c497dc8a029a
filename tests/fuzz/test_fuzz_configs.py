"""Fuzz: the server's TOML configuration and the profiles file, as text and as tables.

Every document either loads or is refused with a ConfigurationError naming the file and the
key; nothing else escapes. Paths in generated documents stay inside a scratch folder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fuzzkeys import DERS, KEYS, PEMS
from fuzzkit import FUZZ, json_values, survive
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer.profiles import Profile, load_profiles
from jwtbearer.server.config import load_config, parse_config
from jwtbearer.server.registry import JWT_BEARER

BASE = Path(tempfile.mkdtemp(prefix="jwtbearer-fuzz-config-"))
(BASE / "key.pem").write_bytes(PEMS[1])
(BASE / "jwks.json").write_text(json.dumps({"keys": [KEYS["ES256"].public_jwk()]}))
(BASE / "secret.txt").write_text("a-secret-value\n")
(BASE / "state").mkdir()
(BASE / "binary.p12").write_bytes(DERS[1])
_SAFE_PATHS = st.sampled_from(["key.pem", "missing.pem", "jwks.json", "secret.txt", "state",
                               "", ".", "state/none", "key.pem\x00x", "binary.p12"])

_SERVER_KEYS = ["issuer", "signing_key", "access_token_alg", "access_token_audience", "replay",
                "error_detail", "instance_url", "state_dir", "access_token_lifetime", "leeway",
                "max_assertion_lifetime", "max_assertion_size", "max_body_size",
                "replay_max_entries", "require_jti", "allow_audience_array", "header_timeout",
                "body_timeout", "keep_alive_timeout", "max_connections"]
_CLIENT_KEYS = ["client_id", "token_endpoint_auth_method", "token_endpoint_auth_signing_alg",
                "jwks", "certificate", "client_secret", "grant_types", "scopes", "subjects",
                "audiences"]
_PROFILE_KEYS = ["token_url", "grant", "client_id", "subject", "audience", "key",
                 "key_password", "client_auth", "client_secret", "scope", "lifetime",
                 "refresh_before", "cache", "allow_insecure_http"]
_PATHISH = {"signing_key", "state_dir", "certificate", "key", "jwks"}
_WORDS = st.sampled_from([
    "http://127.0.0.1:8000", "https://as.example.com/", "ftp://x", "https://h/?q=1", "memory",
    "redis://:pw@127.0.0.1:1/0", "EdDSA", "RS256", "HS256", "none", "client_secret_basic",
    "private_key_jwt", "client_secret_jwt", "client_credentials", JWT_BEARER, "jwt-bearer",
    "env:NOPE", "file:secret.txt", "file:missing", "minimal", "full", "sqlite", "sqlite:t.db",
    "*", "jwks.json"])


def _value(key: str) -> st.SearchStrategy[Any]:
    if key in _PATHISH:
        return _SAFE_PATHS
    return st.one_of(_WORDS, json_values, st.lists(_WORDS, max_size=3),
                     st.integers(-5, 10**7), st.booleans())


def _table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: _value(k) for k in keys}).flatmap(
        lambda t: st.dictionaries(st.text(max_size=8), json_values, max_size=1).map(
            lambda extra: {**t, **extra}))


server_tables = st.builds(
    lambda top, clients, issuer: {**top, **({"issuer": issuer} if issuer else {}),
                                  **({"clients": clients} if clients is not None else {})},
    _table(_SERVER_KEYS),
    st.one_of(st.none(), st.lists(_table(_CLIENT_KEYS), max_size=3), json_values),
    st.one_of(st.none(), st.just("http://127.0.0.1:8000")),
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value).replace("inf", "inf").replace("nan", "nan")
    if isinstance(value, str):
        return json.dumps(value)  # mostly valid TOML basic strings; the rest must be refused
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return '""'


def _toml(document: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> str:
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in document.items()]
    for header, entries in tables.items():
        for entry in entries:
            lines.append(header)
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


@FUZZ
@given(table=server_tables)
def test_server_config_tables(table: dict[str, Any]) -> None:
    table = {**table, "state_dir": "state"} if "state_dir" not in table else table
    survive("server_config_table",
            lambda: parse_config(table, base=BASE, source="fuzz.toml", environ={}))


@FUZZ
@given(table=server_tables, garbage=st.text(max_size=80), where=st.integers(0, 3))
def test_server_config_files(table: dict[str, Any], garbage: str, where: int) -> None:
    top = {k: v for k, v in table.items() if k != "clients"}
    top.setdefault("state_dir", "state")
    clients = table.get("clients")
    entries = [c for c in clients if isinstance(c, dict)] if isinstance(clients, list) else []
    text = _toml(top, {"[[clients]]": entries})
    if where == 1:
        text += garbage
    elif where == 2:
        text = garbage + "\n" + text
    path = BASE / "server.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    survive("server_config_file", lambda: load_config(path, environ={}))


profile_tables = _table(_PROFILE_KEYS)


@FUZZ
@given(table=profile_tables, name=st.text(max_size=12))
def test_profile_tables(table: dict[str, Any], name: str) -> None:
    survive("profile_table", lambda: Profile.from_mapping(name, table, base_dir=BASE))


@FUZZ
@given(profiles=st.dictionaries(st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True),
                                profile_tables, max_size=3),
       garbage=st.text(max_size=80), where=st.integers(0, 3))
def test_profiles_files(profiles: dict[str, dict[str, Any]], garbage: str, where: int) -> None:
    text = _toml({}, {f"[profiles.{name}]": [table] for name, table in profiles.items()})
    if where == 1:
        text += garbage
    elif where == 2:
        text = garbage + "\n" + text
    path = BASE / "profiles.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    survive("profiles_file", lambda: load_profiles(path))
