"""``jwtbearer assert``: sign a JWT assertion (RFC 7523) and print it, or a curl command."""

from __future__ import annotations

import json
import shlex
import time
from typing import Annotated, Any

import typer

from ._common import fail, handled, load_signing_key, print_json, use_json

__all__ = ["assert_command"]


def _claim(item: str) -> tuple[str, Any]:
    from ..jose.assertion import REGISTERED_CLAIMS
    name, sep, raw = item.partition("=")
    if not sep or not name:
        fail(f"--claim takes NAME=VALUE, not {item!r}")
    if name in REGISTERED_CLAIMS:
        fail(f"--claim {name}=... sets a registered claim; use --iss/--sub/--aud/--lifetime")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


def assert_command(
    iss: Annotated[str, typer.Option(
        "--iss", "--client-id", help="Issuer: the client id (Salesforce consumer key).")],
    aud: Annotated[str, typer.Option(
        "--aud", "--audience",
        help="Audience: the token URL or issuer (Salesforce: https://login.salesforce.com).")],
    key: Annotated[str, typer.Option(
        "--key", "--jwt-key-file", help="Signing key: a key-store name or a key file.")],
    sub: Annotated[str | None, typer.Option(
        "--sub", "--subject", "--username",
        help="Subject: the user (JWT bearer) or the client id (client assertion).")] = None,
    lifetime: Annotated[int, typer.Option(help="Seconds until exp.")] = 300,
    claim: Annotated[list[str] | None, typer.Option(
        help="Extra claim NAME=VALUE (VALUE parsed as JSON when it is JSON); repeatable.")
    ] = None,
    x5t: Annotated[bool, typer.Option(
        "--x5t", help="Add the certificate's x5t#S256 to the header.")] = False,
    nbf_skew: Annotated[int | None, typer.Option(
        help="Add nbf = now - SECONDS.")] = None,
    curl: Annotated[str | None, typer.Option(
        metavar="TOKEN_URL", help="Print a curl command posting the assertion to TOKEN_URL.")
    ] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON: the assertion with its header and claims.")] = False,
) -> None:
    """Sign a JWT assertion (RFC 7523) and print it, or a curl command that uses it."""
    from ..jose.assertion import make_assertion
    use_json(as_json)
    from ..oauth import JWT_BEARER_GRANT
    if lifetime <= 0 or lifetime > 3600:
        fail(f"--lifetime is seconds between 1 and 3600, not {lifetime}")
    extra = dict(_claim(c) for c in claim or [])
    signing_key = load_signing_key(key)
    with handled():
        jwt = make_assertion(key=signing_key, iss=iss, sub=sub, aud=aud, lifetime=lifetime,
                             now=time.time(), nbf_skew=nbf_skew, extra_claims=extra,
                             x5t_s256=x5t)
    if as_json:
        from ..diagnose import inspect_assertion
        report = inspect_assertion(jwt, now=time.time())
        doc: dict[str, Any] = {"assertion": jwt, "header": dict(report.header),
                               "claims": dict(report.claims)}
        if curl is not None:
            doc["token_url"] = curl
        print_json(doc)
        return
    if curl is None:
        typer.echo(jwt)
        return
    parts = ["curl", "-sS", "-X", "POST", curl, "-H", "Accept: application/json",
             "--data-urlencode", f"grant_type={JWT_BEARER_GRANT}",
             "--data-urlencode", f"assertion={jwt}"]
    typer.echo(" ".join(shlex.quote(p) for p in parts))
