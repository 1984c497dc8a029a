"""``jwtbearer profiles``: list and show the profiles of the profiles file."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated

import typer

from .._util import redact_url
from ._common import escape, fail, handled, out

__all__ = ["register"]

profiles_app = typer.Typer(
    name="profiles",
    help="Named credentials from the profiles file ($JWTBEARER_PROFILES, else "
    "$JWTBEARER_HOME/profiles.toml, else ~/.config/jwtbearer/profiles.toml).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@profiles_app.command("list")
def list_profiles() -> None:
    """List the profiles: name, grant and token URL."""
    from ..profiles import load_profiles, profiles_path
    with handled():
        profiles = load_profiles()
    if not profiles:
        out.print(f"No [profiles.NAME] tables in {escape(str(profiles_path()))}.", markup=False)
        return
    for name, prof in sorted(profiles.items()):
        out.print(f"{escape(name)}  {prof.grant}  "
                  f"{escape(redact_url(prof.token_url or prof.issuer or ''))}")


@profiles_app.command("show")
def show_profile(name: Annotated[str, typer.Argument(help="The profile's name.")]) -> None:
    """Show one profile (secrets appear only as their env:/file: references)."""
    from ..profiles import load_profiles, profiles_path
    with handled():
        profiles = load_profiles()
    if name not in profiles:
        fail(f"no profile named {name!r} in {profiles_path()} (known: "
             f"{', '.join(sorted(profiles)) or 'none'})")
    prof = profiles[name]
    out.print(f"[bold]{escape(name)}[/]  ({escape(prof.origin)})")
    for f in fields(prof):
        if f.name in ("name", "origin", "base_dir"):
            continue
        value = getattr(prof, f.name)
        if value is not None:
            out.print(f"  {f.name:<20} {escape(redact_url(str(value)))}")


def register(app: typer.Typer) -> None:
    """Add the ``profiles`` group to ``app``."""
    app.add_typer(profiles_app)
