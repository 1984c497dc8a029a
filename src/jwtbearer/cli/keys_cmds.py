"""``jwtbearer keys``: create, list, show, import and export named signing keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import escape, fail, handled, out, read_secret, when

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
) -> None:
    """Create an RSA-2048 key and a self-signed certificate to upload to the identity provider
    (with --pkcs11-module: the key is made on the token and never leaves it)."""
    ks = _store(store)
    if pkcs11_module is not None or token_label is not None:
        from .pkcs11_keys import run_create

        return run_create(ks, name, module=pkcs11_module, token_label=token_label,
                          key_label=key_label, alg=alg, pin_env=pin_env, pin_stdin=pin_stdin,
                          days=days, subject=subject, overwrite=force)
    with handled():
        key = ks.create(name, days=days, subject=subject, overwrite=force)
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
def list_keys(store: StoreOption = None) -> None:
    """List the keys in the store."""
    ks = _store(store)
    names = ks.names()
    from .pkcs11_keys import token_keys

    on_tokens = token_keys(ks)
    for name, uri in on_tokens:
        out.print(f"{escape(name)}  on a PKCS#11 token  {escape(uri)}")
    if not names and not on_tokens:
        out.print(f"No keys in {escape(str(ks.path))}; create one with `jwtbearer keys create "
                  "NAME`.")
        return
    for name in names:
        with handled():
            key = ks.get(name)
        expiry = ""
        if key.certificate is not None:
            expiry = f"  certificate until {when(key.certificate.not_valid_after_utc.timestamp())}"
        out.print(f"{escape(name)}  {key.alg}  kid={escape(key.kid or '-')}{expiry}")


@keys_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    store: StoreOption = None,
) -> None:
    """Show a key's public information (never the private key)."""
    ks = _store(store)
    key = _get(ks, name)
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
) -> None:
    """Copy a key file into the store (stored unencrypted, mode 0600)."""
    from ..errors import ConfigurationError
    ks = _store(store)
    password = read_secret(env=password_env, file=None, stdin=password_stdin, what="password")
    with handled():
        if name in ks and not force:
            raise ConfigurationError(f"a key named {name!r} already exists in {ks.path}; pass "
                                     "--force to replace it")
        key = ks.import_file(name, path, password=password)
    out.print(f"[bold green]Imported {escape(str(path))} as {escape(name)!r}[/]")
    _describe(ks, name, key)


@keys_app.command("jwk")
def jwk(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    single: Annotated[bool, typer.Option(
        "--single", help="Print the one public JWK instead of a JWK Set.")] = False,
    store: StoreOption = None,
) -> None:
    """Print the public JWK Set (or one JWK) of a key, for providers that take a JWKS."""
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
