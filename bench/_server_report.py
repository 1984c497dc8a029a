"""The ``server`` section of bench/RESULTS.md, from the runs of bench/server.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAST = "httptools + uvloop"

ROWS = (
    ("bearer", "ours: JWT bearer, RS256 assertion, EdDSA access token"),
    ("bearer_ceiling", "ours, validation and signing removed (ceiling)"),
    ("cc", "ours: client_credentials, client_secret_basic"),
    ("cc_oidc", "oidc-provider (Node.js), client_credentials, client_secret_basic"),
    ("cc_authlib", "Authlib on Flask (ES256 JWT), werkzeug threaded server"),
    ("h11_bearer", "ours on h11 + asyncio: JWT bearer"),
    ("h11_ceiling", "ours on h11 + asyncio: ceiling"),
    ("h11_cc", "ours on h11 + asyncio: client_credentials"),
    ("redis_bearer", "ours, `serve`, one process, Redis replay: JWT bearer"),
    ("workers_cc", "ours, `serve --workers {workers}`, Redis replay: client_credentials"),
    ("workers_bearer", "ours, `serve --workers {workers}`, Redis replay: JWT bearer"),
)


@dataclass(frozen=True)
class Setup:
    rounds: int
    duration: float
    warmup: float
    connections: int
    passes: int
    workers: int
    body_rate: int
    versions: str
    full: bool = True
    load: float = 0.0  # 1-minute load average when the run started


def median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r["rps"])
    return ordered[len(ordered) // 2]


def _table(runs: dict[str, list[dict[str, Any]]], m: dict[str, dict[str, Any]],
           setup: Setup) -> list[str]:
    lines = [
        "| server | requests/s | µs per request | server CPU µs per request "
        "| of it in `token()` µs | p50 ms | p99 ms | refused or failed | per-round requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, label in ROWS:
        if key not in m:
            continue
        r = m[key]
        each = ", ".join(f"{x['rps']:,.0f}" + ("*" if x["exhausted"] else "") for x in runs[key])
        token = f"{r['token_us']:.0f}" if "token_us" in r else "–"
        bad = sum(x["non2xx"] + x["errors"] for x in runs[key])
        lines.append(f"| {label.format(workers=setup.workers)} | {r['rps']:,.0f} | "
                     f"{1e6 / r['rps']:.0f} | {r['cpu_us']:.0f} | {token} | "
                     f"{r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {bad} | {each} |")
    return lines


def render(runs: dict[str, list[dict[str, Any]]], cost: dict[str, float], failures: list[str],
           setup: Setup) -> str:
    from _results import machine

    m = {name: median_run(results) for name, results in runs.items()}
    rps = {name: r["rps"] for name, r in m.items()}
    cpu = {name: r["cpu_us"] for name, r in m.items()}
    lines: list[str] = []
    if failures:
        lines += ["**FAILED: valid requests were refused, so the figures below do not count "
                  "what they claim to:**", ""]
        lines += [f"- {f}" for f in failures] + [""]
    if not setup.full:
        lines += [f"**A short run** ({setup.rounds} round(s) of {setup.duration:g} s, not the "
                  "full `make bench`): the figures are indicative only.", ""]
    lines += [
        f"Token issuances over loopback, `wrk -t1 -c{setup.connections}`, {setup.duration:g} s "
        f"per run after {setup.warmup:g} s warm-up (none where the server checks the jti of "
        f"one-shot JWT bearer bodies), median of {setup.rounds} interleaved rounds; no access "
        "log, the same request bodies for every server. "
        f"{machine()}; 2 cores shared by the servers, wrk and whatever else the machine runs "
        f"(load average {setup.load:.1f} when the run started: above 2, other work competed). "
        f"Ours is the plain ASGI app under uvicorn on {FAST} (what the `server` extra "
        "installs), one process, and again on h11 + asyncio (what runs without them), and "
        f"`jwtbearer serve --workers {setup.workers}` (the real command: {setup.workers} "
        "processes on one port, replay cache in a local redis-server).",
        "",
        "Honest by construction: a run fails the bench (exit status 1, and a line above this "
        "paragraph) if any answer has a status of 400 or more or any socket error occurs; JWT "
        f"bearer bodies are signed up front, {setup.body_rate:,} per second of a run, each "
        "carrying a fresh jti, and each is sent at most once: a run that uses them up stops at "
        "the last one and is timed over the time they lasted (marked * in the per-round "
        "column). Server CPU is utime + stime of the server process and its descendants (the "
        "workers), read from `/proc/PID/stat` before and after each run, divided by the "
        "answers counted; for ours, `token()` is the time spent in `TokenEndpoint.token`, "
        "which the server accounts for itself.",
        "",
        f"Versions: {setup.versions}.",
        "",
        *_table(runs, m, setup),
    ]
    needed = ("bearer", "bearer_ceiling", "cc", "cc_oidc", "cc_authlib", "h11_bearer",
              "h11_ceiling", "h11_cc", "redis_bearer", "workers_cc", "workers_bearer")
    if any(k not in m for k in needed):
        return "\n".join(lines)
    ceiling = rps["bearer"] / rps["bearer_ceiling"]
    oidc = rps["cc"] / rps["cc_oidc"]
    cpu_oidc = cpu["cc"] / cpu["cc_oidc"]
    lines += [
        "",
        "| ratio | measured | target |",
        "|---|---:|---:|",
        f"| server CPU per token, client_credentials: ours / oidc-provider | {cpu_oidc:.2f}x "
        "| ≤ 0.5x |",
        f"| server CPU per token: JWT bearer / client_credentials (ours) | "
        f"{cpu['bearer'] / cpu['cc']:.2f}x | ≤ 1.3x |",
        f"| server CPU per token, client_credentials: ours / Authlib | "
        f"{cpu['cc'] / cpu['cc_authlib']:.2f}x | (reported) |",
        f"| requests/s, client_credentials: ours / oidc-provider | {oidc:.2f}x | (reported) |",
        f"| requests/s, client_credentials: ours / Authlib | "
        f"{rps['cc'] / rps['cc_authlib']:.2f}x | (reported) |",
        f"| requests/s, JWT bearer / no-crypto ceiling, {FAST} | {ceiling:.2f}x | (reported) |",
        f"| requests/s, JWT bearer / no-crypto ceiling, h11 + asyncio | "
        f"{rps['h11_bearer'] / rps['h11_ceiling']:.2f}x | (reported) |",
        f"| requests/s, `--workers {setup.workers}` / one process: client_credentials | "
        f"{rps['workers_cc'] / rps['cc']:.2f}x | (reported) |",
        f"| requests/s, `--workers {setup.workers}` / one process: JWT bearer, both on Redis | "
        f"{rps['workers_bearer'] / rps['redis_bearer']:.2f}x | (reported) |",
    ]
    bearer, top, w = m["bearer"], m["bearer_ceiling"], m["workers_bearer"]
    crypto = cost["rs256_verify"] + cost["eddsa_sign"]
    lines += [
        "",
        "The token logic alone (the pure core, no HTTP, in process, the best of "
        f"{setup.passes * setup.rounds} passes) costs {cost['cc']:.0f} µs per client_credentials "
        f"request and {cost['bearer']:.0f} µs per JWT bearer request; of these, the RS256 "
        f"verification costs {cost['rs256_verify']:.0f} µs and the EdDSA signature of the "
        f"access token {cost['eddsa_sign']:.0f} µs (cryptography's OpenSSL bindings), "
        f"{crypto:.0f} µs together.",
        "",
        f"Where a request's server CPU goes, under load: the ceiling (HTTP stack, form parsing, "
        f"a fixed answer) spends {top['cpu_us']:.0f} µs, {top['token_us']:.0f} µs of it in its "
        f"`token()`, so about {top['cpu_us'] - top['token_us']:.0f} µs is uvicorn, httptools, "
        f"uvloop, the ASGI app and the kernel's loopback TCP (the kernel's share, system time: "
        f"{top['sys_us']:.0f} µs); client_credentials spends {m['cc']['cpu_us']:.0f} µs "
        f"({m['cc']['token_us']:.0f} µs in `token()`), JWT bearer {bearer['cpu_us']:.0f} µs "
        f"({bearer['token_us']:.0f} µs in `token()`; the garbage collector "
        f"{bearer['gc_us']:.1f} µs). oidc-provider spends {cpu['cc_oidc']:.0f} µs per "
        f"client_credentials token and Authlib {cpu['cc_authlib']:.0f} µs.",
        "",
        f"Redis and the workers: one process checking the jti in Redis spends "
        f"{cpu['redis_bearer']:.0f} µs per JWT bearer request (in memory: {cpu['bearer']:.0f} "
        f"µs), and redis-server {m['redis_bearer']['redis_cpu_us']:.0f} µs more; with "
        f"`--workers {setup.workers}`, {w['cpu_us']:.0f} µs (every process of the server "
        f"counted) plus {w['redis_cpu_us']:.0f} µs in redis-server. client_credentials, which "
        f"stores nothing, costs {cpu['workers_cc']:.0f} µs per request with "
        f"`--workers {setup.workers}` against {cpu['cc']:.0f} µs in one process. The cores "
        f"are shared with wrk (and redis-server), so a second worker cannot double requests/s "
        f"here: it gives {rps['workers_cc'] / rps['cc']:.2f}x for client_credentials.",
    ]
    return "\n".join(lines)
