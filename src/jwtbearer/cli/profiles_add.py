"""``jwtbearer profiles add NAME``: write a ``[profiles.NAME]`` table from the flags ``token``
takes, secrets only as references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import escape, fail, handled, out, print_json, use_json
from .token_cmds import (
    AUTH_NAMES,
    AuthOption,
    ClientIdOption,
    Grant,
    GrantOption,
    JwtKeyFileOption,
    KeyOption,
    SandboxOption,
    SubjectOption,
    parse_auth,
    parse_grant,
)

__all__ = ["add_profile", "toml_table"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # A JSON string (ASCII, \\uXXXX escapes) is a valid TOML basic string.
    return json.dumps(str(value))


def _toml_key(name: str) -> str:
    bare = name.replace("-", "").replace("_", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)


def toml_table(name: str, table: dict[str, Any]) -> str:
    """``[profiles.NAME]`` with ``table``'s keys, as TOML text."""
    lines = [f"[profiles.{_toml_key(name)}]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _without(text: str, name: str) -> str:
    """``text`` without the ``[profiles.NAME]`` table (for --force)."""
    header = f"[profiles.{_toml_key(name)}]"
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped == header
        if not skipping:
            kept.append(line)
    return "".join(kept)


def add_profile(
    name: Annotated[str, typer.Argument(help="The profile's name.")],
    token_url: Annotated[str | None, typer.Option(help="The token endpoint URL.")] = None,
    instance_url: Annotated[str | None, typer.Option(
        help="Salesforce login or My Domain URL (token URL = it + /services/oauth2/token).")
    ] = None,
    sandbox: SandboxOption = False,
    grant: GrantOption = "jwt-bearer",
    client_id: ClientIdOption = None,
    subject: SubjectOption = None,
    audience: Annotated[str | None, typer.Option(
        "--audience", "--aud", help="The assertion's aud (default: from the token URL).")
    ] = None,
    key: KeyOption = None,
    jwt_key_file: JwtKeyFileOption = None,
    auth: AuthOption = None,
    client_secret_env: Annotated[str | None, typer.Option(
        metavar="VAR", help="The client secret is in this environment variable.")] = None,
    client_secret_file: Annotated[Path | None, typer.Option(
        metavar="PATH", help="The client secret is in this file.")] = None,
    client_secret_keyring: Annotated[str | None, typer.Option(
        metavar="SERVICE/NAME", help="The client secret is in the OS keychain.")] = None,
    scope: Annotated[str | None, typer.Option(help="Scope to ask for.")] = None,
    lifetime: Annotated[int | None, typer.Option(help="Assertion lifetime in seconds.")] = None,
    cache: Annotated[str | None, typer.Option(
        help='Token cache: "memory", "sqlite", "sqlite:PATH" or a redis:// URL.')] = None,
    allow_insecure_http: Annotated[bool, typer.Option(
        "--allow-insecure-http", help="Allow http:// to a host other than loopback.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a profile of that name.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add a profile to the profiles file, from the same flags as `jwtbearer token`.

    Secrets are written only as references (env:VAR, file:PATH, keyring:SERVICE/NAME).
    """
    from .._util import write_file
    from ..oauth import SALESFORCE_LOGIN, SALESFORCE_SANDBOX_LOGIN
    from ..profiles import Profile, load_profiles, profiles_path
    use_json(as_json)
    the_grant = parse_grant(grant)
    if jwt_key_file is not None:
        if key is not None:
            fail("give --key or --jwt-key-file, not both")
        key = str(jwt_key_file.expanduser().resolve())
    refs = [r for r in (client_secret_env and f"env:{client_secret_env}",
                        client_secret_file and f"file:{client_secret_file.expanduser().resolve()}",
                        client_secret_keyring and f"keyring:{client_secret_keyring}") if r]
    if len(refs) > 1:
        fail("give the client secret one way: --client-secret-env, --client-secret-file or "
             "--client-secret-keyring")
    if token_url is not None and instance_url is not None:
        fail("give --token-url or --instance-url, not both")
    if token_url is None:
        if instance_url is None and not sandbox:
            fail("--token-url (or --instance-url for Salesforce) is required")
        base = (instance_url or SALESFORCE_SANDBOX_LOGIN).rstrip("/")
        token_url = base + "/services/oauth2/token"
        if audience is None and the_grant is Grant.jwt_bearer:
            audience = SALESFORCE_SANDBOX_LOGIN if sandbox else SALESFORCE_LOGIN
    table: dict[str, Any] = {"token_url": token_url, "grant": the_grant.value}
    for field, value in (("client_id", client_id), ("subject", subject),
                         ("audience", audience), ("key", key), ("scope", scope),
                         ("client_secret", refs[0] if refs else None),
                         ("lifetime", lifetime), ("cache", cache)):
        if value is not None:
            table[field] = value
    if auth is not None:
        table["client_auth"] = AUTH_NAMES[parse_auth(auth)]
    if allow_insecure_http:
        table["allow_insecure_http"] = True
    path = profiles_path()
    with handled():
        Profile.from_mapping(name, table, origin=str(path), base_dir=path.parent)
        existing = load_profiles() if path.exists() else {}
    if name in existing and not force:
        fail(f"{path} already has [profiles.{name}]; pass --force to replace it")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if name in existing:
        text = _without(text, name)
    if text and not text.endswith("\n"):
        text += "\n"
    text += ("\n" if text else "") + toml_table(name, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, text.encode("utf-8"))
    with handled():
        load_profiles()  # what was written reads back
    if as_json:
        print_json({"profile": name, "path": str(path), "values": table})
        return
    out.print(f"[bold green]Added profile {escape(name)!r}[/] to {escape(str(path))}")
    for field, value in table.items():
        out.print(f"  {field:<20} {escape(str(value))}")
    out.print(f"\nNext: jwtbearer token -p {escape(name)}   or   jwtbearer profiles check "
              f"{escape(name)}")
