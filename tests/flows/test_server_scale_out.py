"""Scale-out of the reference server: ``jwtbearer serve --workers 2`` and two ``serve`` processes
("two hosts") sharing one real redis-server. A ``jti`` accepted by one process is refused by the
other, for grant and client assertions; a worker that dies is replaced; a signal to the parent
stops every worker; with Redis down, requests get 503 and no token."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from typer.testing import CliRunner

from jwtbearer.cli import app as cli_app
from jwtbearer.jose import SigningKey
from jwtbearer.jose.assertion import make_assertion
from jwtbearer.server.workers import WORKER_HEADER

pytestmark = [pytest.mark.flow, pytest.mark.redis]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = {"content-type": "application/x-www-form-urlencoded"}
SERVE = "from jwtbearer.cli import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test alone (the test stops it)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: run `make test`, which installs it"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server for this module's servers alone (their keys outlive other tests')."""
    with private_redis(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ES256", kid="svc-1")


def write_config(directory: Path, issuer: str, replay: str, key: SigningKey) -> Path:
    (directory / "svc.jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))
    config = directory / "server.toml"
    config.write_text(f"""
issuer = "{issuer}"
state_dir = "state"
replay = "{replay}"

[[clients]]
client_id = "svc"
token_endpoint_auth_method = "private_key_jwt"
jwks = "svc.jwks.json"
grant_types = ["client_credentials"]
scopes = ["api"]

[[clients]]
client_id = "app"
token_endpoint_auth_method = "none"
jwks = "svc.jwks.json"
grant_types = ["{JWT_BEARER}"]
scopes = ["api"]
subjects = ["alice@example.com"]
""")
    return config


@contextlib.contextmanager
def serving(config: Path, port: int, workers: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    """``jwtbearer serve`` in its own process, until /healthz answers; stopped afterwards."""
    log = (config.parent / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--config", str(config), "--port", str(port),
         "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, Path(log.name).read_text(errors="replace")
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def worker_of(http: httpx.Client) -> int:
    answer = http.get("/healthz")
    assert answer.status_code == 200
    return int(answer.headers[WORKER_HEADER])


def one_client_per_worker(port: int, workers: int = 2,
                          attempts: int = 200) -> dict[int, httpx.Client]:
    """Keep-alive clients, one on each worker: fresh connections until every worker answered."""
    found: dict[int, httpx.Client] = {}
    for _ in range(attempts):
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
        pid = worker_of(http)
        if pid in found:
            http.close()
        else:
            found[pid] = http
        if len(found) == workers:
            return found
    for http in found.values():
        http.close()
    raise AssertionError(f"{attempts} connections reached only workers {sorted(found)}")


def grant_body(key: SigningKey, issuer: str) -> bytes:
    assertion = make_assertion(key=key, iss="app", sub="alice@example.com", aud=issuer,
                               now=time.time())
    return urlencode({"grant_type": JWT_BEARER, "assertion": assertion}).encode()


def client_assertion_body(key: SigningKey, issuer: str) -> bytes:
    assertion = make_assertion(key=key, iss="svc", sub="svc", aud=issuer + "/token",
                               now=time.time())
    return urlencode({"grant_type": "client_credentials", "client_assertion_type":
                      CLIENT_ASSERTION, "client_assertion": assertion}).encode()


def assert_replay_refused_across(first: httpx.Client, second: httpx.Client, key: SigningKey,
                                 issuer: str) -> None:
    """Each kind of assertion: accepted by ``first``, then refused by ``second`` as a replay."""
    for body, refusal in ((grant_body(key, issuer), (400, "invalid_grant")),
                          (client_assertion_body(key, issuer), (401, "invalid_client"))):
        accepted = first.post("/token", content=body, headers=FORM)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["token_type"] == "Bearer"
        replayed = second.post("/token", content=body, headers=FORM)
        assert (replayed.status_code, replayed.json()["error"]) == refusal, replayed.text
        assert "access_token" not in replayed.json()
        assert "jti" in replayed.json()["error_description"]


def test_two_workers_refuse_each_others_replays_restart_and_stop(
        tmp_path: Path, shared_redis: str, key: SigningKey) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, issuer, shared_redis, key)
    with serving(config, port, workers=2) as proc:
        clients = one_client_per_worker(port)
        try:
            (pid_a, a), (pid_b, b) = sorted(clients.items())
            assert_replay_refused_across(a, b, key, issuer)
            assert_replay_refused_across(b, a, key, issuer)
            # The keep-alive connections stayed on their workers throughout.
            assert (worker_of(a), worker_of(b)) == (pid_a, pid_b)
        finally:
            for http in clients.values():
                http.close()
        for pid in (pid_a, pid_b):  # both are workers of this server
            assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1] == str(proc.pid)

        # A worker that dies is replaced; the port keeps answering meanwhile.
        os.kill(pid_a, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            clients = one_client_per_worker(port)
            for http in clients.values():
                http.close()
            if pid_a not in clients:
                break
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
        workers = sorted(clients)
        assert pid_b in workers and len(workers) == 2
        log = (tmp_path / f"serve-{port}.log").read_text()
        replaced = f"worker {pid_a} exited (signal SIGKILL); restarted as "
        assert replaced in log and "2 workers started" in log

        # SIGTERM to the parent stops every worker, and the parent exits 0.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def test_two_hosts_sharing_redis_refuse_each_others_replays(
        tmp_path: Path, shared_redis: str, key: SigningKey) -> None:
    # Two hosts behind a load balancer: one issuer, each host its own process and port.
    ports = free_port(), free_port()
    issuer = f"http://127.0.0.1:{ports[0]}"
    config = write_config(tmp_path, issuer, shared_redis, key)
    with serving(config, ports[0]), serving(config, ports[1]), \
            httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=10.0) as one, \
            httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", timeout=10.0) as two:
        assert_replay_refused_across(one, two, key, issuer)
        assert_replay_refused_across(two, one, key, issuer)


def test_redis_down_gets_503_and_never_a_token(tmp_path: Path, key: SigningKey) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with private_redis(tmp_path) as (url, redis_proc):
        config = write_config(tmp_path, issuer, url, key)
        with serving(config, port, workers=2) as proc:
            clients = one_client_per_worker(port)
            try:
                first = next(iter(clients.values()))
                ok = first.post("/token", content=grant_body(key, issuer), headers=FORM)
                assert ok.status_code == 200, ok.text
                redis_proc.terminate()
                redis_proc.wait(timeout=10)
                for http in clients.values():
                    for body in (grant_body(key, issuer), client_assertion_body(key, issuer)):
                        down = http.post("/token", content=body, headers=FORM)
                        assert down.status_code == 503, down.text
                        assert down.json()["error"] == "temporarily_unavailable"
                        assert "access_token" not in down.json()
            finally:
                for http in clients.values():
                    http.close()
            # SIGINT (Ctrl-C) to the parent alone stops the workers too.
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0
            for pid in clients:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)


def test_more_workers_need_a_shared_replay_store(tmp_path: Path, key: SigningKey) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:8000", "memory", key)
    result = CliRunner().invoke(cli_app, ["serve", "--config", str(config), "--workers", "2"])
    assert result.exit_code == 3, result.output
    output = " ".join(result.output.split())
    assert "--workers 2 needs a shared replay store" in output
    assert 'replay = "redis://' in output and "Traceback" not in output
