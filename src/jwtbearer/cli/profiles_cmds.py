"""``jwtbearer profiles``: list, show, add and check the profiles of the profiles file."""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._util import redact_url
from ._common import (
    EXIT_FAILED,
    error_document,
    escape,
    exit_code_for,
    fail,
    handled,
    json_mode,
    out,
    print_json,
    use_json,
)

if TYPE_CHECKING:
    from ..profiles import Profile

__all__ = ["register"]

profiles_app = typer.Typer(
    name="profiles",
    help="Named credentials from the profiles file ($JWTBEARER_PROFILES, else "
    "$JWTBEARER_HOME/profiles.toml, else ~/.config/jwtbearer/profiles.toml).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_HIDDEN = ("name", "origin", "base_dir")


def _load() -> dict[str, Profile]:
    from ..profiles import load_profiles
    with handled():
        return load_profiles()
    raise AssertionError("unreachable")  # pragma: no cover


def _raw_table(name: str) -> dict[str, Any]:
    """The keys written in the file for ``name`` (to tell them from defaults)."""
    import tomllib

    from ..profiles import profiles_path
    try:
        with profiles_path().open("rb") as f:
            table = tomllib.load(f).get("profiles", {}).get(name, {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return table if isinstance(table, dict) else {}


@profiles_app.command("list")
def list_profiles(as_json: JsonOption = False) -> None:
    """List the profiles: name, grant and token URL."""
    from ..profiles import profiles_path
    use_json(as_json)
    profiles = _load()
    if as_json:
        print_json([{"profile": n, "grant": p.grant,
                     "token_url": p.token_url and redact_url(p.token_url),
                     "issuer": p.issuer and redact_url(p.issuer)}
                    for n, p in sorted(profiles.items())])
        return
    if not profiles:
        out.print(f"No [profiles.NAME] tables in {escape(str(profiles_path()))}.", markup=False)
        return
    width = max(len(n) for n in profiles)
    for name, prof in sorted(profiles.items()):
        where = redact_url(prof.token_url or prof.issuer or "")
        out.print(f"{escape(name.ljust(width))}  {prof.grant:<18}  {escape(where)}")


def _secret_state(reference: str) -> str:
    """Whether a secret reference resolves, never its value."""
    import os
    kind, _, target = reference.partition(":")
    if kind == "env":
        return "set" if os.environ.get(target) else "NOT SET"
    if kind == "file":
        return "file exists" if Path(target).expanduser().exists() else "NO SUCH FILE"
    return "looked up when used"


def _sources(name: str, prof: Profile) -> list[dict[str, Any]]:
    from ..oauth import default_assertion_audience
    raw = _raw_table(name)
    rows: list[dict[str, Any]] = []
    for f in fields(prof):
        if f.name in _HIDDEN:
            continue
        value = getattr(prof, f.name)
        source = f"{prof.origin}" if f.name in raw else "default"
        if f.name == "audience" and value is None and prof.grant == "jwt-bearer":
            if prof.issuer is not None:
                value, source = prof.issuer, "default (from issuer)"
            else:
                value = default_assertion_audience(prof.token_url or "")
                source = "default (from token_url)"
        if value is None:
            continue
        if isinstance(value, str):
            value = redact_url(value)
        row: dict[str, Any] = {"key": f.name, "value": value, "source": source}
        if f.name in ("client_secret", "key_password"):
            row["state"] = _secret_state(str(value))
        rows.append(row)
    return rows


@profiles_app.command("show")
def show_profile(name: Annotated[str, typer.Argument(help="The profile's name.")],
                 as_json: JsonOption = False) -> None:
    """Show one profile and where each value comes from (secrets only as their references)."""
    from ..profiles import profiles_path
    use_json(as_json)
    profiles = _load()
    if name not in profiles:
        fail(f"no profile named {name!r} in {profiles_path()} (known: "
             f"{', '.join(sorted(profiles)) or 'none'})",
             hint=f"add it with `jwtbearer profiles add {name} --token-url URL ...`")
    rows = _sources(name, profiles[name])
    if as_json:
        print_json({"profile": name, "origin": profiles[name].origin, "values": rows})
        return
    out.print(f"[bold]{escape(name)}[/]  ({escape(profiles[name].origin)})")
    for row in rows:
        state = f" [{row['state']}]" if "state" in row else ""
        out.print(f"  {row['key']:<20} {str(row['value']) + state:<50}  {row['source']}",
                  markup=False)


def _check_one(prof: Profile) -> dict[str, Any]:
    from ..client.protocol import RetryPolicy
    from ..errors import JWTBearerError
    from ..lifecycle.stores import MemoryStore
    from .token_cmds import token_metadata
    try:
        # A fresh request, not the cached token: the check is that the profile still works.
        token = prof.source(timeout=10.0, retry=RetryPolicy(attempts=2, deadline=20.0),
                            store=MemoryStore()).token()
    except JWTBearerError as exc:
        first, _, rest = str(exc).partition("\n")
        hint = getattr(exc, "hint", None) or rest or None
        return {"profile": prof.name, "ok": False,
                **error_document(first, exit_code_for(exc), hint, exc)}
    return {"profile": prof.name, "ok": True, "token": token_metadata(token, time.time())}


@profiles_app.command("check")
def check_profiles(
    names: Annotated[list[str] | None, typer.Argument(
        help="Profiles to check (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Get a token with each profile and report, one line each; exits 1 when any fails."""
    use_json(as_json)
    profiles = _load()
    chosen = names or sorted(profiles)
    unknown = [n for n in chosen if n not in profiles]
    if unknown:
        fail(f"no profile named {', '.join(map(repr, unknown))} (known: "
             f"{', '.join(sorted(profiles)) or 'none'})")
    results = [_check_one(profiles[n]) for n in chosen]
    if json_mode():
        print_json(results)
    else:
        width = max((len(n) for n in chosen), default=0)
        for result in results:
            label = escape(result["profile"].ljust(width))
            if result["ok"]:
                meta = result["token"]
                left = meta["expires_in"]
                expiry = "no expiry given" if left is None else f"expires in {left} s"
                out.print(f"{label}  [green]ok[/]     {escape(meta['token_type'])} token, "
                          f"{expiry}")
            else:
                error = result["error"]
                out.print(f"{label}  [red]error[/]  {escape(error['message'])}")
    if not all(r["ok"] for r in results):
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add the ``profiles`` group to ``app``."""
    from .profiles_add import add_profile
    profiles_app.command("add")(add_profile)
    app.add_typer(profiles_app)
