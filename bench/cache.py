"""Cached-token fast path and stampede bench (writes the ``cache`` section of RESULTS.md).

1. ``token()`` on a fresh token against a floor (a dict lookup and a clock comparison) and
   against the equivalent "ensure active token" path of Authlib, requests-oauth2client and
   google-auth, all interleaved in one run (rounds, shuffled order, median per contender).
2. ``BearerAuth`` setting the header on an httpx request (the whole auth-flow step httpx takes:
   create the flow, ``next()``, ``send(response)``) against setting the header yourself.
3. Stampede: 50 threads needing a token at once, counted at a slow loopback token endpoint.

Run: ``.venv/bin/python bench/cache.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib.metadata
import json
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Authlib refuses http:// token endpoints unless told this is a test; ours is on loopback.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import httpx
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account
from requests_oauth2client import (
    BearerToken,
    OAuth2Client,
    OAuth2ClientCredentialsAuth,
)

import jwtbearer as jb
from _results import machine, write_section

ROUNDS = 21
CALLS = 20_000
STAMPEDE_THREADS = 50
ENDPOINT_DELAY = 0.2


# -- a loopback token endpoint that counts POSTs ---------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 50 simultaneous connects must not overflow the backlog


@contextmanager
def counting_endpoint() -> Iterator[tuple[str, list[int]]]:
    count = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                count[0] += 1
                number = count[0]
            time.sleep(ENDPOINT_DELAY)
            body = json.dumps({"access_token": f"at-{number}", "token_type": "Bearer",
                               "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token", count
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- contenders -------------------------------------------------------------------------------

TOKEN = jb.Token(access_token="at-bench-" + "x" * 40, expires_at=time.time() + 3600)
_FLOOR_CACHE = {"k": (TOKEN, TOKEN.expires_at - 60)}  # type: ignore[operator]


def floor_token() -> jb.Token:
    entry = _FLOOR_CACHE["k"]
    if time.time() < entry[1]:
        return entry[0]
    raise AssertionError("the floor token expired during the bench")


def google_credentials(token_uri: str) -> service_account.Credentials:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "client_email": "svc@bench.iam.example",
            "private_key": pem, "private_key_id": "k1", "token_uri": token_uri,
            "project_id": "bench"}
    return service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )


def build_fast_path(url: str) -> dict[str, Callable[[], Any]]:
    """Each contender, holding a fresh token, returning it the way its library does."""
    ours = jb.CachedSource(jb.TokenClient(url).source(jb.ClientCredentials(scope="api")))
    ours._adopt(TOKEN)  # the same fresh token every contender holds

    session = OAuth2Session("svc", "secret", token_endpoint=url, grant_type="client_credentials",
                            token={"access_token": TOKEN.access_token, "token_type": "Bearer",
                                   "expires_at": int(time.time()) + 3600})

    def authlib_token() -> Any:
        session.ensure_active_token()
        return session.token

    roc = OAuth2ClientCredentialsAuth(
        OAuth2Client(token_endpoint=url, client_id="svc", client_secret="secret", testing=True),
        scope="api", token=BearerToken(TOKEN.access_token, expires_in=3600),
    )

    def roc_token() -> Any:
        # OAuth2AccessTokenAuth.__call__'s check, without its header step.
        if roc.token is None or roc.token.is_expired(roc.leeway):
            roc.renew_token()
        return roc.token

    creds = google_credentials(url)
    creds.token = TOKEN.access_token
    creds.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)

    def google_token() -> Any:
        # Credentials._blocking_refresh's check (what before_request runs), then the token.
        if not creds.valid:
            creds.refresh(GoogleRequest())
        return creds.token

    return {
        "floor (dict lookup + clock compare)": floor_token,
        "jwtbearer CachedSource.token()": ours.token,
        "Authlib OAuth2Session.ensure_active_token()": authlib_token,
        "requests-oauth2client OAuth2ClientCredentialsAuth check": roc_token,
        "google-auth Credentials.valid check": google_token,
    }


def build_header_path(url: str) -> dict[str, Callable[[], Any]]:
    """Putting the token on an outgoing request."""
    source = jb.CachedSource(jb.TokenClient(url).source(jb.ClientCredentials(scope="api")))
    source._adopt(TOKEN)
    auth = jb.BearerAuth(source)
    request = httpx.Request("GET", "https://api.example.com/v1/accounts")
    ok = httpx.Response(200, request=request)

    def floor_header() -> None:
        entry = _FLOOR_CACHE["k"]
        if time.time() < entry[1]:
            request.headers["Authorization"] = "Bearer " + entry[0].access_token

    def bearer_auth() -> None:
        flow = auth.sync_auth_flow(request)
        next(flow)
        with suppress(StopIteration):
            flow.send(ok)

    prepared = requests.Request("GET", "https://api.example.com/v1/accounts").prepare()

    def floor_requests() -> None:
        entry = _FLOOR_CACHE["k"]
        if time.time() < entry[1]:
            prepared.headers["Authorization"] = "Bearer " + entry[0].access_token

    session = OAuth2Session("svc", "secret", token_endpoint=url, grant_type="client_credentials",
                            token={"access_token": TOKEN.access_token, "token_type": "Bearer",
                                   "expires_at": int(time.time()) + 3600})
    roc = OAuth2ClientCredentialsAuth(
        OAuth2Client(token_endpoint=url, client_id="svc", client_secret="secret", testing=True),
        scope="api", token=BearerToken(TOKEN.access_token, expires_in=3600),
    )
    creds = google_credentials(url)
    creds.token = TOKEN.access_token
    creds.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    google_request = GoogleRequest()

    return {
        "floor: set the header on an httpx.Request": floor_header,
        "jwtbearer BearerAuth (httpx auth flow step)": bearer_auth,
        "floor: set the header on a requests.PreparedRequest": floor_requests,
        "Authlib OAuth2Session.token_auth (requests)": lambda: session.token_auth(prepared),
        "requests-oauth2client auth (requests)": lambda: roc(prepared),
        # A new dict per call: google-auth appends to its metrics header on every call.
        "google-auth before_request": lambda: creds.before_request(
            google_request, "GET", "https://api.example.com/v1/accounts", {}),
    }


def measure(contenders: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median ns per call over ROUNDS interleaved rounds (loop overhead subtracted)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    rng = random.Random(7)
    for fn in contenders.values():  # warm up
        for _ in range(1000):
            fn()
    for _ in range(ROUNDS):
        rng.shuffle(names)
        for name in names:
            fn = contenders[name]
            loop = range(CALLS)
            gc.disable()
            start = time.perf_counter_ns()
            for _ in loop:
                pass
            empty = time.perf_counter_ns() - start
            start = time.perf_counter_ns()
            for _ in loop:
                fn()
            spent = time.perf_counter_ns() - start
            gc.enable()
            samples[name].append((spent - empty) / CALLS)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_async() -> dict[str, float]:
    """``await source.token()`` on AsyncCachedSource against an awaited floor coroutine."""
    source = jb.AsyncCachedSource(
        jb.AsyncTokenClient("http://127.0.0.1:9/token").source(jb.ClientCredentials())
    )
    source._adopt(TOKEN)

    async def floor() -> jb.Token:
        entry = _FLOOR_CACHE["k"]
        if time.time() < entry[1]:
            return entry[0]
        raise AssertionError

    async def run() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"async floor (awaited)": [],
                                       "jwtbearer AsyncCachedSource.token() (awaited)": []}
        fns = {"async floor (awaited)": floor,
               "jwtbearer AsyncCachedSource.token() (awaited)": source.token}
        for _ in range(ROUNDS):
            for name, fn in fns.items():
                start = time.perf_counter_ns()
                for _ in range(CALLS):
                    await fn()
                out[name].append((time.perf_counter_ns() - start) / CALLS)
        return out

    return {k: statistics.median(v) for k, v in asyncio.run(run()).items()}


# -- stampede ---------------------------------------------------------------------------------


def stampede(name: str, url: str, count: list[int]) -> int:
    """POSTs sent when STAMPEDE_THREADS threads need a token at the same moment."""
    count[0] = 0
    if name == "jwtbearer CachedSource":
        client = jb.TokenClient(url, auth=jb.ClientSecretBasic("svc", "secret"))
        source = jb.CachedSource(client.source(jb.ClientCredentials(scope="api")))
        call: Callable[[], Any] = source.token
    elif name == "Authlib OAuth2Session":
        session = OAuth2Session("svc", "secret", token_endpoint=url,
                                grant_type="client_credentials",
                                token={"access_token": "old", "token_type": "Bearer",
                                       "expires_at": int(time.time()) - 10})
        call = session.ensure_active_token
    elif name == "requests-oauth2client":
        roc = OAuth2ClientCredentialsAuth(
            OAuth2Client(token_endpoint=url, client_id="svc", client_secret="secret",
                         testing=True), scope="api")
        call = lambda: roc(requests.Request("GET", "http://127.0.0.1/").prepare())  # noqa: E731
    else:
        creds = google_credentials(url)
        call = lambda: creds.before_request(GoogleRequest(), "GET", "http://127.0.0.1/", {})  # noqa: E731
    barrier = threading.Barrier(STAMPEDE_THREADS, timeout=30)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(STAMPEDE_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise RuntimeError(f"{name}: {len(errors)} threads failed: {errors[0]!r}")
    return count[0]


# -- report -----------------------------------------------------------------------------------


def table(results: dict[str, float], floor: str, rows: list[str]) -> list[str]:
    lines = ["| contender | ns per call | × floor |", "|---|---:|---:|"]
    for name in rows:
        lines.append(f"| {name} | {results[name]:,.0f} | {results[name] / results[floor]:.2f}x |")
    return lines


def main() -> None:
    started = time.monotonic()
    with counting_endpoint() as (url, count):
        fast = measure(build_fast_path(url))
        header = measure(build_header_path(url))
        async_fast = measure_async()
        storm = {name: stampede(name, url, count) for name in (
            "jwtbearer CachedSource", "Authlib OAuth2Session", "requests-oauth2client",
            "google-auth service_account.Credentials")}
    floor_name = "floor (dict lookup + clock compare)"
    ours = fast["jwtbearer CachedSource.token()"] / fast[floor_name]
    header_floor = "floor: set the header on an httpx.Request"
    ours_header = header["jwtbearer BearerAuth (httpx auth flow step)"] / header[header_floor]
    lines = [
        "### Cached token fast path (`bench/cache.py`)",
        "",
        f"{machine()}. Median of {ROUNDS} interleaved rounds of {CALLS:,} calls; the empty "
        "loop's cost is subtracted. Every contender holds the same fresh token. Versions: "
        + ", ".join(f"{name} {importlib.metadata.version(name)}" for name in (
            "authlib", "requests-oauth2client", "google-auth", "httpx", "requests")) + ".",
        "",
        *table(fast, floor_name, list(fast)),
        "",
        f"Target ≤ 3x floor for `token()`: **{ours:.2f}x** "
        f"({'met' if ours <= 3 else 'missed'}).",
        "",
        *table(async_fast, "async floor (awaited)", list(async_fast)),
        "",
        "#### Putting the token on a request",
        "",
        "BearerAuth is timed as httpx runs it per request: create the auth flow, `next()` it, "
        "`send()` the response. The peers work on requests' PreparedRequest (and google-auth "
        "on a dict), so their rows are against the httpx floor and shown for reference next to "
        "the requests floor.",
        "",
        *table(header, header_floor, list(header)),
        "",
        f"Target ≤ 5x floor for BearerAuth: **{ours_header:.2f}x** "
        f"({'met' if ours_header <= 5 else 'missed'}).",
        "",
        f"#### Stampede: {STAMPEDE_THREADS} threads need a token at once",
        "",
        f"Loopback token endpoint answering after {ENDPOINT_DELAY * 1000:.0f} ms; POSTs counted "
        "by the endpoint.",
        "",
        "| client | token POSTs |",
        "|---|---:|",
        *[f"| {name} | {posts} |" for name, posts in storm.items()],
        "",
        f"Whole bench: {time.monotonic() - started:.0f} s.",
    ]
    write_section("cache", "\n".join(lines))


if __name__ == "__main__":
    main()
