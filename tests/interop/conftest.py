"""The ``oidc_provider`` fixture: panva oidc-provider on loopback, once per test session
(see :mod:`oidc_provider`)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from oidc_provider import NODE_DIR, OIDCProvider, _free_port, _wait_ready

from jwtbearer.keys import SigningKey


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OIDCProvider]:
    node = shutil.which("node")
    assert node, "Node.js is missing: `make test` installs it (Debian package nodejs)"
    assert (NODE_DIR / "node_modules" / "oidc-provider").is_dir(), (
        f"oidc-provider is not installed: run `make test` (npm ci in {NODE_DIR})"
    )
    port = _free_port()
    secret = secrets.token_urlsafe(32)
    key = SigningKey.generate("ES256", kid="svc-jwt-1")
    proc = subprocess.Popen(
        [node, "server.js", str(port), secret, json.dumps({"keys": [key.public_jwk()]})],
        cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        _wait_ready(proc)
        yield OIDCProvider(issuer=f"http://127.0.0.1:{port}", secret=secret, client_key=key)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
