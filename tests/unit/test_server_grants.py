"""The authorization code and refresh token grants in the core, with an injected clock: code
lifetime and binding, PKCE downgrade, rotation and family revocation, the store's expiry, the
configuration checks, and what never shows in a repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from jwtbearer.client.grants import PKCE
from jwtbearer.server.codeflow import CODE_LIFETIME
from jwtbearer.server.config import parse_config
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.registry import ServerConfigError
from jwtbearer.server.replay import MemoryReplayCache

ISSUER = "https://as.example.com"
NOW = 1_800_000_000.0
FORM = {"content-type": "application/x-www-form-urlencoded"}
CB = "https://app.example.com/cb"
SECRET = "c0nfidential-secret-value"


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


def config(tmp: Path, **client: Any) -> Any:
    table: dict[str, Any] = {
        "client_id": "app", "token_endpoint_auth_method": "client_secret_post",
        "client_secret": SECRET, "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [CB], "scopes": ["openid", "read"], "subjects": ["alice"]}
    table.update(client)
    return parse_config({"issuer": ISSUER, "state_dir": "s", "test_user": "tester",
                         "refresh_token_lifetime": 3600, "clients": [table]},
                        base=tmp, source="t.toml")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(tmp_path: Path, clock: Clock) -> TokenEndpoint:
    return TokenEndpoint(config(tmp_path), clock=clock)


def authorize(endpoint: TokenEndpoint, **params: str) -> dict[str, str]:
    response = endpoint.authorize(urlencode({"response_type": "code", "client_id": "app",
                                             **params}).encode())
    assert response.status == 302, response.body
    location = dict(response.headers)["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(endpoint: TokenEndpoint, **fields: str) -> tuple[int, dict[str, Any]]:
    body = urlencode({"client_id": "app", "client_secret": SECRET, **fields}).encode()
    response = endpoint.token(body, FORM)
    return response.status, dict(response.body)


def exchange(endpoint: TokenEndpoint, code: str, **fields: str) -> tuple[int, dict[str, Any]]:
    return token(endpoint, grant_type="authorization_code", code=code, **fields)


def test_a_code_lives_60_seconds(endpoint: TokenEndpoint, clock: Clock) -> None:
    code = authorize(endpoint)["code"]
    clock.now += CODE_LIFETIME + 1
    status, body = exchange(endpoint, code)
    assert (status, body["error"]) == (400, "invalid_grant")
    code = authorize(endpoint)["code"]
    clock.now += CODE_LIFETIME - 1
    assert exchange(endpoint, code)[0] == 200


def test_confidential_client_may_skip_pkce_but_not_fake_it(endpoint: TokenEndpoint) -> None:
    code = authorize(endpoint)["code"]
    status, body = exchange(endpoint, code, code_verifier=PKCE.generate().verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "had no code_challenge" in body["error_description"]
    assert exchange(endpoint, authorize(endpoint)["code"])[0] == 200


def test_redirect_uri_binding(endpoint: TokenEndpoint) -> None:
    # Omitted at /authorize (one registered URI): optional at the token endpoint, but exact.
    assert exchange(endpoint, authorize(endpoint)["code"])[0] == 200
    assert exchange(endpoint, authorize(endpoint)["code"], redirect_uri=CB + "x")[0] == 400
    # Sent at /authorize: required at the token endpoint (RFC 6749 §4.1.3).
    code = authorize(endpoint, redirect_uri=CB)["code"]
    assert exchange(endpoint, code)[0] == 400
    code = authorize(endpoint, redirect_uri=CB)["code"]
    assert exchange(endpoint, code, redirect_uri=CB)[0] == 200


def test_refresh_rotation_scope_narrowing_expiry_and_family(endpoint: TokenEndpoint,
                                                           clock: Clock) -> None:
    status, first = exchange(endpoint, authorize(endpoint, scope="openid read")["code"])
    assert status == 200 and first["scope"] == "openid read" and "id_token" in first
    status, second = token(endpoint, grant_type="refresh_token",
                           refresh_token=first["refresh_token"], scope="read")
    assert status == 200 and second["scope"] == "read" and "id_token" not in second
    status, body = token(endpoint, grant_type="refresh_token",
                         refresh_token=second["refresh_token"], scope="admin")
    assert (status, body["error"]) == (400, "invalid_scope")
    # A refresh token expires after refresh_token_lifetime.
    status, third = exchange(endpoint, authorize(endpoint)["code"])
    clock.now += 3601
    status, body = token(endpoint, grant_type="refresh_token",
                         refresh_token=third["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


def test_refresh_needs_the_same_client_authenticated(tmp_path: Path, clock: Clock) -> None:
    endpoint = TokenEndpoint(config(tmp_path), clock=clock)
    _, first = exchange(endpoint, authorize(endpoint)["code"])
    body = urlencode({"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                      "client_id": "app"}).encode()
    response = endpoint.token(body, FORM)
    assert (response.status, response.body["error"]) == (401, "invalid_client")


def test_no_refresh_token_without_the_refresh_grant(tmp_path: Path, clock: Clock) -> None:
    endpoint = TokenEndpoint(config(tmp_path, grant_types=["authorization_code"]), clock=clock)
    status, body = exchange(endpoint, authorize(endpoint)["code"])
    assert status == 200 and "refresh_token" not in body


def test_secrets_stay_out_of_repr(endpoint: TokenEndpoint) -> None:
    body = urlencode({"client_id": "app", "client_secret": SECRET, "code":
                      authorize(endpoint, scope="openid")["code"],
                      "grant_type": "authorization_code"}).encode()
    response = endpoint.token(body, FORM)
    text = repr(response)
    for name in ("access_token", "refresh_token", "id_token"):
        assert response.body[name] not in text


def test_authorize_without_a_user_asks_for_one(tmp_path: Path) -> None:
    data = {"issuer": ISSUER, "state_dir": "s", "clients": [{
        "client_id": "app", "token_endpoint_auth_method": "client_secret_post",
        "client_secret": SECRET, "grant_types": ["authorization_code"],
        "redirect_uris": [CB]}]}
    endpoint = TokenEndpoint(parse_config(data, base=tmp_path, source="t.toml"))
    answer = authorize(endpoint)
    assert answer["error"] == "login_required" and "test_user" in answer["error_description"]


def test_memory_store_values_expire() -> None:
    store = MemoryReplayCache(max_entries=2)
    store.put("a", b"1", expires_at=NOW + 10, now=NOW)
    assert store.get("a", now=NOW + 9) == b"1"
    assert store.get("a", now=NOW + 10) is None
    store.put("b", b"2", expires_at=NOW + 100, now=NOW)
    with pytest.raises(Exception, match="grant store holds 2"):
        store.put("c", b"3", expires_at=NOW + 100, now=NOW + 1)
    store.put("c", b"3", expires_at=NOW + 100, now=NOW + 61)  # "a" purged by then


@pytest.mark.parametrize(("client", "match"), [
    ({"redirect_uris": []}, "needs at least one redirect URI"),
    ({"redirect_uris": ["/relative"]}, "absolute URI"),
    ({"redirect_uris": [CB + "#frag"]}, "without a fragment"),
    ({"grant_types": ["refresh_token"]}, "refresh_token is issued with authorization_code"),
    ({"require_client_authentication": "yes"}, "true or false"),
])
def test_client_registration_checks(tmp_path: Path, client: dict[str, Any], match: str) -> None:
    with pytest.raises(ServerConfigError, match=match):
        config(tmp_path, **client)
