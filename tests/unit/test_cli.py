"""The ``jwtbearer`` command, run in-process, against real keys and a loopback token endpoint.

The endpoint is a small Starlette app under uvicorn on 127.0.0.1 that verifies assertions with
the registered key, so ``jwtbearer token`` is tested over real HTTP. Every test that gets a token
also checks that nothing secret (access token, client secret, assertion signature) is printed
unless --show-token asks for the token.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from jwtbearer.cli import app
from jwtbearer.errors import JWSError
from jwtbearer.jose import SigningKey, VerifyingKey, default_key_store
from jwtbearer.jose.jws import sign_compact, unverified_claims, unverified_header, verify_compact

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_SECRET = "cs-" + "Zq9" * 10


@dataclass
class EndpointState:
    """What the loopback endpoint knows and what it has seen."""

    keys: list[VerifyingKey] = field(default_factory=list)
    approved: set[str] = field(default_factory=lambda: {"alice@example.com"})
    posts: int = 0
    assertions: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.keys.clear()
        self.posts = 0
        self.assertions.clear()
        self.issued.clear()


def _issue(state: EndpointState) -> JSONResponse:
    token = "00D" + secrets.token_urlsafe(40)
    state.issued.append(token)
    return JSONResponse({
        "access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "api",
        "instance_url": "https://example.my.salesforce.com",
        "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
    })


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def make_app(state: EndpointState) -> Starlette:
    async def token(request: Request) -> JSONResponse:
        state.posts += 1
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") == JWT_BEARER:
            assertion = form.get("assertion", "")
            state.assertions.append(assertion)
            try:
                verify_compact(assertion, state.keys)
            except JWSError:
                return _error(400, "invalid_grant", "invalid assertion")
            if unverified_claims(assertion).get("sub") not in state.approved:
                return _error(400, "invalid_grant", "user hasn't approved this consumer")
            return _issue(state)
        if form.get("grant_type") == "client_credentials":
            expected = base64.b64encode(f"svc:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return _error(401, "invalid_client", "bad client credentials")
            return _issue(state)
        return _error(400, "unsupported_grant_type", "grant type not supported")

    return Starlette(routes=[Route("/token", token, methods=["POST"])])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint_state() -> EndpointState:
    return EndpointState()


@pytest.fixture(scope="module")
def server_url(endpoint_state: EndpointState) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(make_app(endpoint_state), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the loopback token endpoint did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/token"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def endpoint(server_url: str, endpoint_state: EndpointState) -> Iterator[tuple[str,
                                                                              EndpointState]]:
    endpoint_state.reset()
    yield server_url, endpoint_state


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def sf_key() -> SigningKey:
    return default_key_store().create("sf")


def run(runner: CliRunner, *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def signature_of(jwt: str) -> str:
    return jwt.rsplit(".", 1)[1]


def assert_no_secrets(output: str, state: EndpointState) -> None:
    for token in state.issued:
        assert token not in output
    for assertion in state.assertions:
        assert signature_of(assertion) not in output
    assert CLIENT_SECRET not in output
    assert "Traceback" not in output


# -- basics -----------------------------------------------------------------------------------


def test_version_and_help(runner: CliRunner) -> None:
    result = run(runner, "--version")
    assert result.exit_code == 0 and result.output.startswith("jwtbearer ")
    result = run(runner, "--help")
    assert result.exit_code == 0
    for command in ("token", "assert", "keys", "inspect", "explain", "profiles"):
        assert command in result.output
    assert "Exit codes" in result.output


# -- keys -------------------------------------------------------------------------------------


def test_keys_create_writes_files_with_safe_modes(runner: CliRunner) -> None:
    result = run(runner, "keys", "create", "sf-prod", "--days", "30", "--subject", "Integration")
    assert result.exit_code == 0, result.output
    store = default_key_store()
    key_path, cert_path, jwks_path = (store.key_path("sf-prod"), store.certificate_path("sf-prod"),
                                      store.jwks_path("sf-prod"))
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(jwks_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    key = store.get("sf-prod")
    output = " ".join(result.output.split())
    for expected in (str(key_path), str(cert_path), str(jwks_path), key.thumbprint(),
                     key.x5t_s256 or "", "CN=Integration", "Salesforce", "Okta"):
        assert expected in output
    assert "PRIVATE KEY" not in result.output
    again = run(runner, "keys", "create", "sf-prod")
    assert again.exit_code == 3 and "--force" in again.output
    assert run(runner, "keys", "create", "sf-prod", "--force").exit_code == 0
    assert store.get("sf-prod").thumbprint() != key.thumbprint()


def test_keys_list_show_jwk(runner: CliRunner, sf_key: SigningKey) -> None:
    listed = run(runner, "keys", "list")
    assert listed.exit_code == 0 and "sf" in listed.output and "RS256" in listed.output
    shown = run(runner, "keys", "show", "sf")
    assert shown.exit_code == 0
    assert sf_key.thumbprint() in shown.output and "PRIVATE KEY" not in shown.output
    jwks = json.loads(run(runner, "keys", "jwk", "sf").output)
    assert jwks["keys"][0]["kid"] == sf_key.kid
    assert "d" not in jwks["keys"][0]
    single = json.loads(run(runner, "keys", "jwk", "sf", "--single").output)
    assert single["n"] == jwks["keys"][0]["n"]
    missing = run(runner, "keys", "show", "nope")
    assert missing.exit_code == 3 and "no key named 'nope'" in missing.output


def test_keys_list_empty(runner: CliRunner) -> None:
    result = run(runner, "keys", "list")
    assert result.exit_code == 0 and "No keys" in result.output


def test_keys_import_encrypted_pem(runner: CliRunner, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pem-pass-123"),
    )
    path = tmp_path / "enc.pem"
    path.write_bytes(pem)
    monkeypatch.setenv("KEY_PASS", "pem-pass-123")
    result = run(runner, "keys", "import", "imported", str(path), "--password-env", "KEY_PASS")
    assert result.exit_code == 0, result.output
    assert "pem-pass-123" not in result.output
    stored = default_key_store().key_path("imported")
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    again = run(runner, "keys", "import", "imported", str(path), "--password-env", "KEY_PASS")
    assert again.exit_code == 3
    wrong = run(runner, "keys", "import", "other", str(path), "--password-stdin",
                input="wrong\n")
    assert wrong.exit_code == 3 and "Traceback" not in wrong.output


# -- assert -----------------------------------------------------------------------------------


def test_assert_prints_a_verifiable_jwt(runner: CliRunner, sf_key: SigningKey) -> None:
    result = run(runner, "assert", "--iss", "cid", "--sub", "alice@example.com", "--aud",
                 "https://login.salesforce.com", "--key", "sf", "--lifetime", "120",
                 "--claim", "scope=api", "--claim", "n=5", "--claim", 'roles=["a","b"]', "--x5t")
    assert result.exit_code == 0, result.output
    jwt = result.output.strip()
    claims = verify_compact(jwt, sf_key).claims()
    assert claims["iss"] == "cid" and claims["sub"] == "alice@example.com"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["scope"] == "api" and claims["n"] == 5 and claims["roles"] == ["a", "b"]
    assert unverified_header(jwt)["x5t#S256"] == sf_key.x5t_s256


def test_assert_with_a_key_file_and_curl(runner: CliRunner, tmp_path: Path) -> None:
    key = SigningKey.generate("ES256")
    path = tmp_path / "ec.pem"
    path.write_bytes(key.private_pem())
    result = run(runner, "assert", "--iss", "c", "--aud", "https://x.example/token", "--key",
                 str(path), "--curl", "https://x.example/token")
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert line.startswith("curl ") and "https://x.example/token" in line
    assert f"grant_type={JWT_BEARER}" in line
    jwt = line.split("assertion=", 1)[1].strip("'")
    assert verify_compact(jwt, key).claims()["iss"] == "c"


def test_assert_refuses_registered_claims_and_bad_lifetime(runner: CliRunner,
                                                           sf_key: SigningKey) -> None:
    base = ["assert", "--iss", "c", "--aud", "a", "--key", "sf"]
    bad = run(runner, *base, "--claim", "exp=1")
    assert bad.exit_code == 3 and "registered claim" in bad.output
    assert run(runner, *base, "--lifetime", "360000").exit_code == 3
    assert run(runner, *base, "--claim", "novalue").exit_code == 3
    missing = run(runner, "assert", "--iss", "c", "--aud", "a", "--key", "absent")
    assert missing.exit_code == 3 and "Traceback" not in missing.output


# -- inspect ----------------------------------------------------------------------------------


def _crafted(key: SigningKey, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"iss": "c", "sub": "alice", "aud": "https://login.salesforce.com",
                            "iat": now, "exp": now + 120, "jti": "j1"}
    body.update(claims)
    return sign_compact({k: v for k, v in body.items() if v is not None}, key)


def test_inspect_a_good_assertion_verified_with_the_certificate(runner: CliRunner,
                                                                 sf_key: SigningKey) -> None:
    jwt = _crafted(sf_key)
    cert = default_key_store().certificate_path("sf")
    result = run(runner, "inspect", jwt, "--token-url",
                 "https://login.salesforce.com/services/oauth2/token", "--cert", str(cert))
    assert result.exit_code == 0, result.output
    assert "Signature verified" in result.output
    assert signature_of(jwt) not in result.output
    assert "<signature: 256 bytes>" in result.output
    assert "(in 1" in result.output or "(in 2 min" in result.output  # exp
    assert " ago)" in result.output  # iat
    assert "UTC" in result.output


def test_inspect_unverified_says_so_and_flags_milliseconds(runner: CliRunner,
                                                          sf_key: SigningKey) -> None:
    jwt = _crafted(sf_key, exp=int(time.time() * 1000) + 120_000, jti=None)
    result = run(runner, "inspect", jwt)
    assert result.exit_code == 1
    assert "WITHOUT verifying" in result.output
    assert "exp-milliseconds" in result.output and "jti-missing" in result.output
    assert signature_of(jwt) not in result.output


def test_inspect_from_stdin_as_json(runner: CliRunner, sf_key: SigningKey) -> None:
    jwt = _crafted(sf_key, aud=["https://login.salesforce.com"], jti=None)
    result = run(runner, "inspect", "-", "--json", input=jwt + "\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["verified"] is None and data["signature_bytes"] == 256
    found = {f["code"] for f in data["findings"]}
    assert {"aud-array", "jti-missing"} <= found
    assert signature_of(jwt) not in result.output


def test_inspect_wrong_key_and_wrong_audience(runner: CliRunner, sf_key: SigningKey) -> None:
    other = default_key_store().create("other")
    jwt = _crafted(sf_key)
    bad = run(runner, "inspect", jwt, "--key", "other")
    assert bad.exit_code == 1 and "does NOT verify" in bad.output
    assert "signature-invalid" in bad.output and other.kid
    aud = run(runner, "inspect", jwt, "--audience", "https://test.salesforce.com")
    assert aud.exit_code == 1 and "aud-mismatch" in aud.output


def test_inspect_layout_lifetime_order_and_unchecked_audience(runner: CliRunner,
                                                             sf_key: SigningKey) -> None:
    jwt = _crafted(sf_key, instance_url="https://i.example", exp=int(time.time()) - 10,
                   sub=None)
    result = run(runner, "inspect", jwt)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    # Every name sits in one column, however long the longest claim name is.
    assert "  iss           c" in lines and "  instance_url  https://i.example" in lines
    exp_line = next(line for line in lines if line.startswith("  exp "))
    assert "; lifetime " in exp_line and " ago" in exp_line
    assert not any(line.lstrip().startswith("lifetime") for line in lines)
    # Errors come before warnings, whatever order the checks ran in.
    assert result.output.index("exp-expired") < result.output.index("sub-missing")
    assert "add --token-url or --audience" in result.output
    checked = run(runner, "inspect", jwt, "--audience", "https://login.salesforce.com")
    assert "add --token-url or --audience" not in checked.output


def test_explain_wraps_under_its_column(runner: CliRunner) -> None:
    body = '{"error":"invalid_grant","error_description":"user hasn\'t approved this consumer"}'
    lines = run(runner, "explain", body).output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("What to check"))
    follow = lines[start + 1]
    assert follow[:15] == " " * 15 and follow[15] != " "
    assert all(line == line.rstrip() for line in lines)


def test_not_a_jwt_claims_no_decoding(runner: CliRunner) -> None:
    result = run(runner, "inspect", "not-a-token")
    assert "Decoded" not in result.output and "--token-url" not in result.output


def test_inspect_not_a_jwt(runner: CliRunner) -> None:
    result = run(runner, "inspect", "not-a-token")
    assert result.exit_code == 1 and "not-a-jwt" in result.output


# -- explain ----------------------------------------------------------------------------------


def test_explain_body_argument(runner: CliRunner) -> None:
    body = '{"error":"invalid_grant","error_description":"user hasn\'t approved this consumer"}'
    result = run(runner, "explain", body, "--status", "400")
    assert result.exit_code == 0
    assert "Salesforce" in result.output and "pre-authorized" in " ".join(result.output.split())


def test_explain_stdin_flags_json_and_list(runner: CliRunner) -> None:
    body = '{"error":"invalid_client","error_description":"AADSTS700027: Client assertion ..."}'
    result = run(runner, "explain", "-", input=body)
    assert "Entra" in result.output
    flags = run(runner, "explain", "--error", "invalid_grant", "--description",
                "Invalid JWT Signature.", "--json")
    data = json.loads(flags.output)
    assert data["provider"] == "Google" and data["error"] == "invalid_grant"
    listed = run(runner, "explain", "--list")
    assert "Okta" in listed.output and "Auth0" in listed.output and "PingOne" in listed.output
    both = run(runner, "explain", "{}", "--error", "x")
    assert both.exit_code == 3


# -- token ------------------------------------------------------------------------------------


def test_token_jwt_bearer_from_flags(runner: CliRunner, sf_key: SigningKey,
                                     endpoint: tuple[str, EndpointState]) -> None:
    url, state = endpoint
    state.keys.append(sf_key.verifying_key())
    args = ["token", "--token-url", url, "--client-id", "cid", "--sub", "alice@example.com",
            "--aud", "https://login.salesforce.com", "--key", "sf"]
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    assert "instance_url" in result.output and "https://example.my.salesforce.com" in result.output
    assert "api" in result.output and "not shown" in result.output
    assert "signature" not in result.output.replace("--show-token", "")
    assert_no_secrets(result.output, state)
    assert state.posts == 1
    claims = unverified_claims(state.assertions[0])
    assert claims["iss"] == "cid" and claims["aud"] == "https://login.salesforce.com"

    shown = run(runner, *args, "--show-token")
    assert shown.exit_code == 0
    assert shown.output == state.issued[-1] + "\n"

    as_json = json.loads(run(runner, *args, "--json").output)
    assert "access_token" not in as_json and as_json["extra"]["instance_url"]
    assert "signature" not in as_json["extra"]
    # Booleans say whether a refresh/id token came; they are never a token's value.
    assert as_json["has_refresh_token"] is False and as_json["has_id_token"] is False
    assert "refresh_token" not in as_json and isinstance(as_json["expires_at"], int)
    with_token = json.loads(run(runner, *args, "--json", "--show-token").output)
    assert with_token["access_token"] == state.issued[-1]


def test_token_errors_have_distinct_exit_codes(runner: CliRunner, sf_key: SigningKey,
                                               endpoint: tuple[str, EndpointState]) -> None:
    url, state = endpoint
    state.keys.append(sf_key.verifying_key())
    denied = run(runner, "token", "--token-url", url, "--client-id", "cid", "--sub", "mallory",
                 "--key", "sf")
    assert denied.exit_code == 4
    assert "user hasn't approved this consumer" in denied.output
    assert "hint:" in denied.output and "explain" in denied.output
    assert_no_secrets(denied.output, state)

    state.keys.clear()
    state.keys.append(SigningKey.generate("RS256").verifying_key())
    invalid = run(runner, "token", "--token-url", url, "--client-id", "cid", "--sub",
                  "alice@example.com", "--key", "sf")
    assert invalid.exit_code == 4 and "invalid assertion" in invalid.output
    assert_no_secrets(invalid.output, state)

    closed = f"http://127.0.0.1:{_free_port()}/token"
    refused = run(runner, "token", "--token-url", closed, "--client-id", "cid", "--sub", "a",
                  "--key", "sf")
    assert refused.exit_code == 5 and "Traceback" not in refused.output

    config = run(runner, "token", "--client-id", "cid")
    assert config.exit_code == 3 and "--token-url" in config.output
    nokey = run(runner, "token", "--token-url", url, "--client-id", "cid", "--sub", "a")
    assert nokey.exit_code == 3 and "key" in nokey.output


def test_token_client_credentials_secret_from_env_and_stdin(
    runner: CliRunner, endpoint: tuple[str, EndpointState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = endpoint
    monkeypatch.setenv("SVC_SECRET", CLIENT_SECRET)
    base = ["token", "--token-url", url, "--grant", "client-credentials", "--client-id", "svc"]
    result = run(runner, *base, "--client-secret-env", "SVC_SECRET", "--scope", "api")
    assert result.exit_code == 0, result.output
    assert_no_secrets(result.output, state)
    piped = run(runner, *base, "--client-secret-stdin", input=CLIENT_SECRET + "\n")
    assert piped.exit_code == 0, piped.output
    assert_no_secrets(piped.output, state)
    wrong = run(runner, *base, "--client-secret-stdin", "--auth", "post",
                input="not-the-secret\n")
    assert wrong.exit_code == 4 and "invalid_client" in wrong.output
    unset = run(runner, *base, "--client-secret-env", "JWTBEARER_TEST_NOT_SET")
    assert unset.exit_code == 3 and "not set" in unset.output
    assert state.posts == 3


def test_token_from_a_profile_reuses_the_cached_token(
    runner: CliRunner, sf_key: SigningKey, endpoint: tuple[str, EndpointState]
) -> None:
    url, state = endpoint
    state.keys.append(sf_key.verifying_key())
    home = Path(os.environ["JWTBEARER_HOME"])
    (home / "profiles.toml").write_text(f"""
[profiles.sf-dev]
token_url = "{url}"
client_id = "cid"
subject = "alice@example.com"
audience = "https://login.salesforce.com"
key = "sf"
""")
    first = run(runner, "token", "-p", "sf-dev")
    assert first.exit_code == 0, first.output
    second = run(runner, "token", "--profile", "sf-dev", "--show-token")
    assert second.exit_code == 0
    assert state.posts == 1
    assert second.output.strip() == state.issued[0]
    assert_no_secrets(first.output, state)

    listed = run(runner, "profiles", "list")
    assert "sf-dev" in listed.output and "jwt-bearer" in listed.output
    shown = run(runner, "profiles", "show", "sf-dev")
    assert "alice@example.com" in shown.output
    assert run(runner, "profiles", "show", "nope").exit_code == 3
    mixed = run(runner, "token", "-p", "sf-dev", "--token-url", url)
    assert mixed.exit_code == 3
    unknown = run(runner, "token", "-p", "nope")
    assert unknown.exit_code == 3 and "sf-dev" in unknown.output


def test_inspect_neutralises_terminal_escapes_in_claims(runner: CliRunner,
                                                        sf_key: SigningKey) -> None:
    jwt = _crafted(sf_key, sub="\x1b[2J\x1b]0;owned\x07alice", kid_hint="[bold]x[/bold]")
    result = run(runner, "inspect", jwt)
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b" in result.output
    assert "[bold]x[/bold]" in result.output


def test_main_turns_an_unexpected_failure_into_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jwtbearer.cli as cli

    def broken() -> None:
        raise RuntimeError("boom access_token=sekrit-value-123")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.delenv("JWTBEARER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "internal error: RuntimeError" in captured.err
    assert "sekrit-value-123" not in captured.err + captured.out
    assert "Traceback" not in captured.err
