"""Reference servers on loopback for clients nobody here wrote (google-auth, Authlib,
requests-oauth2client), started once per session with ``serve_config``, as ``jwtbearer serve``
runs them.

``interop`` is the default, strict configuration (jti required, one aud string, Basic decoded
either way); ``google`` runs ``preset = "google"``; ``pingone`` has a PingOne-shaped issuer with
a path (``/ENV-ID/as``) and a ``client_secret_jwt`` web app.

=========  ===================  ===================================  =======================
client_id  authentication       grants                               notes
=========  ===================  ===================================  =======================
svc        private_key_jwt      client_credentials, jwt-bearer       RSA key, kid
hs         client_secret_jwt    client_credentials                   48-character secret
basic      client_secret_basic  client_credentials                   secret with + / = % :
post       client_secret_post   client_credentials
web        client_secret_basic  authorization_code, refresh_token    openid, redirect URI
spa        none                 authorization_code, refresh_token    PKCE required
=========  ===================  ===================================  =======================

``oidc_provider`` runs panva oidc-provider (npm) on loopback, once per session (see
:mod:`oidc_provider`).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from oidc_provider import NODE_DIR, OIDCProvider, _free_port, _wait_ready

from jwtbearer.jose import SigningKey
from jwtbearer.server.app import serve_config

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SUBJECT = "alice@example.com"
TEST_USER = "tester@example.com"
REDIRECT_URI = "http://127.0.0.1:9/callback"
SERVICE_ACCOUNT = "robot@project-id.iam.gserviceaccount.com"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass
class Interop:
    """A running server and what its clients need."""

    issuer: str
    token_url: str
    authorize_url: str
    rsa: SigningKey
    secrets: dict[str, str] = field(default_factory=dict)


def _interop_config(issuer: str, s: dict[str, str]) -> str:
    return f"""
issuer = "{issuer}"
state_dir = "state"
test_user = "{TEST_USER}"

[[clients]]
client_id = "svc"
token_endpoint_auth_method = "private_key_jwt"
jwks = "svc.jwks.json"
grant_types = ["client_credentials", "{JWT_BEARER}"]
scopes = ["api:read", "api:write"]
subjects = ["{SUBJECT}"]

[[clients]]
client_id = "{SERVICE_ACCOUNT}"
token_endpoint_auth_method = "private_key_jwt"
jwks = "svc.jwks.json"
grant_types = ["{JWT_BEARER}"]
scopes = ["{GOOGLE_SCOPE}"]

[[clients]]
client_id = "hs"
token_endpoint_auth_method = "client_secret_jwt"
client_secret = "{s["hs"]}"
grant_types = ["client_credentials"]
scopes = ["api:read"]

[[clients]]
client_id = "basic"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{s["basic"]}"
grant_types = ["client_credentials"]
scopes = ["api:read"]

[[clients]]
client_id = "post"
token_endpoint_auth_method = "client_secret_post"
client_secret = "{s["post"]}"
grant_types = ["client_credentials"]
scopes = ["api:read"]

[[clients]]
client_id = "web"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{s["web"]}"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT_URI}"]
scopes = ["openid", "api:read"]
subjects = ["{SUBJECT}"]

[[clients]]
client_id = "spa"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT_URI}"]
scopes = ["openid", "api:read"]
"""


def _google_config(issuer: str) -> str:
    return f"""
issuer = "{issuer}"
state_dir = "state"
preset = "google"

[[clients]]
client_id = "{SERVICE_ACCOUNT}"
token_endpoint_auth_method = "private_key_jwt"
jwks = "svc.jwks.json"
grant_types = ["{JWT_BEARER}"]
scopes = ["{GOOGLE_SCOPE}", "openid"]
subjects = ["{SUBJECT}"]
"""


def _pingone_config(issuer: str, secret: str) -> str:
    return f"""
issuer = "{issuer}/ENV-ID/as"
state_dir = "state"
test_user = "{TEST_USER}"

[[clients]]
client_id = "my-web-app"
token_endpoint_auth_method = "client_secret_jwt"
client_secret = "{secret}"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app.example.com/callback"]
scopes = ["openid", "profile"]
"""


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.generate("RS256", kid="interop-1")


def _jwks(base: Path, key: SigningKey) -> None:
    (base / "svc.jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))


def _start(base: Path, render: Callable[[str], str], key: SigningKey,
           s: dict[str, str]) -> Iterator[Interop]:
    _jwks(base, key)
    server, endpoint = serve_config(render, base / "server.toml")
    config = endpoint.config
    with server:
        yield Interop(issuer=config.issuer, token_url=config.token_endpoint,
                      authorize_url=config.authorization_endpoint, rsa=key, secrets=s)


@pytest.fixture(scope="session")
def interop(tmp_path_factory: pytest.TempPathFactory, rsa_key: SigningKey) -> Iterator[Interop]:
    s = {"hs": secrets.token_urlsafe(36), "basic": "b+64/looking=secret%2F:with" + "x" * 8,
         "post": secrets.token_urlsafe(24), "web": "w3b+secret/=" + secrets.token_hex(8)}
    yield from _start(tmp_path_factory.mktemp("interop"),
                      lambda issuer: _interop_config(issuer, s), rsa_key, s)


@pytest.fixture(scope="session")
def google(tmp_path_factory: pytest.TempPathFactory, rsa_key: SigningKey) -> Iterator[Interop]:
    yield from _start(tmp_path_factory.mktemp("google"), _google_config, rsa_key, {})


@pytest.fixture(scope="session")
def pingone(tmp_path_factory: pytest.TempPathFactory, rsa_key: SigningKey) -> Iterator[Interop]:
    s = {"my-web-app": secrets.token_urlsafe(36)}
    yield from _start(tmp_path_factory.mktemp("pingone"),
                      lambda issuer: _pingone_config(issuer, s["my-web-app"]), rsa_key, s)


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
