"""Fixtures for the command-line tests: ``sf_server`` runs ``jwtbearer serve --preset
salesforce`` on a free loopback port (given only in the issuer: the port defaults to it) with a
client whose key was made by ``jwtbearer keys create``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelpers import Server, free_port, jb, start_server


@pytest.fixture
def sf_server(tmp_path: Path) -> Iterator[Server]:
    made = jb("keys", "create", "sf-app", "--days", "30")
    assert made.code == 0, made.err
    home = Path(os.environ["JWTBEARER_HOME"])
    key_file = home / "keys" / "sf-app.key.pem"
    jwks = tmp_path / "app.jwks.json"
    jwks.write_text(jb("keys", "jwk", "sf-app").out)
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(f'issuer = "http://127.0.0.1:{port}"\nstate_dir = "state"\n'
                      '[[clients]]\nclient_id = "3MVG9cli"\n'
                      'token_endpoint_auth_method = "private_key_jwt"\n'
                      'jwks = "app.jwks.json"\nsubjects = ["alice@example.com"]\n'
                      'grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]\n')
    proc, lines = start_server(config, "--preset", "salesforce")
    server = Server(f"http://127.0.0.1:{port}", port, proc, key_file, config, lines)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=20)


@pytest.fixture
def wait() -> object:
    """A bounded poll: ``wait(predicate)``."""
    def _wait(predicate: object, limit: float = 20.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(0.05)
        raise AssertionError("condition not met in time")
    return _wait
