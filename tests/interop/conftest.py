"""panva ``oidc-provider`` (npm) on a free loopback port, once per test session.

``make test`` installs Node.js (Debian) and the locked npm packages (``npm ci`` in
``tests/interop/node``). The provider issues RFC 9068 JWT access tokens over client
credentials: ES256 for the resource ``https://api.example.com``, RS256 for
``https://rsa.example.com``. Clients: ``svc`` (client_secret_basic) and ``svc-jwt``
(private_key_jwt, ES256, the key in :attr:`OIDCProvider.client_key`).
"""

from __future__ import annotations

import json
import secrets
import selectors
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jwtbearer.keys import SigningKey

NODE_DIR = Path(__file__).resolve().parent / "node"
RESOURCE = "https://api.example.com"
RSA_RESOURCE = "https://rsa.example.com"


@dataclass(frozen=True)
class OIDCProvider:
    issuer: str
    secret: str
    client_key: SigningKey


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[str], limit: float = 60.0) -> None:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"oidc-provider exited with status {proc.returncode}")
        if selector.select(timeout=0.5) and proc.stdout.readline().strip() == "ready":
            return
    raise RuntimeError(f"oidc-provider was not ready within {limit} s")


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
