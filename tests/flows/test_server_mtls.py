"""Mutual TLS (RFC 8705) over real TLS on 127.0.0.1: certificates made here with
cryptography's x509 builder, the reference server under uvicorn with its TLS protocol hook,
``TLSClientAuth`` / ``SelfSignedTLSClientAuth`` with ``client_cert=``, certificate-bound
tokens, and ``jwtbearer serve --tls-cert --tls-key --client-ca``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import jwtbearer as jb
from jwtbearer.jose import verify_compact
from jwtbearer.server.app import BackgroundServer, app_for, listen_socket
from jwtbearer.server.config import load_config
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.dpop import check_bound_token
from jwtbearer.server.tls import server_context, trusted_client_certificates
from jwtbearer.server.validation import Refusal

SECRET = "s" * 32

pytestmark = pytest.mark.flow


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])


def _issue(directory: Path, stem: str, subject: str, *, issuer: tuple[Any, x509.Name] | None,
           ca: bool = False, san: list[x509.GeneralName] | None = None) -> tuple[Path, Path, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    signer, issuer_name = issuer if issuer is not None else (key, _name(subject))
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, (key, cert)


@dataclass
class PKI:
    dir: Path
    ca: Path
    server: tuple[Path, Path]
    svc: tuple[Path, Path]
    other: tuple[Path, Path]
    selfsigned: tuple[Path, Path]
    stranger: tuple[Path, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    ca_cert, _, (ca_key, ca) = _issue(d, "ca", "Test CA", issuer=None, ca=True)
    by_ca = (ca_key, ca.subject)
    server = _issue(d, "server", "127.0.0.1", issuer=by_ca,
                    san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])[:2]
    svc = _issue(d, "svc", "svc", issuer=by_ca, san=[x509.DNSName("svc.example.com")])[:2]
    other = _issue(d, "other", "other", issuer=by_ca)[:2]
    selfsigned = _issue(d, "self", "self-signed client", issuer=None)[:2]
    stranger = _issue(d, "stranger", "stranger", issuer=None)[:2]
    return PKI(d, ca_cert, server, svc, other, selfsigned, stranger)


def _config(issuer: str, pki: PKI) -> str:
    return f"""
issuer = "{issuer}"
state_dir = "state"

[[clients]]
client_id = "mtls"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "O=Example,CN=svc"
tls_client_certificate_bound_access_tokens = true
grant_types = ["client_credentials"]

[[clients]]
client_id = "mtls-san"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_dns = "svc.example.com"
grant_types = ["client_credentials"]

[[clients]]
client_id = "self"
token_endpoint_auth_method = "self_signed_tls_client_auth"
certificate = "{pki.selfsigned[0]}"
grant_types = ["client_credentials"]

[[clients]]
client_id = "plain"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRET}"
grant_types = ["client_credentials"]
"""


@dataclass
class Running:
    url: str
    endpoint: TokenEndpoint


@pytest.fixture(scope="module")
def server(pki: PKI) -> Iterator[Running]:
    sock = listen_socket()
    issuer = f"https://127.0.0.1:{sock.getsockname()[1]}"
    path = pki.dir / "server.toml"
    path.write_text(_config(issuer, pki), encoding="utf-8")
    endpoint = TokenEndpoint(load_config(path))
    context = server_context(*pki.server, client_ca=pki.ca,
                             trusted=trusted_client_certificates(endpoint.config.clients.values()))
    with BackgroundServer(app_for(endpoint), sock=sock, ssl_context=context):
        yield Running(f"{issuer}/token", endpoint)


@pytest.fixture(autouse=True)
def trust_the_test_ca(pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))


def _thumbprint(cert_file: Path) -> str:
    der = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _claims(server: Running, token: jb.Token) -> dict[str, Any]:
    return verify_compact(token.access_token,
                          server.endpoint.config.signing_key.verifying_key()).claims()


def test_metadata_lists_the_tls_methods(server: Running, pki: PKI) -> None:
    meta = httpx.get(server.url.replace("/token", "/.well-known/oauth-authorization-server"),
                     verify=ssl.create_default_context(cafile=str(pki.ca))).json()
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(
        meta["token_endpoint_auth_methods_supported"])
    assert meta["tls_client_certificate_bound_access_tokens"] is True


def test_tls_client_auth_by_subject_dn_binds_the_token(server: Running, pki: PKI) -> None:
    with jb.TokenClient(server.url, jb.TLSClientAuth("mtls"), client_cert=pki.svc) as client:
        token = client.client_credentials()
    claims = _claims(server, token)
    assert claims["cnf"] == {"x5t#S256": _thumbprint(pki.svc[0])}
    assert claims["client_id"] == "mtls"
    # A resource server holding the same certificate accepts it; another is refused.
    der = x509.load_pem_x509_certificate(pki.svc[0].read_bytes()).public_bytes(
        serialization.Encoding.DER)
    check_bound_token(claims, proof=None, certificate_der=der)
    other = x509.load_pem_x509_certificate(pki.other[0].read_bytes()).public_bytes(
        serialization.Encoding.DER)
    with pytest.raises(Refusal) as caught:
        check_bound_token(claims, proof=None, certificate_der=other)
    assert caught.value.error == "invalid_token"


def test_tls_client_auth_by_san_and_an_ssl_context(server: Running, pki: PKI) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.load_cert_chain(*map(str, pki.svc))

    async def main() -> jb.Token:
        async with jb.AsyncTokenClient(server.url, jb.TLSClientAuth("mtls-san"),
                                       client_cert=context) as client:
            return await client.client_credentials()

    import anyio

    assert anyio.run(main).token_type == "Bearer"


def test_self_signed_tls_client_auth(server: Running, pki: PKI) -> None:
    with jb.TokenClient(server.url, jb.SelfSignedTLSClientAuth("self"),
                        client_cert=pki.selfsigned) as client:
        token = client.client_credentials()
    assert _claims(server, token)["cnf"] == {"x5t#S256": _thumbprint(pki.selfsigned[0])}


@pytest.mark.parametrize(("client_id", "cert"), [("mtls", "other"), ("mtls-san", "other"),
                                                  ("self", "svc"), ("mtls", None)])
def test_a_certificate_of_another_client_is_refused(server: Running, pki: PKI, client_id: str,
                                                    cert: str | None) -> None:
    auth = (jb.SelfSignedTLSClientAuth if client_id == "self" else jb.TLSClientAuth)(client_id)
    client = jb.TokenClient(server.url, auth, client_cert=getattr(pki, cert) if cert else None,
                            retry=jb.RetryPolicy(attempts=1))
    with client, pytest.raises(jb.TokenEndpointError) as caught:
        client.client_credentials()
    assert caught.value.status == 401 and caught.value.error == "invalid_client"


def test_an_untrusted_certificate_fails_the_handshake(server: Running, pki: PKI) -> None:
    client = jb.TokenClient(server.url, jb.SelfSignedTLSClientAuth("self"),
                            client_cert=pki.stranger, retry=jb.RetryPolicy(attempts=1))
    with client, pytest.raises(jb.TransportError):
        client.client_credentials()


def test_secret_clients_work_without_a_certificate(server: Running) -> None:
    with jb.TokenClient(server.url, jb.ClientSecretBasic("plain", SECRET)) as client:
        assert "cnf" not in _claims(server, client.client_credentials())


def test_dpop_over_mtls_binds_both(server: Running, pki: PKI) -> None:
    dpop = jb.DPoP()
    with jb.TokenClient(server.url, jb.TLSClientAuth("mtls"), client_cert=pki.svc,
                        dpop=dpop) as client:
        token = client.client_credentials()
    assert token.token_type == "DPoP"
    assert _claims(server, token)["cnf"] == {"jkt": dpop.jkt,
                                             "x5t#S256": _thumbprint(pki.svc[0])}


def test_client_cert_needs_no_http_of_yours() -> None:
    with pytest.raises(jb.ConfigurationError, match="client_cert"):
        jb.TokenClient("https://as.example/token", client_cert=("a", "b"), http=httpx.Client())
    with pytest.raises(jb.ConfigurationError, match="cannot load"):
        jb.TokenClient("https://as.example/token", client_cert=("/nonexistent.pem", "k"))


def test_serve_with_tls_and_client_certificates(pki: PKI, tmp_path: Path) -> None:
    sock = listen_socket()
    port = sock.getsockname()[1]
    sock.close()
    config = tmp_path / "server.toml"
    config.write_text(_config(f"https://127.0.0.1:{port}", pki), encoding="utf-8")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from jwtbearer.cli import main; main()", "serve", "-c",
             str(config), "--port", str(port),
             "--tls-cert", str(pki.server[0]), "--tls-key", str(pki.server[1]),
             "--client-ca", str(pki.ca), "--client-cert", "required"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    try:
        url = f"https://127.0.0.1:{port}/token"
        for _ in range(200):  # bounded: 20 s
            assert proc.poll() is None, log.read_text()
            try:
                with jb.TokenClient(url, jb.TLSClientAuth("mtls"), client_cert=pki.svc,
                                    retry=jb.RetryPolicy(attempts=1)) as client:
                    token = client.client_credentials()
                break
            except jb.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(log.read_text())
        assert token.access_token
        # --client-cert required: a client without a certificate fails the handshake.
        bare = jb.TokenClient(url, jb.ClientSecretBasic("plain", SECRET),
                              retry=jb.RetryPolicy(attempts=1))
        with bare, pytest.raises(jb.TransportError):
            bare.client_credentials()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_slow_tls_clients_are_still_cut_off(server: Running, pki: PKI) -> None:
    # One family of protocol classes: the TLS extension and the head deadline together.
    import socket

    from jwtbearer.server.limits import ServerLimits

    endpoint = server.endpoint
    context = server_context(*pki.server, client_ca=pki.ca)
    with BackgroundServer(app_for(endpoint), ssl_context=context,
                          limits=ServerLimits(header_timeout=0.5)) as slow:
        port = int(slow.url.rsplit(":", 1)[1])
        client = ssl.create_default_context(cafile=str(pki.ca))
        client.load_cert_chain(*map(str, pki.svc))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            answer = tls.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")
