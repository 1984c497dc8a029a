"""``jwtbearer serve`` and ``jwtbearer demo`` through a typer app that registers them."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from jwtbearer.cli import server_cmds

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
                 "error='invalid_grant'", "expired", "hint:"):
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
