"""``jwtbearer serve`` and ``jwtbearer demo`` through a typer app that registers them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from jwtbearer.cli import server_cmds
from jwtbearer.server.app import BackgroundServer, app_for, listen_socket, serve_config
from jwtbearer.server.config import load_config
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.registry import ServerConfigError

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}")


def make_app() -> typer.Typer:
    app = typer.Typer()
    server_cmds.register(app)

    @app.command("version")
    def version() -> None:  # a second command keeps typer from collapsing into a single one
        """Unused."""

    return app


def test_demo_prints_the_whole_flow_and_exits_0() -> None:
    result = CliRunner().invoke(make_app(), ["demo"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.output
    for step in ("Auth.JWT", "Auth.JWS", "JWTBearerTokenExchange", "RFC 9068",
                 "response: HTTP 200", '"sub": "alice@example.com"', '"typ": "at+jwt"',
                 "verified with the key published", "InvalidGrant status 400",
                 "error='invalid_grant'", "expired", "hint:", "preset salesforce",
                 "/services/oauth2/token", "aud='https://login.salesforce.com'",
                 "error_description: expired authorization code", '"instance_url"'):
        assert step in out, step
    assert "signature not shown" in out
    assert JWT_RE.search(out) is None  # no full assertion or access token, ever


def test_serve_refuses_a_bad_config_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('issuer = "http://127.0.0.1:8000"\nleway = 3\n')
    result = CliRunner().invoke(make_app(), ["serve", "--config", str(config)])
    assert result.exit_code == 3  # configuration error (see `jwtbearer --help`)
    assert "leway" in result.output and "unknown key" in result.output
    assert "Traceback" not in result.output


def test_serve_without_the_server_extra_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    result = CliRunner().invoke(make_app(), ["serve", "--config", str(tmp_path / "x.toml")])
    assert result.exit_code == 3
    assert "pip install 'jwtbearer[server]'" in result.output


def test_serve_runs_uvicorn_on_the_given_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "server.toml"
    config.write_text(f'issuer = "http://127.0.0.1:{port}"\nstate_dir = "state"\n'
                      '[[clients]]\nclient_id = "c"\ntoken_endpoint_auth_method = '
                      '"client_secret_post"\nclient_secret = "env:C_SECRET"\n'
                      'grant_types = ["client_credentials"]\n')
    script = ("import typer, sys\nfrom jwtbearer.cli import server_cmds\napp = typer.Typer()\n"
              "server_cmds.register(app)\napp.command('x')(lambda: None)\napp()\n")
    env = {**os.environ, "C_SECRET": "a-secret-from-env"}
    proc = subprocess.Popen([sys.executable, "-c", script, "serve", "--config", str(config),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        answer = httpx.post(f"http://127.0.0.1:{port}/token",
                            data={"grant_type": "client_credentials", "client_id": "c",
                                  "client_secret": "a-secret-from-env"})
        assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert "client_secret_post" in output  # the client table printed at start
    assert "a-secret-from-env" not in output


def test_serve_with_preset_salesforce_takes_salesforce_s_recipe(tmp_path: Path) -> None:
    from jwtbearer.jose import SigningKey
    from jwtbearer.jose.assertion import make_assertion

    key = SigningKey.generate("RS256", kid="k1")
    (tmp_path / "app.jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "server.toml"
    config.write_text(f'issuer = "http://127.0.0.1:{port}"\nstate_dir = "state"\n'
                      '[[clients]]\nclient_id = "3MVG9x"\ntoken_endpoint_auth_method = '
                      '"private_key_jwt"\njwks = "app.jwks.json"\nsubjects = ["alice"]\n'
                      'grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]\n')
    script = ("import typer, sys\nfrom jwtbearer.cli import server_cmds\napp = typer.Typer()\n"
              "server_cmds.register(app)\napp.command('x')(lambda: None)\napp()\n")
    proc = subprocess.Popen([sys.executable, "-c", script, "serve", "--config", str(config),
                             "--port", str(port), "--preset", "salesforce"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assertion = make_assertion(key=key, iss="3MVG9x", sub="alice",
                                   aud="https://login.salesforce.com", now=time.time(),
                                   lifetime=300)
        answer = httpx.post(f"http://127.0.0.1:{port}/services/oauth2/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion})
        assert answer.status_code == 200, answer.text
        assert answer.json()["instance_url"] == f"http://127.0.0.1:{port}"
        unknown = httpx.post(f"http://127.0.0.1:{port}/services/oauth2/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": make_assertion(key=key, iss="nobody", sub="alice", now=time.time(),
                                        aud="https://login.salesforce.com", lifetime=300)})
        assert unknown.json() == {"error": "invalid_client_id",
                                  "error_description": "client identifier invalid"}
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert "preset          salesforce" in output
    assert "https://test.salesforce.com" in output


def test_serve_refuses_an_unknown_preset(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('issuer = "http://127.0.0.1:8000"\nstate_dir = "state"\n')
    result = CliRunner().invoke(make_app(), ["serve", "--config", str(config),
                                             "--preset", "okta"])
    assert result.exit_code == 3
    assert "'okta' is not a preset" in result.output


def _cc_config(secret: str) -> Callable[[str], str]:
    def render(issuer: str) -> str:
        return (f'issuer = "{issuer}"\nstate_dir = "state"\n[[clients]]\nclient_id = "c"\n'
                'token_endpoint_auth_method = "client_secret_basic"\n'
                f'client_secret = "{secret}"\ngrant_types = ["client_credentials"]\n')
    return render


@pytest.mark.parametrize("pure_python", [False, True], ids=["default-stack", "h11-asyncio"])
def test_the_app_answers_http_edges_on_either_uvicorn_stack(tmp_path: Path,
                                                             pure_python: bool) -> None:
    sock = listen_socket()
    config = tmp_path / "server.toml"
    config.write_text(_cc_config("s3cret-value")(f"http://127.0.0.1:{sock.getsockname()[1]}"))
    endpoint = TokenEndpoint(load_config(config))
    server = BackgroundServer(app_for(endpoint), sock=sock, pure_python=pure_python)
    with server, httpx.Client(base_url=server.url, timeout=5.0) as http:
        token = http.post("/token", data={"grant_type": "client_credentials"},
                          auth=("c", "s3cret-value"))
        assert token.status_code == 200, token.text
        assert token.headers["content-type"] == "application/json"
        assert token.headers["cache-control"] == "no-store"
        assert token.json()["access_token"].count(".") == 2
        refused = http.post("/token", data={"grant_type": "client_credentials"},
                            auth=("c", "wrong"))
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        assert refused.headers["www-authenticate"].startswith("Basic ")
        get_token = http.get("/token")
        assert (get_token.status_code, get_token.headers["allow"]) == (405, "POST")
        post_jwks = http.post("/jwks")
        assert (post_jwks.status_code, post_jwks.headers["allow"]) == (405, "GET, HEAD")
        head = http.head("/healthz")
        assert (head.status_code, head.content) == (200, b"")
        assert http.get("/healthz").json() == {"status": "ok", "replay_entries": 0}
        assert http.get("/jwks").json()["keys"][0]["alg"] == "EdDSA"
        meta = http.get("/.well-known/oauth-authorization-server").json()
        assert meta["token_endpoint"] == endpoint.config.token_endpoint
        missing = http.get("/nowhere")
        assert (missing.status_code, missing.json()) == (404, {"error": "not_found"})

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b"x" * 4096

        chunked = http.post("/token", content=chunks(),
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert (chunked.status_code, chunked.json()["error"]) == (413, "invalid_request")


def test_serve_config_releases_the_port_when_the_config_is_refused(tmp_path: Path) -> None:
    issuers: list[str] = []

    def render(issuer: str) -> str:
        issuers.append(issuer)
        return f'issuer = "{issuer}"\nleway = 3\n'

    with pytest.raises(ServerConfigError, match="leway"):
        serve_config(render, tmp_path / "server.toml")
    port = int(issuers[0].rsplit(":", 1)[1])
    with socket.socket() as sock:  # the port is free again: the listening socket was closed
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
