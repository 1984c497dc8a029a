"""Named signing keys on disk: the Apex "certificate unique name".

``KeyStore().create("my-cert")`` makes an RSA-2048 key and a self-signed X.509 certificate to
upload to an identity provider (a Salesforce connected app, PingOne, ...);
``KeyStore().get("my-cert")`` is the :class:`~jwtbearer.keys.SigningKey` that signs with it.
Keys read from a store carry ``kid`` = their RFC 7638 thumbprint, the value published in the
store's JWK Set, so a server that reads ``kid`` finds the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .._util import home, write_file
from ..errors import ConfigurationError, KeyLoadError
from .keys import SigningKey
from .signer import Signer, checked_signer

__all__ = [
    "KEY_FILE_SUFFIXES",
    "KeyStore",
    "default_key_store",
    "looks_like_key_file",
    "resolve_key",
]

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# (device, inode, size, mtime in ns) of the key file and of the certificate file.
_Stamp = tuple[tuple[int, int, int, int], tuple[int, int, int, int] | None]


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class KeyStore:
    """Named signing keys in a folder: ``N.key.pem``, ``N.crt.pem`` and ``N.jwks.json``.

    ``N.key.pem`` is the private key (PKCS#8, mode 0600), ``N.crt.pem`` the certificate to upload
    to the identity provider, ``N.jwks.json`` the public JWK Set (RFC 7517 §5, with ``x5c`` and
    ``x5t#S256``) for providers that take one. The folder is ``path``, else
    ``$JWTBEARER_HOME/keys``, else ``~/.config/jwtbearer/keys``. ``clock`` (epoch seconds) dates
    the certificates that :meth:`create` makes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else home() / "keys"
        self._clock = clock or time.time
        self._cache: dict[str, tuple[_Stamp, SigningKey]] = {}

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r})"

    def _check_name(self, name: str) -> str:
        if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
            raise ConfigurationError(
                f"invalid key name {name!r}: use up to 128 letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        return name

    def key_path(self, name: str) -> Path:
        """Where the private key of ``name`` lives."""
        return self.path / f"{self._check_name(name)}.key.pem"

    def certificate_path(self, name: str) -> Path:
        """Where the certificate of ``name`` lives (upload this one)."""
        return self.path / f"{self._check_name(name)}.crt.pem"

    def jwks_path(self, name: str) -> Path:
        """Where the public JWK Set of ``name`` lives."""
        return self.path / f"{self._check_name(name)}.jwks.json"

    def names(self) -> list[str]:
        """The names of the keys in the store, sorted."""
        if not self.path.is_dir():
            return []
        found = (p.name[: -len(".key.pem")] for p in self.path.glob("*.key.pem"))
        return sorted(name for name in found if _NAME_RE.fullmatch(name))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
            return False
        return self.key_path(name).exists()

    def get(self, name: str) -> SigningKey:
        """The key called ``name``: parsed once, the same object while its files are unchanged."""
        path = self.key_path(name)
        key_stamp = _stamp(path)
        if key_stamp is None:
            known = ", ".join(self.names()) or "none yet"
            raise KeyLoadError(
                f"no key named {name!r} in {self.path} (known: {known}); create it with "
                f"KeyStore().create({name!r}) or `jwtbearer keys create {name}`, or import a "
                "key file with KeyStore().import_file(...) or `jwtbearer keys import`"
            )
        cert_path = self.certificate_path(name)
        stamp: _Stamp = (key_stamp, _stamp(cert_path))
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        data = path.read_bytes()
        if stamp[1] is not None and b"CERTIFICATE" not in data:
            data = data + b"\n" + cert_path.read_bytes()
        try:
            key = SigningKey.from_pem(data)
        except KeyLoadError as exc:
            raise KeyLoadError(f"{path}: {exc}") from None
        key = key.with_kid(key.thumbprint())
        self._cache[name] = (stamp, key)
        return key

    def create(
        self,
        name: str,
        days: int = 365,
        subject: str | None = None,
        *,
        overwrite: bool = False,
    ) -> SigningKey:
        """Make an RSA-2048 key and a self-signed certificate valid for ``days`` days.

        ``subject`` is the certificate's common name (default: ``name``). An existing key is
        never replaced unless ``overwrite=True``.
        """
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ConfigurationError(f"days must be a whole number of at least 1, not {days!r}")
        self._refuse_existing(name, overwrite)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cn = subject or name
        subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = dt.datetime.fromtimestamp(int(self._clock()), dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject_name)
            .issuer_name(subject_name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            # Backdated a little: a server whose clock is behind must not see a future cert.
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(private, hashes.SHA256())
        )
        key = SigningKey(private, certificate=cert)
        key = key.with_kid(key.thumbprint())
        self._save(name, key)
        return key

    def import_file(
        self,
        name: str,
        path: str | os.PathLike[str],
        password: str | bytes | None = None,
    ) -> SigningKey:
        """Copy a key file (PEM, PKCS#12, JWK) into the store under ``name``, unencrypted.

        The store's folder is private (mode 0700) and the key file mode 0600. An existing key
        of that name is replaced (callers that must not replace one check ``name in store``).
        """
        self._check_name(name)
        loaded = SigningKey.from_file(path, password=password)
        if loaded.is_symmetric:
            raise KeyLoadError("a shared secret cannot go in the key store; pass it as a secret")
        key = loaded.with_kid(loaded.thumbprint())
        self._save(name, key)
        return key

    def _refuse_existing(self, name: str, overwrite: bool) -> None:
        if self.key_path(name).exists() and not overwrite:
            raise ConfigurationError(
                f"a key named {name!r} already exists in {self.path}; pick another name or pass "
                "overwrite=True (--force) to replace it"
            )

    def _save(self, name: str, key: SigningKey) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_path = self.certificate_path(name)
        write_file(self.key_path(name), key.private_pem())
        jwk = key.public_jwk()
        if key.certificate is not None:
            write_file(cert_path, key.certificate.public_bytes(serialization.Encoding.PEM), 0o644)
            der = key.certificate.public_bytes(serialization.Encoding.DER)
            jwk["x5c"] = [base64.b64encode(der).decode("ascii")]
            jwk["x5t#S256"] = key.x5t_s256
        else:
            cert_path.unlink(missing_ok=True)  # a replaced key must not keep the old certificate
        jwks = json.dumps({"keys": [jwk]}, indent=2).encode() + b"\n"
        write_file(self.jwks_path(name), jwks, 0o644)
        self._cache.pop(name, None)


_DEFAULT_STORES: dict[Path, KeyStore] = {}


def default_key_store() -> KeyStore:
    """The key store at ``$JWTBEARER_HOME/keys`` (else ``~/.config/jwtbearer/keys``)."""
    path = home() / "keys"
    store = _DEFAULT_STORES.get(path)
    if store is None:
        store = _DEFAULT_STORES[path] = KeyStore(path)
    return store


def resolve_key(
    key: object,
    refusal: str = "key must be a SigningKey, a signer (alg, kid, x5t_s256, public_jwk(), "
    "sign()) or the name of a key in the key store",
) -> SigningKey | Signer:
    """``key`` itself when it is a :class:`SigningKey` or follows :class:`Signer` (a key on a
    token, in a KMS: its ``alg`` must be asymmetric), else the entry of the default key store
    it names; anything else is a :class:`ConfigurationError` saying ``refusal``."""
    if isinstance(key, SigningKey):
        return key
    if isinstance(key, str):
        return default_key_store().get(key)
    signer = checked_signer(key)
    if signer is None:
        raise ConfigurationError(refusal)
    return signer


#: Suffixes that make a ``key`` value a file name rather than a key-store name.
KEY_FILE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".json", ".jwk")


def looks_like_key_file(value: str) -> bool:
    """True when ``value`` names a key file (a path separator or a key file suffix, in any
    case) rather than a key-store entry."""
    return "/" in value or os.sep in value or Path(value).suffix.lower() in KEY_FILE_SUFFIXES
