"""The servers bench/server.py starts: ours (metered, or as the no-crypto ceiling) on a socket
the harness opened, and a minimal Authlib AuthorizationServer on Flask as a peer."""

from __future__ import annotations

import base64
import gc
import json
import socket
import time
from pathlib import Path
from typing import Any

SECRET = "bench-secret-0123456789abcdef"


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
