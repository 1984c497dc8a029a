"""Real signing back ends on loopback for the signer tests.

``softhsm`` initialises a SoftHSM2 token (the Debian ``softhsm2`` package that ``make test``
installs) in a temporary directory, with ``SOFTHSM2_CONF`` pointing at a temporary config, and
makes one key pair per algorithm on it. ``moto_kms`` runs ``moto`` in server mode on a free
loopback port; ``fake_kms`` is our KMS that signs as AWS documents (see fake_kms.py).
``reference_server`` starts our token server with clients registered for given public keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_kms import FakeKms

from jwtbearer.server.app import BackgroundServer, serve_config

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SUBJECT = "alice@example.com"
TOKEN_LABEL = "jwtbearer"
USER_PIN = "1234-user"
SO_PIN = "5678-security-officer"
_MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


@dataclass
class SoftHsm:
    module: str
    token_label: str
    pin: str
    directory: Path
    labels: dict[str, str]  # alg -> key label

    def uri(self, alg: str) -> str:
        return (f"pkcs11:token={self.token_label};object={self.labels[alg]}"
                f"?module-path={self.module}&alg={alg}")


def _module() -> str:
    for path in _MODULE_PATHS:
        if os.path.exists(path):
            return path
    pytest.fail("SoftHSM2 is not installed: run `make test`, which installs softhsm2")


@pytest.fixture(scope="session")
def softhsm() -> Iterator[SoftHsm]:
    module = _module()
    util = shutil.which("softhsm2-util")
    if util is None:
        pytest.fail("softhsm2-util is missing: run `make test`, which installs softhsm2")
    directory = Path(tempfile.mkdtemp(prefix="jwtbearer-softhsm-"))
    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {directory / 'tokens'}\n"
                      "objectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    # Read by SoftHSM when the module is initialised, which happens once per process.
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", USER_PIN,
                    "--so-pin", SO_PIN], check=True, capture_output=True, timeout=60)
    from jwtbearer.signers.pkcs11 import generate_key

    labels = {"ES256": "ec-key", "RS256": "rsa-key", "PS256": "pss-key"}
    for alg, label in labels.items():
        generate_key(module, TOKEN_LABEL, label, pin=USER_PIN, alg=alg).close()
    try:
        yield SoftHsm(module, TOKEN_LABEL, USER_PIN, directory, labels)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region; nothing from the real AWS configuration is read."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="session")
def moto_kms() -> Iterator[str]:
    """``moto`` in server mode on loopback; its URL."""
    port = _free_port()
    env = {**os.environ, **AWS_TEST_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited with status {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("moto server did not start within 60 s")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def fake_kms() -> Iterator[FakeKms]:
    with FakeKms() as kms:
        yield kms


def kms_client(url: str) -> Any:
    import boto3

    return boto3.client("kms", endpoint_url=url, region_name="eu-west-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _config(issuer: str, clients: dict[str, dict[str, Any]]) -> str:
    lines = [f'issuer = "{issuer}"', "access_token_lifetime = 600", 'state_dir = "state"', ""]
    for client_id in clients:
        lines += [
            "[[clients]]",
            f'client_id = "{client_id}"',
            'token_endpoint_auth_method = "private_key_jwt"',
            f'jwks = "{client_id}.jwks.json"',
            f'grant_types = ["client_credentials", "{JWT_BEARER}"]',
            'scopes = ["api:read"]',
            f'subjects = ["{SUBJECT}"]',
            "",
        ]
    return "\n".join(lines)


@contextlib.contextmanager
def reference_server(
    directory: Path, clients: dict[str, dict[str, Any]]
) -> Iterator[tuple[BackgroundServer, str]]:
    """Our token server on loopback, one private_key_jwt client per public JWK given."""
    directory.mkdir(parents=True, exist_ok=True)
    for client_id, jwk in clients.items():
        (directory / f"{client_id}.jwks.json").write_text(json.dumps({"keys": [jwk]}))
    server, endpoint = serve_config(lambda issuer: _config(issuer, clients),
                                    directory / "server.toml")
    with server:
        yield server, endpoint.config.token_endpoint
