"""The public contract of DESIGN.md, line by line, against a MockTokenEndpoint.

Each test takes one group of lines of the "Public contract (Python)" block and runs them as
written. Where the code differs from the design on purpose, the test pins what the code does
and says why:

- ``SigningKey.from_secret`` refuses a secret shorter than the hash (RFC 7518 §3.2), so the
  design's ``"s3cr3t"`` raises ``KeyLoadError``; a 32-byte secret works.
- ``BearerAuth`` refreshes once on a 401 and then returns the second 401 to the caller instead
  of raising (the caller's own ``raise_for_status()`` decides).
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

import jwtbearer as jb
from jwtbearer.testing import MockTokenEndpoint

ENDPOINT = "https://host/services/oauth2/token"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mock() -> Iterator[MockTokenEndpoint]:
    endpoint = MockTokenEndpoint()
    with endpoint.install():
        yield endpoint


@pytest.fixture
def my_cert() -> jb.SigningKey:
    return jb.KeyStore().create("my-cert", days=365)


def _jwt() -> jb.JWT:
    return jb.JWT(iss="client-id", sub="user@example.com", aud="https://login.salesforce.com")


# -- Keys ------------------------------------------------------------------------------------

def test_signing_key_loads_pem_encrypted_pem_and_pkcs12(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    plain = tmp_path / "key.pem"
    plain.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    locked = tmp_path / "locked.pem"
    locked.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")))
    p12 = tmp_path / "key.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"k", private, None, None, serialization.BestAvailableEncryption(b"pw")))

    key = jb.SigningKey.from_file(str(plain))
    assert key.alg == "RS256"
    assert jb.SigningKey.from_file(locked, password="pw").kid == key.kid
    assert jb.SigningKey.from_file(p12, password=b"pw").kid == key.kid
    with pytest.raises(jb.KeyLoadError):
        jb.SigningKey.from_file(locked)  # encrypted, no password


def test_signing_key_from_jwk_and_from_secret() -> None:
    ec_key = jb.SigningKey.generate("ES256", kid="k1")
    public = ec_key.public_jwk()
    assert public["kid"] == "k1" and "d" not in public
    with pytest.raises(jb.KeyLoadError):
        jb.SigningKey.from_jwk(public)  # a public JWK cannot sign

    secret = jb.SigningKey.from_secret("a-secret-of-at-least-32-bytes-long", alg="HS256")
    assert secret.alg == "HS256"
    with pytest.raises(jb.KeyLoadError, match="32 bytes"):
        jb.SigningKey.from_secret("s3cr3t", alg="HS256")  # RFC 7518 §3.2


def test_key_store_create_and_get(my_cert: jb.SigningKey) -> None:
    store = jb.KeyStore()
    assert store.path == Path(os.environ["JWTBEARER_HOME"]) / "keys"
    got = store.get("my-cert")
    assert isinstance(got, jb.SigningKey)
    assert (got.alg, got.kid, got.x5t_s256) == ("RS256", my_cert.kid, my_cert.x5t_s256)
    assert got.certificate is not None
    assert got.public_jwk()["kty"] == "RSA"
    assert store.certificate_path("my-cert").name == "my-cert.crt.pem"


# -- Apex parity -----------------------------------------------------------------------------

def test_jwt_claims_follow_the_design() -> None:
    jwt = _jwt()
    jwt.validity_length = 300
    jwt.nbf_clock_skew = 30
    jwt.additional_claims = {"scope": "api"}
    with pytest.raises(ValueError):
        jwt.additional_claims = {"exp": 1}

    claims = json.loads(jwt.to_json())
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iat"] - claims["nbf"] == 30
    assert (claims["iss"], claims["sub"], claims["scope"]) == ("client-id", "user@example.com",
                                                                "api")


def test_jws_and_exchange(mock: MockTokenEndpoint, my_cert: jb.SigningKey) -> None:
    jws = jb.JWS(_jwt(), "my-cert")
    compact = jws.compact_serialization()
    assert compact.count(".") == 2
    verified = jb.jose.verify_compact(compact, my_cert.verifying_key())
    assert verified.claims()["sub"] == "user@example.com"

    ex = jb.JWTBearerTokenExchange(ENDPOINT, jws)
    assert ex.get_access_token() == "mock-access-token-1"
    assert ex.get_access_token() == "mock-access-token-1"  # POSTs once
    assert len(mock.requests) == 1
    response = ex.get_http_response()
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert ex.grant_type == jb.oauth.JWT_BEARER_GRANT
    assert ex.jws is jws and ex.token_endpoint == ENDPOINT

    twin = ex.clone()
    mock.respond_error("invalid_grant", "user hasn't approved this consumer")
    with pytest.raises(jb.JWTBearerTokenExchangeException) as caught:
        twin.get_access_token()
    assert str(caught.value).startswith("Error 400: ")
    assert isinstance(caught.value, jb.InvalidGrant)
    assert caught.value.status == 400 and caught.value.error == "invalid_grant"


# -- Pythonic core ---------------------------------------------------------------------------

def test_token_client_every_grant(mock: MockTokenEndpoint) -> None:
    key = jb.SigningKey.generate("ES256")
    client = jb.TokenClient(ENDPOINT, auth=jb.PrivateKeyJWT("client-id", key), timeout=10.0)

    client.jwt_bearer(_jwt(), key)
    assert mock.last_request is not None
    assert mock.last_request.assertion_claims["sub"] == "user@example.com"
    assert mock.last_request.client_assertion_claims["iss"] == "client-id"

    client.client_credentials(scope="api", audience="https://api.example.com")
    assert mock.last_request.form["scope"] == "api"
    assert mock.last_request.form["audience"] == "https://api.example.com"

    client.authorization_code("the-code", "https://app.example.com/cb", code_verifier=None)
    assert mock.last_request.grant_type == jb.oauth.AUTHORIZATION_CODE_GRANT

    refreshed = client.refresh("the-refresh-token")
    assert refreshed.refresh_token == "the-refresh-token"

    token = client.request_token(jb.ClientCredentials(scope="api"))
    assert isinstance(token, jb.Token)
    assert len(mock.requests) == 5

    default = jb.TokenClient(ENDPOINT)
    default.client_credentials()
    assert "client_assertion" not in mock.last_request.form  # auth defaults to NoClientAuth()


def test_cached_source_reuses_one_token(mock: MockTokenEndpoint) -> None:
    client = jb.TokenClient(ENDPOINT, auth=jb.ClientSecretBasic("client-id", "s3cr3t"))
    source = jb.CachedSource(client.source(jb.ClientCredentials(scope="api")), refresh_before=60,
                             store=jb.MemoryStore())
    first = source.token()
    assert isinstance(first, jb.Token)
    assert source.token() is first
    assert len(mock.requests) == 1


@pytest.mark.anyio
async def test_async_cached_source(mock: MockTokenEndpoint) -> None:
    client = jb.AsyncTokenClient(ENDPOINT, auth=jb.ClientSecretPost("client-id", "s3cr3t"),
                                 timeout=10.0)
    source = jb.AsyncCachedSource(client.source(jb.ClientCredentials(scope="api")))
    token = await source.token()
    assert (await source.token()) is token
    assert len(mock.requests) == 1


class _Api(http.server.BaseHTTPRequestHandler):
    """An API that accepts only the bearer token it is told to accept."""

    accepted: str = ""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == f"Bearer {self.accepted}"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def api() -> Iterator[tuple[str, type[_Api]]]:
    handler = type("Api", (_Api,), {"accepted": ""})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10.0)


def test_bearer_auth_refreshes_once_on_401_then_returns_it(
    mock: MockTokenEndpoint, api: tuple[str, type[_Api]]
) -> None:
    url, handler = api
    client = jb.TokenClient(ENDPOINT, auth=jb.ClientSecretBasic("client-id", "s3cr3t"))
    source = jb.CachedSource(client.source(jb.ClientCredentials(scope="api")))
    handler.accepted = "mock-access-token-2"  # the first token is refused, the next accepted
    with httpx.Client(auth=jb.BearerAuth(source), timeout=10.0) as http:
        assert http.get(url).status_code == 200
        assert len(mock.requests) == 2

        handler.accepted = "never"
        # Differs from the design on purpose: the second 401 is returned, not raised.
        assert http.get(url).status_code == 401
        assert len(mock.requests) == 3


def test_profile_gives_a_cached_source(mock: MockTokenEndpoint) -> None:
    jb.KeyStore().create("salesforce-prod")
    (Path(os.environ["JWTBEARER_HOME"]) / "profiles.toml").write_text(
        '[profiles.salesforce-prod]\n'
        f'token_url = "{ENDPOINT}"\n'
        'grant = "jwt-bearer"\n'
        'client_id = "client-id"\n'
        'subject = "user@example.com"\n'
        'key = "salesforce-prod"\n'
        'cache = "memory"\n',
        encoding="utf-8",
    )
    source = jb.profile("salesforce-prod")
    assert isinstance(source, jb.CachedSource)
    assert source.token() is source.token()
    assert mock.last_request is not None
    assert mock.last_request.assertion_claims["iss"] == "client-id"


def test_token_fields_and_secrecy(mock: MockTokenEndpoint) -> None:
    mock.respond_token("the-access-token", extra={"refresh_token": "the-refresh-token",
                                                  "id_token": "an.id.token",
                                                  "instance_url": "https://x.example.com"})
    token = jb.TokenClient(ENDPOINT).client_credentials(scope="api")
    assert token.access_token == "the-access-token"
    assert token.token_type == "Bearer"
    assert token.expires_at is not None and token.expires_at > token.issued_at
    assert (token.refresh_token, token.id_token) == ("the-refresh-token", "an.id.token")
    assert token.extra["instance_url"] == "https://x.example.com"
    for text in (repr(token), str(token)):
        assert "the-access-token" not in text and "the-refresh-token" not in text


def test_error_tree() -> None:
    for cls in (jb.ConfigurationError, jb.KeyLoadError, jb.TokenEndpointError, jb.TransportError,
                jb.ResponseFormatError):
        assert issubclass(cls, jb.JWTBearerError)
    assert jb.JWTBearerTokenExchangeException is jb.TokenEndpointError
    assert issubclass(jb.InvalidGrant, jb.TokenEndpointError)
    assert issubclass(jb.InvalidClient, jb.TokenEndpointError)
