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
2 minutes in all. ``python bench/server.py`` runs it and writes the ``server`` section of
bench/RESULTS.md; ``--serve NAME --fd N --dir D`` is how it starts each of our servers, on a
socket the harness opened (so the issuer could name its port before the server started).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
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
    from jwtbearer.demo import connected_app_table

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


def serve(name: str, fd: int, workdir: Path) -> None:
    """Run one of our servers on the listening socket ``fd`` (called as a subprocess)."""
    from jwtbearer.server.app import app_for, create_app, uvicorn_server
    from jwtbearer.server.config import load_config
    from jwtbearer.server.core import TokenEndpoint

    endpoint = TokenEndpoint(load_config(workdir / "server.toml"))
    if name.startswith("ours"):
        app: Any = app_for(endpoint)
    else:
        # Answer a token of the size ours issues: sign one sample once, at start.
        basic = "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode()
        sample = endpoint.token(b"grant_type=client_credentials&scope=api", {
            "content-type": "application/x-www-form-urlencoded", "authorization": basic})
        app = create_app(CeilingEndpoint(answer_size=len(sample.body["access_token"])))
    sock = socket.socket(fileno=fd)
    uvicorn_server(app, pure_python=name.endswith("-h11")).run(sockets=[sock])


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


def make_assertions(workdir: Path, issuer: str, count: int, tag: str) -> Path:
    """``count`` JWT bearer request bodies, each with a distinct RS256 assertion (new jti)."""
    from urllib.parse import urlencode

    from jwtbearer.assertion import make_assertion
    from jwtbearer.keys import KeyStore

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


def core_cost(workdir: Path, port: int, basic: str) -> dict[str, float]:
    """Microseconds per request of the pure core alone (no HTTP), in this process."""
    from jwtbearer.server.config import load_config
    from jwtbearer.server.core import TokenEndpoint

    endpoint = TokenEndpoint(load_config(workdir / "server.toml"))
    form = {"content-type": "application/x-www-form-urlencoded"}
    bodies = make_assertions(workdir, port, 1000, "core").read_text().splitlines()
    cost: dict[str, float] = {}
    for name, items, headers in (
            ("cc", [b"grant_type=client_credentials&scope=api"] * 2000, {**form,
                                                                         "authorization": basic}),
            ("bearer", [b.encode() for b in bodies], form)):
        start = time.perf_counter()
        for body in items:
            assert endpoint.token(body, headers).status == 200
        cost[name] = (time.perf_counter() - start) / len(items) * 1e6
    return cost


def http_stack(python: str) -> str:
    code = ("import importlib.util as u; print(','.join(m for m in ('httptools', 'uvloop') "
            "if u.find_spec(m)) or 'h11,asyncio')")
    return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip().replace(",", " + ")


def main(alt_python: str | None) -> None:
    from _results import write_section
    from jwtbearer.keys import KeyStore

    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    if not (NODE_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True, timeout=300)
    workdir = Path(tempfile.mkdtemp(prefix="jwtbearer-bench-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        KeyStore(workdir / "keys").create("svc")
        names = ["ours", "ceiling", "oidc", "authlib"] + (["alt"] if alt_python else [])
        ports = {name: free_port() for name in names}
        # The ceiling shares the config file (its issuer names ours' port; it never checks it).
        (workdir / "server.toml").write_text(config_text(ports["ours"]))
        script = workdir / "bodies.lua"
        script.write_text(WRK_SCRIPT)
        me = [sys.executable, str(Path(__file__).resolve())]
        for name in ("ours", "ceiling", "authlib"):
            procs[name] = start([*me, "--serve", name, "--port", str(ports[name]),
                                 "--dir", str(workdir)])
        procs["oidc"] = start(["node", "server.js", str(ports["oidc"]), SECRET], cwd=NODE_DIR)
        if alt_python:
            # The same server under another interpreter (e.g. one with uvicorn[standard]); the
            # source tree goes on its path, so nothing needs installing there but the stack.
            src = str(Path(__file__).resolve().parents[1] / "src")
            procs["alt"] = subprocess.Popen(
                [alt_python, str(Path(__file__).resolve()), "--serve", "ours", "--port",
                 str(ports["alt"]), "--dir", str(workdir)],
                env={**os.environ, "PYTHONPATH": src}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        for name, port in ports.items():
            wait_ready(port, procs[name])

        import httpx

        basic = "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode()
        cc = workdir / "cc.txt"
        cc.write_text("grant_type=client_credentials&scope=api\n")
        sample = httpx.post(f"http://127.0.0.1:{ports['ours']}/token", content=cc.read_text()
                            .strip(), headers={"content-type": "application/x-www-form-urlencoded",
                                               "authorization": basic})
        assert sample.status_code == 200, sample.text
        for name in ("ceiling", "oidc", "authlib"):
            check = httpx.post(f"http://127.0.0.1:{ports[name]}/token",
                               content="grant_type=client_credentials&scope=api",
                               headers={"content-type": "application/x-www-form-urlencoded",
                                        "authorization": basic})
            assert check.status_code == 200, (name, check.text)

        # Enough distinct assertions for a run at up to ~2,500 requests/s.
        per_run = 2500 * (DURATION + WARMUP)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in (
            "bearer", "bearer_ceiling", "cc", "cc_oidc", "cc_authlib")}
        if alt_python:
            runs.update({"alt_cc": [], "alt_bearer": []})
        for round_ in range(ROUNDS):
            bodies = make_assertions(workdir, ports["ours"], per_run, str(round_))
            plan = [("bearer_ceiling", ports["ceiling"], bodies, ""),
                    ("cc", ports["ours"], cc, basic),
                    ("bearer", ports["ours"], bodies, ""),
                    ("cc_oidc", ports["oidc"], cc, basic),
                    ("cc_authlib", ports["authlib"], cc, basic)]
            if alt_python:  # its own replay cache: the same assertions are new to it
                plan += [("alt_cc", ports["alt"], cc, basic),
                         ("alt_bearer", ports["alt"], bodies, "")]
            for name, port, body_file, auth in plan:
                # Warmed by the cc run just before; assertions are one-shot, so no warm-up.
                if name in ("bearer", "alt_bearer"):
                    runs[name].append(wrk(port, body_file, auth, DURATION, script))
                    continue
                wrk(port, body_file, auth, WARMUP, script)
                runs[name].append(wrk(port, body_file, auth, DURATION, script))
        cost = core_cost(workdir, ports["ours"], basic)
        write_section("server", report(runs, cost, http_stack(sys.executable),
                                       http_stack(alt_python) if alt_python else None))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r["rps"])
    return ordered[len(ordered) // 2]


def report(runs: dict[str, list[dict[str, Any]]], cost: dict[str, float], stack: str,
           alt_stack: str | None) -> str:
    from _results import machine

    m = {name: median_run(results) for name, results in runs.items()}
    rows = [
        ("bearer", "ours: JWT bearer, RS256 assertion, EdDSA access token"),
        ("bearer_ceiling", "ours, validation and signing removed (ceiling)"),
        ("cc", "ours: client_credentials, client_secret_basic"),
        ("cc_oidc", "oidc-provider 9 (Node.js " + node_version() + ")"),
        ("cc_authlib",
         f"Authlib {authlib_version()} on Flask (ES256 JWT), werkzeug threaded server"),
    ]
    if alt_stack:
        rows += [("alt_cc", f"ours: client_credentials, uvicorn on {alt_stack}"),
                 ("alt_bearer", f"ours: JWT bearer, uvicorn on {alt_stack}")]
    lines = [
        f"Token issuances over loopback, `wrk -t1 -c{CONNECTIONS}`, {DURATION} s per run after "
        f"{WARMUP} s warm-up, median of {ROUNDS} interleaved rounds. {machine()}; 2 cores shared "
        "by the server, wrk and whatever else the machine runs. Python servers: one process, no "
        f"access log; ours and the ceiling under uvicorn on {stack}.",
        "",
        "| server | requests/s | p50 ms | p99 ms | non-2xx | per-round requests/s |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, label in rows:
        r = m[key]
        each = ", ".join(f"{x['rps']:,.0f}" for x in runs[key])
        lines.append(f"| {label} | {r['rps']:,.0f} | {r['p50_us'] / 1000:.2f} | "
                     f"{r['p99_us'] / 1000:.2f} | {r['non2xx'] + r['errors']} | {each} |")
    ceiling = m["bearer"]["rps"] / m["bearer_ceiling"]["rps"]
    oidc = m["cc"]["rps"] / m["cc_oidc"]["rps"]
    authlib = m["cc"]["rps"] / m["cc_authlib"]["rps"]
    lines += [
        "",
        "| ratio | measured | target |",
        "|---|---:|---:|",
        f"| JWT bearer / no-crypto ceiling | {ceiling:.2f}x | ≥ 0.55x |",
        f"| client_credentials: ours / oidc-provider | {oidc:.2f}x | ≥ 2x |",
        f"| client_credentials: ours / Authlib | {authlib:.2f}x | (reported) |",
        "",
        f"The token logic alone (the pure core, no HTTP, in process) costs {cost['cc']:.0f} µs "
        f"per client_credentials request and {cost['bearer']:.0f} µs per JWT bearer request "
        "(RS256 verification, checks, replay cache, EdDSA signing).",
    ]
    if ceiling < 0.55:
        lines += ["", "**Missed: ≥ 0.55x of the ceiling.** The crypto and checks above cost "
                  "more than 0.8x of the per-request HTTP time of the ceiling on this run."]
    if oidc < 2:
        oidc_rps = m["cc_oidc"]["rps"]
        lines += [
            "",
            f"**Missed: ≥ 2x oidc-provider.** oidc-provider answers {oidc_rps:,.0f} "
            f"requests/s here, {oidc_rps / 1265:.1f}x the 1,160–1,370 measured when the target "
            f"was set, and our own app with no crypto at all reaches "
            f"{m['bearer_ceiling']['rps'] / oidc_rps:.2f}x of it: the gap is the HTTP stack of "
            f"one CPython process (uvicorn on {stack}: about "
            f"{1e6 / m['bearer_ceiling']['rps']:.0f} µs per request before any token logic), "
            f"not the token logic ({cost['cc']:.0f} µs). 2x would need "
            f"{2 * oidc_rps:,.0f} requests/s, {1e6 / (2 * oidc_rps):.0f} µs per request in "
            "all: more than the ceiling itself, the same app with no token logic, reaches on "
            "this machine.",
        ]
        if alt_stack:
            lines.append(
                f"With uvicorn[standard] ({alt_stack}; rows marked so, run with "
                "`bench/server.py --alt-python <a Python with uvicorn[standard]>`), ours does "
                f"{m['alt_cc']['rps']:,.0f} requests/s, {m['alt_cc']['rps'] / oidc_rps:.2f}x "
                "oidc-provider: the `server` extra should pull it in.")
    return "\n".join(lines)


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except OSError:
        return "?"


def authlib_version() -> str:
    import authlib

    return str(authlib.__version__)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=["ours", "ceiling", "authlib"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--alt-python", help="also run ours under this interpreter "
                        "(e.g. a venv with uvicorn[standard]) and report it in extra rows")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.dir)
    else:
        main(args.alt_python)
