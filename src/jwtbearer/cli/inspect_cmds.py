"""``jwtbearer inspect`` (decode and lint an assertion) and ``jwtbearer explain``."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    escape,
    fail,
    load_verifying_keys,
    out,
    print_json,
    relative,
    use_json,
    when,
)

if TYPE_CHECKING:
    from ..diagnose import (
        Explanation,
        Report,
    )

__all__ = ["register"]

_MAX_INPUT = 1024 * 1024
_TIME_CLAIMS = ("iat", "nbf", "exp")
_MARKS = {"error": "[bold red]✗ error  [/]", "warning": "[yellow]! warning[/]",
          "info": "[cyan]i info   [/]"}
_LEVEL_ORDER = {"error": 0, "warning": 1, "info": 2}


def _read_arg(value: str | None, what: str) -> str:
    if value is None or value == "-":
        if sys.stdin.isatty() and value is None:
            fail(f"give the {what} as an argument, '@FILE' to read a file, or '-' to read "
                 "stdin")
        return sys.stdin.read(_MAX_INPUT)
    if value.startswith("@") and len(value) > 1:
        path = Path(value[1:]).expanduser()
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                return f.read(_MAX_INPUT)
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
    return value


def _hanging(prefix: str, indent: int, text: str) -> str:
    """``prefix`` (markup, ``indent`` columns wide) then ``text`` escaped and wrapped to the
    console, continuation lines indented under the text rather than under the prefix."""
    # Neither hyphens nor long words are broken: codes, URLs and commands stay copyable.
    lines = textwrap.wrap(escape(text), max(out.width - indent, 40), break_long_words=False,
                          break_on_hyphens=False) or [""]
    return prefix + ("\n" + " " * indent).join(lines)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _time_note(name: str, claims: Mapping[str, Any], now: float) -> str:
    """The date and distance from now of a time claim; on exp, the lifetime too."""
    from ..diagnose import duration, numeric_date
    seconds = numeric_date(claims[name]) if name in _TIME_CLAIMS else None
    if seconds is None:
        return ""
    note = f"{when(seconds)} ({relative(seconds, now)}"
    iat = numeric_date(claims.get("iat"))
    if name == "exp" and iat is not None:
        note += f"; lifetime {duration(seconds - iat)}"
    return f"  {note})"


def _print_report(report: Report, *, audience_checked: bool) -> None:
    if report.kind == "access_token":
        out.print("[bold]An access token[/] (not an assertion): its algorithm and times are "
                  "checked, not the assertion rules.")
    if report.is_jwt:
        if report.signature_valid is None:
            out.print("[bold yellow]Decoded WITHOUT verifying the signature[/] (add --key, "
                      "--cert or --jwks to verify it).")
        elif report.signature_valid:
            out.print("[bold green]Signature verified[/] with the given key.")
        else:
            out.print("[bold red]Signature does NOT verify[/] with the given key.")
        # One column for every name, so a long claim name does not push its value out of line.
        width = max((len(escape(n)) for n in (*report.header, *report.claims)), default=0)
        out.print("\n[bold]Header[/]")
        for name, value in report.header.items():
            out.print(f"  {escape(name):<{width}}  {escape(_value(value))}")
        out.print("\n[bold]Claims[/]")
        for name, value in report.claims.items():
            out.print(f"  {escape(name):<{width}}  {escape(_value(value))}"
                      f"{_time_note(name, report.claims, report.now)}")
        out.print("\n[bold]Signature[/]")
        out.print(f"  <signature: {report.signature_length} bytes> (the value is never printed)")
    out.print("\n[bold]Findings[/]" if report.findings else "\n[bold green]No findings.[/]")
    for f in sorted(report.findings, key=lambda f: _LEVEL_ORDER[f.level]):
        out.print(_hanging(f"  {_MARKS[f.level]} ", 12, f"{f.code}: {f.message}"))
        if f.fix:
            out.print(_hanging("            fix: ", 17, f.fix))
    if report.is_jwt and not audience_checked and report.kind == "assertion":
        out.print("\naud was not checked against a token endpoint: add --token-url or --audience.")


def _report_json(report: Report) -> str:
    return json.dumps({
        "verified": report.signature_valid,
        "is_jwt": report.is_jwt,
        "kind": report.kind,
        "header": dict(report.header),
        "claims": dict(report.claims),
        "signature_bytes": report.signature_length,
        "findings": [dataclasses.asdict(f) for f in report.findings],
    }, indent=2, default=str)


def inspect_command(
    assertion: Annotated[str | None, typer.Argument(
        help="The compact JWT, or '-' to read it from stdin.")] = None,
    token_url: Annotated[str | None, typer.Option(
        help="Token endpoint the assertion is for; aud must match it or its issuer.")] = None,
    audience: Annotated[str | None, typer.Option(
        "--audience", "--aud",
        help="The aud the server expects (e.g. https://login.salesforce.com).")] = None,
    key: Annotated[str | None, typer.Option(
        help="Verify with this key (key-store name or key file).")] = None,
    cert: Annotated[Path | None, typer.Option(
        help="Verify with this certificate or public key (PEM/DER/JWK).")] = None,
    jwks: Annotated[str | None, typer.Option(
        metavar="FILE|URL", help="Verify with this JWK Set: a file, or an https:// URL (the "
        "server's jwks_uri).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    now: Annotated[float | None, typer.Option(
        hidden=True, help="Evaluate times at this epoch instead of now.")] = None,
) -> None:
    """Decode an assertion WITHOUT trusting it, show its times, and lint it.

    Checks what token endpoints reject: exp missing, expired, in milliseconds or too far
    (Salesforce: 3 minutes), iat/nbf in the future, string or float times, missing jti, aud
    missing, an array or not matching --token-url/--audience, alg none or HMAC, crit/jku/x5u/
    jwk/x5c headers. With --key, --cert or --jwks the signature is verified too. The signature
    itself is never printed. Exits 1 when an error is found.
    """
    from ..diagnose import inspect_assertion
    use_json(as_json)
    text = _read_arg(assertion, "assertion")
    keys = load_verifying_keys(key=key, cert=cert, jwks=jwks)
    report = inspect_assertion(text, now=time.time() if now is None else now,
                               expected_audience=audience or token_url, key=keys)
    if as_json:
        typer.echo(_report_json(report))
    else:
        _print_report(report, audience_checked=bool(audience or token_url))
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _print_explanation(ex: Explanation) -> None:
    rows = [("Provider", ex.provider), ("Status", None if ex.status is None else str(ex.status)),
            ("Page title", ex.page_title),
            ("Error", ex.error), ("Description", ex.error_description),
            ("What it means", ex.what), ("Usual causes", ex.why), ("What to check", ex.fix)]
    for label, value in rows:
        if value:
            out.print(_hanging(f"[bold]{label:<13}[/]  ", 15, value))


def explain_command(
    body: Annotated[str | None, typer.Argument(
        help="What the server or a library said: a JSON or form body, `Error 400: ...`, an "
        "`error: ...` line, an HTML page, an exception text; '@FILE' or '-' for stdin.")
    ] = None,
    status: Annotated[int | None, typer.Option(help="The HTTP status, when known.")] = None,
    error: Annotated[str | None, typer.Option(
        "--error", help="The error code, instead of a body.")] = None,
    description: Annotated[str | None, typer.Option(
        help="The error_description, with --error.")] = None,
    list_known: Annotated[bool, typer.Option(
        "--list", help="List the known provider messages.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Explain a token endpoint error: what it means, why it happens and what to check.

    Knows the wording of Salesforce, Okta, Microsoft Entra ID (AADSTS codes), Auth0, PingOne
    and Google, and every RFC 6749 error code; reads what jwtbearer, Apex, simple-salesforce,
    Authlib and requests-oauth2client print. Exits 0 when it recognised the error, 1 when not.
    """
    from ..diagnose import KNOWN_ERRORS, explain_error
    use_json(as_json)
    if list_known:
        if as_json:
            print_json([{"provider": k.provider, "needles": list(k.needles), "error": k.error,
                         "what": k.what, "why": k.why, "fix": k.fix} for k in KNOWN_ERRORS])
            return
        for k in KNOWN_ERRORS:
            out.print(f"{escape(k.provider):<30} {escape(' + '.join(k.needles))}")
        return
    if error is not None or description is not None:
        if body is not None:
            fail("give either a body or --error/--description", EXIT_CONFIG)
        payload: str | dict[str, Any] = {"error": error, "error_description": description}
    else:
        payload = _read_arg(body, "error body")
    ex = explain_error(status, payload)
    if as_json:
        data = dataclasses.asdict(ex)
        data.pop("known", None)
        print_json(data)
    else:
        _print_explanation(ex)
    if not ex.recognised:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add ``inspect`` and ``explain`` to ``app``."""
    app.command("inspect", epilog="Example: jwtbearer assert ... | jwtbearer inspect - "
                "--token-url https://login.salesforce.com/services/oauth2/token")(inspect_command)
    app.command("explain", epilog="Example: jwtbearer explain "
                "'{\"error\":\"invalid_grant\",\"error_description\":\"audience is invalid\"}'"
                )(explain_command)
