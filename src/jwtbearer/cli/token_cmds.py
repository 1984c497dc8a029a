"""``jwtbearer token`` (get an access token) and ``jwtbearer assert`` (sign an assertion)."""

from __future__ import annotations

import json
import shlex
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import escape, fail, handled, load_signing_key, out, read_secret, relative, when

if TYPE_CHECKING:
    from ..profiles import Profile
    from ..token import Token

__all__ = ["register"]


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


_AUTH_NAMES = {
    Auth.none: "none",
    Auth.basic: "client_secret_basic",
    Auth.post: "client_secret_post",
    Auth.jwt: "client_secret_jwt",
    Auth.private_key_jwt: "private_key_jwt",
}
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
        table["client_auth"] = _AUTH_NAMES[auth]
    with handled():
        return Profile.from_mapping("flags", table, base_dir=Path.cwd())
    raise AssertionError("unreachable")  # pragma: no cover


def _check_flags(*, grant: Grant, client_id: str | None, key: str | None, auth: Auth | None,
                 has_secret: bool) -> None:
    """Say what is missing in terms of flags, before the profile checks speak of keys."""
    if client_id is None:
        fail("--client-id is required (for jwt-bearer it is the assertion's iss)")
    if grant is Grant.jwt_bearer and key is None:
        fail("--key is required for the jwt-bearer grant: a key-store name or a key file",
             hint="create one with `jwtbearer keys create NAME`")
    if auth in (Auth.basic, Auth.post, Auth.jwt) and not has_secret:
        fail(f"--auth {auth.value} needs the client secret: --client-secret-env VAR, "
             "--client-secret-file PATH or --client-secret-stdin")
    if auth is Auth.private_key_jwt and key is None:
        fail("--auth private-key-jwt needs --key")
    if grant is Grant.client_credentials and auth is None and not has_secret and key is None:
        fail("client-credentials needs a client secret (--client-secret-env VAR, "
             "--client-secret-file PATH, --client-secret-stdin) or --key (private_key_jwt)")


def _metadata(token: Token, now: float) -> dict[str, Any]:
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
    meta = _metadata(token, now)
    if as_json:
        if show:
            meta = {"access_token": token.access_token, **meta}
        typer.echo(json.dumps(meta, indent=2, sort_keys=False, default=str))
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
    token_url: Annotated[str | None, typer.Option(help="The token endpoint URL.")] = None,
    grant: Annotated[Grant, typer.Option(help="The grant to use.")] = Grant.jwt_bearer,
    client_id: Annotated[str | None, typer.Option(
        help="Client id (for jwt-bearer: the assertion's iss).")] = None,
    subject: Annotated[str | None, typer.Option(
        "--subject", "--sub", help="jwt-bearer: the assertion's sub (e.g. the username).")] = None,
    audience: Annotated[str | None, typer.Option(
        "--audience", "--aud", help="jwt-bearer: the assertion's aud (default: the token URL, "
        "or https://login.salesforce.com for that host); "
        "client-credentials: the audience parameter.")] = None,
    key: Annotated[str | None, typer.Option(
        help="Signing key: a key-store name or a key file.")] = None,
    auth: Annotated[Auth | None, typer.Option(
        help="Client authentication (default: none for jwt-bearer; basic with a secret, "
        "private-key-jwt with a key for client-credentials).")] = None,
    client_secret_env: Annotated[str | None, typer.Option(
        metavar="VAR", help="Read the client secret from this environment variable.")] = None,
    client_secret_file: Annotated[Path | None, typer.Option(
        metavar="PATH", help="Read the client secret from this file.")] = None,
    client_secret_stdin: Annotated[bool, typer.Option(
        "--client-secret-stdin",
        help="Read the client secret from the first line of stdin.")] = False,
    scope: Annotated[str | None, typer.Option(help="Scope to ask for.")] = None,
    lifetime: Annotated[int, typer.Option(help="Assertion lifetime in seconds.")] = 300,
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
    stdin, never from a flag value (shell history).
    """
    from ..errors import ConfigurationError
    from ..profiles import load_profiles
    secret = read_secret(env=client_secret_env, file=client_secret_file,
                         stdin=client_secret_stdin, what="client secret")
    if profile is not None:
        if any(x is not None for x in (token_url, client_id, subject, audience, key, auth,
                                       scope)):
            fail("use either --profile or the connection flags (--token-url, --client-id, ...)")
        with handled():
            profiles = load_profiles()
            if profile not in profiles:
                known = ", ".join(sorted(profiles)) or "none"
                raise ConfigurationError(f"no profile named {profile!r} (known: {known})")
            source = profiles[profile].source(client_secret=secret)
            token = source.token()
    else:
        if token_url is None:
            fail("give --profile NAME, or --token-url with the other flags",
                 hint="jwtbearer token --token-url URL --client-id ID --sub USER --key NAME")
        _check_flags(grant=grant, client_id=client_id, key=key, auth=auth,
                     has_secret=secret is not None)
        ref = None
        if client_secret_env:
            ref = f"env:{client_secret_env}"
        elif client_secret_file is not None:
            ref = f"file:{client_secret_file}"
        elif client_secret_stdin:
            ref = "file:/dev/stdin"
        prof = _flags_profile(
            token_url=token_url, grant=grant, client_id=client_id, subject=subject,
            audience=audience, key=key, auth=auth, secret_ref=ref, scope=scope,
            lifetime=lifetime, allow_insecure_http=allow_insecure_http,
        )
        with handled():
            token = prof.source(client_secret=secret).token()
    _print_token(token, time.time(), as_json=as_json, show=show_token)


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
    iss: Annotated[str, typer.Option(help="Issuer: the client id (Salesforce consumer key).")],
    aud: Annotated[str, typer.Option(
        help="Audience: the token URL or issuer (Salesforce: https://login.salesforce.com).")],
    key: Annotated[str, typer.Option(help="Signing key: a key-store name or a key file.")],
    sub: Annotated[str | None, typer.Option(
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
) -> None:
    """Sign a JWT assertion (RFC 7523) and print it, or a curl command that uses it."""
    from ..jose.assertion import make_assertion
    from ..oauth import JWT_BEARER_GRANT
    if lifetime <= 0 or lifetime > 3600:
        fail(f"--lifetime is seconds between 1 and 3600, not {lifetime}")
    extra = dict(_claim(c) for c in claim or [])
    signing_key = load_signing_key(key)
    with handled():
        jwt = make_assertion(key=signing_key, iss=iss, sub=sub, aud=aud, lifetime=lifetime,
                             now=time.time(), nbf_skew=nbf_skew, extra_claims=extra,
                             x5t_s256=x5t)
    if curl is None:
        typer.echo(jwt)
        return
    parts = ["curl", "-sS", "-X", "POST", curl, "-H", "Accept: application/json",
             "--data-urlencode", f"grant_type={JWT_BEARER_GRANT}",
             "--data-urlencode", f"assertion={jwt}"]
    typer.echo(" ".join(shlex.quote(p) for p in parts))


def register(app: typer.Typer) -> None:
    """Add ``token`` and ``assert`` to ``app``."""
    app.command("token", epilog="Example: jwtbearer token -p salesforce-prod")(token_command)
    app.command("assert", epilog="Example: jwtbearer assert --iss ID --sub USER "
                "--aud https://login.salesforce.com --key my-cert")(assert_command)
