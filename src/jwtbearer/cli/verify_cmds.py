"""``jwtbearer verify``: validate an incoming JWT as a resource server would.

Signature with the issuer's keys (from its metadata, a JWKS URL or a JWK Set file), ``iss``,
``aud``, ``exp``/``nbf``/``iat``, and ``typ`` when asked. Exit 0 when valid, 1 when not (with
the reason); other codes for configuration and transport problems, as everywhere.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidToken, JWSError
from ._common import (
    EXIT_FAILED,
    escape,
    fail,
    handled,
    load_verifying_keys,
    out,
    print_json,
    use_json,
)

if TYPE_CHECKING:
    from ..jose.keys import VerifyingKey

__all__ = ["jwks_keys", "register", "verify_command"]

_MAX_INPUT = 256 * 1024


def jwks_keys(value: str, *, allow_insecure_http: bool = False) -> list[VerifyingKey]:
    """The keys of a JWK Set given as an https:// URL (fetched under the transport rules) or a
    file path."""
    return load_verifying_keys(key=None, cert=None, jwks=value,
                               allow_insecure_http=allow_insecure_http) or []


def _audiences(given: list[str] | None, token: str) -> tuple[list[str], bool]:
    """The audiences to check and whether they came from the command line."""
    from ..jose.jws import unverified_claims

    if given:
        return given, True
    try:
        aud = unverified_claims(token).get("aud")
    except JWSError:  # a malformed token is reported by validate() itself
        aud = None
    values = [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)] \
        if isinstance(aud, list) else []
    return values or ["(none given)"], False


def verify_command(
    token: Annotated[str | None, typer.Argument(
        help="The compact JWT, or '-' to read it from stdin.")] = None,
    issuer: Annotated[str, typer.Option(help="The expected iss (the issuer URL).")] = "",
    audience: Annotated[list[str] | None, typer.Option(
        help="An accepted aud (repeatable). Without it, the token's own aud is accepted "
        "(a token without aud is still refused).")] = None,
    jwks: Annotated[str | None, typer.Option(
        help="Keys: a JWKS https:// URL or a JWK Set file (default: the issuer's "
        "metadata).")] = None,
    typ: Annotated[str | None, typer.Option(
        help="Require this typ header, e.g. at+jwt (RFC 9068 access tokens).")] = None,
    leeway: Annotated[float, typer.Option(help="Seconds of clock skew allowed.")] = 30.0,
    allow_insecure_http: Annotated[bool, typer.Option(
        help="Allow http:// metadata and JWKS URLs outside loopback.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON: valid, claims, reason (errors as JSON too).")] = False,
) -> None:
    """Validate a JWT: signature with the issuer's keys, iss, aud, exp/nbf/iat, typ.

    Exits 0 when the token is valid, 1 when it is not (the reason is printed).
    """
    use_json(as_json)
    if not issuer:
        fail("give --issuer: the iss the token must carry (keys come from its metadata)")
    if token is None or token == "-":
        if token is None and sys.stdin.isatty():
            fail("give the token as an argument, or '-' to read it from stdin")
        token = sys.stdin.read(_MAX_INPUT)
    token = token.strip()
    audiences, checked = _audiences(audience, token)
    keys: list[VerifyingKey] | None = None
    jwks_uri = None
    if jwks is not None and jwks.startswith(("https://", "http://")):
        jwks_uri = jwks
    elif jwks is not None:
        keys = jwks_keys(jwks, allow_insecure_http=allow_insecure_http)
    result: dict[str, Any]
    from ..validation import JWTValidator

    with handled():
        validator = JWTValidator(issuer=issuer, audience=audiences, jwks_uri=jwks_uri,
                                 keys=keys, typ=typ, leeway=leeway,
                                 allow_insecure_http=allow_insecure_http)
        try:
            jwt = validator.validate(token)
        except InvalidToken as exc:
            result = {"valid": False, "claims": None, "reason": exc.reason,
                      "error": type(exc).__name__, "claim": exc.claim}
        else:
            result = {"valid": True, "claims": dict(jwt.claims), "reason": None,
                      "header": dict(jwt.header), "audience_checked": checked}
    if as_json:
        print_json(result)
    elif result["valid"]:
        out.print("[bold green]valid[/]" + ("" if checked else
                                            " [yellow](aud not compared: give --audience)[/]"))
        for name, value in result["claims"].items():
            out.print(f"  {escape(name)}: {escape(json.dumps(value, default=str))}")
    else:
        out.print(f"[bold red]invalid[/] ({result['error']}): {escape(result['reason'])}")
    if not result["valid"]:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add ``verify`` to ``app``."""
    app.command("verify", epilog="Example: jwtbearer verify \"$TOKEN\" --issuer "
                "https://issuer.example.com --audience https://api.example.com --typ at+jwt"
                )(verify_command)
