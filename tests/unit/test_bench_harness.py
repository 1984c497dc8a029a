"""The server bench's load harness (bench/_wrk.py) is honest: refusals are caught, one-shot
bodies are never sent twice, and CPU time is read for a process and its children."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_wrk", BENCH / "_wrk.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def wrk_installed() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: run `make test`, which installs it")


class Recorder(ThreadingHTTPServer):
    status = 200
    bodies: Counter[bytes]
    gets = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # wrk drops its connections at the end of a run


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.command == "POST":
            self.server.bodies[body] += 1
        else:
            self.server.gets += 1
        answer = b'{"error":"invalid_grant"}' if self.server.status >= 400 else b'{"ok":true}'
        self.send_response(self.server.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serving(status: int) -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", 0), Handler)
    server.status, server.bodies = status, Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def refusing() -> Iterator[Recorder]:
    yield from serving(400)


@pytest.fixture
def accepting() -> Iterator[Recorder]:
    yield from serving(200)


def url(server: Recorder) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/token"


def test_a_refused_request_fails_the_run(harness: ModuleType, wrk_installed: None,
                                         refusing: Recorder, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies.txt"
    bodies.write_text("grant_type=client_credentials\n")
    result = harness.wrk(url(refusing), bodies, "", 1, harness.write_script(tmp_path))
    assert result["requests"] > 0 and result["non2xx"] == result["requests"]
    problem = harness.refusals(result)
    assert problem is not None and "status >= 400" in problem


def test_one_shot_bodies_are_sent_once_and_accepted_runs_pass(
        harness: ModuleType, wrk_installed: None, accepting: Recorder, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies.txt"
    lines = [f"grant_type=x&assertion=body-{n}" for n in range(40)]
    bodies.write_text("\n".join(lines) + "\n")
    result = harness.wrk(url(accepting), bodies, "Basic eDp5", 1, harness.write_script(tmp_path),
                         once=True)
    assert harness.refusals(result) is None
    assert accepting.bodies, "no body arrived"
    assert set(accepting.bodies) <= {line.encode() for line in lines}
    assert max(accepting.bodies.values()) == 1  # never replayed
    assert result["requests"] <= len(lines)


def test_no_answer_at_all_fails_the_run(harness: ModuleType) -> None:
    empty = {"requests": 0, "non2xx": 0, "errors": 0}
    assert harness.refusals(empty) == "no request was answered"
    assert harness.refusals({**empty, "requests": 5, "errors": 1}) is not None
    assert harness.refusals({**empty, "requests": 5}) is None


def test_cpu_time_counts_the_children(harness: ModuleType) -> None:
    # A parent that does nothing, and a child that burns 0.3 s of CPU, then waits.
    burn = ("import time, sys\nwhile time.process_time() < 0.3: pass\n"
            "print('done', flush=True)\nsys.stdin.read()")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; "
         f"subprocess.run([sys.executable, '-c', {burn!r}])"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "done\n"
        assert harness.tree_cpu([parent.pid]) >= 0.25  # /proc counts whole clock ticks
    finally:
        parent.communicate(input="", timeout=20)
