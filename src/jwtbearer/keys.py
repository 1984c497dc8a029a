"""Signing and verifying keys: PEM, PKCS#12, JWK and shared secrets, parsed once.

A key carries its algorithm: it is chosen when the key is loaded (by key type, or given) and never
taken from a token header (RFC 8725 §3.1). Loading an RSA PEM costs as much as dozens of
signatures, so load a key once and reuse the object.

``KeyStore`` keeps named keys on disk, as Salesforce keeps certificates under a unique name.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from .errors import ConfigurationError, KeyLoadError

__all__ = [
    "ALGORITHMS",
    "KeyStore",
    "SigningKey",
    "VerifyingKey",
    "default_key_store",
    "load_jwks",
]

PrivateKey = Union[  # noqa: UP007 (a runtime alias; X | Y needs 3.10 types at import)
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey
]
PublicKey = Union[  # noqa: UP007
    rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey
]
_PRIVATE_TYPES = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey
)
_PUBLIC_TYPES = (
    rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey
)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_CURVES: dict[str, tuple[str, int]] = {  # alg -> (curve name, coordinate size in bytes)
    "ES256": ("secp256r1", 32),
    "ES384": ("secp384r1", 48),
    "ES512": ("secp521r1", 66),
}
_CURVE_ALG = {curve: alg for alg, (curve, _) in _EC_CURVES.items()}
_JWK_CURVE = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

#: Every JWS algorithm jwtbearer signs and verifies (RFC 7518 §3.1, RFC 8037).
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
    | {"HS256", "HS384", "HS512"}
)
MIN_RSA_BITS = 2048


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _kty(key: PrivateKey | PublicKey | bytes) -> str:
    if isinstance(key, bytes):
        return "oct"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "EC"
    return "OKP"


def _default_alg(key: PrivateKey | PublicKey | bytes) -> str:
    if isinstance(key, bytes):
        return "HS256"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RS256"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        alg = _CURVE_ALG.get(key.curve.name)
        if alg is None:
            raise KeyLoadError(
                f"EC curve {key.curve.name} has no JWS algorithm; use P-256, P-384 or P-521"
            )
        return alg
    return "EdDSA"


def _check_key(key: PrivateKey | PublicKey | bytes, alg: str) -> None:
    """Refuse a key that cannot, or must not, be used with ``alg``."""
    if alg not in ALGORITHMS:
        raise ConfigurationError(
            f"unsupported algorithm {alg!r}; use one of {', '.join(sorted(ALGORITHMS))}"
        )
    kty = _kty(key)
    family = {"R": "RSA", "P": "RSA", "E": "EC", "H": "oct"}[alg[0]] if alg != "EdDSA" else "OKP"
    if kty != family:
        raise KeyLoadError(f"a {kty} key cannot sign or verify {alg}; {alg} needs a {family} key")
    if isinstance(key, bytes):
        need = int(alg[2:]) // 8
        if len(key) < need:
            raise KeyLoadError(
                f"{alg} needs a secret of at least {need} bytes (RFC 7518 §3.2); this one has "
                f"{len(key)}. Use a longer random secret (e.g. secrets.token_urlsafe({need}))."
            )
    elif isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < MIN_RSA_BITS:
            raise KeyLoadError(
                f"RSA key of {key.key_size} bits refused: RFC 7518 §3.3 requires at least "
                f"{MIN_RSA_BITS}. Create a new one: `jwtbearer keys create NAME`."
            )
    elif isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        curve = _EC_CURVES[alg][0]
        if key.curve.name != curve:
            raise KeyLoadError(f"{alg} needs a {_JWK_CURVE[curve]} key, not {key.curve.name}")


def _signer(key: PrivateKey | bytes, alg: str) -> Callable[[bytes], bytes]:
    """A one-argument signing function for ``alg``, built once per key."""
    if isinstance(key, bytes):
        name = "sha" + alg[2:]
        return lambda data: hmac.digest(key, data, name)
    if isinstance(key, rsa.RSAPrivateKey):
        hash_ = _HASHES[alg[2:]]()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg[0] == "R"
            else padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
        )
        rsa_key = key
        return lambda data: rsa_key.sign(data, pad, hash_)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = _EC_CURVES[alg][1]
        sig_alg = ec.ECDSA(_HASHES[alg[2:]]())
        ec_key = key

        def sign_ec(data: bytes) -> bytes:
            r, s = decode_dss_signature(ec_key.sign(data, sig_alg))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    return key.sign


def _verifier(key: PublicKey | bytes, alg: str) -> Callable[[bytes, bytes], bool]:
    """A ``(data, signature) -> bool`` function for ``alg``, built once per key."""
    if isinstance(key, bytes):
        name = "sha" + alg[2:]
        return lambda data, sig: hmac.compare_digest(hmac.digest(key, data, name), sig)
    if isinstance(key, rsa.RSAPublicKey):
        hash_ = _HASHES[alg[2:]]()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg[0] == "R"
            else padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
        )
        rsa_key, sig_len = key, (key.key_size + 7) // 8

        def verify_rsa(data: bytes, sig: bytes) -> bool:
            if len(sig) != sig_len:
                return False
            try:
                rsa_key.verify(sig, data, pad, hash_)
            except InvalidSignature:
                return False
            return True

        return verify_rsa
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = _EC_CURVES[alg][1]
        sig_alg = ec.ECDSA(_HASHES[alg[2:]]())
        ec_key = key

        def verify_ec(data: bytes, sig: bytes) -> bool:
            if len(sig) != 2 * size:
                return False
            r = int.from_bytes(sig[:size], "big")
            s = int.from_bytes(sig[size:], "big")
            try:
                ec_key.verify(encode_dss_signature(r, s), data, sig_alg)
            except (InvalidSignature, ValueError):
                return False
            return True

        return verify_ec
    ed_key = key

    def verify_ed(data: bytes, sig: bytes) -> bool:
        try:
            ed_key.verify(sig, data)
        except InvalidSignature:
            return False
        return True

    return verify_ed


def _joserfc_key(key: PublicKey | bytes) -> Any:
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

    if isinstance(key, bytes):
        return OctKey.import_key(key)
    if isinstance(key, rsa.RSAPublicKey):
        return RSAKey.import_key(key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ECKey.import_key(key)
    return OKPKey.import_key(key)


def _public_jwk(key: PublicKey | bytes, alg: str, kid: str | None) -> dict[str, Any]:
    if isinstance(key, bytes):
        raise ConfigurationError("a shared secret (HS*) has no public JWK; never publish it")
    jwk: dict[str, Any] = dict(_joserfc_key(key).as_dict(private=False))
    for member in ("kid", "alg", "use", "key_ops"):
        jwk.pop(member, None)
    if kid is not None:
        jwk["kid"] = kid
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def _thumbprint(key: PublicKey | bytes) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    return str(_joserfc_key(key).thumbprint())


def _password_bytes(password: str | bytes | None) -> bytes | None:
    return password.encode() if isinstance(password, str) else password


_PEM_BLOCK_RE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL
)


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    return [(m.group(1).decode(), m.group(0)) for m in _PEM_BLOCK_RE.finditer(data)]


def _certificate_matches(cert: x509.Certificate, public: PublicKey) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == public.public_bytes(enc, fmt)


class SigningKey:
    """A private key (or shared secret) with its algorithm, key id and optional certificate.

    Build one with :meth:`from_file`, :meth:`from_pem`, :meth:`from_jwk`, :meth:`from_secret`,
    :meth:`from_private_key` or :meth:`generate`. ``repr()`` never shows key material.
    """

    __slots__ = ("_header_cache", "_key", "_sign", "alg", "certificate", "kid")

    alg: str
    kid: str | None
    certificate: x509.Certificate | None

    def __init__(
        self,
        key: PrivateKey | bytes,
        *,
        alg: str | None = None,
        kid: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        alg = alg or _default_alg(key)
        _check_key(key, alg)
        if (
            certificate is not None
            and not isinstance(key, bytes)
            and not _certificate_matches(certificate, key.public_key())
        ):
                raise KeyLoadError(
                    "the certificate does not belong to this private key; upload and use the "
                    "certificate created together with the key"
                )
        self._key = key
        self.alg = alg
        self.kid = kid
        self.certificate = certificate
        self._sign = _signer(key, alg)
        self._header_cache: dict[Any, bytes] = {}

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
        """Load a PEM private key (PKCS#1, PKCS#8, encrypted PKCS#8, SEC1).

        A ``CERTIFICATE`` block in the same text is attached as :attr:`certificate`.
        """
        raw = data.encode() if isinstance(data, str) else data
        blocks = _pem_blocks(raw)
        key_blocks = [pem for label, pem in blocks if label.endswith("PRIVATE KEY")]
        certs = [pem for label, pem in blocks if label == "CERTIFICATE"]
        if not key_blocks:
            kinds = ", ".join(sorted({label for label, _ in blocks})) or "no PEM block"
            raise KeyLoadError(
                f"no private key found (found: {kinds}); signing needs the private key file "
                "(-----BEGIN PRIVATE KEY-----), not the certificate or public key"
            )
        try:
            private = serialization.load_pem_private_key(
                key_blocks[0], password=_password_bytes(password)
            )
        except TypeError as exc:
            if password is None:
                raise KeyLoadError("the private key is encrypted: pass password=") from None
            raise KeyLoadError("a password was given but the private key is not encrypted") from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            if password is not None and b"ENCRYPTED" in key_blocks[0]:
                raise KeyLoadError("could not decrypt the private key: wrong password?") from None
            raise KeyLoadError(f"could not read the private key: {exc}") from None
        if not isinstance(private, _PRIVATE_TYPES):
            raise KeyLoadError(f"unsupported private key type {type(private).__name__}")
        certificate = None
        if certs:
            try:
                certificate = x509.load_pem_x509_certificate(certs[0])
            except ValueError as exc:
                raise KeyLoadError(f"could not read the certificate: {exc}") from None
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
        """Load a PKCS#12 (``.p12``/``.pfx``) bundle: its key and its certificate."""
        try:
            private, cert, _ = pkcs12.load_key_and_certificates(data, _password_bytes(password))
        except ValueError as exc:
            hint = str(exc)
            if password is None or "password" in hint.lower():
                hint = "wrong or missing password?"
            raise KeyLoadError(f"could not read the PKCS#12 file: {hint}") from None
        if private is None:
            raise KeyLoadError("the PKCS#12 file holds no private key")
        if not isinstance(private, _PRIVATE_TYPES):
            raise KeyLoadError(f"unsupported private key type {type(private).__name__}")
        return cls(private, alg=alg, kid=kid, certificate=cert)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        password: str | bytes | None = None,
        kid: str | None = None,
        alg: str | None = None,
    ) -> SigningKey:
        """Load a key file: PEM, PKCS#12 (``.p12``/``.pfx``) or a JWK (JSON)."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read key file {p}: {exc.strerror or exc}") from None
        stripped = data.lstrip()
        try:
            if stripped.startswith(b"{"):
                return cls.from_jwk(data.decode("utf-8"), kid=kid, alg=alg)
            if b"-----BEGIN" in data:
                return cls.from_pem(data, password=password, kid=kid, alg=alg)
            return cls.from_pkcs12(data, password=password, kid=kid, alg=alg)
        except KeyLoadError as exc:
            raise KeyLoadError(f"{p}: {exc}") from None

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, kid: str | None = None, alg: str | None = None
    ) -> SigningKey:
        """Load a private JWK (RSA, EC, OKP with ``d``) or a symmetric one (``oct``)."""
        data = _jwk_dict(jwk)
        kid = kid if kid is not None else data.get("kid")
        alg = alg or data.get("alg")
        if data.get("kty") == "oct":
            return cls.from_secret(_jwk_oct_bytes(data), alg=alg or "HS256", kid=kid)
        if "d" not in data:
            raise KeyLoadError("this JWK is a public key (no 'd'); signing needs the private key")
        private = _import_jwk(data).private_key
        certificate = _jwk_certificate(data)
        return cls(private, alg=alg, kid=kid, certificate=certificate)

    @classmethod
    def from_secret(
        cls, secret: str | bytes, alg: str = "HS256", *, kid: str | None = None
    ) -> SigningKey:
        """A shared secret for HS256/384/512 (e.g. ``client_secret_jwt``)."""
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not alg.startswith("HS"):
            raise ConfigurationError(f"a shared secret signs HS256/HS384/HS512, not {alg}")
        return cls(raw, alg=alg, kid=kid)

    @classmethod
    def generate(cls, alg: str = "ES256", *, kid: str | None = None) -> SigningKey:
        """A new random key for ``alg`` (RSA keys are 2048 bits; secrets the hash's size)."""
        key: PrivateKey | bytes
        if alg.startswith("HS"):
            key = os.urandom(int(alg[2:]) // 8)
        elif alg[:2] in ("RS", "PS"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg in _EC_CURVES:
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
            key = ec.generate_private_key(curve[alg])
        elif alg == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ConfigurationError(f"unsupported algorithm {alg!r}")
        return cls(key, alg=alg, kid=kid)

    # -- use ---------------------------------------------------------------------------------

    def sign(self, data: bytes) -> bytes:
        """The raw JWS signature of ``data`` (ECDSA as r||s, RFC 7518 §3.4)."""
        return self._sign(data)

    @property
    def kty(self) -> str:
        """JWK key type: ``RSA``, ``EC``, ``OKP`` or ``oct``."""
        return _kty(self._key)

    @property
    def is_symmetric(self) -> bool:
        """True for a shared secret (HS*)."""
        return isinstance(self._key, bytes)

    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key (a shared secret has none)."""
        if isinstance(self._key, bytes):
            raise ConfigurationError("a shared secret has no public key")
        return self._key.public_key()

    def verifying_key(self) -> VerifyingKey:
        """The key that verifies this key's signatures (the secret itself for HS*)."""
        public = self._key if isinstance(self._key, bytes) else self._key.public_key()
        return VerifyingKey(public, alg=self.alg, kid=self.kid, certificate=self.certificate)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK, with ``kid`` when known, ``alg`` and ``use: sig``."""
        return _public_jwk(self.public_key(), self.alg, self.kid)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint of the public key (SHA-256, base64url)."""
        return _thumbprint(self._key if isinstance(self._key, bytes) else self.public_key())

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256``: base64url SHA-256 of the certificate's DER, or None without one."""
        if self.certificate is None:
            return None
        return _b64url(self.certificate.fingerprint(hashes.SHA256()))

    def with_kid(self, kid: str | None) -> SigningKey:
        """The same key under another ``kid`` (the key is not parsed again)."""
        other = object.__new__(SigningKey)
        other._key, other.alg, other.kid = self._key, self.alg, kid
        other.certificate, other._sign, other._header_cache = self.certificate, self._sign, {}
        return other

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

    def __repr__(self) -> str:
        size = ""
        if isinstance(self._key, rsa.RSAPrivateKey):
            size = f", bits={self._key.key_size}"
        elif isinstance(self._key, ec.EllipticCurvePrivateKey):
            size = f", crv={_JWK_CURVE.get(self._key.curve.name, self._key.curve.name)!r}"
        cert = ", certificate=yes" if self.certificate is not None else ""
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r}, kty={self.kty!r}{size}{cert})"

    __str__ = __repr__


class VerifyingKey:
    """A public key (or shared secret) with the one algorithm it accepts."""

    __slots__ = ("_key", "_verify", "alg", "certificate", "kid")

    alg: str
    kid: str | None
    certificate: x509.Certificate | None

    def __init__(
        self,
        key: PublicKey | bytes,
        *,
        alg: str | None = None,
        kid: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        alg = alg or _default_alg(key)
        _check_key(key, alg)
        self._key = key
        self.alg = alg
        self.kid = kid
        self.certificate = certificate
        self._verify = _verifier(key, alg)

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
        if not isinstance(cert, x509.Certificate):
            raw = cert.encode() if isinstance(cert, str) else cert
            try:
                cert = (
                    x509.load_pem_x509_certificate(raw)
                    if b"-----BEGIN" in raw
                    else x509.load_der_x509_certificate(raw)
                )
            except ValueError as exc:
                raise KeyLoadError(f"could not read the certificate: {exc}") from None
        public = cert.public_key()
        if not isinstance(public, _PUBLIC_TYPES):
            raise KeyLoadError(f"unsupported certificate key type {type(public).__name__}")
        return cls(public, alg=alg, kid=kid, certificate=cert)

    @classmethod
    def from_pem(
        cls, data: str | bytes, *, alg: str | None = None, kid: str | None = None
    ) -> VerifyingKey:
        """A PEM public key, certificate, or private key (its public half is used)."""
        raw = data.encode() if isinstance(data, str) else data
        labels = [label for label, _ in _pem_blocks(raw)]
        if "CERTIFICATE" in labels:
            return cls.from_certificate(raw, alg=alg, kid=kid)
        if any(label.endswith("PRIVATE KEY") for label in labels):
            return SigningKey.from_pem(raw, alg=alg, kid=kid).verifying_key()
        try:
            public = serialization.load_pem_public_key(raw)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"could not read the public key: {exc}") from None
        if not isinstance(public, _PUBLIC_TYPES):
            raise KeyLoadError(f"unsupported public key type {type(public).__name__}")
        return cls(public, alg=alg, kid=kid)

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, kid: str | None = None, alg: str | None = None
    ) -> VerifyingKey:
        """A public (or private: its public half is used) JWK, or an ``oct`` secret."""
        data = _jwk_dict(jwk)
        kid = kid if kid is not None else data.get("kid")
        alg = alg or data.get("alg")
        if data.get("kty") == "oct":
            return cls(_jwk_oct_bytes(data), alg=alg or "HS256", kid=kid)
        public = _import_jwk(data).public_key
        return cls(public, alg=alg, kid=kid, certificate=_jwk_certificate(data))

    @classmethod
    def from_secret(
        cls, secret: str | bytes, alg: str = "HS256", *, kid: str | None = None
    ) -> VerifyingKey:
        """A shared secret for HS256/384/512."""
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        return cls(raw, alg=alg, kid=kid)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, alg: str | None = None, kid: str | None = None
    ) -> VerifyingKey:
        """A PEM (public key, certificate) or JWK file."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read key file {p}: {exc.strerror or exc}") from None
        try:
            if data.lstrip().startswith(b"{"):
                return cls.from_jwk(data.decode("utf-8"), kid=kid, alg=alg)
            if b"-----BEGIN" in data:
                return cls.from_pem(data, alg=alg, kid=kid)
            return cls.from_certificate(data, alg=alg, kid=kid)
        except KeyLoadError as exc:
            raise KeyLoadError(f"{p}: {exc}") from None

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's ``alg`` signature over ``data``."""
        return self._verify(data, signature)

    @property
    def kty(self) -> str:
        """JWK key type: ``RSA``, ``EC``, ``OKP`` or ``oct``."""
        return _kty(self._key)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK, with ``kid`` when known, ``alg`` and ``use: sig``."""
        return _public_jwk(self._key, self.alg, self.kid)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
        return _thumbprint(self._key)

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256`` of the certificate, or None without one."""
        if self.certificate is None:
            return None
        return _b64url(self.certificate.fingerprint(hashes.SHA256()))

    def __repr__(self) -> str:
        return f"VerifyingKey(alg={self.alg!r}, kid={self.kid!r}, kty={self.kty!r})"

    __str__ = __repr__


def load_jwks(jwks: Mapping[str, Any] | str) -> list[VerifyingKey]:
    """Every signing key of a JWK Set (RFC 7517 §5); keys with ``use: enc`` are skipped."""
    data = _jwk_dict(jwks)
    keys = data.get("keys")
    if not isinstance(keys, list):
        raise KeyLoadError("a JWK Set needs a 'keys' array")
    result = []
    for index, item in enumerate(keys):
        if not isinstance(item, Mapping):
            raise KeyLoadError(f"JWK Set entry {index} is not an object")
        if item.get("use", "sig") != "sig":
            continue
        try:
            result.append(VerifyingKey.from_jwk(item))
        except KeyLoadError as exc:
            raise KeyLoadError(f"JWK Set entry {index}: {exc}") from None
    return result


def _jwk_dict(jwk: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(jwk, str):
        try:
            loaded = json.loads(jwk)
        except ValueError as exc:
            raise KeyLoadError(f"the JWK is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise KeyLoadError("a JWK must be a JSON object")
        return loaded
    return dict(jwk)


def _jwk_oct_bytes(data: Mapping[str, Any]) -> bytes:
    k = data.get("k")
    if not isinstance(k, str):
        raise KeyLoadError("an 'oct' JWK needs a 'k' member")
    try:
        return base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
    except ValueError:
        raise KeyLoadError("the JWK 'k' member is not base64url") from None


def _import_jwk(data: dict[str, Any]) -> Any:
    from joserfc.errors import JoseError
    from joserfc.jwk import JWKRegistry

    kty = data.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        raise KeyLoadError(f"unsupported JWK kty {kty!r}; use RSA, EC, OKP or oct")
    skip = ("alg", "use", "key_ops", "x5c", "x5t", "x5t#S256", "x5u")
    clean = {k: v for k, v in data.items() if k not in skip}
    try:
        return JWKRegistry.import_key(clean)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeyLoadError(f"invalid {kty} JWK: {exc}") from None


def _jwk_certificate(data: Mapping[str, Any]) -> x509.Certificate | None:
    chain = data.get("x5c")
    if not chain:
        return None
    try:
        return x509.load_der_x509_certificate(base64.b64decode(chain[0]))
    except (ValueError, TypeError):
        raise KeyLoadError("the JWK 'x5c' certificate could not be read") from None


# -- the key store --------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _home() -> Path:
    env = os.environ.get("JWTBEARER_HOME")
    return Path(env) if env else Path.home() / ".config" / "jwtbearer"


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write atomically: a temporary file with ``mode`` from the start, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class KeyStore:
    """Named signing keys on disk: the Apex "certificate unique name".

    Each name ``N`` has ``N.key.pem`` (private, mode 0600), ``N.crt.pem`` (the certificate to
    upload to the identity provider) and ``N.jwks.json`` (the public JWK Set, for providers that
    take a JWKS). The default folder is ``$JWTBEARER_HOME/keys``, else
    ``~/.config/jwtbearer/keys``. Keys read from a store carry ``kid`` = their RFC 7638
    thumbprint, the value written in ``N.jwks.json``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else _home() / "keys"
        self._cache: dict[str, tuple[float, SigningKey]] = {}

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r})"

    def _check_name(self, name: str) -> str:
        if not _NAME_RE.match(name):
            raise ConfigurationError(
                f"invalid key name {name!r}: use letters, digits, '.', '_' and '-' "
                "(starting with a letter or digit)"
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
        return sorted(p.name[: -len(".key.pem")] for p in self.path.glob("*.key.pem"))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or _NAME_RE.match(name) is None:
            return False
        return self.key_path(name).exists()

    def get(self, name: str) -> SigningKey:
        """The key called ``name``, parsed once and reused while its file is unchanged."""
        path = self.key_path(name)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none"
            raise KeyLoadError(
                f"no key named {name!r} in {self.path} (known: {known}); create it with "
                f"`jwtbearer keys create {name}` or import it with `jwtbearer keys import`"
            ) from None
        cached = self._cache.get(name)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        data = path.read_bytes()
        cert_path = self.certificate_path(name)
        if cert_path.exists() and b"CERTIFICATE" not in data:
            data = data + b"\n" + cert_path.read_bytes()
        key = SigningKey.from_pem(data)
        key = key.with_kid(key.thumbprint())
        self._cache[name] = (mtime, key)
        return key

    def create(
        self,
        name: str,
        days: int = 365,
        subject: str | None = None,
        *,
        overwrite: bool = False,
    ) -> SigningKey:
        """Make an RSA-2048 key and a self-signed certificate valid ``days`` days.

        ``subject`` is the certificate's common name (default: ``name``). Refuses to replace an
        existing key unless ``overwrite=True``.
        """
        if days < 1:
            raise ConfigurationError("days must be at least 1")
        path = self.key_path(name)
        if path.exists() and not overwrite:
            raise ConfigurationError(
                f"a key named {name!r} already exists in {self.path}; pick another name or pass "
                "overwrite=True (--force) to replace it"
            )
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cn = subject or name
        subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject_name)
            .issuer_name(subject_name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
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
        self, name: str, path: str | os.PathLike[str], password: str | bytes | None = None
    ) -> SigningKey:
        """Copy a key file (PEM, PKCS#12, JWK) into the store under ``name``, unencrypted."""
        loaded = SigningKey.from_file(path, password=password)
        if loaded.is_symmetric:
            raise KeyLoadError("a shared secret cannot go in the key store; pass it as a secret")
        key = loaded.with_kid(loaded.thumbprint())
        self._save(name, key)
        return key

    def _save(self, name: str, key: SigningKey) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(self.key_path(name), key.private_pem())
        if key.certificate is not None:
            cert_pem = key.certificate.public_bytes(serialization.Encoding.PEM)
            _write_private(self.certificate_path(name), cert_pem, 0o644)
        jwk = key.public_jwk()
        if key.certificate is not None:
            der = key.certificate.public_bytes(serialization.Encoding.DER)
            jwk["x5c"] = [base64.b64encode(der).decode("ascii")]
            jwk["x5t#S256"] = key.x5t_s256
        jwks = json.dumps({"keys": [jwk]}, indent=2).encode() + b"\n"
        _write_private(self.jwks_path(name), jwks, 0o644)
        self._cache.pop(name, None)


_DEFAULT_STORES: dict[Path, KeyStore] = {}


def default_key_store() -> KeyStore:
    """The key store at ``$JWTBEARER_HOME/keys`` (else ``~/.config/jwtbearer/keys``)."""
    path = _home() / "keys"
    store = _DEFAULT_STORES.get(path)
    if store is None:
        store = _DEFAULT_STORES[path] = KeyStore(path)
    return store
