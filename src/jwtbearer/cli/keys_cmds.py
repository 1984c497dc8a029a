"""``jwtbearer keys``: create, list, show, import and export named signing keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import escape, fail, handled, out, print_json, read_secret, use_json, when

if TYPE_CHECKING:
    from cryptography import x509

    from ..jose.keys import SigningKey
    from ..jose.keystore import KeyStore

__all__ = ["register"]

keys_app = typer.Typer(
    name="keys",
    help="Named signing keys: the key, the certificate to upload, and the JWKS.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

StoreOption = Annotated[Path | None, typer.Option(
    "--store", metavar="DIR",
    help="Key store folder (default: $JWTBEARER_HOME/keys, else ~/.config/jwtbearer/keys).")]
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Replace an existing key of that name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]

#: A certificate expiring sooner than this is flagged by `keys list` and `keys show`.
EXPIRY_WARNING_DAYS = 30


def _store(path: Path | None) -> KeyStore:
    from ..jose.keystore import KeyStore, default_key_store
    return KeyStore(path) if path is not None else default_key_store()


def _get(store: KeyStore, name: str) -> SigningKey:
    with handled():
        return store.get(name)
    raise AssertionError("unreachable")  # pragma: no cover


def _cert_lines(cert: x509.Certificate) -> list[str]:
    return [
        f"  subject       {escape(cert.subject.rfc4514_string())}",
        f"  valid         {when(cert.not_valid_before_utc.timestamp())} to "
        f"{when(cert.not_valid_after_utc.timestamp())}",
    ]


def _info(store: KeyStore, name: str, key: SigningKey) -> dict[str, Any]:
    """A key's public description, as ``--json`` prints it."""
    import time
    cert = key.certificate
    info: dict[str, Any] = {
        "name": name, "alg": key.alg, "kty": key.kty, "kid": key.kid,
        "thumbprint": key.thumbprint(), "x5t#S256": key.x5t_s256,
        "certificate": None, "key_file": str(store.key_path(name)),
        "certificate_file": str(store.certificate_path(name))
        if store.certificate_path(name).exists() else None,
    }
    if cert is not None:
        until = cert.not_valid_after_utc.timestamp()
        left = (until - time.time()) / 86400
        info["certificate"] = {
            "subject": cert.subject.rfc4514_string(),
            "not_before": int(cert.not_valid_before_utc.timestamp()),
            "not_after": int(until),
            "days_left": int(left) if left >= 0 else -1 - int(-left),
            "expires_soon": left < EXPIRY_WARNING_DAYS,
        }
    return info


def _describe(store: KeyStore, name: str, key: SigningKey) -> None:
    out.print(f"  algorithm     {key.alg} ({key.kty})")
    out.print(f"  kid           {escape(key.kid or '(none)')}")
    out.print(f"  thumbprint    {key.thumbprint()}  (RFC 7638 JWK thumbprint)")
    out.print(f"  x5t#S256      {key.x5t_s256 or '(no certificate)'}")
    if key.certificate is not None:
        for line in _cert_lines(key.certificate):
            out.print(line)
    out.print(f"  private key   {escape(str(store.key_path(name)))}  (mode 0600: keep it secret)")
    if store.certificate_path(name).exists():
        out.print(f"  certificate   {escape(str(store.certificate_path(name)))}  (upload this)")
    if store.jwks_path(name).exists():
        out.print(f"  JWKS          {escape(str(store.jwks_path(name)))}")


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The key's name (the Apex certificate name).")],
    days: Annotated[int, typer.Option(help="Certificate validity in days.")] = 365,
    subject: Annotated[str | None, typer.Option(
        help="Certificate common name (default: NAME).")] = None,
    force: ForceOption = False,
    store: StoreOption = None,
    pkcs11_module: Annotated[str | None, typer.Option(
        "--pkcs11-module", metavar="PATH",
        help="Make the key on a PKCS#11 token instead: the module (.so).")] = None,
    token_label: Annotated[str | None, typer.Option(help="PKCS#11 token label.")] = None,
    key_label: Annotated[str | None, typer.Option(
        help="Label of the key on the token (default: NAME).")] = None,
    alg: Annotated[str | None, typer.Option(
        help="Algorithm of a key on a token: RS256 (default), PS256 or ES256.")] = None,
    pin_env: Annotated[str, typer.Option(
        metavar="VAR", help="Variable holding the token's user PIN.")] = "JWTBEARER_PKCS11_PIN",
    pin_stdin: Annotated[bool, typer.Option(
        "--pin-stdin", help="Read the token's user PIN from stdin.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create an RSA-2048 key and a self-signed certificate to upload to the identity provider
    (with --pkcs11-module: the key is made on the token and never leaves it)."""
    use_json(as_json)
    ks = _store(store)
    if pkcs11_module is not None or token_label is not None:
        from .pkcs11_keys import run_create

        return run_create(ks, name, module=pkcs11_module, token_label=token_label,
                          key_label=key_label, alg=alg, pin_env=pin_env, pin_stdin=pin_stdin,
                          days=days, subject=subject, overwrite=force)
    with handled():
        key = ks.create(name, days=days, subject=subject, overwrite=force)
    if as_json:
        print_json(_info(ks, name, key))
        return
    out.print(f"[bold green]Created key {escape(name)!r}[/]")
    _describe(ks, name, key)
    cert = escape(str(ks.certificate_path(name)))
    out.print("\nNext:")
    out.print(f"  Salesforce  Setup > App Manager > your app > Edit > 'Use digital signatures': "
              f"upload {cert}; then 'Admin approved users are pre-authorized' and add the "
              "user's profile.")
    out.print(f"  Okta        Applications > your app > Client Credentials: 'Public key / "
              f"Private key' > Add key: paste `jwtbearer keys jwk {escape(name)} --single`.")
    out.print(f"  Entra ID    App registrations > Certificates & secrets: upload {cert}.")
    out.print(f"  Then        jwtbearer token --token-url URL --client-id ID --sub USER "
              f"--key {escape(name)}")


@keys_app.command("list")
def list_keys(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List the keys in the store, flagging a certificate that expires within 30 days."""
    use_json(as_json)
    ks = _store(store)
    names = ks.names()
    from .pkcs11_keys import token_keys

    on_tokens = token_keys(ks)
    infos = []
    for name in names:
        with handled():
            infos.append(_info(ks, name, ks.get(name)))
    if as_json:
        print_json(infos + [{"name": name, "pkcs11_uri": uri} for name, uri in on_tokens])
        return
    for name, uri in on_tokens:
        out.print(f"{escape(name)}  on a PKCS#11 token  {escape(uri)}")
    if not names and not on_tokens:
        out.print(f"No keys in {escape(str(ks.path))}; create one with `jwtbearer keys create "
                  "NAME`.")
        return
    if not infos:
        return
    rows = [("NAME", "ALG", "KID", "CERTIFICATE UNTIL", "")]
    for info in infos:
        cert = info["certificate"]
        until, note = "(no certificate)", ""
        if cert is not None:
            until = when(cert["not_after"])
            if cert["days_left"] < 0:
                note = "EXPIRED"
            elif cert["expires_soon"]:
                note = f"expires in {cert['days_left']} days: renew it"
        rows.append((info["name"], info["alg"], info["kid"] or "-", until, note))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for number, row in enumerate(rows):
        line = "  ".join(escape(cell.ljust(widths[i])) for i, cell in enumerate(row[:4]))
        if row[4]:
            line += f"  [bold yellow]! {escape(row[4])}[/]"
        out.print(f"[bold]{line.rstrip()}[/]" if number == 0 else line.rstrip())


@keys_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a key's public information (never the private key)."""
    use_json(as_json)
    ks = _store(store)
    key = _get(ks, name)
    if as_json:
        print_json(_info(ks, name, key))
        return
    out.print(f"[bold]{escape(name)}[/]")
    _describe(ks, name, key)


@keys_app.command("import")
def import_key(
    name: Annotated[str, typer.Argument(help="Name to store the key under.")],
    path: Annotated[Path, typer.Argument(help="Key file: PEM, PKCS#12 (.p12/.pfx) or JWK.")],
    password_env: Annotated[str | None, typer.Option(
        metavar="VAR", help="Read the file's password from this environment variable.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin",
        help="Read the file's password from stdin.")] = False,
    force: ForceOption = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a key file into the store (stored unencrypted, mode 0600)."""
    from ..errors import ConfigurationError
    use_json(as_json)
    ks = _store(store)
    password = read_secret(env=password_env, file=None, stdin=password_stdin, what="password")
    with handled():
        if name in ks and not force:
            raise ConfigurationError(f"a key named {name!r} already exists in {ks.path}; pass "
                                     "--force to replace it")
        key = ks.import_file(name, path, password=password)
    if as_json:
        print_json(_info(ks, name, key))
        return
    out.print(f"[bold green]Imported {escape(str(path))} as {escape(name)!r}[/]")
    _describe(ks, name, key)


@keys_app.command("jwk")
def jwk(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    single: Annotated[bool, typer.Option(
        "--single", help="Print the one public JWK instead of a JWK Set.")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the public JWK Set (or one JWK) of a key, for providers that take a JWKS (always
    JSON; --json is accepted for uniformity)."""
    use_json(as_json)
    ks = _store(store)
    key = _get(ks, name)
    doc: dict[str, Any]
    path = ks.jwks_path(name)
    if path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            fail(f"cannot read {path}: {exc}")
    else:
        doc = {"keys": [key.public_jwk()]}
    if single:
        doc = doc["keys"][0]
    typer.echo(json.dumps(doc, indent=2))


def register(app: typer.Typer) -> None:
    """Add the ``keys`` group to ``app``."""
    app.add_typer(keys_app)
