"""The README's documented server configuration, as printed, against real clients: the
seed-style curl (Salesforce's own recipe), ``jwtbearer token`` and the command that
``jwtbearer assert --curl`` prints, all with the ``private_key_jwt`` client ``svc`` and no
client authentication (RFC 7523 §3.1)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jwtbearer.cli import app
from jwtbearer.jose import default_key_store
from jwtbearer.jose.assertion import make_assertion
from jwtbearer.server.app import serve_config

pytestmark = pytest.mark.flow
README = Path(__file__).resolve().parents[2] / "README.md"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def documented_config(heading: str = "### Configuration") -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match is not None, f"README: {heading} has no toml block"
    return match.group(1)


def curl() -> str:
    found = shutil.which("curl")
    if found is None:
        pytest.fail("curl is not installed: run `make test`, which installs it")
    return found


def test_the_documented_config_serves_curl_jwtbearer_token_and_assert_curl(
        tmp_path: Path) -> None:
    key = default_key_store().create("svc")
    (tmp_path / "svc.jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))
    # state_dir is a top-level key: it must come before the [[clients]] table.
    config = documented_config()

    def rendered(issuer: str) -> str:
        return ('state_dir = "state"\n' + config.replace('"http://127.0.0.1:8000"',
                                                          json.dumps(issuer), 1))

    server, endpoint = serve_config(rendered, tmp_path / "server.toml")
    token_url = endpoint.config.token_endpoint
    with server:
        # 1. Salesforce's recipe: curl -X POST <token url> -d 'grant_type=...&assertion=<JWT>'
        assertion = make_assertion(key=key, iss="svc", sub="alice", aud=token_url,
                                   now=time.time(), lifetime=300)
        seed = subprocess.run([curl(), "-sS", "-X", "POST", token_url, "-d",
                               f"grant_type={JWT_BEARER}&assertion={assertion}"],
                              capture_output=True, text=True, timeout=30, check=True)
        answer = json.loads(seed.stdout)
        assert answer["token_type"] == "Bearer", answer

        # 2. jwtbearer token, the JWT bearer flow with the key store's key.
        result = CliRunner().invoke(app, ["token", "--token-url", token_url, "--client-id",
                                          "svc", "--sub", "alice", "--key", "svc", "--json"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["token_type"] == "Bearer"

        # 3. jwtbearer assert --curl prints a command; run it as printed.
        printed = CliRunner().invoke(app, ["assert", "--iss", "svc", "--sub", "alice", "--aud",
                                           token_url, "--key", "svc", "--curl", token_url],
                                     catch_exceptions=False)
        assert printed.exit_code == 0, printed.output
        command = printed.output.strip()
        assert command.startswith("curl ")
        ran = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                             env={"PATH": str(Path(curl()).parent)}, check=True)
        assert json.loads(ran.stdout)["token_type"] == "Bearer", ran.stdout


def test_the_salesforce_section_runs_on_the_salesforce_preset(tmp_path: Path) -> None:
    import jwtbearer as jb

    config = documented_config("### Salesforce: the JWT bearer flow")
    assert 'preset = "salesforce"' in config
    key = default_key_store().create("my-cert")
    certificate = default_key_store().certificate_path("my-cert")
    (tmp_path / "my-cert.crt.pem").write_bytes(certificate.read_bytes())

    def rendered(issuer: str) -> str:
        return ('state_dir = "state"\n' + config.replace('"http://127.0.0.1:8000"',
                                                          json.dumps(issuer), 1))

    server, endpoint = serve_config(rendered, tmp_path / "salesforce.toml")
    assert endpoint.config.preset == "salesforce"
    with server:
        # The section's code, pointed at the local server.
        client = jb.TokenClient(server.url + "/services/oauth2/token")
        jwt = jb.JWT(iss="3MVG9...consumer-key", sub="integration@example.com",
                     aud="https://login.salesforce.com")
        token = client.jwt_bearer(jwt, "my-cert")
        assert token.token_type == "Bearer"
        assert token.extra["instance_url"] == server.url
        with pytest.raises(jb.InvalidGrant, match="user hasn't approved this consumer"):
            client.jwt_bearer(jb.JWT(iss="3MVG9...consumer-key", sub="someone@example.com",
                                     aud="https://login.salesforce.com"), key)
