"""Token endpoint throughput and CPU per token: the reference server against its no-crypto
ceiling and two peers, and ``jwtbearer serve --workers 2``.

Load comes from a second process on loopback: ``wrk -t1 -c8`` for a fixed time per run, POST
bodies rotated by a Lua script (bench/_wrk.py), the same bodies for every server of a
comparison. No access log anywhere:

- ours, JWT bearer with an RS256 assertion (distinct pre-signed assertions, each sent at most
  once, so the jti replay cache accepts each), against the same ASGI app with validation and
  signing removed (form parsed, a fixed answer of the same size: the ceiling);
- ours, client_credentials with client_secret_basic, against oidc-provider (npm, Node.js) and a
  minimal Authlib AuthorizationServer on Flask (RFC 9068 JWT access tokens, like ours);
- ours and the ceiling again on uvicorn's pure-Python stack (h11 + asyncio), which is what runs
  when httptools and uvloop are not installed;
- the real ``jwtbearer serve`` with the replay cache in a redis-server of the bench's own: one
  process (JWT bearer), and ``--workers 2`` (client_credentials and JWT bearer).

Every run fails the bench (exit status 1, and a line in RESULTS.md) if any answer is refused or
any socket error occurs; the server's CPU time (with its child processes) is read from /proc
around every run, for every server. Runs are interleaved over ``--rounds`` rounds (default 3)
of ``--duration`` seconds (default 3) and the median round is reported; about 4 minutes in all.
``python bench/server.py`` runs it and writes the ``server`` section of bench/RESULTS.md;
``--serve NAME --fd N --dir D`` is how it starts each of our servers, on a socket the harness
opened (so the issuer could name its port before the server started).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _servers import SECRET, CeilingEndpoint, serve, serve_authlib
from _wrk import CONNECTIONS, refusals, tree_cpu, write_script
from _wrk import wrk as wrk_run

ROUNDS = 3
DURATION = 3  # seconds of load per run
WARMUP = 1
BODY_RATE = 6000  # one-shot bodies signed per second of a run; a run stops at the last one
WORKERS = 2
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
NODE_DIR = Path(__file__).resolve().parent / "node"



# -- the servers ------------------------------------------------------------------------------

def config_text(issuer: str, replay: str = "memory") -> str:
    from jwtbearer.cli.demo import connected_app_table

    return f"""
issuer = "{issuer}"
replay = "{replay}"
state_dir = "state"
max_assertion_lifetime = 3600
{connected_app_table("svc", certificate="keys/svc.crt.pem", subjects=("alice@example.com",))}
[[clients]]
client_id = "bench"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRET}"
grant_types = ["client_credentials"]
scopes = ["api"]
"""


# -- the harness --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not start in {limit} s")


def metered(port: int) -> dict[str, float]:
    """The server's ``/_bench`` counters (see :class:`Metered`)."""
    import httpx

    answer: dict[str, float] = httpx.get(f"http://127.0.0.1:{port}/_bench", timeout=10.0).json()
    return answer


def wrk(port: int, bodies: Path, auth: str, duration: int, script: Path, *,
        once: bool = False, pid: int | None = None, meter: bool = False) -> dict[str, Any]:
    """One run against ``port``; ``pid``: the server process whose CPU (with its descendants)
    is read from /proc around it; ``meter``: one of ours, which also accounts the time spent
    inside ``TokenEndpoint.token`` per request (``token_us``) and in the garbage collector."""
    before = metered(port) if meter else None
    result = wrk_run(f"http://127.0.0.1:{port}/token", bodies, auth, duration, script,
                     once=once, cpu_of=() if pid is None else (pid,))
    if before is not None:
        after = metered(port)
        calls = max(after["calls"] - before["calls"], 1)
        result["token_us"] = (after["seconds"] - before["seconds"]) / calls * 1e6
        result["gc_us"] = (after["gc"] - before["gc"]) / calls * 1e6
    return result


def make_assertions(workdir: Path, issuer: str, count: int, tag: str) -> Path:
    """``count`` JWT bearer request bodies, each with a distinct RS256 assertion (new jti)."""
    from urllib.parse import urlencode

    from jwtbearer.jose.assertion import make_assertion
    from jwtbearer.jose.keystore import KeyStore

    key = KeyStore(workdir / "keys").get("svc")
    now = time.time()
    path = workdir / f"bearer-{tag}.txt"
    with path.open("w") as fh:
        for _ in range(count):
            assertion = make_assertion(key=key, iss="svc", sub="alice@example.com", aud=issuer,
                                       now=now, lifetime=900)
            fh.write(urlencode({"grant_type": JWT_BEARER, "assertion": assertion}) + "\n")
    return path


def start(cmd: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class CoreProbe:
    """Microseconds per request of the pure core alone (no HTTP), in this process, and of the
    two signature operations of a JWT bearer request. Measured once per round, between the
    loads, and the best of all passes kept: the machine is shared, and a slow pass is noise."""

    PASSES = 4

    def __init__(self, workdir: Path, issuer: str, basic: str) -> None:
        from jwtbearer.jose.keystore import KeyStore

        self._config = workdir / "server.toml"
        self._bodies = [b.encode() for b in
                        make_assertions(workdir, issuer, 1600, "core").read_text().splitlines()]
        self._basic = basic
        self._signed = KeyStore(workdir / "keys").get("svc").sign(self._bodies[0])
        self.best: dict[str, float] = {}

    def measure(self) -> None:
        from jwtbearer.server.config import load_config
        from jwtbearer.server.core import TokenEndpoint

        # A new endpoint, so a new replay cache: the same assertions are fresh to it.
        endpoint = TokenEndpoint(load_config(self._config))
        form = {"content-type": "application/x-www-form-urlencoded"}
        cc_headers = {**form, "authorization": self._basic}
        cc_body = b"grant_type=client_credentials&scope=api"
        bodies, signed = self._bodies, self._signed
        verifier = endpoint.config.clients["svc"].keys[0]
        server_key = endpoint.config.signing_key
        per = len(bodies) // self.PASSES
        ceiling = CeilingEndpoint(answer_size=400)
        for name, step in (
                ("ceiling", lambda i: ceiling.token(bodies[i], form).status),
                ("cc", lambda i: endpoint.token(cc_body, cc_headers).status),
                ("bearer", lambda i: endpoint.token(bodies[i], form).status),
                ("rs256_verify", lambda i: 200 if verifier.verify(bodies[0], signed) else 0),
                ("eddsa_sign", lambda i: 200 if server_key.sign(bodies[0][:300]) else 0)):
            for p in range(self.PASSES):
                start = time.perf_counter()
                for i in range(p * per, (p + 1) * per):
                    assert step(i) == 200, name
                took = (time.perf_counter() - start) / per * 1e6
                self.best[name] = min(self.best.get(name, took), took)


def versions() -> str:
    def node_package(name: str) -> str:
        meta = NODE_DIR / "node_modules" / name / "package.json"
        return str(json.loads(meta.read_text())["version"])

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    python = ", ".join(f"{n} {installed(n)}" for n in (
        "uvicorn", "httptools", "uvloop", "h11", "cryptography", "Authlib", "Flask", "Werkzeug"))
    return f"{python}; Node.js {node_version()}, oidc-provider {node_package('oidc-provider')}"


OURS = ("ours", "ceiling", "ours-h11", "ceiling-h11")


def wait_http(port: int, proc: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    """Wait for ``/healthz``: the socket listens from the start, before the server serves."""
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not start in {limit} s")


def assertion_bodies(workdir: Path, issuer: str, per_round: int, rounds: int) -> list[Path]:
    """Every round's bearer bodies, signed up front on both cores (RSA signing is slow)."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        halves = [[pool.submit(make_assertions, workdir, issuer, per_round // 2, f"{r}-{h}")
                   for h in (0, 1)] for r in range(rounds)]
        paths = []
        for r, futures in enumerate(halves):
            path = workdir / f"bearer-{r}.txt"
            path.write_text("".join(f.result().read_text() for f in futures))
            paths.append(path)
    return paths


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of the bench's own on a free loopback port (the workers share it)."""
    port = free_port()
    proc = start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(workdir)])
    wait_ready(port, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


# Rows that send one-shot JWT bearer bodies to a server that checks the jti: no warm-up (it
# would spend the bodies), and each body sent at most once.
CHECKS_JTI = ("bearer", "h11_bearer", "redis_bearer", "workers_bearer")


def main(rounds_count: int = ROUNDS, duration: int = DURATION) -> int:
    load = os.getloadavg()[0]
    from _results import write_section
    from jwtbearer.jose.keystore import KeyStore
    from jwtbearer.server.app import listen_socket

    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install {tool} (`make bench` installs it)")
    if not (NODE_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True, timeout=300)
    workdir = Path(tempfile.mkdtemp(prefix="jwtbearer-bench-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    # Ours listen on sockets opened here, so the issuer names the port before any server runs.
    socks = {name: listen_socket() for name in OURS}
    try:
        ports = {name: int(sock.getsockname()[1]) for name, sock in socks.items()}
        ports.update(oidc=free_port(), authlib=free_port(), workers=free_port(),
                     redis1=free_port())
        # One configuration for all of ours: the issuer names ours' port, and the others never
        # check it against their own (the ceiling checks nothing; the rest accept that aud).
        issuer = f"http://127.0.0.1:{ports['ours']}"
        KeyStore(workdir / "keys").create("svc")
        (workdir / "server.toml").write_text(config_text(issuer))
        procs["redis"], redis_url = start_redis(workdir)
        # Each Redis-backed server its own database: the same one-shot bodies are new to each.
        for name, db in (("workers", 0), ("redis1", 1)):
            (workdir / f"server-{name}.toml").write_text(
                config_text(issuer, replay=redis_url.rsplit("/", 1)[0] + f"/{db}"))
        script = write_script(workdir)
        # Distinct assertions for a run at up to BODY_RATE requests/s, made before any load;
        # a faster run stops at the last one (never replays it) and is timed over what it sent.
        rounds = assertion_bodies(workdir, issuer, int(BODY_RATE * duration), rounds_count)

        me = [sys.executable, str(Path(__file__).resolve())]
        for name, sock in socks.items():
            procs[name] = subprocess.Popen(
                [*me, "--serve", name, "--fd", str(sock.fileno()), "--dir", str(workdir)],
                pass_fds=(sock.fileno(),), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs["authlib"] = start([*me, "--serve", "authlib", "--port", str(ports["authlib"])])
        procs["oidc"] = start(["node", "server.js", str(ports["oidc"]), SECRET], cwd=NODE_DIR)
        # The real command, N processes on one port sharing the Redis replay cache, and one
        # process on the same Redis (what the Redis round trip costs, apart from the workers).
        for name, count in (("workers", WORKERS), ("redis1", 1)):
            procs[name] = start([sys.executable, "-c", "from jwtbearer.cli import main; main()",
                                 "serve", "--config", str(workdir / f"server-{name}.toml"),
                                 "--port", str(ports[name]), "--workers", str(count)])
        for name in (*OURS, "workers", "redis1"):
            wait_http(ports[name], procs[name])
        for name in ("authlib", "oidc"):
            wait_ready(ports[name], procs[name])

        import httpx

        basic = "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode()
        cc = workdir / "cc.txt"
        cc.write_text("grant_type=client_credentials&scope=api\n")
        for name in ("ours", "ours-h11", "ceiling", "oidc", "authlib", "workers", "redis1"):
            check = httpx.post(f"http://127.0.0.1:{ports[name]}/token",
                               content="grant_type=client_credentials&scope=api",
                               headers={"content-type": "application/x-www-form-urlencoded",
                                        "authorization": basic}, timeout=10.0)
            assert check.status_code == 200, (name, check.text)

        probe = CoreProbe(workdir, issuer, basic)
        runs: dict[str, list[dict[str, Any]]] = {}
        failures: list[str] = []
        for number, bodies in enumerate(rounds, 1):
            # Each of ours has its own replay cache (the workers: Redis), so the same
            # assertions are new to each; the ceiling checks none.
            plan = [("bearer_ceiling", "ceiling", bodies, ""),
                    ("cc", "ours", cc, basic),
                    ("bearer", "ours", bodies, ""),
                    ("cc_oidc", "oidc", cc, basic),
                    ("cc_authlib", "authlib", cc, basic),
                    ("h11_ceiling", "ceiling-h11", bodies, ""),
                    ("h11_cc", "ours-h11", cc, basic),
                    ("h11_bearer", "ours-h11", bodies, ""),
                    ("redis_bearer", "redis1", bodies, ""),
                    ("workers_cc", "workers", cc, basic),
                    ("workers_bearer", "workers", bodies, "")]
            for row, server, body_file, auth in plan:
                once = body_file is bodies
                if row not in CHECKS_JTI:  # warmed by the cc run just before, otherwise
                    wrk(ports[server], body_file, auth, WARMUP, script, once=once)
                redis_before = tree_cpu([procs["redis"].pid])
                result = wrk(ports[server], body_file, auth, duration, script, once=once,
                             pid=procs[server].pid, meter=server in OURS)
                result["redis_cpu_us"] = ((tree_cpu([procs["redis"].pid]) - redis_before)
                                          / max(result["requests"], 1) * 1e6)
                runs.setdefault(row, []).append(result)
                problem = refusals(result)
                if problem is not None:
                    failures.append(f"{row}, round {number}: {problem}")
                    print(f"FAILED {failures[-1]}", file=sys.stderr, flush=True)
            probe.measure()
        write_section("server", report(runs, probe.best, failures, rounds_count, duration, load))
        return 1 if failures else 0
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for sock in socks.values():
            sock.close()
        shutil.rmtree(workdir, ignore_errors=True)


def report(runs: dict[str, list[dict[str, Any]]], cost: dict[str, float], failures: list[str],
           rounds: int, duration: float, load: float) -> str:
    from _server_report import Setup, render

    return render(runs, cost, failures, Setup(
        rounds=rounds, duration=duration, warmup=WARMUP, connections=CONNECTIONS,
        passes=CoreProbe.PASSES, workers=WORKERS, body_rate=BODY_RATE, versions=versions(),
        full=(rounds, duration) == (ROUNDS, DURATION), load=load))


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=[*OURS, "authlib"])
    parser.add_argument("--fd", type=int, help="listening socket to serve on (ours)")
    parser.add_argument("--port", type=int, help="port to listen on (authlib)")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds")
    parser.add_argument("--duration", type=int, default=DURATION, help="seconds per run")
    args = parser.parse_args()
    if args.serve == "authlib":
        serve_authlib(args.port)
    elif args.serve:
        serve(args.serve, args.fd, args.dir)
    else:
        sys.exit(main(args.rounds, args.duration))
