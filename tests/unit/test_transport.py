"""Transport safety against real, misbehaving servers on 127.0.0.1.

Each server is a raw socket loop in a thread that writes exactly the bytes a hostile or broken
token endpoint would. Every test runs the sync and the async client. The elapsed-time checks are
safety ceilings (``timeout * 3``) proving the whole request is bounded, not speed claims.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import jwtbearer as jb
from jwtbearer.client.protocol import RetryPolicy
from jwtbearer.errors import UnexpectedRedirect

MODES = ["sync", "async"]
TIMEOUT = 1.0
CEILING = TIMEOUT * 3

Handler = Callable[[socket.socket, threading.Event], None]


def _read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body), bounded in size and time."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < min(length, 65536):
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to ``handler`` in its own thread."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/token"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn.settimeout(5)
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.requests.append(_read_request(conn))
            self.handler(conn, self.stop)
        except (OSError, ssl.SSLError):
            pass  # the client hung up or refused us: that is what many tests provoke
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        self.acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.acceptor.join(5)
        for thread in self.threads:
            thread.join(5)
        self.sock.close()


def _respond(raw: bytes) -> Handler:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(raw)

    return handler


def _http(status: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


TOKEN_JSON = b'{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}'


def fetch(mode: str, url: str, *, retry: RetryPolicy | None = None,
          timeout: float = TIMEOUT) -> jb.Token:
    policy = retry or RetryPolicy.none()
    if mode == "sync":
        with jb.TokenClient(url, timeout=timeout, retry=policy) as client:
            return client.client_credentials(scope="api")

    async def main() -> jb.Token:
        async with jb.AsyncTokenClient(url, timeout=timeout, retry=policy) as client:
            return await client.client_credentials(scope="api")

    return anyio.run(main)


def timed(call: Callable[[], Any]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


@pytest.mark.parametrize("mode", MODES)
def test_a_well_behaved_loopback_server_gives_a_token(mode: str) -> None:
    body = _http("200 OK", {"Content-Type": "application/json"}, TOKEN_JSON)
    with RawServer(_respond(body)) as server:
        token = fetch(mode, server.url)
    assert token.access_token == "tok-123"
    request = server.requests[0].lower()
    assert b"accept: application/json" in request
    assert b"content-type: application/x-www-form-urlencoded" in request
    assert b"grant_type=client_credentials&scope=api" in request


def _drip_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 400\r\n\r\n")
    for byte in (b" " * 400)[:200]:
        if stop.wait(0.2):
            return
        conn.sendall(bytes([byte]))


def _drip_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(200):
        if stop.wait(0.2):
            return
        conn.sendall(b"a")


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(20)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("handler", [_drip_body, _drip_headers, _silent],
                         ids=["drip-body", "drip-headers", "silent"])
def test_timeout_bounds_the_whole_request(mode: str, handler: Handler) -> None:
    with RawServer(handler) as server:
        error, elapsed = timed(lambda: fetch(mode, server.url))
    assert isinstance(error, jb.TransportError), error
    assert "127.0.0.1" in str(error)
    assert "timed out" in str(error) or "did not complete" in str(error)
    assert elapsed < CEILING


@pytest.mark.parametrize("mode", MODES)
def test_retried_timeouts_are_each_bounded(mode: str) -> None:
    policy = RetryPolicy(attempts=2, base_delay=0.0, jitter=lambda: 0.0)
    with RawServer(_drip_body) as server:
        error, elapsed = timed(lambda: fetch(mode, server.url, retry=policy))
        assert len(server.requests) == 2
    assert isinstance(error, jb.TransportError)
    assert elapsed < 2 * CEILING


@pytest.mark.parametrize("mode", MODES)
def test_gzip_bomb_stops_at_the_cap(mode: str) -> None:
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024
    raw = _http("200 OK", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, bomb)
    with RawServer(_respond(raw)) as server:
        error, _ = timed(lambda: fetch(mode, server.url))
    assert isinstance(error, jb.ResponseFormatError)
    assert "1024 KiB" in str(error) and "decompression" in str(error)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_answers_are_read(mode: str, encoding: str) -> None:
    if encoding == "gzip":
        body = gzip.compress(TOKEN_JSON)
    elif encoding == "deflate":
        body = zlib.compress(TOKEN_JSON)
    else:
        packer = zlib.compressobj(wbits=-15)
        body = packer.compress(TOKEN_JSON) + packer.flush()
    header = "gzip" if encoding == "gzip" else "deflate"
    raw = _http("200 OK", {"Content-Type": "application/json", "Content-Encoding": header}, body)
    with RawServer(_respond(raw)) as server:
        assert fetch(mode, server.url).access_token == "tok-123"


def _chunked_flood(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
                 b"\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(40):  # 2.5 MiB at most
        if stop.is_set():
            return
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.sendall(b"0\r\n\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_plain_bodies_over_the_cap_are_refused(mode: str) -> None:
    with RawServer(_chunked_flood) as server:
        error, _ = timed(lambda: fetch(mode, server.url))
    assert isinstance(error, jb.ResponseFormatError)
    assert "larger than 1024 KiB" in str(error)


def _reset(conn: socket.socket, stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _reset_mid_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"access_")
    _reset(conn, stop)


GARBAGE = b"SSH-2.0-OpenSSH_9.6\r\n\r\n\x00\x01\x02"
BAD_CHUNKS = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
              b"\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n")
TRUNCATED = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"access_token\":"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "handler",
    [_reset, _reset_mid_body, _respond(GARBAGE), _respond(BAD_CHUNKS), _respond(TRUNCATED)],
    ids=["reset", "reset-mid-body", "garbage", "malformed-chunking", "truncated"],
)
def test_broken_http_is_a_transport_error(mode: str, handler: Handler) -> None:
    with RawServer(handler) as server:
        error, elapsed = timed(lambda: fetch(mode, server.url))
    assert isinstance(error, jb.TransportError), repr(error)
    assert "127.0.0.1" in str(error)
    assert elapsed < CEILING


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused_is_a_transport_error(mode: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error, _ = timed(lambda: fetch(mode, f"http://127.0.0.1:{port}/token"))
    assert isinstance(error, jb.TransportError)
    assert "could not connect" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_redirects_are_not_followed(mode: str) -> None:
    raw = _http("302 Found", {"Location": "https://evil.example.net/steal"}, b"")
    with RawServer(_respond(raw)) as server:
        error, _ = timed(lambda: fetch(mode, server.url))
        assert len(server.requests) == 1
    assert isinstance(error, UnexpectedRedirect)
    assert "evil.example.net" in str(error) and error.status == 302


WHITELABEL = (
    b"<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit mapping "
    b"for /error, so you are seeing this as a fallback.</p><div id='created'>Mon Nov 23 08:00:00 "
    b"UTC 2026</div><div>There was an unexpected error (type=Unauthorized, status=401).</div>"
    b"<script>var secret = 1;</script></body></html>"
)


@pytest.mark.parametrize("mode", MODES)
def test_html_401_is_a_response_format_error_with_an_excerpt(mode: str) -> None:
    raw = _http("401 Unauthorized", {"Content-Type": "text/html;charset=UTF-8"}, WHITELABEL)
    with RawServer(_respond(raw)) as server:
        error, _ = timed(lambda: fetch(mode, server.url))
    assert isinstance(error, jb.ResponseFormatError)
    text = str(error)
    assert "HTML with status 401" in text
    assert "Whitelabel Error Page This application has no explicit mapping" in text
    assert "<h1>" not in text and "var secret" not in text


def _self_signed(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.mark.parametrize("mode", MODES)
def test_untrusted_tls_certificates_are_refused(mode: str, tmp_path: Path) -> None:
    body = _http("200 OK", {"Content-Type": "application/json"}, TOKEN_JSON)
    with RawServer(_respond(body), tls=_self_signed(tmp_path)) as server:
        error, _ = timed(lambda: fetch(mode, server.url))
    assert isinstance(error, jb.TransportError)
    assert "certificate" in str(error).lower()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield
