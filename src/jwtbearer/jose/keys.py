"""Signing and verifying keys: PEM, PKCS#12, JWK and shared secrets, parsed once.

A key carries its algorithm: it is chosen when the key is loaded (by key type, or given) and never
taken from a token header (RFC 8725 §3.1). Loading an RSA PEM costs as much as dozens of
signatures, so load a key once and reuse the object: each key builds its signing or verifying
function once, at load time.

What both kinds of key share is in :mod:`jwtbearer._keybase`; algorithms and key checks in
:mod:`jwtbearer._algorithms`; JWK parsing and export in :mod:`jwtbearer._jwk`; PEM, DER and
PKCS#12 reading in :mod:`jwtbearer._pem`. ``KeyStore`` (in :mod:`jwtbearer.keystore`,
re-exported here) keeps named keys on disk, as Salesforce keeps certificates under a unique
name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import ConfigurationError, KeyLoadError
from ._algorithms import (
    _EC_CURVES,
    ALGORITHMS,
    MIN_RSA_BITS,  # noqa: F401 (re-exported: it was defined here)
    PRIVATE_TYPES,
    PUBLIC_TYPES,
    PrivateKey,
    PublicKey,
    _check_alg,
    _signer,
    _verifier,
)
from ._header import build_header
from ._jwk import (
    _as_key_error,
    _jwk_certificate,
    _jwk_dict,
    _jwk_oct_bytes,
    _jwk_parts,
    _private_from_jwk,
    _public_from_jwk,
)
from ._keybase import KeyBase, is_jwk, read_key_file
from ._pem import (
    _load_certificate,
    _load_pkcs12,
    _load_private_der,
    _load_private_pem,
    _load_public_pem,
    _password_bytes,
    _pem_blocks,
    _secret_bytes,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "ALGORITHMS",
    "SigningKey",
    "VerifyingKey",
    "load_jwks",
]


class SigningKey(KeyBase[PrivateKey | bytes]):
    """A private key (or shared secret) with its algorithm, key id and optional certificate.

    Build one with :meth:`from_file`, :meth:`from_pem`, :meth:`from_pkcs12`, :meth:`from_jwk`,
    :meth:`from_secret`, :meth:`from_private_key` or :meth:`generate`. ``alg`` defaults by key
    type (RSA→RS256, P-256→ES256, P-384→ES384, P-521→ES512, Ed25519→EdDSA, secret→HS256);
    ``kid`` is None unless given, read from a JWK or set by the key store, because a server
    refuses a kid it does not know. Algorithms are those of RFC 7518 §3 and RFC 8037 (EdDSA);
    each key signs with its one ``alg`` only (RFC 8725 §3.1). ``repr()`` and ``str()`` never
    show key material.
    """

    __slots__ = ("_header_cache", "_plain_headers", "_sign", "_verifying")

    def __init__(
        self,
        key: PrivateKey | bytes,
        *,
        alg: str | None = None,
        kid: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        if not isinstance(key, (bytes, *PRIVATE_TYPES)):
            raise ConfigurationError("SigningKey needs a cryptography private key or a secret")
        self._load(key, alg, kid, certificate)
        self._use()

    @staticmethod
    def _public_of(key: PrivateKey | bytes) -> PublicKey | bytes:
        return key if isinstance(key, bytes) else key.public_key()

    def _use(self) -> None:
        self._sign = _signer(self._key, self.alg)
        # Header segments depend on the kid: built on first use by header_segment().
        self._header_cache: dict[Any, bytes] = {}
        self._plain_headers: dict[str | None, bytes] = {}
        self._verifying: VerifyingKey | None = None

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def from_private_key(
        cls,
        key: PrivateKey,
        *,
        alg: str | None = None,
        kid: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> SigningKey:
        """Wrap a ``cryptography`` private key object."""
        return cls(key, alg=alg, kid=kid, certificate=certificate)

    @classmethod
    def from_pem(
        cls,
        data: str | bytes,
        *,
        password: str | bytes | None = None,
        kid: str | None = None,
        alg: str | None = None,
    ) -> SigningKey:
        """Load a PEM private key (PKCS#1, PKCS#8, encrypted PKCS#8 with ``password=``, SEC1).

        A ``CERTIFICATE`` block in the same text (the key's own, RFC 7468) is attached as
        :attr:`certificate`; a certificate of another key is refused.
        """
        raw = data.encode() if isinstance(data, str) else bytes(data)
        private, certificate = _load_private_pem(raw, password)
        return cls(private, alg=alg, kid=kid, certificate=certificate)

    @classmethod
    def from_pkcs12(
        cls,
        data: bytes,
        *,
        password: str | bytes | None = None,
        kid: str | None = None,
        alg: str | None = None,
    ) -> SigningKey:
        """Load a PKCS#12 (``.p12``/``.pfx``) bundle (RFC 7292): its key and its certificate."""
        private, certificate = _load_pkcs12(data, password)
        return cls(private, alg=alg, kid=kid, certificate=certificate)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        password: str | bytes | None = None,
        kid: str | None = None,
        alg: str | None = None,
    ) -> SigningKey:
        """Load a key file: PEM (key, optionally with its certificate), PKCS#12, DER or a JWK."""

        def load(data: bytes) -> SigningKey:
            if is_jwk(data):
                return cls.from_jwk(data.decode("utf-8", "replace"), kid=kid, alg=alg)
            if b"-----BEGIN" in data:
                return cls.from_pem(data, password=password, kid=kid, alg=alg)
            return cls._from_binary(data, password=password, kid=kid, alg=alg)

        return read_key_file(path, load)

    @classmethod
    def _from_binary(
        cls, data: bytes, *, password: str | bytes | None, kid: str | None, alg: str | None
    ) -> SigningKey:
        """PKCS#12, else a DER private key (both are ASN.1, told apart by trying)."""
        try:
            return cls.from_pkcs12(data, password=password, kid=kid, alg=alg)
        except KeyLoadError as exc:
            p12_error = exc
        private = _load_private_der(data, password)
        if private is None:
            raise p12_error
        return cls(private, alg=alg, kid=kid)

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, kid: str | None = None, alg: str | None = None
    ) -> SigningKey:
        """Load a private JWK (RSA, EC, OKP with ``d``, RFC 7518 §6) or an ``oct`` secret."""
        data, kid, alg = _jwk_parts(jwk, "sign", kid, alg)
        if data.get("kty") == "oct":
            return cls.from_secret(_jwk_oct_bytes(data), alg=alg or "HS256", kid=kid)
        private = _private_from_jwk(data)
        return _as_key_error(
            lambda: cls(private, alg=alg, kid=kid, certificate=_jwk_certificate(data))
        )

    @classmethod
    def from_secret(
        cls, secret: str | bytes, alg: str = "HS256", *, kid: str | None = None
    ) -> SigningKey:
        """A shared secret for HS256/384/512 (e.g. ``client_secret_jwt``), at least as long as
        the hash (RFC 7518 §3.2)."""
        return cls(_secret_bytes(secret, alg, "signs"), alg=alg, kid=kid)

    @classmethod
    def generate(cls, alg: str = "ES256", *, kid: str | None = None) -> SigningKey:
        """A new random key for ``alg`` (RSA keys are 2048 bits; secrets the hash's size)."""
        key: PrivateKey | bytes
        _check_alg(alg)
        if alg.startswith("HS"):
            key = os.urandom(int(alg[2:]) // 8)
        elif alg[:2] in ("RS", "PS"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg in _EC_CURVES:
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
            key = ec.generate_private_key(curve[alg])
        else:
            key = ed25519.Ed25519PrivateKey.generate()
        return cls(key, alg=alg, kid=kid)

    # -- use ---------------------------------------------------------------------------------

    def header_segment(
        self, typ: str | None = "JWT", *, x5t_s256: bool = False,
        headers: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The encoded JWS protected header for this key, followed by '.' (RFC 7515 §7.1):
        ``alg``, ``typ``, ``kid`` (when the key has one), ``x5t#S256`` when asked and any
        ``headers``. Built once per key and options (it depends on the kid), then reused."""
        if headers is None and not x5t_s256:
            segment = self._plain_headers.get(typ)
            if segment is None:
                segment = self._plain_headers[typ] = self._cached_header(None, typ, False)
            return segment
        return self._cached_header(headers, typ, x5t_s256)

    def _cached_header(
        self, headers: Mapping[str, Any] | None, typ: str | None, x5t_s256: bool
    ) -> bytes:
        options = None if headers is None else tuple(sorted(headers.items()))
        cache_key: Any = (typ, x5t_s256, options)
        try:
            return self._header_cache[cache_key]
        except KeyError:
            pass
        except TypeError:  # unhashable header values: built each time
            return build_header(self, headers, typ, x5t_s256)
        segment = self._header_cache[cache_key] = build_header(self, headers, typ, x5t_s256)
        return segment


    def sign(self, data: bytes) -> bytes:
        """The raw JWS signature of ``data`` (ECDSA as r||s, RFC 7518 §3.4)."""
        return self._sign(data)

    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key (a shared secret has none)."""
        if isinstance(self._key, bytes):
            raise ConfigurationError("a shared secret has no public key")
        return self._key.public_key()

    def verifying_key(self) -> VerifyingKey:
        """The key that verifies this key's signatures (the secret itself for HS*); made once."""
        verifying = self._verifying
        if verifying is None:
            public = self._public_of(self._key)
            verifying = VerifyingKey(
                public, alg=self.alg, kid=self.kid, certificate=self.certificate
            )
            self._verifying = verifying
        return verifying

    def private_pem(self, password: str | bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when ``password`` is given."""
        if isinstance(self._key, bytes):
            raise ConfigurationError("a shared secret has no PEM form")
        pw = _password_bytes(password)
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )


class VerifyingKey(KeyBase[PublicKey | bytes]):
    """A public key (or shared secret) with the one algorithm it accepts (RFC 8725 §3.1)."""

    __slots__ = ("_verify",)

    def __init__(
        self,
        key: PublicKey | bytes,
        *,
        alg: str | None = None,
        kid: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        if not isinstance(key, (bytes, *PUBLIC_TYPES)):
            raise ConfigurationError("VerifyingKey needs a cryptography public key or a secret")
        self._load(key, alg, kid, certificate)
        self._use()

    @staticmethod
    def _public_of(key: PublicKey | bytes) -> PublicKey | bytes:
        return key

    def _use(self) -> None:
        self._verify = _verifier(self._key, self.alg)

    @classmethod
    def from_public_key(
        cls, key: PublicKey, *, alg: str | None = None, kid: str | None = None
    ) -> VerifyingKey:
        """Wrap a ``cryptography`` public key object."""
        return cls(key, alg=alg, kid=kid)

    @classmethod
    def from_certificate(
        cls, cert: x509.Certificate | str | bytes, *, alg: str | None = None, kid: str | None = None
    ) -> VerifyingKey:
        """The key of an X.509 certificate (an object, PEM or DER)."""
        public, certificate = _load_certificate(cert)
        return cls(public, alg=alg, kid=kid, certificate=certificate)

    @classmethod
    def from_pem(
        cls, data: str | bytes, *, alg: str | None = None, kid: str | None = None
    ) -> VerifyingKey:
        """A PEM public key, certificate, or private key (its public half is used)."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        labels = [label for label, _ in _pem_blocks(raw)]
        if any(label.endswith("PRIVATE KEY") for label in labels):
            return SigningKey.from_pem(raw, alg=alg, kid=kid).verifying_key()
        if "CERTIFICATE" in labels:
            return cls.from_certificate(raw, alg=alg, kid=kid)
        return cls(_load_public_pem(raw), alg=alg, kid=kid)

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, kid: str | None = None, alg: str | None = None
    ) -> VerifyingKey:
        """A public (or private: its public half is used) JWK, or an ``oct`` secret.

        A JWK whose ``use`` is not ``sig``, whose ``key_ops`` lack ``verify``, or whose ``alg``
        is unknown or does not fit the key, is refused (RFC 7517 §4.2-§4.4).
        """
        data, kid, alg = _jwk_parts(jwk, "verify", kid, alg)
        if data.get("kty") == "oct":
            return cls.from_secret(_jwk_oct_bytes(data), alg=alg or "HS256", kid=kid)
        public = _public_from_jwk(data)
        return _as_key_error(
            lambda: cls(public, alg=alg, kid=kid, certificate=_jwk_certificate(data))
        )

    @classmethod
    def from_secret(
        cls, secret: str | bytes, alg: str = "HS256", *, kid: str | None = None
    ) -> VerifyingKey:
        """A shared secret for HS256/384/512, at least as long as the hash (RFC 7518 §3.2)."""
        return cls(_secret_bytes(secret, alg, "verifies"), alg=alg, kid=kid)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, alg: str | None = None, kid: str | None = None
    ) -> VerifyingKey:
        """A PEM (public key, certificate) or JWK file."""

        def load(data: bytes) -> VerifyingKey:
            if is_jwk(data):
                return cls.from_jwk(data.decode("utf-8", "replace"), kid=kid, alg=alg)
            if b"-----BEGIN" in data:
                return cls.from_pem(data, alg=alg, kid=kid)
            return cls.from_certificate(data, alg=alg, kid=kid)

        return read_key_file(path, load)

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's ``alg`` signature over ``data``."""
        return self._verify(data, signature)

    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key (a shared secret has none)."""
        if isinstance(self._key, bytes):
            raise ConfigurationError("a shared secret has no public key")
        return self._key

    def with_alg(self, alg: str) -> VerifyingKey:
        """The same key pinned to another algorithm of its family (e.g. PS256 for an RSA key)."""
        return VerifyingKey(self._key, alg=alg, kid=self.kid, certificate=self.certificate)


def load_jwks(jwks: Mapping[str, Any] | str) -> list[VerifyingKey]:
    """The signature keys of a JWK Set (RFC 7517 §5).

    Entries that are not for JWS verification are ignored, as §5 advises: ``use`` other than
    ``sig``, ``key_ops`` without ``verify``, a ``kty`` or ``alg`` jwtbearer does not know (an
    encryption key, say). An entry that claims to be a signature key but is malformed or
    refused (a weak RSA key, a point off its curve) is an error naming the entry.
    """
    data = _jwk_dict(jwks)
    keys = data.get("keys")
    if not isinstance(keys, list):
        raise KeyLoadError("a JWK Set needs a 'keys' array")
    result = []
    for index, item in enumerate(keys):
        if not isinstance(item, Mapping):
            raise KeyLoadError(f"JWK Set entry {index} is not an object")
        ops = item.get("key_ops")
        if (
            item.get("use", "sig") != "sig"
            or (isinstance(ops, list) and "verify" not in ops)
            or item.get("kty") not in ("RSA", "EC", "OKP", "oct")
            or not isinstance(item.get("alg", "RS256"), str)
            or item.get("alg", "RS256") not in ALGORITHMS
        ):
            continue
        try:
            result.append(VerifyingKey.from_jwk(item))
        except KeyLoadError as exc:
            raise KeyLoadError(f"JWK Set entry {index}: {exc}") from None
    return result
