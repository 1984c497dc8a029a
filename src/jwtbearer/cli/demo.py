"""``jwtbearer demo``: the Salesforce-shaped JWT bearer flow, end to end, on a local server.

It starts the reference token endpoint on a free loopback port with ``preset = "salesforce"``
(``/services/oauth2/token``, ``aud = https://login.salesforce.com``, ``instance_url`` in the
answer, Salesforce's error wording), creates a key and certificate in a temporary key store,
registers the client the way an administrator registers a connected app (certificate uploaded,
one user pre-authorized), then runs JWT → JWS → JWTBearerTokenExchange exactly as against a
real org and prints each step, then one failure (an expired assertion). Nothing secret is
printed: assertions and tokens are shown shortened, never with their signature.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax

from ..jose.jws import unverified_claims, unverified_header
from ..token import Clock, system_clock

__all__ = ["DEMO_AUDIENCE", "DEMO_CLIENT_ID", "DEMO_SUBJECT", "connected_app_table", "run_demo",
           "shorten"]

#: The demo's client id, shaped like a Salesforce consumer key.
DEMO_CLIENT_ID = "3MVG9demo.consumer.key"
#: The pre-authorized user the demo asks a token for.
DEMO_SUBJECT = "alice@example.com"
#: The audience Salesforce production orgs expect (the salesforce preset accepts it).
DEMO_AUDIENCE = "https://login.salesforce.com"


def shorten(compact: str) -> str:
    """A compact JWS shown without its signature: the start of the header and the length."""
    return f"{compact[:24]}…({len(compact)} chars, signature not shown)"


def _json(console: Console, title: str, value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    console.print(Panel(Syntax(text, "json", theme="ansi_dark", word_wrap=True), title=title,
                        title_align="left", expand=False))


def connected_app_table(client_id: str, *, certificate: str, subjects: tuple[str, ...],
                        scopes: tuple[str, ...] = ("api",), method: str = "none") -> str:
    """The server's ``[[clients]]`` TOML table for a Salesforce-style connected app.

    As an administrator registers one: its certificate uploaded (``certificate``, a path
    relative to the configuration file), the JWT bearer grant only (RFC 7523 §2.1), and the
    users it may act for pre-authorized (``subjects``). The token request carries no client
    authentication whatever ``method`` says: the assertion, verified with the certificate, is
    the proof (RFC 7523 §3.1).
    """
    return "\n".join([
        "[[clients]]",
        f"client_id = {json.dumps(client_id)}",
        f"token_endpoint_auth_method = {json.dumps(method)}",
        f"certificate = {json.dumps(certificate)}",
        'grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]',
        f"scopes = {json.dumps(list(scopes))}",
        f"subjects = {json.dumps(list(subjects))}",
        "",
    ])


def _config(issuer: str, certificate: Path) -> str:
    return f"""\
issuer = "{issuer}"
preset = "salesforce"
access_token_lifetime = 900
leeway = 30
max_assertion_lifetime = 3600
state_dir = "state"

""" + connected_app_table(DEMO_CLIENT_ID, certificate=certificate.as_posix(),
                          subjects=(DEMO_SUBJECT,), method="private_key_jwt")


def run_demo(console: Console, *, clock: Clock | None = None) -> int:
    """Run the demo, printing to ``console``; returns the exit status (0 when all went as told)."""
    import httpx

    from ..client.exchange import JWTBearerTokenExchange
    from ..errors import TokenEndpointError
    from ..jose.assertion import JWS, JWT
    from ..jose.jws import verify_compact
    from ..jose.keys import load_jwks
    from ..jose.keystore import KeyStore
    from ..server.app import serve_config

    now_fn = clock or system_clock
    with tempfile.TemporaryDirectory(prefix="jwtbearer-demo-") as tmp:
        base = Path(tmp)
        console.rule("[bold]1. A key and a certificate (Salesforce: the certificate unique name)")
        store = KeyStore(base / "keys")
        key = store.create("demo-cert", days=30, subject="jwtbearer demo")
        cert_path = store.certificate_path("demo-cert")
        console.print(f"created RSA-2048 key [bold]demo-cert[/] ({key.alg}, kid {key.kid})")
        console.print(f"certificate to upload to the identity provider: {cert_path.name}")

        certificate = cert_path.relative_to(base)
        server, endpoint = serve_config(lambda url: _config(url, certificate),
                                        base / "server.toml")
        issuer = endpoint.config.issuer
        token_url = endpoint.config.token_endpoint
        console.rule("[bold]2. The token endpoint, with the client registered")
        console.print(f"server listening on {issuer} (preset salesforce: token endpoint "
                      f"{token_url}, aud {DEMO_AUDIENCE})")
        console.print(f"client [bold]{DEMO_CLIENT_ID}[/]: certificate uploaded, user "
                      f"[bold]{DEMO_SUBJECT}[/] pre-authorized, scope api")

        with server:
            console.rule("[bold]3. Auth.JWT: the claims")
            jwt = JWT(iss=DEMO_CLIENT_ID, sub=DEMO_SUBJECT, aud=DEMO_AUDIENCE)
            console.print(f"jwt = JWT(iss={DEMO_CLIENT_ID!r}, sub={DEMO_SUBJECT!r}, "
                          f"aud={DEMO_AUDIENCE!r})   # as for a real org")
            _json(console, "claims (iat/exp/jti are set when it is signed)",
                  jwt.claims(now=now_fn()))

            console.rule("[bold]4. Auth.JWS: signed with the key")
            jws = JWS(jwt, key, clock=now_fn)
            compact = jws.compact_serialization()
            _json(console, "JOSE header", unverified_header(compact))
            _json(console, "signed claims", unverified_claims(compact))
            console.print(f"assertion: {shorten(compact)}")

            console.rule("[bold]5. Auth.JWTBearerTokenExchange: POST to the token endpoint")
            exchange = JWTBearerTokenExchange(token_url, jws)
            console.print(Panel(
                f"POST {token_url}\nContent-Type: application/x-www-form-urlencoded\n"
                f"Accept: application/json\n\n"
                f"grant_type={exchange.grant_type}\nassertion={shorten(compact)}",
                title="request", title_align="left", expand=False))
            access_token = exchange.get_access_token()
            response = exchange.get_http_response()
            shown = dict(response.json())
            shown["access_token"] = shorten(access_token)
            _json(console, f"response: HTTP {response.status_code}", shown)

            console.rule("[bold]6. The access token (RFC 9068 JWT), verified with /jwks")
            jwks = load_jwks(httpx.get(issuer + "/jwks", timeout=5.0).text)
            verified = verify_compact(access_token, jwks)
            _json(console, "access token header", verified.header)
            _json(console, "access token claims", verified.claims())
            console.print(f"signature verified with the key published at {issuer}/jwks "
                          f"({verified.key.alg}) [green]✓[/]")

            console.rule("[bold]7. A failure: an assertion that expired")
            stale = JWS(jwt.clone(), key, clock=lambda: now_fn() - 600)
            stale_claims = unverified_claims(stale.compact_serialization())
            console.print(f"signed 10 minutes ago: exp = {stale_claims['exp']} "
                          f"({int(now_fn()) - stale_claims['exp']} s in the past)")
            try:
                JWTBearerTokenExchange(token_url, stale).get_access_token()
            except TokenEndpointError as exc:
                console.print(f"[red]{type(exc).__name__}[/] status {exc.status}: "
                              f"error={exc.error!r}")
                console.print(f"error_description: {exc.error_description}")
                console.print(f"hint: {exc.hint}")
                console.print("The server checks exp with 30 s of leeway (RFC 7523 §3 item 4): "
                              "sign a fresh assertion for every token request, with exp a few "
                              "minutes ahead, in seconds, from a correct clock.")
            else:
                console.print("[red]the expired assertion was accepted: this is a bug[/]")
                return 1
        console.rule("[bold]done")
    return 0
