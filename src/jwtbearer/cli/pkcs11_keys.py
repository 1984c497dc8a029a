"""``jwtbearer keys create NAME --pkcs11-module M --token-label T``: a key made on the token.

The private key is generated on the token (non-extractable); the key store gets what may be
public: the certificate to upload (self-signed by the token), the JWKS, and ``NAME.pkcs11``, the
RFC 7512 URI of the key (never the PIN), so ``--key NAME`` and profiles find it again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._util import write_file
from ..errors import ConfigurationError
from ..jose.keystore import KeyStore
from ..signers import RemoteSigner

__all__ = ["create_on_token", "stored_reference"]


def _uri(module: str, token_label: str, key_label: str, alg: str) -> str:
    from urllib.parse import quote

    return (f"pkcs11:token={quote(token_label, safe='')};object={quote(key_label, safe='')}"
            f"?module-path={quote(module, safe='/')}&alg={alg}")


def reference_path(store: KeyStore, name: str) -> Path:
    """Where the PKCS#11 URI of key ``name`` is kept."""
    return store.certificate_path(name).with_name(f"{name}.pkcs11")


def stored_reference(store: KeyStore, name: str) -> str | None:
    """The PKCS#11 URI stored for ``name``, if the key lives on a token."""
    try:
        path = reference_path(store, name)
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, ValueError, ConfigurationError):
        return None


def create_on_token(
    store: KeyStore,
    name: str,
    *,
    module: str,
    token_label: str,
    key_label: str | None,
    alg: str,
    pin: str,
    days: int,
    subject: str | None,
    overwrite: bool,
) -> tuple[RemoteSigner, str]:
    """Generate the key on the token and write its certificate, JWKS and URI to the store."""
    from ..signers.certificate import self_signed_certificate
    from ..signers.pkcs11 import Pkcs11Signer, generate_key

    if name in store or (reference_path(store, name).exists() and not overwrite):
        raise ConfigurationError(f"a key named {name!r} already exists in {store.path}; pass "
                                 "--force to replace the files (the token's key stays)")
    label = key_label or name
    signer = generate_key(module, token_label, label, pin=pin, alg=alg)
    try:
        certificate = self_signed_certificate(signer, subject or name, days=days)
    finally:
        signer.close()
    signer = Pkcs11Signer(module, token_label, label, pin=pin, alg=alg, certificate=certificate)
    store.path.mkdir(parents=True, exist_ok=True)
    write_file(store.certificate_path(name),
               certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    write_file(store.jwks_path(name),
               json.dumps({"keys": [signer.public_jwk()]}, indent=2).encode(), 0o644)
    uri = _uri(os.fspath(module), token_label, label, alg)
    write_file(reference_path(store, name), (uri + "\n").encode())
    return signer, uri


def run_create(
    store: KeyStore,
    name: str,
    *,
    module: str | None,
    token_label: str | None,
    key_label: str | None,
    alg: str | None,
    pin_env: str,
    pin_stdin: bool,
    days: int,
    subject: str | None,
    overwrite: bool,
) -> None:
    """The ``keys create --pkcs11-module`` command: make the key, print what to do next."""
    from ._common import escape, fail, handled, json_mode, out, print_json, read_secret

    if not module or not token_label:
        fail("a key on a PKCS#11 token needs both --pkcs11-module and --token-label")
    pin = read_secret(env=None if pin_stdin else pin_env, file=None, stdin=pin_stdin,
                      what="PKCS#11 user PIN")
    if not pin:
        fail("no PKCS#11 user PIN", hint=f"export {pin_env}=... or pass --pin-stdin")
    with handled():
        signer, uri = create_on_token(
            store, name, module=module, token_label=token_label, key_label=key_label,
            alg=alg or "RS256", pin=pin, days=days, subject=subject, overwrite=overwrite)
    signer.close()  # type: ignore[attr-defined]
    if json_mode():
        print_json({"name": name, "alg": signer.alg, "kty": signer.kty, "kid": signer.kid,
                    "x5t#S256": signer.x5t_s256, "pkcs11_uri": uri, "token_label": token_label,
                    "certificate_file": str(store.certificate_path(name)),
                    "jwks_file": str(store.jwks_path(name))})
        return
    out.print(f"[bold green]Created key {escape(name)!r} on PKCS#11 token "
              f"{escape(token_label)!r}[/] (the private key cannot leave the token)")
    out.print(f"  algorithm     {signer.alg} ({signer.kty})")
    out.print(f"  kid           {escape(signer.kid or '(none)')}  (RFC 7638 JWK thumbprint)")
    out.print(f"  x5t#S256      {signer.x5t_s256}")
    out.print(f"  certificate   {escape(str(store.certificate_path(name)))}  (upload this; "
              "signed by the token)")
    out.print(f"  JWKS          {escape(str(store.jwks_path(name)))}")
    out.print(f"  key URI       {escape(uri)}")
    out.print(f"\nNext: jwtbearer assert --key {escape(name)} ... (PIN from ${escape(pin_env)})")


def token_keys(store: KeyStore) -> list[tuple[str, str]]:
    """``(name, URI)`` of the keys made on a PKCS#11 token, sorted by name."""
    if not store.path.is_dir():
        return []
    found = []
    for path in sorted(store.path.glob("*.pkcs11")):
        uri = stored_reference(store, path.name[: -len(".pkcs11")])
        if uri is not None:
            found.append((path.name[: -len(".pkcs11")], uri))
    return found


def stored_certificate(store: KeyStore, name: str) -> x509.Certificate | None:
    """The certificate ``keys create`` wrote for a key on a token, if it is still there."""
    try:
        return x509.load_pem_x509_certificate(store.certificate_path(name).read_bytes())
    except (OSError, ValueError):
        return None
