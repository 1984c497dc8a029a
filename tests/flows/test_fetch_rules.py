"""Metadata and JWKS fetches keep the token requests' transport rules, against real loopback
servers: the whole-request timeout (a server trickling its body), no redirects, the 1 MiB cap."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import anyio
import pytest

import jwtbearer as jb
from jwtbearer.client import discovery
from jwtbearer.jose import sign_compact
from jwtbearer.validation import JWKSCache


class RawServer:
    """A loopback server answering every connection with ``head`` then ``body`` chunks, one per
    ``gap`` seconds (bounded by ``len(body)``)."""

    def __init__(self, head: bytes, body: list[bytes], gap: float = 0.0) -> None:
        self.head, self.body, self.gap = head, body, gap
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.head)
                for chunk in self.body:
                    if self.stop.is_set():
                        return
                    conn.sendall(chunk)
                    time.sleep(self.gap)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[type[RawServer]]:
    made: list[RawServer] = []

    class Tracked(RawServer):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    yield Tracked
    for server in made:
        server.close()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    discovery._cache.clear()


def test_a_trickling_jwks_server_cannot_outlive_the_timeout(raw_server: type[RawServer]
                                                            ) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    server = raw_server(head, [b" "] * 400, gap=0.05)  # 20 s in all, 1 byte per 50 ms
    cache = JWKSCache(f"http://127.0.0.1:{server.port}/jwks", timeout=0.5)
    with pytest.raises(jb.TransportError, match=r"did not complete within 0\.5 s"):
        cache.keys_for("k")

    async def main() -> None:
        acache = JWKSCache(f"http://127.0.0.1:{server.port}/jwks", timeout=0.5)
        with pytest.raises(jb.TransportError, match="JWKS request"):
            await acache.akeys_for("k")

    anyio.run(main)


def test_metadata_redirects_are_not_followed(raw_server: type[RawServer]) -> None:
    trap = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", [])
    head = (f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{trap.port}/\r\n"
            "Content-Length: 0\r\n\r\n").encode()
    server = raw_server(head, [])
    with pytest.raises(jb.DiscoveryError, match="redirect"):
        jb.discover(f"http://127.0.0.1:{server.port}")


def test_jwks_bodies_over_one_mib_are_refused(raw_server: type[RawServer]) -> None:
    size = 2 * 1024 * 1024
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    server = raw_server(head, [b" " * 65536] * (size // 65536))
    v = jb.JWTValidator(issuer="https://issuer.example.com", audience="a",
                        jwks_uri=f"http://127.0.0.1:{server.port}/jwks")
    key = jb.SigningKey.generate("ES256", kid="k")
    token = sign_compact({"iss": "https://issuer.example.com", "aud": "a",
                             "exp": int(time.time()) + 60}, key)
    with pytest.raises(jb.ResponseFormatError, match="KiB"):
        v.validate(token)


def test_plain_http_to_another_host_is_refused_for_every_fetch() -> None:
    for make in (lambda: JWKSCache("http://keys.example.com/jwks"),
                 lambda: jb.discover("http://as.example.com"),
                 lambda: jb.JWTUtil.validate_jwt_with_keys_endpoint(
                     "a.b.c", "http://keys.example.com/jwks")):
        with pytest.raises(jb.ConfigurationError, match="http://"):
            make()
