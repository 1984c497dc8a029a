"""A token endpoint that echoes every secret it is sent: none of them may reach a message.

The server on 127.0.0.1 quotes what it received (the ``Authorization`` header and its decoded
``id:secret`` pair, the client secret, the assertions, a DPoP proof, a refresh token) into each
field of its error answers, into form-encoded and plain-text bodies, into an HTML page that dumps
the request headers, and into broken 200 answers. For every client authentication method and the
JWT bearer grant, everything the caller can see is searched for each secret (raw, urlencoded,
Base64 of both Basic encodings, assertion and proof signatures, in any letter case): ``str``,
``repr``, ``args`` and every attribute of the exception and of its causes, the log records at
DEBUG, the Apex-style exchange, a cached source's warning after a failed refresh, and the
output of ``jwtbearer token`` (human and ``--json``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode

import pytest

import jwtbearer as jb
from jwtbearer.testing import FakeClock

SECRET = f"s3c:r/e&t=+ %{secrets.token_hex(12)}"
HS_SECRET = secrets.token_urlsafe(48)
REFRESH = f"rt-{secrets.token_urlsafe(24)}"
BASIC_ID = "echo:client"
SENT_FIELDS = ("client_secret", "client_assertion", "assertion", "refresh_token")


@dataclass
class Echo:
    """The echoing endpoint: ``mode`` picks the answer; every request is recorded."""

    url: str = ""
    mode: str = "json"
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)


def _quoted(headers: dict[str, str], body: str) -> str:
    """Everything secret the server got, as a server would quote it back."""
    said: list[str] = []
    auth = headers.get("authorization", "")
    if auth:
        said.append(f"Authorization: {auth}")
        credential = auth.partition(" ")[2]
        if auth.lower().startswith("basic "):
            pair = base64.b64decode(credential).decode()
            said += [credential, pair, unquote_plus(pair), unquote_plus(pair.partition(":")[2])]
    form = dict(parse_qsl(body))
    said += [f"{name}={form[name]}" for name in SENT_FIELDS if name in form]
    if "dpop" in headers:
        said.append(f"DPoP: {headers['dpop']}")
    return " | ".join(said)


def _answer(mode: str, echo: str, raw_body: str, auth: str) -> tuple[int, str, bytes]:
    json_type = "application/json"
    if mode == "json":
        doc = {"error": "invalid_client", "error_description": f"refused: {echo}",
               "error_uri": f"https://errors.example/?q={quote_plus(echo)}", "detail": echo}
        return 401, json_type, json.dumps(doc).encode()
    if mode == "json_code":
        return 400, json_type, json.dumps({"error": echo, "error_description": echo}).encode()
    if mode == "form":
        body = urlencode({"error": "invalid_grant", "error_description": echo, "seen": echo})
        return 400, "application/x-www-form-urlencoded", body.encode()
    if mode == "text":  # a secret straddles the cut of the 2000-character excerpt
        return 400, "text/plain", ("x" * 1960 + echo + " " + echo).encode()
    if mode == "html":  # and here the cut of the 200-character excerpt
        page = (f"<html><head><title>Bad Gateway</title></head><body><h1>502</h1><p>"
                f"{'padding ' * 18}</p><pre>Authorization: {auth}\nBody: {raw_body}\n{echo}"
                "</pre></body></html>")
        return 502, "text/html", page.encode()
    if mode == "broken_access":
        return 200, json_type, json.dumps({"access_token": f"tok {echo}"}).encode()
    if mode == "no_access":
        return 200, json_type, json.dumps({echo[:120]: 1, "token_type": echo}).encode()
    if mode == "expires":
        doc = {"access_token": "fine-token", "expires_in": echo}
        return 200, json_type, json.dumps(doc).encode()
    raise AssertionError(mode)


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    state = Echo()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append((headers, body))
            if state.mode == "ok":
                status, ctype, data = 200, "application/json", json.dumps({
                    "access_token": f"at-{secrets.token_urlsafe(24)}", "expires_in": 120,
                    "refresh_token": REFRESH, "token_type": "Bearer"}).encode()
            else:
                status, ctype, data = _answer(state.mode, _quoted(headers, body), body,
                                              headers.get("authorization", ""))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def rsa_key() -> jb.SigningKey:
    return jb.SigningKey.generate("RS256")


def _b64_forms(text: str) -> set[str]:
    raw = text.encode()
    return {base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def _signature(jwt: str) -> str:
    return jwt.rpartition(".")[2]


def needles(requests: list[tuple[dict[str, str], str]]) -> set[str]:
    """Each secret in each form it could leak in, from what the requests really carried."""
    found = {SECRET, quote_plus(SECRET), HS_SECRET, REFRESH, quote_plus(REFRESH)}
    for pair in (f"{quote_plus(BASIC_ID)}:{quote_plus(SECRET)}", f"{BASIC_ID}:{SECRET}"):
        found |= _b64_forms(pair)
    for headers, body in requests:
        form = dict(parse_qsl(body))
        for name in ("client_assertion", "assertion"):
            if name in form:
                sig = _signature(form[name])
                found.add(sig)
        if "dpop" in headers:
            found.add(_signature(headers["dpop"]))
        if headers.get("authorization", "").lower().startswith("basic "):
            found.add(headers["authorization"].partition(" ")[2])
    return found


def exposed(exc: BaseException | None, seen: set[int] | None = None) -> list[str]:
    """Everything an exception shows: str, repr, args, every attribute, its causes."""
    seen = set() if seen is None else seen
    if exc is None or id(exc) in seen:
        return []
    seen.add(id(exc))
    parts = [str(exc), repr(exc), repr(exc.args), *map(str, exc.args)]
    for name in dir(exc):
        if name.startswith("__"):
            continue
        value = getattr(exc, name)
        if not callable(value):
            parts += [str(value), repr(value)]
    return parts + exposed(exc.__cause__, seen) + exposed(exc.__context__, seen)


WINDOW = 12


def assert_clean(texts: list[str], found: set[str], what: str) -> None:
    """No needle, nor any 12 characters of one (a secret cut at the end of an excerpt)."""
    blob = "\n".join(texts).lower()
    pieces = {n[i:i + WINDOW] for n in found for i in range(max(1, len(n) - WINDOW + 1))}
    leaked = sorted(p for p in pieces if p.lower() in blob)
    assert not leaked, f"{what}: secrets in the output: {leaked}\n{chr(10).join(texts)[:3000]}"


ERROR_MODES = ("json", "json_code", "form", "text", "html", "broken_access", "no_access",
               "expires")


def _cases(key: jb.SigningKey) -> dict[str, Callable[[str], tuple[jb.TokenClient, Any]]]:
    jwt = jb.JWT()
    jwt.iss, jwt.sub = "bearer-client", "alice@example.com"
    cc = jb.ClientCredentials()
    # One quick retry: a 5xx is tried twice, so the retry's log lines are searched too.
    quick = {"retry": jb.RetryPolicy(attempts=2, base_delay=0.01)}
    return {
        "basic": lambda url: (
            jb.TokenClient(url, jb.ClientSecretBasic(BASIC_ID, SECRET), **quick), cc),
        "post": lambda url: (jb.TokenClient(url, jb.ClientSecretPost("post", SECRET), **quick), cc),
        "client_secret_jwt": lambda url: (
            jb.TokenClient(url, jb.ClientSecretJWT("hs", HS_SECRET), **quick), cc),
        "private_key_jwt": lambda url: (
            jb.TokenClient(url, jb.PrivateKeyJWT("pk", key), **quick), cc),
        "jwt_bearer": lambda url: (jb.TokenClient(url, **quick), jb.JWTBearer(jwt, key)),
        "jwt_bearer_dpop": lambda url: (
            jb.TokenClient(url, dpop=jb.DPoP(), **quick), jb.JWTBearer(jwt, key)),
        "refresh": lambda url: (
            jb.TokenClient(url, jb.ClientSecretBasic(BASIC_ID, SECRET), **quick),
            jb.RefreshToken(REFRESH)),
    }


CASES = ("basic", "post", "client_secret_jwt", "private_key_jwt", "jwt_bearer",
         "jwt_bearer_dpop", "refresh")


@pytest.mark.parametrize("mode", ERROR_MODES)
@pytest.mark.parametrize("case", CASES)
def test_echoed_secrets_stay_out_of_errors_and_logs(
    echo: Echo, rsa_key: jb.SigningKey, caplog: pytest.LogCaptureFixture, case: str, mode: str
) -> None:
    echo.mode, echo.requests = mode, []
    client, grant = _cases(rsa_key)[case](echo.url)
    caplog.set_level(logging.DEBUG)
    with client, pytest.raises((jb.TokenEndpointError, jb.ResponseFormatError)) as info:
        client.request_token(grant)
    assert echo.requests, "the endpoint was reached"
    found = needles(echo.requests)
    logs = [r.getMessage() for r in caplog.records]
    logs += [logging.Formatter().format(r) for r in caplog.records]
    assert_clean(exposed(info.value) + logs, found, f"{case}/{mode}")


def test_the_echo_carries_the_secrets(echo: Echo) -> None:
    """The endpoint quotes what it got (else the tests above would prove nothing)."""
    echo.mode, echo.requests = "json", []
    client = jb.TokenClient(echo.url, jb.ClientSecretBasic(BASIC_ID, SECRET))
    with client, pytest.raises(jb.InvalidClient):
        client.request_token(jb.ClientCredentials())
    headers, body = echo.requests[0]
    quoted = _quoted(headers, body)
    assert SECRET in quoted
    assert headers["authorization"].partition(" ")[2] in quoted


@pytest.mark.parametrize("mode", ("json", "html", "form"))
def test_apex_exchange_keeps_echoed_secrets_out(
    echo: Echo, rsa_key: jb.SigningKey, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    echo.mode, echo.requests = mode, []
    jwt = jb.JWT()
    jwt.iss, jwt.sub = "apex-client", "alice@example.com"
    caplog.set_level(logging.DEBUG)
    bearer = jb.JWTBearerTokenExchange(echo.url, jb.JWS(jwt, rsa_key))
    with pytest.raises((jb.JWTBearerTokenExchangeException, jb.ResponseFormatError)) as first:
        bearer.get_access_token()
    with pytest.raises((jb.JWTBearerTokenExchangeException, jb.ResponseFormatError)) as again:
        bearer.get_access_token()  # the remembered failure, raised again
    assert len(echo.requests) == 1
    texts = exposed(first.value) + exposed(again.value) + [r.getMessage() for r in caplog.records]
    assert_clean(texts, needles(echo.requests), f"exchange/{mode}")


def test_cached_source_warning_keeps_echoed_secrets_out(
    echo: Echo, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    echo.mode, echo.requests = "ok", []
    client = jb.TokenClient(echo.url, jb.ClientSecretBasic(BASIC_ID, SECRET), clock=clock,
                            retry=jb.RetryPolicy.none())
    source = jb.CachedSource(client.source(jb.ClientCredentials()), clock=clock,
                             refresh_before=60)
    first = source.token()
    echo.mode = "json"
    clock.advance(90)  # inside the refresh window, the token still valid
    caplog.set_level(logging.DEBUG)
    assert source.token() == first  # the held token, and a warning
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings, "a failed refresh is logged"
    texts = [r.getMessage() for r in caplog.records] + [
        logging.Formatter().format(r) for r in caplog.records]
    assert_clean(texts, needles(echo.requests) | {first.access_token}, "CachedSource warning")
    client.close()


def _cli(tmp_path: Path, url: str, case: str, key_file: Path, as_json: bool) -> str:
    flags = {
        "basic": ["--grant", "client-credentials", "--auth", "basic", "--client-id", BASIC_ID,
                  "--client-secret-env", "ECHO_SECRET"],
        "post": ["--grant", "client-credentials", "--auth", "post", "--client-id", "post",
                 "--client-secret-env", "ECHO_SECRET"],
        "client_secret_jwt": ["--grant", "client-credentials", "--auth", "jwt", "--client-id",
                              "hs", "--client-secret-env", "ECHO_HS"],
        "private_key_jwt": ["--grant", "client-credentials", "--auth", "private-key-jwt",
                            "--client-id", "pk", "--key", str(key_file)],
        "jwt_bearer": ["--grant", "jwt-bearer", "--client-id", "bearer-client", "--sub",
                       "alice@example.com", "--key", str(key_file)],
    }[case]
    env = {**os.environ, "ECHO_SECRET": SECRET, "ECHO_HS": HS_SECRET,
           "JWTBEARER_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200"}
    cmd = [str(Path(sys.executable).parent / "jwtbearer"), "token", "--token-url", url, *flags]
    done = subprocess.run([*cmd, *(["--json"] if as_json else [])], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0, done.stdout
    return done.stdout + "\n" + done.stderr


@pytest.mark.parametrize("mode", ("json", "html", "form"))
@pytest.mark.parametrize("case", ("basic", "post", "client_secret_jwt", "private_key_jwt",
                                  "jwt_bearer"))
def test_cli_output_keeps_echoed_secrets_out(
    echo: Echo, rsa_key: jb.SigningKey, tmp_path: Path, case: str, mode: str
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(rsa_key.private_pem())
    echo.mode, echo.requests = mode, []
    outputs = [_cli(tmp_path, echo.url, case, key_file, as_json) for as_json in (False, True)]
    assert len(echo.requests) >= 2
    assert all("error" in out for out in outputs), outputs
    assert_clean(outputs, needles(echo.requests), f"cli {case}/{mode}")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ("json", "html", "form"))
async def test_async_client_keeps_echoed_secrets_out(
    echo: Echo, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    echo.mode, echo.requests = mode, []
    caplog.set_level(logging.DEBUG)
    client = jb.AsyncTokenClient(echo.url, jb.ClientSecretBasic(BASIC_ID, SECRET),
                                 retry=jb.RetryPolicy.none())
    async with client:
        with pytest.raises((jb.TokenEndpointError, jb.ResponseFormatError)) as info:
            await client.request_token(jb.ClientCredentials())
    texts = exposed(info.value) + [r.getMessage() for r in caplog.records]
    assert_clean(texts, needles(echo.requests), f"async/{mode}")
