"""Token endpoint throughput: the reference server against its no-crypto ceiling and two peers.

Load comes from a second process on loopback: ``wrk -t1 -c8`` for a fixed time per run, POST
bodies rotated by a Lua script, the same bodies for every server of a comparison. Every server
runs one process, no access log:

- ours, JWT bearer with an RS256 assertion (distinct pre-signed assertions, so the jti replay
  cache accepts each), against the same ASGI app with validation and signing removed (form
  parsed, a fixed answer of the same size: the ceiling);
- ours, client_credentials with client_secret_basic, against oidc-provider (npm, Node.js) and a
  minimal Authlib AuthorizationServer on Flask (RFC 9068 JWT access tokens, like ours);
- ours and the ceiling again on uvicorn's pure-Python stack (h11 + asyncio), which is what runs
  when httptools and uvloop are not installed.

Runs are interleaved over ``ROUNDS`` rounds and the median round is reported. Bounded: about
3 minutes in all. ``python bench/server.py`` runs it and writes the ``server`` section of
bench/RESULTS.md; ``--serve NAME --fd N --dir D`` is how it starts each of our servers, on a
socket the harness opened (so the issuer could name its port before the server started).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
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

ROUNDS = 3
DURATION = 3  # seconds of load per run
WARMUP = 1
CONNECTIONS = 8
SECRET = "bench-secret-0123456789abcdef"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
NODE_DIR = Path(__file__).resolve().parent / "node"

WRK_SCRIPT = r"""
local bodies = {}
local i = 0
local auth = nil
function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
  if args[2] ~= nil and args[2] ~= "" then auth = args[2] end
end
function request()
  i = i % #bodies + 1
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  if auth then headers["Authorization"] = auth end
  return wrk.format("POST", "/token", headers, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# -- the servers ------------------------------------------------------------------------------

def config_text(issuer: str) -> str:
    from jwtbearer.cli.demo import connected_app_table

    return f"""
issuer = "{issuer}"
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


class CeilingEndpoint:
    """The same app with validation and signing removed: parse the form, answer a fixed token."""

    def __init__(self, answer_size: int) -> None:
        from jwtbearer.server.core import Response

        self._response = Response(
            status=200,
            body={"access_token": "x" * answer_size, "token_type": "Bearer", "expires_in": 3600,
                  "scope": "api"},
            headers=(("cache-control", "no-store"), ("pragma", "no-cache")))
        self._error = Response(status=400, body={"error": "invalid_request"})

    def token(self, body: bytes, headers: Any) -> Any:
        from urllib.parse import parse_qsl

        form = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))
        return self._response if "grant_type" in form else self._error

    def jwks(self) -> Any:
        return self._error

    def metadata(self) -> Any:
        return self._error


def authlib_app(port: int) -> Any:
    import hmac

    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2.rfc6749 import ClientMixin, grants
    from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
    from flask import Flask
    from joserfc.jwk import ECKey, KeySet

    # joserfc (under Authlib) refuses EdDSA as "not recommended"; ES256 costs about the same.
    keyset = KeySet([ECKey.generate_key("P-256")])

    class Client(ClientMixin):  # type: ignore[misc]
        client_id = "bench"

        def get_client_id(self) -> str:
            return self.client_id

        def get_default_redirect_uri(self) -> None:
            return None

        def get_allowed_scope(self, scope: str) -> str:
            return " ".join(s for s in (scope or "").split() if s == "api")

        def check_redirect_uri(self, redirect_uri: str) -> bool:
            return False

        def check_client_secret(self, client_secret: str) -> bool:
            return hmac.compare_digest(client_secret.encode(), SECRET.encode())

        def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
            return method == "client_secret_basic"

        def check_response_type(self, response_type: str) -> bool:
            return False

        def check_grant_type(self, grant_type: str) -> bool:
            return grant_type == "client_credentials"

    class Generator(JWTBearerTokenGenerator):  # type: ignore[misc]
        def get_jwks(self) -> Any:
            return keyset

    client = Client()
    app = Flask("authlib-bench")
    server = AuthorizationServer(app, query_client=lambda cid: client if cid == "bench" else None,
                                 save_token=lambda token, request: None)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_token_generator(
        "client_credentials", Generator(issuer=f"http://127.0.0.1:{port}", alg="ES256"))

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    return app


def serve_authlib(port: int) -> None:
    """Run the Authlib server in this process (called as a subprocess by the bench)."""
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", port, authlib_app(port), threaded=True)


class Metered:
    """Wraps an endpoint's ``token`` to add up the time spent in it, and an ASGI app to answer
    ``GET /_bench`` with that sum, the count and the process's CPU time: the harness reads it
    before and after each run, to split a request's cost between the token logic and the rest
    (the HTTP stack) as the server really ran it, and the time the garbage collector took.
    Costs two clock reads a request; the ceiling is metered the same way."""

    def __init__(self, endpoint: Any) -> None:
        self._endpoint = endpoint
        self.calls = 0
        self.seconds = 0.0
        self.gc_seconds = 0.0
        self._gc_started = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds += time.perf_counter() - self._gc_started

    def token(self, body: bytes, headers: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._endpoint.token(body, headers)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def jwks(self) -> Any:
        return self._endpoint.jwks()

    def metadata(self) -> Any:
        return self._endpoint.metadata()

    def wrap(self, app: Any) -> Any:
        async def metered_app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/_bench":
                body = json.dumps({"calls": self.calls, "seconds": self.seconds,
                                   "gc": self.gc_seconds,
                                   "cpu": time.process_time()}).encode()
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await app(scope, receive, send)
        return metered_app


def serve(name: str, fd: int, workdir: Path) -> None:
    """Run one of our servers on the listening socket ``fd`` (called as a subprocess)."""
    from jwtbearer.server.app import create_app, uvicorn_server
    from jwtbearer.server.config import load_config
    from jwtbearer.server.core import TokenEndpoint

    endpoint = TokenEndpoint(load_config(workdir / "server.toml"))
    if name.startswith("ours"):
        meter = Metered(endpoint)
    else:
        # Answer a token of the size ours issues: sign one sample once, at start.
        basic = "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode()
        sample = endpoint.token(b"grant_type=client_credentials&scope=api", {
            "content-type": "application/x-www-form-urlencoded", "authorization": basic})
        meter = Metered(CeilingEndpoint(answer_size=len(sample.body["access_token"])))
    app = create_app(meter, max_body_size=endpoint.config.max_body_size)
    sock = socket.socket(fileno=fd)
    uvicorn_server(meter.wrap(app), pure_python=name.endswith("-h11")).run(sockets=[sock])


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


def wrk(port: int, bodies: Path, auth: str, duration: int, script: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "5s", "-s", str(script),
         f"http://127.0.0.1:{port}/token", "--", str(bodies), auth],
        capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def metered(port: int) -> dict[str, float]:
    """The server's ``/_bench`` counters (see :class:`Metered`)."""
    import httpx

    answer: dict[str, float] = httpx.get(f"http://127.0.0.1:{port}/_bench", timeout=10.0).json()
    return answer


def metered_wrk(port: int, bodies: Path, auth: str, duration: int,
                script: Path) -> dict[str, Any]:
    """:func:`wrk` on one of ours, plus the server's own account of the run: CPU time per
    request (``cpu_us``) and time inside ``TokenEndpoint.token`` per request (``token_us``)."""
    before = metered(port)
    result = wrk(port, bodies, auth, duration, script)
    after = metered(port)
    calls = max(after["calls"] - before["calls"], 1)
    result["cpu_us"] = (after["cpu"] - before["cpu"]) / calls * 1e6
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


def assertion_bodies(workdir: Path, issuer: str, per_round: int) -> list[Path]:
    """Every round's bearer bodies, signed up front on both cores (RSA signing is slow)."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        halves = [[pool.submit(make_assertions, workdir, issuer, per_round // 2, f"{r}-{h}")
                   for h in (0, 1)] for r in range(ROUNDS)]
        paths = []
        for r, futures in enumerate(halves):
            path = workdir / f"bearer-{r}.txt"
            path.write_text("".join(f.result().read_text() for f in futures))
            paths.append(path)
    return paths


def main() -> None:
    from _results import write_section
    from jwtbearer.jose.keystore import KeyStore
    from jwtbearer.server.app import listen_socket

    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    if not (NODE_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True, timeout=300)
    workdir = Path(tempfile.mkdtemp(prefix="jwtbearer-bench-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    # Ours listen on sockets opened here, so the issuer names the port before any server runs.
    socks = {name: listen_socket() for name in OURS}
    try:
        ports = {name: int(sock.getsockname()[1]) for name, sock in socks.items()}
        ports.update(oidc=free_port(), authlib=free_port())
        # One configuration for all of ours: the issuer names ours' port, and the others never
        # check it against their own (the ceiling checks nothing; ours-h11 accepts that aud).
        issuer = f"http://127.0.0.1:{ports['ours']}"
        KeyStore(workdir / "keys").create("svc")
        (workdir / "server.toml").write_text(config_text(issuer))
        script = workdir / "bodies.lua"
        script.write_text(WRK_SCRIPT)
        # Enough distinct assertions for a run at up to 4,000 requests/s, made before any load.
        rounds = assertion_bodies(workdir, issuer, 4000 * DURATION)

        me = [sys.executable, str(Path(__file__).resolve())]
        for name, sock in socks.items():
            procs[name] = subprocess.Popen(
                [*me, "--serve", name, "--fd", str(sock.fileno()), "--dir", str(workdir)],
                pass_fds=(sock.fileno(),), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs["authlib"] = start([*me, "--serve", "authlib", "--port", str(ports["authlib"])])
        procs["oidc"] = start(["node", "server.js", str(ports["oidc"]), SECRET], cwd=NODE_DIR)
        for name in OURS:
            wait_http(ports[name], procs[name])
        for name in ("authlib", "oidc"):
            wait_ready(ports[name], procs[name])

        import httpx

        basic = "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode()
        cc = workdir / "cc.txt"
        cc.write_text("grant_type=client_credentials&scope=api\n")
        for name in ("ours", "ours-h11", "ceiling", "oidc", "authlib"):
            check = httpx.post(f"http://127.0.0.1:{ports[name]}/token",
                               content="grant_type=client_credentials&scope=api",
                               headers={"content-type": "application/x-www-form-urlencoded",
                                        "authorization": basic}, timeout=10.0)
            assert check.status_code == 200, (name, check.text)

        probe = CoreProbe(workdir, issuer, basic)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in (
            "bearer", "bearer_ceiling", "cc", "cc_oidc", "cc_authlib", "h11_bearer",
            "h11_ceiling", "h11_cc")}
        for bodies in rounds:
            # The h11 server has its own replay cache: the same assertions are new to it.
            plan = [("bearer_ceiling", ports["ceiling"], bodies, ""),
                    ("cc", ports["ours"], cc, basic),
                    ("bearer", ports["ours"], bodies, ""),
                    ("cc_oidc", ports["oidc"], cc, basic),
                    ("cc_authlib", ports["authlib"], cc, basic),
                    ("h11_ceiling", ports["ceiling-h11"], bodies, ""),
                    ("h11_cc", ports["ours-h11"], cc, basic),
                    ("h11_bearer", ports["ours-h11"], bodies, "")]
            for name, port, body_file, auth in plan:
                # Warmed by the cc run just before; assertions are one-shot, so no warm-up.
                if not name.endswith("bearer"):
                    wrk(port, body_file, auth, WARMUP, script)
                measure = wrk if name in ("cc_oidc", "cc_authlib") else metered_wrk
                runs[name].append(measure(port, body_file, auth, DURATION, script))
            probe.measure()
        write_section("server", report(runs, probe.best))
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


def median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r["rps"])
    return ordered[len(ordered) // 2]


def report(runs: dict[str, list[dict[str, Any]]], cost: dict[str, float]) -> str:
    from _results import machine

    m = {name: median_run(results) for name, results in runs.items()}
    rps = {name: r["rps"] for name, r in m.items()}
    fast = "httptools + uvloop"
    rows = [
        ("bearer", "ours: JWT bearer, RS256 assertion, EdDSA access token"),
        ("bearer_ceiling", "ours, validation and signing removed (ceiling)"),
        ("cc", "ours: client_credentials, client_secret_basic"),
        ("cc_oidc", "oidc-provider (Node.js), client_credentials, client_secret_basic"),
        ("cc_authlib", "Authlib on Flask (ES256 JWT), werkzeug threaded server"),
        ("h11_bearer", "ours on h11 + asyncio: JWT bearer"),
        ("h11_ceiling", "ours on h11 + asyncio: ceiling"),
        ("h11_cc", "ours on h11 + asyncio: client_credentials"),
    ]
    lines = [
        f"Token issuances over loopback, `wrk -t1 -c{CONNECTIONS}`, {DURATION} s per run after "
        f"{WARMUP} s warm-up (none for the one-shot JWT bearer bodies), median of {ROUNDS} "
        f"interleaved rounds; every server one process, no access log, the same request bodies. "
        f"{machine()}; 2 cores shared by the server, wrk and whatever else the machine runs. "
        f"Ours is the plain ASGI app under uvicorn on {fast} (what the `server` extra installs), "
        "and again on h11 + asyncio (what runs without them).",
        "",
        f"Versions: {versions()}.",
        "",
        "| server | requests/s | µs per request | server CPU µs per request "
        "| of it in `token()` µs | p50 ms | p99 ms | non-2xx | per-round requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, label in rows:
        r = m[key]
        each = ", ".join(f"{x['rps']:,.0f}" for x in runs[key])
        cpu = f"{r['cpu_us']:.0f} | {r['token_us']:.0f}" if "cpu_us" in r else "– | –"
        lines.append(f"| {label} | {r['rps']:,.0f} | {1e6 / r['rps']:.0f} | {cpu} | "
                     f"{r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | "
                     f"{r['non2xx'] + r['errors']} | {each} |")
    ceiling = rps["bearer"] / rps["bearer_ceiling"]
    h11_ceiling = rps["h11_bearer"] / rps["h11_ceiling"]
    oidc = rps["cc"] / rps["cc_oidc"]
    lines += [
        "",
        "| ratio | measured | target |",
        "|---|---:|---:|",
        f"| JWT bearer / no-crypto ceiling, {fast} | {ceiling:.2f}x | ≥ 0.55x |",
        f"| JWT bearer / no-crypto ceiling, h11 + asyncio | {h11_ceiling:.2f}x | ≥ 0.55x |",
        f"| client_credentials: ours / oidc-provider | {oidc:.2f}x | ≥ 2x |",
        f"| client_credentials: ours on h11 + asyncio / oidc-provider | "
        f"{rps['h11_cc'] / rps['cc_oidc']:.2f}x | (reported) |",
        f"| client_credentials: ours / Authlib | {rps['cc'] / rps['cc_authlib']:.2f}x | "
        "(reported) |",
        "",
        "The token logic alone (the pure core, no HTTP, in process, the best of "
        f"{CoreProbe.PASSES * ROUNDS} passes, one set per round) costs "
        f"{cost['cc']:.0f} µs per client_credentials request and {cost['bearer']:.0f} µs per "
        f"JWT bearer request; of these, the RS256 verification costs {cost['rs256_verify']:.0f} "
        f"µs and the EdDSA signature of the access token {cost['eddsa_sign']:.0f} µs "
        "(cryptography's OpenSSL bindings).",
    ]
    stack_us = 1e6 / rps["bearer_ceiling"]
    bearer, top = m["bearer"], m["bearer_ceiling"]
    budget = stack_us / 0.55 - stack_us
    crypto = cost["rs256_verify"] + cost["eddsa_sign"]
    added = 1e6 / rps["bearer"] - stack_us
    http_bearer = bearer["cpu_us"] - bearer["token_us"]
    http_ceiling = top["cpu_us"] - top["token_us"]
    round_ratios = ", ".join(f"{b['rps'] / c['rps']:.2f}x" for b, c in
                             zip(runs["bearer"], runs["bearer_ceiling"], strict=True))
    verdict = ("**Met" if ceiling >= 0.55 else "**Missed") + f" on {fast}: ≥ 0.55x of the "
    verdict += f"ceiling** ({ceiling:.3f}x)."
    lines += [
        "",
        f"{verdict} Per round (the two runs of a round are a few seconds apart): "
        f"{round_ratios}. The ceiling costs "
        f"{stack_us:.0f} µs per request here ({1e6 / rps['h11_ceiling']:.0f} µs on h11 + "
        f"asyncio), so 0.55x leaves {budget:.0f} µs for everything the JWT bearer grant adds to "
        f"a request; it adds {added:.0f} µs. The servers account for their own time (table: "
        f"CPU time of the server process per request, and the time spent in "
        f"`TokenEndpoint.token`, both read from the server around each run): the JWT bearer "
        f"server spends {bearer['cpu_us']:.0f} µs of CPU per request, {bearer['token_us']:.0f} "
        f"µs of it in the token logic, which leaves {http_bearer:.0f} µs for the HTTP stack "
        f"against {http_ceiling:.0f} µs in the ceiling (whose `token()` only parses the form, "
        f"{top['token_us']:.0f} µs). So of the {added:.0f} µs the grant adds, "
        f"{bearer['token_us'] - top['token_us']:.0f} µs is its token logic and "
        f"{http_bearer - http_ceiling:+.0f} µs the rest of the server's work; the garbage "
        f"collector takes {bearer['gc_us']:.1f} µs a request (ceiling: {top['gc_us']:.1f} "
        "µs), so neither it nor the replay cache's growth is where the time goes. In "
        f"process, on an idle moment, the same token logic costs {cost['bearer']:.0f} µs, "
        f"{crypto:.0f} µs of it the two signature operations (RS256 verification "
        f"{cost['rs256_verify']:.0f} µs, EdDSA signing {cost['eddsa_sign']:.0f} µs) and "
        f"{cost['bearer'] - crypto:.0f} µs strict parsing, the RFC 7523 checks, the replay "
        f"cache and building the access token. Under load it costs "
        f"{bearer['token_us'] / cost['bearer']:.2f}x that ({bearer['token_us']:.0f} µs), and "
        f"the ceiling's form parsing {top['token_us'] / cost['ceiling']:.2f}x its in-process "
        f"{cost['ceiling']:.0f} µs: code runs slower in a server that shares two cores with "
        "wrk than in a tight loop with warm caches, and at different speeds from one run to "
        "the next, which is why the rounds spread.",
    ]
    if oidc < 2:
        oidc_rps = rps["cc_oidc"]
        lines += [
            "",
            f"**Missed: ≥ 2x oidc-provider.** oidc-provider answers {oidc_rps:,.0f} "
            f"requests/s here, {oidc_rps / 1265:.1f}x the 1,160–1,370 measured when the target "
            f"was set. 2x needs {2 * oidc_rps:,.0f} requests/s, "
            f"{1e6 / (2 * oidc_rps):.0f} µs per request in all; ours spends "
            f"{1e6 / rps['cc']:.0f}, about {stack_us:.0f} µs in the HTTP stack of one CPython "
            f"process (the ceiling, which does no token work) and about {cost['cc']:.0f} µs of "
            f"token logic, {cost['eddsa_sign']:.0f} µs of it the EdDSA signature. Even a token "
            f"endpoint that cost nothing would reach {rps['bearer_ceiling'] / oidc_rps:.2f}x "
            "of oidc-provider on this stack.",
        ]
    return "\n".join(lines)


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
    args = parser.parse_args()
    if args.serve == "authlib":
        serve_authlib(args.port)
    elif args.serve:
        serve(args.serve, args.fd, args.dir)
    else:
        main()
