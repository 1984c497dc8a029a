"""``jwtbearer token`` (get an access token) and ``jwtbearer assert`` (sign an assertion)."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..oauth import JWT_BEARER_GRANT
from ._common import (
    escape,
    fail,
    handled,
    json_mode,
    out,
    print_json,
    read_secret,
    relative,
    use_json,
    when,
)

if TYPE_CHECKING:
    from ..profiles import Profile
    from ..token import Token

__all__ = [
    "AUTH_NAMES",
    "Auth",
    "AuthOption",
    "ClientIdOption",
    "Grant",
    "GrantOption",
    "JwtKeyFileOption",
    "KeyOption",
    "SandboxOption",
    "SubjectOption",
    "parse_auth",
    "parse_grant",
    "register",
    "token_metadata",
]


class Grant(StrEnum):
    """Grants the command line can use."""

    jwt_bearer = "jwt-bearer"
    client_credentials = "client-credentials"


class Auth(StrEnum):
    """Client authentication methods, short names."""

    none = "none"
    basic = "basic"
    post = "post"
    jwt = "jwt"
    private_key_jwt = "private-key-jwt"


AUTH_NAMES = {
    Auth.none: "none",
    Auth.basic: "client_secret_basic",
    Auth.post: "client_secret_post",
    Auth.jwt: "client_secret_jwt",
    Auth.private_key_jwt: "private_key_jwt",
}
# Every spelling people type: the short name, the IANA name, with - or _.
_GRANT_SPELLINGS = {"jwt-bearer": Grant.jwt_bearer, "jwt_bearer": Grant.jwt_bearer,
                    JWT_BEARER_GRANT: Grant.jwt_bearer,
                    "client-credentials": Grant.client_credentials,
                    "client_credentials": Grant.client_credentials}
_AUTH_SPELLINGS = {**{a.value: a for a in Auth}, **{a.value.replace("-", "_"): a for a in Auth},
                   **{v: a for a, v in AUTH_NAMES.items()},
                   **{v.replace("_", "-"): a for a, v in AUTH_NAMES.items()}}


def parse_grant(value: str) -> Grant:
    try:
        return _GRANT_SPELLINGS[value.strip().lower()]
    except KeyError:
        raise typer.BadParameter(
            f"{value!r} is not a grant this command knows: jwt-bearer or client-credentials "
            "(client_credentials works too)") from None


def parse_auth(value: str) -> Auth:
    try:
        return _AUTH_SPELLINGS[value.strip().lower()]
    except KeyError:
        raise typer.BadParameter(
            f"{value!r} is not a client authentication: none, basic, post, jwt or "
            "private-key-jwt (or their names client_secret_basic, client_secret_post, "
            "client_secret_jwt, private_key_jwt)") from None


# The connection flags `token` and `profiles add` share, spelled once.
SandboxOption = Annotated[bool, typer.Option(
    "--sandbox", help="Salesforce sandbox: test.salesforce.com, and aud to match.")]
GrantOption = Annotated[str, typer.Option(
    metavar="GRANT", help="jwt-bearer or client-credentials (client_credentials works too).")]
ClientIdOption = Annotated[str | None, typer.Option(
    "--client-id", "--iss", help="Client id (for jwt-bearer: the assertion's iss).")]
SubjectOption = Annotated[str | None, typer.Option(
    "--subject", "--sub", "--username",
    help="jwt-bearer: the assertion's sub (e.g. the username).")]
KeyOption = Annotated[str | None, typer.Option(
    help="Signing key: a key-store name or a key file.")]
JwtKeyFileOption = Annotated[Path | None, typer.Option(
    metavar="PATH", help="The private key file (as `sf org login jwt` takes it).")]
AuthOption = Annotated[str | None, typer.Option(
    metavar="METHOD",
    help="Client authentication: none, basic, post, jwt, private-key-jwt (or the registry "
    "names client_secret_basic, ...; default: none for jwt-bearer; basic with a secret, "
    "private-key-jwt with a key for client-credentials).")]

# Response fields that are credentials, or derived from them, and so never printed.
_HIDDEN_FIELDS = ("token", "secret", "signature", "password", "assertion")


def _flags_profile(
    *,
    token_url: str,
    grant: Grant,
    client_id: str | None,
    subject: str | None,
    audience: str | None,
    key: str | None,
    auth: Auth | None,
    secret_ref: str | None,
    scope: str | None,
    lifetime: int,
    allow_insecure_http: bool,
) -> Profile:
    from ..profiles import Profile
    table: dict[str, Any] = {"token_url": token_url, "grant": grant.value, "cache": "memory",
                             "lifetime": lifetime, "allow_insecure_http": allow_insecure_http}
    for name, value in (("client_id", client_id), ("subject", subject), ("audience", audience),
                        ("key", key), ("scope", scope), ("client_secret", secret_ref)):
        if value is not None:
            table[name] = value
    if auth is not None:
        table["client_auth"] = AUTH_NAMES[auth]
    with handled():
        return Profile.from_mapping("flags", table, base_dir=Path.cwd())
    raise AssertionError("unreachable")  # pragma: no cover


def _check_flags(*, grant: Grant, client_id: str | None, key: str | None, auth: Auth | None,
                 has_secret: bool, defaulted_url: str | None = None) -> None:
    """Say what is missing in terms of flags, before the profile checks speak of keys."""
    where = "" if defaulted_url is None else (
        f" (the token URL defaults to {defaulted_url}; give --token-url for another server)")
    if client_id is None:
        fail(f"--client-id is required (for jwt-bearer it is the assertion's iss){where}")
    if grant is Grant.jwt_bearer and key is None:
        fail("--key (or --jwt-key-file) is required for the jwt-bearer grant: a key-store name "
             f"or a key file{where}",
             hint="create one with `jwtbearer keys create NAME`")
    if auth in (Auth.basic, Auth.post, Auth.jwt) and not has_secret:
        fail(f"--auth {auth.value} needs the client secret: --client-secret-env VAR, "
             "--client-secret-file PATH or --client-secret-stdin")
    if auth is Auth.private_key_jwt and key is None:
        fail("--auth private-key-jwt needs --key")
    if grant is Grant.client_credentials and auth is None and not has_secret and key is None:
        fail("client-credentials needs a client secret (--client-secret-env VAR, "
             "--client-secret-file PATH, --client-secret-stdin) or --key (private_key_jwt)")


def token_metadata(token: Token, now: float) -> dict[str, Any]:
    extra = {k: v for k, v in token.extra.items()
             if not any(h in k.lower() for h in _HIDDEN_FIELDS)}
    meta: dict[str, Any] = {
        "token_type": token.token_type,
        "scope": token.scope,
        "expires_in": None if token.expires_at is None else int(token.expires_at - now),
        "expires_at": None if token.expires_at is None else int(token.expires_at),
        "issued_at": int(token.issued_at),
        "has_refresh_token": token.refresh_token is not None,
        "has_id_token": token.id_token is not None,
        "extra": extra,
    }
    return meta


def _print_token(token: Token, now: float, *, as_json: bool, show: bool) -> None:
    if show and not as_json:
        # Only the token, so that `$(jwtbearer token ... --show-token)` is the token.
        typer.echo(token.access_token)
        return
    meta = token_metadata(token, now)
    if as_json:
        if show:
            meta = {"access_token": token.access_token, **meta}
        print_json(meta)
        return
    out.print(f"[bold green]Got an access token[/] ({escape(token.token_type)}, "
              f"{len(token.access_token)} characters, not shown: add --show-token)")
    out.print(f"  scope       {escape(token.scope or '(none given)')}")
    if token.expires_at is not None:
        out.print(f"  expires     {when(token.expires_at)} ({relative(token.expires_at, now)})")
    else:
        out.print("  expires     unknown (the server sent no expires_in)")
    if token.refresh_token is not None:
        out.print("  refresh     a refresh token came too (not shown)")
    if token.id_token is not None:
        out.print("  id_token    present (not shown)")
    for name, value in meta["extra"].items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        out.print(f"  {escape(name):<11} {escape(shown)}")


def token_command(
    profile: Annotated[str | None, typer.Option(
        "--profile", "-p", help="Use [profiles.NAME] of the profiles file (cached token).")] = None,
    token_url: Annotated[str | None, typer.Option(
        help="The token endpoint URL (default: --instance-url + /services/oauth2/token).")
    ] = None,
    instance_url: Annotated[str | None, typer.Option(
        help="Salesforce login or My Domain URL, as `sf org login jwt` takes it (default "
        "https://login.salesforce.com, or https://test.salesforce.com with --sandbox).")
    ] = None,
    sandbox: SandboxOption = False,
    grant: GrantOption = "jwt-bearer",
    client_id: ClientIdOption = None,
    subject: SubjectOption = None,
    audience: Annotated[str | None, typer.Option(
        "--audience", "--aud", help="jwt-bearer: the assertion's aud (default: the token URL; "
        "for Salesforce https://login.salesforce.com, or https://test.salesforce.com for a "
        "sandbox); client-credentials: the audience parameter.")] = None,
    key: KeyOption = None,
    jwt_key_file: JwtKeyFileOption = None,
    auth: AuthOption = None,
    client_secret_env: Annotated[str | None, typer.Option(
        metavar="VAR", help="Read the client secret from this environment variable.")] = None,
    client_secret_file: Annotated[Path | None, typer.Option(
        metavar="PATH", help="Read the client secret from this file.")] = None,
    client_secret_stdin: Annotated[bool, typer.Option(
        "--client-secret-stdin",
        help="Read the client secret from the first line of stdin.")] = False,
    scope: Annotated[str | None, typer.Option(help="Scope to ask for.")] = None,
    lifetime: Annotated[int, typer.Option(help="Assertion lifetime in seconds.")] = 300,
    timeout: Annotated[float, typer.Option(
        metavar="SECONDS", min=0.1, help="Give up after this long, all attempts together.")
    ] = 30.0,
    retries: Annotated[int, typer.Option(
        metavar="N", min=0, max=10, help="Retries after the first attempt (5xx, 429, network)."
    )] = 2,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Print each request line, status and timing on stderr.")
    ] = False,
    allow_insecure_http: Annotated[bool, typer.Option(
        "--allow-insecure-http",
        help="Allow http:// to a host other than loopback.")] = False,
    show_token: Annotated[bool, typer.Option(
        "--show-token",
        help="Print the access token itself (alone, for $(...); with --json, in the JSON).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Get an access token, from a profile or from flags.

    Prints what the token is (type, scope, expiry, fields such as instance_url) but not the
    token itself unless --show-token. Secrets are read from an environment variable, a file or
    stdin, never from a flag value (shell history). Salesforce CLI habits work:
    `jwtbearer token --client-id ID --username USER --jwt-key-file server.key`.
    """
    from ..client.protocol import RetryPolicy
    from ..errors import ConfigurationError
    from ..oauth import SALESFORCE_LOGIN, SALESFORCE_SANDBOX_LOGIN, is_salesforce_sandbox
    from ..profiles import load_profiles
    from ._progress import progress
    use_json(as_json)
    the_grant = parse_grant(grant)
    the_auth = None if auth is None else parse_auth(auth)
    if jwt_key_file is not None:
        if key is not None:
            fail("give --key or --jwt-key-file, not both")
        key = str(jwt_key_file)
    secret = read_secret(env=client_secret_env, file=client_secret_file,
                         stdin=client_secret_stdin, what="client secret")
    # The per-attempt bound: the whole --timeout for a single attempt, else a share of it.
    per_attempt = timeout if retries == 0 else max(timeout / (retries + 1), min(timeout, 10.0))
    retry = RetryPolicy(attempts=retries + 1, deadline=timeout)
    if profile is not None:
        if any(x is not None for x in (token_url, instance_url, client_id, subject, audience,
                                       key, auth, scope)):
            fail("use either --profile or the connection flags (--token-url, --client-id, ...)")
        with handled():
            profiles = load_profiles()
            if profile not in profiles:
                known = ", ".join(sorted(profiles)) or "none"
                raise ConfigurationError(f"no profile named {profile!r} (known: {known})")
            source = profiles[profile].source(client_secret=secret, timeout=per_attempt,
                                                      retry=retry)
            with progress(verbose=verbose, spinner=not json_mode()):
                token = source.token()
    else:
        if token_url is not None and instance_url is not None:
            fail("give --token-url or --instance-url, not both")
        defaulted = token_url is None and instance_url is None
        if token_url is None:
            if the_grant is Grant.client_credentials and instance_url is None:
                fail("client-credentials needs --token-url (or --instance-url for Salesforce)",
                     hint="jwtbearer token --grant client-credentials --token-url URL "
                     "--client-id ID --client-secret-env VAR")
            base = (instance_url or (SALESFORCE_SANDBOX_LOGIN if sandbox
                                     else SALESFORCE_LOGIN)).rstrip("/")
            token_url = base + "/services/oauth2/token"
            if audience is None and the_grant is Grant.jwt_bearer:
                # As `sf org login jwt`: the login host whatever the instance URL.
                test = sandbox or is_salesforce_sandbox(base)
                audience = SALESFORCE_SANDBOX_LOGIN if test else SALESFORCE_LOGIN
        elif sandbox and audience is None and the_grant is Grant.jwt_bearer:
            audience = SALESFORCE_SANDBOX_LOGIN
        _check_flags(grant=the_grant, client_id=client_id, key=key, auth=the_auth,
                     has_secret=secret is not None, defaulted_url=token_url if defaulted else None)
        ref = None
        if client_secret_env:
            ref = f"env:{client_secret_env}"
        elif client_secret_file is not None:
            ref = f"file:{client_secret_file}"
        elif client_secret_stdin:
            ref = "file:/dev/stdin"
        prof = _flags_profile(
            token_url=token_url, grant=the_grant, client_id=client_id, subject=subject,
            audience=audience, key=key, auth=the_auth, secret_ref=ref, scope=scope,
            lifetime=lifetime, allow_insecure_http=allow_insecure_http,
        )
        with handled():
            source = prof.source(client_secret=secret, timeout=per_attempt, retry=retry)
            with progress(verbose=verbose, spinner=not json_mode()):
                token = source.token()
    _print_token(token, time.time(), as_json=as_json, show=show_token)


def register(app: typer.Typer) -> None:
    """Add ``token`` and ``assert`` to ``app``."""
    from .assert_cmds import assert_command
    app.command("token", epilog="Example: jwtbearer token -p salesforce-prod")(token_command)
    app.command("assert", epilog="Example: jwtbearer assert --iss ID --sub USER "
                "--aud https://login.salesforce.com --key my-cert")(assert_command)
