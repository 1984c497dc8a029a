"""[[trusted_issuers]] tables and the token-exchange grant in the server configuration: every
mistake refused at load, naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jwtbearer.jose.keys import SigningKey
from jwtbearer.server.config import parse_config
from jwtbearer.server.registry import ServerConfigError

ISSUER = "http://127.0.0.1:9"
SECRET_K = "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg"  # 32 bytes, base64url
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def load(tmp_path: Path, **data: Any) -> Any:
    return parse_config({"issuer": ISSUER, "state_dir": "s", **data}, base=tmp_path)


@pytest.fixture
def jwks(tmp_path: Path) -> dict[str, Any]:
    key = SigningKey.generate("ES256", kid="k1")
    value = {"keys": [key.public_jwk()]}
    (tmp_path / "idp.jwks.json").write_text(json.dumps(value))
    return value


def test_file_and_inline_jwks(tmp_path: Path, jwks: dict[str, Any]) -> None:
    config = load(tmp_path, trusted_issuers=[
        {"issuer": "https://a.example", "jwks": "idp.jwks.json"},
        {"issuer": "https://b.example", "jwks": jwks, "audience": "https://me.example"}])
    a, b = config.trusted_issuers
    assert (a.audience, b.audience) == (ISSUER, "https://me.example")
    assert a.keys[0].kid == b.keys[0].kid == "k1"


@pytest.mark.parametrize(("table", "key", "words"), [
    ({"issuer": "https://a.example", "jwks": "idp.jwks.json", "aud": "x"},
     "trusted_issuers[0].aud", "unknown key"),
    ({"jwks": "idp.jwks.json"}, "trusted_issuers[0].issuer", "required"),
    ({"issuer": ISSUER, "jwks": "idp.jwks.json"}, "trusted_issuers[0].issuer", "own issuer"),
    ({"issuer": "https://a.example"}, "trusted_issuers[0].jwks", "required"),
    ({"issuer": "https://a.example", "jwks": "missing.json"}, "trusted_issuers[0].jwks",
     "cannot read"),
    ({"issuer": "https://a.example", "jwks": "http://10.0.0.1/jwks"},
     "trusted_issuers[0].jwks", "https"),
    ({"issuer": "https://a.example", "jwks": {"keys": [{"kty": "oct", "k": SECRET_K,
                                                         "alg": "HS256"}]}},
     "trusted_issuers[0].jwks", "public keys only"),
    ({"issuer": "https://a.example", "jwks": "idp.jwks.json", "audience": ""},
     "trusted_issuers[0].audience", "non-empty"),
])
def test_bad_tables_are_refused(tmp_path: Path, jwks: dict[str, Any], table: dict[str, Any],
                                key: str, words: str) -> None:
    with pytest.raises(ServerConfigError) as caught:
        load(tmp_path, trusted_issuers=[table])
    assert caught.value.key == key
    assert words in caught.value.problem


def test_an_issuer_listed_twice_is_refused(tmp_path: Path, jwks: dict[str, Any]) -> None:
    table = {"issuer": "https://a.example", "jwks": "idp.jwks.json"}
    with pytest.raises(ServerConfigError, match="listed twice"):
        load(tmp_path, trusted_issuers=[table, table])
    with pytest.raises(ServerConfigError, match=r"\[\[trusted_issuers\]\] tables"):
        load(tmp_path, trusted_issuers={"issuer": "x"})


def test_token_exchange_is_for_confidential_clients(tmp_path: Path) -> None:
    client = {"client_id": "pub", "token_endpoint_auth_method": "none",
              "grant_types": [EXCHANGE]}
    with pytest.raises(ServerConfigError, match="confidential clients only"):
        load(tmp_path, clients=[client])
    client = {**client, "token_endpoint_auth_method": "client_secret_basic",
              "client_secret": "s" * 32}
    assert EXCHANGE in load(tmp_path, clients=[client]).clients["pub"].grant_types
