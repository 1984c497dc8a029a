"""HeldHeadTransport: a response head leaves with the next write, in order, and nothing stays
held past a close or the end of a response; interim 100 Continue heads are never held. And
against a real server: a HEAD answer (no body write) and keep-alive after it."""

from __future__ import annotations

import socket
from typing import Any

from jwtbearer.server.app import BackgroundServer, create_app
from jwtbearer.server.writes import HeldHeadTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def test_head_and_body_leave_in_one_write() -> None:
    raw = Recorder()
    transport = HeldHeadTransport(raw)  # type: ignore[arg-type]
    transport.write(HEAD)
    assert raw.writes == []
    transport.write(b"{}")
    assert raw.writes == [HEAD + b"{}"]
    transport.write(b"more")  # nothing held: straight through
    assert raw.writes[-1] == b"more"


def test_interim_heads_and_other_bytes_are_not_held() -> None:
    raw = Recorder()
    transport = HeldHeadTransport(raw)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    transport.write(b"HTTP/1.1 200 OK\r\npartial")
    assert raw.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\npartial"]


def test_flush_and_close_send_what_is_held_first() -> None:
    raw = Recorder()
    transport = HeldHeadTransport(raw)  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.flush()
    assert raw.writes == [HEAD]
    transport.write(HEAD)
    transport.close()
    assert raw.writes == [HEAD, HEAD] and raw.closed
    assert transport.get_extra_info("peername") == "info:peername"


class _Jwks:
    def jwks(self) -> Any:
        from jwtbearer.server.core import Response

        return Response(status=200, body={"keys": []})

    def metadata(self) -> Any:
        return self.jwks()


def _read_answer(sock: socket.socket, head_only: bool) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    if not head_only:
        while len(body) < length:
            body += sock.recv(4096)
    return data


def test_head_answers_arrive_and_the_connection_stays_usable() -> None:
    with BackgroundServer(create_app(_Jwks())) as server, socket.create_connection(
            ("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10) as sock:
        for method in (b"HEAD", b"GET", b"HEAD", b"GET"):
            sock.sendall(method + b" /jwks HTTP/1.1\r\nhost: x\r\n\r\n")
            answer = _read_answer(sock, head_only=method == b"HEAD")
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert answer.endswith(b"\r\n\r\n" if method == b"HEAD" else b'{"keys":[]}')
            assert b"\r\nserver:" not in answer.lower()
