"""The reference token server under uvicorn on 127.0.0.1, once per test session.

``token_server`` gives a :class:`FlowServer`: its URLs, the registered clients' ids, secrets and
keys (RSA keys are made once per session), and the endpoint object (for its replay cache).
Clients registered:

=============  ===================  ==========================  ===============================
client_id      authentication       grants                      keys
=============  ===================  ==========================  ===============================
pkjwt          private_key_jwt      client_credentials, bearer  RSA (jwks file)
ec-pkjwt       private_key_jwt      client_credentials, bearer  P-256 (jwks file)
basic          client_secret_basic  client_credentials, bearer  secret with :/&=+ + RSA (cert)
post           client_secret_post   client_credentials          secret
hs             client_secret_jwt    client_credentials, bearer  48-byte secret (HS256)
sf             none                 bearer                      RSA certificate (Salesforce-like)
cc-only        private_key_jwt      client_credentials          RSA (jwks file)
strict         private_key_jwt      bearer (auth required)      RSA (jwks file)
web            client_secret_jwt    authorization_code, refresh 48-byte secret (PingOne-like)
spa            none                 authorization_code, refresh (PKCE required)
=============  ===================  ==========================  ===============================

Pre-authorized subjects: ``alice@example.com`` for every bearer client (and ``*`` for ``hs``).
``/authorize`` approves as ``test_user`` (``tester@example.com``) or a ``login_hint`` among the
client's subjects; ``web`` and ``spa`` redirect to ``REDIRECT_URI``.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator

import pytest
from server_craft import API, JWT_BEARER, REDIRECT_URI, SUBJECT, FlowServer, Trap

from jwtbearer.cli.demo import connected_app_table
from jwtbearer.jose import KeyStore, SigningKey
from jwtbearer.server.app import serve_config


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def url_trap() -> Iterator[Trap]:
    """A port on 127.0.0.1 that no test may ever reach: tokens name it in jku/x5u."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.1)
    trap = Trap(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            trap.connections += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield trap
    stop.set()
    thread.join(timeout=5)
    sock.close()


def _config(issuer: str, secrets_: dict[str, str]) -> str:
    bearer = f'"client_credentials", "{JWT_BEARER}"'
    return f"""
issuer = "{issuer}"
access_token_lifetime = 600
state_dir = "state"
instance_url = "https://example.my.salesforce.com"
test_user = "tester@example.com"

[[clients]]
client_id = "pkjwt"
token_endpoint_auth_method = "private_key_jwt"
jwks = "keys/rsa.jwks.json"
grant_types = [{bearer}]
scopes = ["api:read", "api:write"]
subjects = ["{SUBJECT}"]
audiences = ["{API}"]

[[clients]]
client_id = "ec-pkjwt"
token_endpoint_auth_method = "private_key_jwt"
jwks = "ec.jwks.json"
grant_types = [{bearer}]
scopes = ["api:read"]
subjects = ["{SUBJECT}"]

[[clients]]
client_id = "basic"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "env:FLOW_BASIC_SECRET"
certificate = "keys/rsa.crt.pem"
grant_types = [{bearer}]
scopes = ["api:read"]
subjects = ["{SUBJECT}"]
audiences = ["{API}"]

[[clients]]
client_id = "post"
token_endpoint_auth_method = "client_secret_post"
client_secret = "{secrets_["post"]}"
grant_types = ["client_credentials"]
scopes = ["api:read"]

[[clients]]
client_id = "hs"
token_endpoint_auth_method = "client_secret_jwt"
client_secret = "{secrets_["hs"]}"
grant_types = [{bearer}]
scopes = ["api:read"]
subjects = ["*"]

{connected_app_table("sf", certificate="keys/rsa.crt.pem", subjects=(SUBJECT,))}
[[clients]]
client_id = "cc-only"
token_endpoint_auth_method = "private_key_jwt"
jwks = "keys/rsa.jwks.json"
grant_types = ["client_credentials"]

[[clients]]
client_id = "strict"
token_endpoint_auth_method = "private_key_jwt"
require_client_authentication = true
jwks = "keys/rsa.jwks.json"
grant_types = ["{JWT_BEARER}"]
subjects = ["{SUBJECT}"]

[[clients]]
client_id = "web"
token_endpoint_auth_method = "client_secret_jwt"
client_secret = "{secrets_["web"]}"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT_URI}"]
scopes = ["openid", "api:read", "api:write"]
subjects = ["{SUBJECT}"]

[[clients]]
client_id = "spa"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT_URI}", "http://127.0.0.1:9/other"]
scopes = ["api:read"]
subjects = ["{SUBJECT}"]
"""


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowServer]:
    """The reference server, started once for the session on a free loopback port."""
    base = tmp_path_factory.mktemp("token-server")
    store = KeyStore(base / "keys")
    rsa = store.create("rsa")
    ec = SigningKey.generate("ES256", kid="ec-1")
    (base / "ec.jwks.json").write_text(json.dumps({"keys": [ec.public_jwk()]}))
    other_rsa = SigningKey.generate("RS256")
    secrets_ = {
        "basic": "s3cr3t:with/special&chars=+ and space",
        "post": secrets.token_urlsafe(24),
        "hs": secrets.token_urlsafe(48),
        "web": secrets.token_urlsafe(48),
    }
    server, endpoint = serve_config(lambda issuer: _config(issuer, secrets_), base / "server.toml",
                                    environ={"FLOW_BASIC_SECRET": secrets_["basic"]})
    with server:
        yield FlowServer(url=server.url, token_url=endpoint.config.token_endpoint,
                         endpoint=endpoint,
                         rsa=rsa, ec=ec, other_rsa=other_rsa, secrets=secrets_)

