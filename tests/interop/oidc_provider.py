"""panva ``oidc-provider`` (npm) on a free loopback port: what the tests need to start and use it.

``make test`` installs Node.js (Debian) and the locked npm packages (``npm ci`` in
``tests/interop/node``). The provider issues RFC 9068 JWT access tokens over client
credentials: ES256 for the resource ``https://api.example.com``, RS256 for
``https://rsa.example.com``. Clients: ``svc`` (client_secret_basic) and ``svc-jwt``
(private_key_jwt, ES256, the key in :attr:`OIDCProvider.client_key`).
"""

from __future__ import annotations

import selectors
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jwtbearer.jose import SigningKey

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


