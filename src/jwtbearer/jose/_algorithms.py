"""JWS algorithms and the keys they accept: tables, key checks, signing and verifying functions.

The algorithm of a key is fixed when the key is loaded, never read from a token (RFC 8725 §3.1);
this module decides which keys an algorithm accepts (RFC 7518 §3, RFC 8037 §3.1) and builds, once
per key, the function that signs or verifies with it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ..errors import ConfigurationError, KeyLoadError

__all__: list[str] = []

PrivateKey = Union[  # noqa: UP007 (a runtime alias)
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey
]
PublicKey = Union[  # noqa: UP007
    rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey
]
PRIVATE_TYPES = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey
)
PUBLIC_TYPES = (
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
JWK_CURVE = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

#: Every JWS algorithm jwtbearer signs and verifies (RFC 7518 §3.1, RFC 8037 §3.1, RFC 9864).
#: ``EdDSA`` stays the default for Edwards keys; ``Ed25519`` is the fully specified name that
#: RFC 9864 puts in its place, accepted for keys registered under it.
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
    | {"Ed25519", "HS256", "HS384", "HS512"}
)
_OKP_ALGS = ("EdDSA", "Ed25519")
#: Smallest RSA modulus accepted (RFC 7518 §3.3 and §3.5).
MIN_RSA_BITS = 2048

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


def key_type(key: PrivateKey | PublicKey | bytes) -> str:
    if isinstance(key, bytes):
        return "oct"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "EC"
    return "OKP"


def default_alg(key: PrivateKey | PublicKey | bytes) -> str:
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


def check_key(key: PrivateKey | PublicKey | bytes, alg: str) -> None:
    """Refuse a key that cannot, or must not, be used with ``alg`` (RFC 7518 §3, RFC 8725 §3.5)."""
    _check_alg(alg)
    kty = key_type(key)
    family = "OKP" if alg in _OKP_ALGS else {"R": "RSA", "P": "RSA", "E": "EC", "H": "oct"}[alg[0]]
    if kty != family:
        raise KeyLoadError(f"a {kty} key cannot sign or verify {alg}; {alg} needs a {family} key")
    if alg == "Ed25519" and not isinstance(
        key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)
    ):
        raise KeyLoadError("Ed25519 needs an Ed25519 key, not Ed448 (RFC 9864); use EdDSA")
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
            raise KeyLoadError(f"{alg} needs a {JWK_CURVE[curve]} key, not {key.curve.name}")


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


def spki(public: PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo: two keys are the same key when these bytes are equal."""
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
