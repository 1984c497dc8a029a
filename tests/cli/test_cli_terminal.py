"""``jwtbearer token`` under a pseudo-terminal: the spinner tells which attempt is running and
when the next starts, errors are coloured; in a pipe or with --json neither appears."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from clihelpers import JWTBEARER, jb


class _Busy(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = b'{"error":"temporarily_unavailable","error_description":"busy"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def busy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


def _under_pty(args: list[str]) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([JWTBEARER, *args], stdin=follower, stdout=follower,
                            stderr=follower, close_fds=True,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(follower)
    chunks: list[bytes] = []
    for _ in range(2000):  # bounded: the command ends within a few seconds
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def _args(url: str) -> list[str]:
    return ["token", "--grant", "client_credentials", "--token-url", url, "--client-id", "c",
            "--client-secret-env", "SECRET", "--retries", "2"]


def test_the_spinner_counts_attempts_on_a_terminal(busy: str, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    monkeypatch.setenv("SECRET", "s3cret-value")
    code, said = _under_pty(_args(busy))
    assert code == 4
    assert "attempt 2/3, next in 1.0 s" in said
    assert "attempt 3/3, next in 1.0 s" in said
    assert "\x1b[" in said  # colours and the spinner's cursor movements
    assert "s3cret-value" not in said


def test_no_spinner_in_a_pipe_or_with_json(busy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET", "s3cret-value")
    piped = jb(*_args(busy))
    assert piped.code == 4 and "attempt" not in piped.err and "\x1b[" not in piped.err
    code, said = _under_pty([*_args(busy), "--json"])
    assert code == 4 and "attempt 2/3" not in said and '"kind": "TemporarilyUnavailable"' in said


def test_verbose_prints_request_lines_status_and_timing(busy: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET", "s3cret-value")
    got = jb(*_args(busy), "--retries", "1", "-v")
    assert got.code == 4
    lines = got.err.splitlines()
    assert f"> POST {busy}  (attempt 1/2)" in lines
    assert any(line.startswith("< 503  ") and line.endswith(" ms") for line in lines)
    assert "s3cret-value" not in got.err and "Authorization" not in got.err
