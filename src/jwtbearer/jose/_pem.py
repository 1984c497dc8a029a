"""Reading PEM, DER and PKCS#12 keys and X.509 certificates, and tying a certificate to its key.

A PEM text may hold a private key and its certificate (RFC 7468); a certificate is kept only when
it belongs to the key, so the ``x5t#S256`` a token carries (RFC 7515 §4.1.8) names the right key.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from ..errors import ConfigurationError, KeyLoadError
from ._algorithms import PRIVATE_TYPES, PUBLIC_TYPES, PrivateKey, PublicKey, spki
from ._b64 import b64url_encode

if TYPE_CHECKING:
    from cryptography import x509

__all__: list[str] = []

_PEM_BLOCK_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def _password_bytes(password: str | bytes | None) -> bytes | None:
    return password.encode() if isinstance(password, str) else password


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    return [(m.group(1).decode(), m.group(0)) for m in _PEM_BLOCK_RE.finditer(data)]


def _as_private(key: object) -> PrivateKey:
    if not isinstance(key, PRIVATE_TYPES):
        raise KeyLoadError(f"unsupported private key type {type(key).__name__}")
    return key


def _load_private_pem(
    raw: bytes, password: str | bytes | None
) -> tuple[PrivateKey, x509.Certificate | None]:
    """The one private key of a PEM text (PKCS#1, PKCS#8, encrypted PKCS#8, SEC1) and its
    certificate, if the text holds it."""
    blocks = _pem_blocks(raw)
    key_blocks = [pem for label, pem in blocks if label.endswith("PRIVATE KEY")]
    certs = [pem for label, pem in blocks if label == "CERTIFICATE"]
    if not key_blocks:
        kinds = ", ".join(sorted({label for label, _ in blocks})) or "no PEM block"
        raise KeyLoadError(
            f"no private key found (found: {kinds}); signing needs the private key file "
            "(-----BEGIN PRIVATE KEY-----), not the certificate or public key"
        )
    if len(key_blocks) > 1:
        raise KeyLoadError("the PEM holds several private keys; keep one key per file")
    encrypted = b"ENCRYPTED" in key_blocks[0]
    try:
        loaded = serialization.load_pem_private_key(
            key_blocks[0], password=_password_bytes(password)
        )
    except TypeError:
        if password is None:
            raise KeyLoadError(
                "the private key is encrypted and no password was given: pass password="
            ) from None
        raise KeyLoadError(
            "a password was given but the private key is not encrypted; drop password="
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        if encrypted:
            raise KeyLoadError(
                "could not decrypt the private key: wrong password" if password is not None
                else "the private key is encrypted and no password was given: pass password="
            ) from None
        raise KeyLoadError(f"could not read the private key: {exc}") from None
    private = _as_private(loaded)
    return private, _matching_certificate(certs, private.public_key())


def _load_pkcs12(
    data: bytes, password: str | bytes | None
) -> tuple[PrivateKey, x509.Certificate | None]:
    """The key and certificate of a PKCS#12 bundle (RFC 7292)."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    try:
        private, cert, _ = pkcs12.load_key_and_certificates(data, _password_bytes(password))
    except ValueError:
        hint = "no password was given (pass password=)" if password is None else "wrong password"
        raise KeyLoadError(
            f"could not read the PKCS#12 file: {hint}, or the file is not PKCS#12"
        ) from None
    if private is None:
        raise KeyLoadError("the PKCS#12 file holds no private key")
    return _as_private(private), cert


def _load_private_der(data: bytes, password: str | bytes | None) -> PrivateKey | None:
    """A DER private key, or None when ``data`` is not one."""
    try:
        loaded = serialization.load_der_private_key(data, _password_bytes(password))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return _as_private(loaded)


def _load_certificate(
    cert: x509.Certificate | str | bytes,
) -> tuple[PublicKey, x509.Certificate]:
    """A certificate (an object, PEM or DER) and its public key."""
    from cryptography import x509
    if not isinstance(cert, x509.Certificate):
        raw = cert.encode() if isinstance(cert, str) else cert
        try:
            cert = (
                x509.load_pem_x509_certificate(raw)
                if b"-----BEGIN" in raw
                else x509.load_der_x509_certificate(raw)
            )
        except (ValueError, x509.InvalidVersion):
            raise KeyLoadError(_BAD_CERT) from None
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"could not read the certificate's public key: {exc}") from None
    if not isinstance(public, PUBLIC_TYPES):
        raise KeyLoadError(f"unsupported certificate key type {type(public).__name__}")
    return public, cert


def _load_public_pem(raw: bytes) -> PublicKey:
    """A ``PUBLIC KEY`` (SPKI) or ``RSA PUBLIC KEY`` PEM."""
    try:
        public = serialization.load_pem_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"could not read the public key: {exc}") from None
    if not isinstance(public, PUBLIC_TYPES):
        raise KeyLoadError(f"unsupported public key type {type(public).__name__}")
    return public


#: The parser's own dump (ASN.1 tags and offsets) helps nobody; this says what to check.
_BAD_CERT = ("could not read the certificate: it is not an X.509 certificate in PEM "
             "(-----BEGIN CERTIFICATE-----) or DER form, or the file is damaged or truncated; "
             "use the certificate file you uploaded (or its public key or JWK)")


def _matching_certificate(certs: list[bytes], public: PublicKey) -> x509.Certificate | None:
    """The certificate of ``public`` among PEM blocks (a chain may follow it); refused if none."""
    from cryptography import x509
    if not certs:
        return None
    wanted = spki(public)
    for pem in certs:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except (ValueError, x509.InvalidVersion):
            raise KeyLoadError(_BAD_CERT) from None
        try:
            cert_key = cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"could not read the certificate's public key: {exc}") from None
        if isinstance(cert_key, PUBLIC_TYPES) and spki(cert_key) == wanted:
            return cert
    raise KeyLoadError(
        "the certificate in the PEM does not belong to its private key; keep the key with the "
        "certificate created together with it"
    )


def check_certificate(cert: x509.Certificate | None, public: PublicKey | bytes) -> None:
    if cert is None:
        return
    if isinstance(public, bytes):
        raise KeyLoadError("a shared secret cannot have a certificate")
    cert_key = cert.public_key()
    if not isinstance(cert_key, PUBLIC_TYPES) or spki(cert_key) != spki(public):
        raise KeyLoadError(
            "the certificate does not belong to this key; use the certificate created together "
            "with the key (the one uploaded to the identity provider)"
        )


def certificate_x5t_s256(cert: x509.Certificate | None) -> str | None:
    return None if cert is None else b64url_encode(cert.fingerprint(hashes.SHA256()))


def _secret_bytes(secret: str | bytes, alg: str, verb: str) -> bytes:
    """A shared secret's bytes for HS256/384/512; a PEM key is refused (RFC 8725 §2.1)."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if alg not in ("HS256", "HS384", "HS512"):
        raise ConfigurationError(f"a shared secret {verb} HS256/HS384/HS512, not {alg!r}")
    # A public key's PEM used as an HMAC secret is the classic algorithm confusion.
    if b"-----BEGIN" in raw:
        raise KeyLoadError(
            "this secret is a PEM key: load it with from_pem/from_file; an HMAC secret must be "
            "random bytes shared only with the server"
        )
    return raw
