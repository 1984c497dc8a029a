"""Signing and verifying keys: PEM, PKCS#12, JWK and shared secrets, parsed once.

A key carries its algorithm: it is chosen when the key is loaded (by key type, or given) and never
taken from a token header (RFC 8725 §3.1). Loading an RSA PEM costs as much as dozens of
signatures, so load a key once and reuse the object: each key builds its signing or verifying
function once, at load time.

``KeyStore`` (in :mod:`jwtbearer.keystore`, re-exported here) keeps named keys on disk, as
Salesforce keeps certificates under a unique name.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import pkcs12

from .errors import ConfigurationError, KeyLoadError

__all__ = [
    "ALGORITHMS",
    "KeyStore",
    "SigningKey",
    "VerifyingKey",
    "default_key_store",
    "load_jwks",
]

PrivateKey = Union[  # noqa: UP007 (a runtime alias)
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

#: Every JWS algorithm jwtbearer signs and verifies (RFC 7518 §3.1, RFC 8037 §3.1).
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
    | {"HS256", "HS384", "HS512"}
)
#: Smallest RSA modulus accepted (RFC 7518 §3.3 and §3.5).
MIN_RSA_BITS = 2048
_K = TypeVar("_K")

# ROCA (CVE-2017-15361): moduli made by the flawed Infineon generator are, modulo each of these
# small primes, a power of 65537. A random modulus passes all of them with negligible chance.
_ROCA_PRIMES = (
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
)
_ROCA_POWERS: list[tuple[int, frozenset[int]]] = []


def _roca_fingerprint(n: int) -> bool:
    if not _ROCA_POWERS:
        _ROCA_POWERS.extend(
            (p, frozenset(pow(65537, k, p) for k in range(p))) for p in _ROCA_PRIMES
        )
    return all(n % p in powers for p, powers in _ROCA_POWERS)


def _kty(key: PrivateKey | PublicKey | bytes) -> str:
    if isinstance(key, bytes):
        return "oct"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "EC"
    return "OKP"


def _default_alg(key: PrivateKey | PublicKey | bytes) -> str:
    """RSA→RS256, P-256→ES256, P-384→ES384, P-521→ES512, Ed25519/Ed448→EdDSA, secret→HS256."""
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


def _check_alg(alg: object) -> str:
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise ConfigurationError(
            f"unsupported algorithm {alg!r}; use one of {', '.join(sorted(ALGORITHMS))}"
        )
    return alg


def _check_key(key: PrivateKey | PublicKey | bytes, alg: str) -> None:
    """Refuse a key that cannot, or must not, be used with ``alg`` (RFC 7518 §3, RFC 8725 §3.5)."""
    _check_alg(alg)
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
        public = key if isinstance(key, rsa.RSAPublicKey) else key.public_key()
        numbers = public.public_numbers()
        if numbers.e < 3 or numbers.e % 2 == 0:
            raise KeyLoadError(f"RSA public exponent {numbers.e} refused: it must be odd and >= 3")
        if _roca_fingerprint(numbers.n):
            raise KeyLoadError(
                "RSA key refused: its modulus has the ROCA fingerprint (CVE-2017-15361, weak "
                "keys from a flawed hardware generator); create a new key"
            )
    elif isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        curve = _EC_CURVES[alg][0]
        if key.curve.name != curve:
            raise KeyLoadError(f"{alg} needs a {_JWK_CURVE[curve]} key, not {key.curve.name}")


def _rsa_padding(alg: str, hash_: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if alg[0] == "R":
        return padding.PKCS1v15()
    # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
    return padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)


def _signer(key: PrivateKey | bytes, alg: str) -> Callable[[bytes], bytes]:
    """A one-argument signing function for ``alg``, built once per key."""
    if isinstance(key, bytes):
        name, secret, digest = "sha" + alg[2:], key, hmac.digest
        return lambda data: digest(secret, data, name)
    if isinstance(key, rsa.RSAPrivateKey):
        hash_ = _HASHES[alg[2:]]()
        pad, rsa_sign = _rsa_padding(alg, hash_), key.sign
        return lambda data: rsa_sign(data, pad, hash_)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = _EC_CURVES[alg][1]
        sig_alg, ec_sign = ec.ECDSA(_HASHES[alg[2:]]()), key.sign

        def sign_ec(data: bytes) -> bytes:
            # RFC 7518 §3.4: the JWS form is r||s, each left-padded to the coordinate size.
            r, s = decode_dss_signature(ec_sign(data, sig_alg))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    return key.sign


def _verifier(key: PublicKey | bytes, alg: str) -> Callable[[bytes, bytes], bool]:
    """A ``(data, signature) -> bool`` function for ``alg``, built once per key."""
    if isinstance(key, bytes):
        name, secret, digest, equal = "sha" + alg[2:], key, hmac.digest, hmac.compare_digest
        return lambda data, sig: equal(digest(secret, data, name), sig)
    if isinstance(key, rsa.RSAPublicKey):
        hash_ = _HASHES[alg[2:]]()
        pad, rsa_verify, sig_len = _rsa_padding(alg, hash_), key.verify, (key.key_size + 7) // 8

        def verify_rsa(data: bytes, sig: bytes) -> bool:
            if len(sig) != sig_len:
                return False
            try:
                rsa_verify(sig, data, pad, hash_)
            except InvalidSignature:
                return False
            return True

        return verify_rsa
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = _EC_CURVES[alg][1]
        sig_alg, ec_verify = ec.ECDSA(_HASHES[alg[2:]]()), key.verify

        def verify_ec(data: bytes, sig: bytes) -> bool:
            if len(sig) != 2 * size:
                return False
            der = encode_dss_signature(
                int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
            )
            try:
                ec_verify(der, data, sig_alg)
            except InvalidSignature:
                return False
            return True

        return verify_ec
    ed_verify = key.verify

    def verify_ed(data: bytes, sig: bytes) -> bool:
        try:
            ed_verify(sig, data)
        except InvalidSignature:
            return False
        return True

    return verify_ed


def _public_jwk(key: PublicKey | bytes, alg: str, kid: str | None) -> dict[str, Any]:
    if isinstance(key, bytes):
        raise ConfigurationError("a shared secret (HS*) has no public JWK; never publish it")
    jwk: dict[str, Any] = _public_members(key)
    if kid is not None:
        jwk["kid"] = kid
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def _thumbprint(key: PublicKey | bytes) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace."""
    members = {"kty": "oct", "k": _b64url(key)} if isinstance(key, bytes) else _public_members(key)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _x5t_s256(cert: x509.Certificate | None) -> str | None:
    return None if cert is None else _b64url(cert.fingerprint(hashes.SHA256()))


def _password_bytes(password: str | bytes | None) -> bytes | None:
    return password.encode() if isinstance(password, str) else password


_PEM_BLOCK_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    return [(m.group(1).decode(), m.group(0)) for m in _PEM_BLOCK_RE.finditer(data)]


def _spki(public: PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_certificate(cert: x509.Certificate | None, public: PublicKey | bytes) -> None:
    if cert is None:
        return
    if isinstance(public, bytes):
        raise KeyLoadError("a shared secret cannot have a certificate")
    cert_key = cert.public_key()
    if not isinstance(cert_key, _PUBLIC_TYPES) or _spki(cert_key) != _spki(public):
        raise KeyLoadError(
            "the certificate does not belong to this key; use the certificate created together "
            "with the key (the one uploaded to the identity provider)"
        )


def _refuse_pem_as_secret(raw: bytes) -> None:
    # RFC 8725 §2.1: a public key's PEM used as an HMAC secret is the classic alg confusion.
    if b"-----BEGIN" in raw:
        raise KeyLoadError(
            "this secret is a PEM key: load it with from_pem/from_file; an HMAC secret must be "
            "random bytes shared only with the server"
        )


def _jwk_alg(data: Mapping[str, Any], alg: str | None) -> str | None:
    """The algorithm a JWK asks for, refused when unknown (RFC 7517 §4.4)."""
    chosen = alg or data.get("alg")
    if chosen is not None and (not isinstance(chosen, str) or chosen not in ALGORITHMS):
        raise KeyLoadError(
            f"JWK alg {chosen!r} is not a JWS algorithm jwtbearer accepts "
            f"({', '.join(sorted(ALGORITHMS))})"
        )
    return chosen


def _check_jwk_use(data: Mapping[str, Any], op: str) -> None:
    """RFC 7517 §4.2/§4.3: a key meant for encryption, or not for ``op``, is not used to sign."""
    use = data.get("use")
    if use is not None and use != "sig":
        raise KeyLoadError(f"this JWK has use {use!r}; a signature key needs use 'sig'")
    ops = data.get("key_ops")
    # The public half of a private JWK marked for "sign" verifies what it signs.
    allowed = {op, "sign"} if op == "verify" and "d" in data else {op}
    if ops is not None and (not isinstance(ops, list) or not allowed.intersection(ops)):
        raise KeyLoadError(f"this JWK's key_ops {ops!r} do not include {op!r}")


class SigningKey:
    """A private key (or shared secret) with its algorithm, key id and optional certificate.

    Build one with :meth:`from_file`, :meth:`from_pem`, :meth:`from_pkcs12`, :meth:`from_jwk`,
    :meth:`from_secret`, :meth:`from_private_key` or :meth:`generate`. ``alg`` defaults by key
    type (RSA→RS256, P-256→ES256, P-384→ES384, P-521→ES512, Ed25519→EdDSA, secret→HS256);
    ``kid`` is None unless given, read from a JWK or set by the key store, because a server
    refuses a kid it does not know. ``repr()`` and ``str()`` never show key material.
    """

    __slots__ = (
        "_header_cache", "_key", "_plain_headers", "_sign", "_verifying", "alg", "certificate",
        "kid",
    )

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
        if not isinstance(key, (bytes, *_PRIVATE_TYPES)):
            raise ConfigurationError("SigningKey needs a cryptography private key or a secret")
        alg = alg or _default_alg(key)
        _check_key(key, alg)
        _check_certificate(certificate, key if isinstance(key, bytes) else key.public_key())
        self._key = key
        self.alg = alg
        self.kid = kid
        self.certificate = certificate
        self._sign = _signer(key, alg)
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
            private = serialization.load_pem_private_key(
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
        if not isinstance(private, _PRIVATE_TYPES):
            raise KeyLoadError(f"unsupported private key type {type(private).__name__}")
        certificate = _matching_certificate(certs, private.public_key())
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
        try:
            private, cert, _ = pkcs12.load_key_and_certificates(data, _password_bytes(password))
        except ValueError:
            hint = (
                "no password was given (pass password=)" if password is None
                else "wrong password"
            )
            raise KeyLoadError(
                f"could not read the PKCS#12 file: {hint}, or the file is not PKCS#12"
            ) from None
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
        """Load a key file: PEM (key, optionally with its certificate), PKCS#12, DER or a JWK."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read key file {p}: {exc.strerror or exc}") from None
        try:
            if data.lstrip().startswith(b"{"):
                return cls.from_jwk(data.decode("utf-8", "replace"), kid=kid, alg=alg)
            if b"-----BEGIN" in data:
                return cls.from_pem(data, password=password, kid=kid, alg=alg)
            return cls._from_binary(data, password=password, kid=kid, alg=alg)
        except KeyLoadError as exc:
            raise KeyLoadError(f"{p}: {exc}") from None

    @classmethod
    def _from_binary(
        cls, data: bytes, *, password: str | bytes | None, kid: str | None, alg: str | None
    ) -> SigningKey:
        """PKCS#12, else a DER private key (both are ASN.1, told apart by trying)."""
        try:
            return cls.from_pkcs12(data, password=password, kid=kid, alg=alg)
        except KeyLoadError as exc:
            p12_error = exc
        try:
            private = serialization.load_der_private_key(data, _password_bytes(password))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise p12_error from None
        if not isinstance(private, _PRIVATE_TYPES):
            raise KeyLoadError(f"unsupported private key type {type(private).__name__}")
        return cls(private, alg=alg, kid=kid)

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, kid: str | None = None, alg: str | None = None
    ) -> SigningKey:
        """Load a private JWK (RSA, EC, OKP with ``d``, RFC 7518 §6) or an ``oct`` secret."""
        data = _jwk_dict(jwk)
        _check_jwk_use(data, "sign")
        kid = kid if kid is not None else _jwk_kid(data)
        alg = _jwk_alg(data, alg)
        if data.get("kty") == "oct":
            secret = _jwk_oct_bytes(data)
            return cls.from_secret(secret, alg=alg or "HS256", kid=kid)
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
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if alg not in ("HS256", "HS384", "HS512"):
            raise ConfigurationError(f"a shared secret signs HS256/HS384/HS512, not {alg!r}")
        _refuse_pem_as_secret(raw)
        return cls(raw, alg=alg, kid=kid)

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

    def sign(self, data: bytes) -> bytes:
        """The raw JWS signature of ``data`` (ECDSA as r||s, RFC 7518 §3.4)."""
        return self._sign(data)

    @property
    def kty(self) -> str:
        """JWK key type (RFC 7517 §4.1): ``RSA``, ``EC``, ``OKP`` or ``oct``."""
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
        """The key that verifies this key's signatures (the secret itself for HS*); made once."""
        verifying = self._verifying
        if verifying is None:
            public = self._key if isinstance(self._key, bytes) else self._key.public_key()
            verifying = VerifyingKey(
                public, alg=self.alg, kid=self.kid, certificate=self.certificate
            )
            self._verifying = verifying
        return verifying

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517), with ``kid`` when known, ``alg`` and ``use: sig``."""
        key = self._key
        return _public_jwk(key if isinstance(key, bytes) else key.public_key(), self.alg, self.kid)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint of the public key (SHA-256, base64url)."""
        return _thumbprint(self._key if isinstance(self._key, bytes) else self.public_key())

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256`` (RFC 7515 §4.1.8): base64url SHA-256 of the certificate's DER, or None."""
        return _x5t_s256(self.certificate)

    def with_kid(self, kid: str | None) -> SigningKey:
        """The same key under another ``kid`` (the key is not parsed or checked again)."""
        other = object.__new__(SigningKey)
        other._key, other.alg, other.kid, other._sign = self._key, self.alg, kid, self._sign
        other.certificate, other._verifying = self.certificate, None
        other._header_cache, other._plain_headers = {}, {}
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
        return f"SigningKey({_describe(self._key, self.alg, self.kid, self.certificate)})"

    __str__ = __repr__


class VerifyingKey:
    """A public key (or shared secret) with the one algorithm it accepts (RFC 8725 §3.1)."""

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
        if not isinstance(key, (bytes, *_PUBLIC_TYPES)):
            raise ConfigurationError("VerifyingKey needs a cryptography public key or a secret")
        alg = alg or _default_alg(key)
        _check_key(key, alg)
        _check_certificate(certificate, key)
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
        raw = data.encode() if isinstance(data, str) else bytes(data)
        labels = [label for label, _ in _pem_blocks(raw)]
        if any(label.endswith("PRIVATE KEY") for label in labels):
            return SigningKey.from_pem(raw, alg=alg, kid=kid).verifying_key()
        if "CERTIFICATE" in labels:
            return cls.from_certificate(raw, alg=alg, kid=kid)
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
        """A public (or private: its public half is used) JWK, or an ``oct`` secret.

        A JWK whose ``use`` is not ``sig``, whose ``key_ops`` lack ``verify``, or whose ``alg``
        is unknown or does not fit the key, is refused (RFC 7517 §4.2-§4.4).
        """
        data = _jwk_dict(jwk)
        _check_jwk_use(data, "verify")
        kid = kid if kid is not None else _jwk_kid(data)
        alg = _jwk_alg(data, alg)
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
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if alg not in ("HS256", "HS384", "HS512"):
            raise ConfigurationError(f"a shared secret verifies HS256/HS384/HS512, not {alg!r}")
        _refuse_pem_as_secret(raw)
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
                return cls.from_jwk(data.decode("utf-8", "replace"), kid=kid, alg=alg)
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
        """JWK key type (RFC 7517 §4.1): ``RSA``, ``EC``, ``OKP`` or ``oct``."""
        return _kty(self._key)

    @property
    def is_symmetric(self) -> bool:
        """True for a shared secret (HS*)."""
        return isinstance(self._key, bytes)

    def with_kid(self, kid: str | None) -> VerifyingKey:
        """The same key under another ``kid``."""
        return VerifyingKey(self._key, alg=self.alg, kid=kid, certificate=self.certificate)

    def with_alg(self, alg: str) -> VerifyingKey:
        """The same key pinned to another algorithm of its family (e.g. PS256 for an RSA key)."""
        return VerifyingKey(self._key, alg=alg, kid=self.kid, certificate=self.certificate)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517), with ``kid`` when known, ``alg`` and ``use: sig``."""
        return _public_jwk(self._key, self.alg, self.kid)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
        return _thumbprint(self._key)

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256`` (RFC 7515 §4.1.8) of the certificate, or None without one."""
        return _x5t_s256(self.certificate)

    def __repr__(self) -> str:
        return f"VerifyingKey({_describe(self._key, self.alg, self.kid, self.certificate)})"

    __str__ = __repr__


def _describe(
    key: PrivateKey | PublicKey | bytes, alg: str, kid: str | None, cert: x509.Certificate | None
) -> str:
    size = ""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        size = f", bits={key.key_size}"
    elif isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        size = f", crv={_JWK_CURVE.get(key.curve.name, key.curve.name)!r}"
    has_cert = ", certificate=yes" if cert is not None else ""
    return f"alg={alg!r}, kid={kid!r}, kty={_kty(key)!r}{size}{has_cert}"


def _matching_certificate(certs: list[bytes], public: PublicKey) -> x509.Certificate | None:
    """The certificate of ``public`` among PEM blocks (a chain may follow it); refused if none."""
    if not certs:
        return None
    wanted = _spki(public)
    for pem in certs:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise KeyLoadError(f"could not read the certificate: {exc}") from None
        cert_key = cert.public_key()
        if isinstance(cert_key, _PUBLIC_TYPES) and _spki(cert_key) == wanted:
            return cert
    raise KeyLoadError(
        "the certificate in the PEM does not belong to its private key; keep the key with the "
        "certificate created together with it"
    )


def _jwk_kid(data: Mapping[str, Any]) -> str | None:
    kid = data.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise KeyLoadError("the JWK 'kid' must be a string (RFC 7517 §4.5)")
    return kid


def _as_key_error(build: Callable[[], _K]) -> _K:
    # A JWK carries its own alg: a mismatch is a problem of the key file, not of the caller.
    try:
        return build()
    except ConfigurationError as exc:
        raise KeyLoadError(str(exc)) from None


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
            or item.get("alg", "RS256") not in ALGORITHMS
        ):
            continue
        try:
            result.append(VerifyingKey.from_jwk(item))
        except KeyLoadError as exc:
            raise KeyLoadError(f"JWK Set entry {index}: {exc}") from None
    return result


# -- JWK import and export (RFC 7517, RFC 7518 §6, RFC 8037 §2) -------------------------------

_B64URL_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_TO_STD = str.maketrans("-_", "+/")
_JWK_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}
_OKP_SIZES = {"Ed25519": 32, "Ed448": 57}


def _b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii").translate(_TO_URL).rstrip("=")


_TO_URL = str.maketrans("+/", "-_")


def _member(data: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    """A base64url JWK member, strictly decoded; ``size`` fixes its length in bytes."""
    value = data.get(name)
    if not isinstance(value, str):
        raise KeyLoadError(f"this {data.get('kty')} JWK needs a string '{name}' member")
    decoded = None
    if len(value) % 4 != 1 and _B64URL_CHARS.fullmatch(value):
        try:
            decoded = binascii.a2b_base64(value.translate(_TO_STD) + "=" * (-len(value) % 4))
        except binascii.Error:
            decoded = None
    if decoded is None or _b64url(decoded) != value:
        raise KeyLoadError(f"the JWK '{name}' member is not base64url (RFC 7515 §2)")
    if size is not None and len(decoded) != size:
        raise KeyLoadError(
            f"the JWK '{name}' member has {len(decoded)} bytes; this curve needs {size} "
            "(RFC 7518 §6.2.1.2)"
        )
    return decoded


def _int(data: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_member(data, name), "big")


def _jwk_dict(jwk: Mapping[str, Any] | str) -> dict[str, Any]:
    """A JWK (or JWK Set) as a dict, from a mapping or JSON text."""
    if isinstance(jwk, str):
        try:
            loaded = json.loads(jwk)
        except (ValueError, RecursionError) as exc:
            raise KeyLoadError(f"the JWK is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise KeyLoadError("a JWK must be a JSON object")
        return loaded
    if not isinstance(jwk, Mapping):
        raise KeyLoadError("a JWK must be a JSON object or a mapping")
    return dict(jwk)


def _jwk_oct_bytes(data: Mapping[str, Any]) -> bytes:
    """The secret of an ``oct`` JWK (RFC 7518 §6.4.1)."""
    return _member(data, "k")


def _kty_of(data: Mapping[str, Any]) -> str:
    kty = data.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        raise KeyLoadError(f"unsupported JWK kty {kty!r}; use RSA, EC, OKP or oct")
    return str(kty)


def _ec_curve(data: Mapping[str, Any]) -> tuple[ec.EllipticCurve, int]:
    crv = data.get("crv")
    if crv not in _JWK_CURVES:
        raise KeyLoadError(f"unsupported EC curve {crv!r}; use P-256, P-384 or P-521")
    return _JWK_CURVES[crv]


def _okp_size(data: Mapping[str, Any]) -> int:
    crv = data.get("crv")
    if crv not in _OKP_SIZES:
        raise KeyLoadError(f"unsupported OKP curve {crv!r}; use Ed25519 (RFC 8037)")
    return _OKP_SIZES[crv]


def _public_from_jwk(data: Mapping[str, Any]) -> PublicKey:
    """The public key of an RSA, EC or OKP JWK (private members, if any, are ignored)."""
    kty = _kty_of(data)
    try:
        if kty == "RSA":
            return rsa.RSAPublicNumbers(_int(data, "e"), _int(data, "n")).public_key()
        if kty == "EC":
            curve, size = _ec_curve(data)
            x = int.from_bytes(_member(data, "x", size), "big")
            y = int.from_bytes(_member(data, "y", size), "big")
            return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        raw = _member(data, "x", _okp_size(data))
        if data["crv"] == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return ed448.Ed448PublicKey.from_public_bytes(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"invalid {kty} JWK: {exc}") from None


def _private_from_jwk(data: Mapping[str, Any]) -> PrivateKey:
    """The private key of an RSA, EC or OKP JWK, checked against its public members."""
    kty = _kty_of(data)
    if "d" not in data:
        raise KeyLoadError("this JWK is a public key (no 'd'); signing needs the private key")
    public = _public_from_jwk(data)
    try:
        private: PrivateKey
        if kty == "RSA":
            private = _rsa_private(data)
        elif kty == "EC":
            curve, size = _ec_curve(data)
            d = int.from_bytes(_member(data, "d", size), "big")
            private = ec.derive_private_key(d, curve)
        elif data["crv"] == "Ed25519":
            private = ed25519.Ed25519PrivateKey.from_private_bytes(
                _member(data, "d", _OKP_SIZES["Ed25519"])
            )
        else:
            private = ed448.Ed448PrivateKey.from_private_bytes(
                _member(data, "d", _OKP_SIZES["Ed448"])
            )
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"invalid {kty} JWK: {exc}") from None
    if _spki(private.public_key()) != _spki(public):
        raise KeyLoadError(f"this {kty} JWK's private part 'd' does not match its public part")
    return private


def _rsa_private(data: Mapping[str, Any]) -> rsa.RSAPrivateKey:
    if "oth" in data:
        raise KeyLoadError("multi-prime RSA JWKs ('oth', RFC 7518 §6.3.2.7) are not supported")
    n, e, d = _int(data, "n"), _int(data, "e"), _int(data, "d")
    public = rsa.RSAPublicNumbers(e, n)
    crt = ("p", "q", "dp", "dq", "qi")
    if any(name in data for name in crt):
        # RFC 7518 §6.3.2: with one CRT member present, all must be.
        p, q, dp, dq, qi = (_int(data, name) for name in crt)
    else:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()


def _public_members(key: PublicKey) -> dict[str, Any]:
    """The required public members of a key's JWK (RFC 7638 §3.2), in JWK form."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _b64url(_uint(numbers.n)), "e": _b64url(_uint(numbers.e))}
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _JWK_CURVE[key.curve.name]
        size = _JWK_CURVES[crv][1]
        point = key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": _b64url(point.x.to_bytes(size, "big")),
            "y": _b64url(point.y.to_bytes(size, "big")),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return {"kty": "OKP", "crv": crv, "x": _b64url(raw)}


def _uint(value: int) -> bytes:
    # RFC 7518 §6.3.1.1: big-endian, no leading zero octets.
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _jwk_certificate(data: Mapping[str, Any]) -> x509.Certificate | None:
    """The first certificate of a JWK's ``x5c`` chain (RFC 7517 §4.7), if any."""
    chain = data.get("x5c")
    if chain is None:
        return None
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise KeyLoadError("the JWK 'x5c' member must be a non-empty array of base64 strings")
    try:
        return x509.load_der_x509_certificate(binascii.a2b_base64(chain[0], strict_mode=True))
    except (ValueError, binascii.Error):
        raise KeyLoadError("the JWK 'x5c' certificate could not be read") from None


# Re-exported so that ``from jwtbearer.keys import KeyStore`` keeps working; the import sits here
# because keystore.py builds on SigningKey.
from .keystore import KeyStore, default_key_store  # noqa: E402
from .keystore import _write_file as _write_private  # noqa: E402, F401 (the server uses it)
