"""Slow, idle and surplus clients are cut off by the reference server; real clients are served.

Raw sockets on 127.0.0.1 drip request heads and bodies a byte at a time against the real
uvicorn server (both stacks: httptools and h11). Every bound below is a generous hard limit on
a behaviour (the connection gets closed, a 408/503 arrives), never a measured speed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from jwtbearer.cli import app as cli_app
from jwtbearer.server.app import BackgroundServer, app_for, listen_socket
from jwtbearer.server.config import load_config, parse_config
from jwtbearer.server.core import TokenEndpoint
from jwtbearer.server.limits import ServerLimits
from jwtbearer.server.registry import ServerConfigError

STACKS = pytest.mark.parametrize("pure_python", [False, True], ids=["httptools", "h11"])
HARD_BOUND = 15.0
HEAD = (b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n")


@contextmanager
def running(tmp_path: Path, pure_python: bool, **limits: float) -> Iterator[str]:
    sock = listen_socket()
    config = tmp_path / "server.toml"
    config.write_text(
        f'issuer = "http://127.0.0.1:{sock.getsockname()[1]}"\nstate_dir = "state"\n'
        '[[clients]]\nclient_id = "c"\ntoken_endpoint_auth_method = "client_secret_basic"\n'
        'client_secret = "s3cret-value"\ngrant_types = ["client_credentials"]\n'
    )
    app = app_for(TokenEndpoint(load_config(config)))
    server = BackgroundServer(app, sock=sock, pure_python=pure_python,
                              limits=ServerLimits(**limits))  # type: ignore[arg-type]
    with server:
        yield server.url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=5)
    conn.setblocking(False)
    return conn


def _token(http: httpx.Client) -> int:
    answer = http.post("/token", data={"grant_type": "client_credentials"},
                       auth=("c", "s3cret-value"))
    return answer.status_code


class Dripper:
    """Sends ``payload`` one byte per round on each socket and records what comes back."""

    def __init__(self, socks: list[socket.socket], payload: bytes) -> None:
        self.socks, self.payload = socks, payload
        self.sent = [0] * len(socks)
        self.got = [b""] * len(socks)
        self.closed = [False] * len(socks)

    def round(self) -> None:
        for i, conn in enumerate(self.socks):
            if self.closed[i]:
                continue
            try:
                while chunk := conn.recv(4096):
                    self.got[i] += chunk
                self.closed[i] = True  # orderly EOF from the server
                continue
            except BlockingIOError:
                pass
            except OSError:
                self.closed[i] = True
                continue
            try:
                if self.sent[i] < len(self.payload):
                    conn.send(self.payload[self.sent[i]:self.sent[i] + 1])
                    self.sent[i] += 1
            except OSError:
                self.closed[i] = True

    def close(self) -> None:
        for conn in self.socks:
            conn.close()


@STACKS
def test_120_dripping_heads_are_cut_off_and_a_real_client_is_served(
    tmp_path: Path, pure_python: bool
) -> None:
    with running(tmp_path, pure_python, header_timeout=3) as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        drip = Dripper([_connect(url) for _ in range(120)], HEAD + b"X-Pad: " + b"a" * 4000)
        served: list[int] = []
        try:
            drip.round()
            deadline = time.monotonic() + HARD_BOUND
            rounds = 0
            while not all(drip.closed):
                assert time.monotonic() < deadline, (
                    f"{drip.closed.count(False)} dripping connections still open")
                drip.round()
                if rounds % 5 == 0:
                    served.append(_token(http))  # while the slow connections are held
                rounds += 1
                time.sleep(0.1)
        finally:
            drip.close()
        assert served and served == [200] * len(served)
        assert all(got.startswith(b"HTTP/1.1 408 ") for got in drip.got)
        assert _token(http) == 200


@STACKS
def test_a_dripping_body_is_cut_off(tmp_path: Path, pure_python: bool) -> None:
    with running(tmp_path, pure_python, body_timeout=2) as url:
        body = b"grant_type=client_credentials&pad=" + b"a" * 2000
        conn = _connect(url)
        conn.setblocking(True)
        conn.sendall(HEAD + b"Authorization: Basic YzpzM2NyZXQtdmFsdWU=\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        drip = Dripper([conn], body)
        conn.setblocking(False)
        try:
            deadline = time.monotonic() + HARD_BOUND
            while not drip.closed[0]:
                assert time.monotonic() < deadline, "the dripping body was never cut off"
                drip.round()
                time.sleep(0.1)
        finally:
            drip.close()
        assert drip.sent[0] < len(body)
        assert b" 200 " not in drip.got[0]


@STACKS
def test_silent_and_idle_keep_alive_connections_are_closed(
    tmp_path: Path, pure_python: bool
) -> None:
    with running(tmp_path, pure_python, header_timeout=2, keep_alive_timeout=1) as url:
        silent = _connect(url)  # connects and never sends a byte
        idle = _connect(url)
        idle.setblocking(True)
        idle.sendall(HEAD + b"Authorization: Basic YzpzM2NyZXQtdmFsdWU=\r\n"
                     b"Content-Length: 29\r\n\r\ngrant_type=client_credentials")
        drip = Dripper([silent, idle], b"")
        idle.setblocking(False)
        try:
            deadline = time.monotonic() + HARD_BOUND
            while not all(drip.closed):
                assert time.monotonic() < deadline, "an idle connection stayed open"
                drip.round()
                time.sleep(0.1)
        finally:
            drip.close()
        assert drip.got[0].startswith(b"HTTP/1.1 408 ")
        assert drip.got[1].startswith(b"HTTP/1.1 200 ")  # answered, then closed when idle


@STACKS
def test_connections_over_the_cap_get_503_and_the_cap_frees_up(
    tmp_path: Path, pure_python: bool
) -> None:
    with running(tmp_path, pure_python, max_connections=5, header_timeout=3) as url:
        held = [_connect(url) for _ in range(5)]
        drip = Dripper(held, HEAD)
        try:
            drip.round()
            time.sleep(0.3)  # let the server accept them (ordering, not a measurement)
            with httpx.Client(base_url=url, timeout=10) as http:
                try:
                    status = _token(http)
                except httpx.TransportError:
                    status = 503  # refused before the request could be written
                assert status == 503
            deadline = time.monotonic() + HARD_BOUND
            while not all(drip.closed):
                assert time.monotonic() < deadline, "the held connections stayed open"
                drip.round()
                time.sleep(0.1)
        finally:
            drip.close()
        with httpx.Client(base_url=url, timeout=10) as http:
            assert _token(http) == 200


def test_limits_are_config_keys_with_checked_ranges(tmp_path: Path) -> None:
    base = {"issuer": "http://127.0.0.1:8000", "state_dir": str(tmp_path)}
    config = parse_config({**base, "header_timeout": 4, "body_timeout": 6,
                           "keep_alive_timeout": 2, "max_connections": 64}, base=tmp_path)
    limits = ServerLimits.from_settings(config)
    assert (limits.header_timeout, limits.body_timeout, limits.keep_alive_timeout,
            limits.max_connections) == (4, 6, 2, 64)
    defaults = ServerLimits.from_settings(parse_config(base, base=tmp_path))
    assert (defaults.header_timeout, defaults.body_timeout, defaults.keep_alive_timeout) == (
        10, 30, 5)
    assert defaults.max_connections >= 512
    for key, bad in [("header_timeout", 0), ("body_timeout", "30"), ("max_connections", 0),
                     ("keep_alive_timeout", 10**6)]:
        with pytest.raises(ServerConfigError, match=key):
            parse_config({**base, key: bad}, base=tmp_path)
    with pytest.raises(ValueError, match="header_timeout"):
        ServerLimits(header_timeout=-1)


def test_serve_has_the_limit_flags() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--header-timeout", "--body-timeout", "--keep-alive-timeout",
                 "--max-connections"):
        assert flag in result.output



@contextmanager
def serving(tmp_path: Path, settings: str, *flags: str) -> Iterator[str]:
    """``jwtbearer serve`` in its own process with ``settings`` in its file, until /healthz
    answers; stopped afterwards."""
    import os
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "server.toml"
    config.write_text(f'issuer = "http://127.0.0.1:{port}"\nstate_dir = "state"\n{settings}')
    proc = subprocess.Popen(
        [sys.executable, "-c", "from jwtbearer.cli import main; main()", "serve", "--config",
         str(config), "--port", str(port), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _until_closed(*drippers: Dripper, failure: str) -> None:
    try:
        deadline = time.monotonic() + HARD_BOUND
        while not all(all(d.closed) for d in drippers):
            assert time.monotonic() < deadline, failure
            for d in drippers:
                d.round()
            time.sleep(0.1)
    finally:
        for d in drippers:
            d.close()


def test_serve_applies_the_flags_over_the_file(tmp_path: Path) -> None:
    with serving(tmp_path, "header_timeout = 600\nmax_connections = 100\n",
                 "--header-timeout", "1", "--max-connections", "2") as url:
        silent = Dripper([_connect(url), _connect(url)], b"")
        drip = Dripper([_connect(url)], b"")  # over --max-connections 2
        _until_closed(silent, drip, failure="the flags were not applied")
    assert drip.got[0].startswith(b"HTTP/1.1 503 ")
    assert all(got.startswith(b"HTTP/1.1 408 ") for got in silent.got)  # 1 s, not 600 s


@pytest.mark.redis
def test_every_worker_applies_the_limits(tmp_path: Path, redis_url: str) -> None:
    """``serve --workers 2``: each worker cuts off silent heads (408 after 1 s, not the file's
    600 s) and refuses connections over its own cap (503)."""
    with serving(tmp_path, f'replay = "{redis_url}"\nheader_timeout = 600\n', "--workers", "2",
                 "--header-timeout", "1", "--max-connections", "1") as url:
        # Three connections on two workers with a cap of one each: one worker has two.
        silent = Dripper([_connect(url) for _ in range(3)], b"")
        _until_closed(silent, failure="the workers did not apply the flags")
    statuses = sorted(got[:12] for got in silent.got)
    assert set(statuses) <= {b"HTTP/1.1 408", b"HTTP/1.1 503"}, silent.got
    assert b"HTTP/1.1 503" in statuses and b"HTTP/1.1 408" in statuses, silent.got
