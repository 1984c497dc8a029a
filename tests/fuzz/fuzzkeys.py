"""Real keys for the fuzz suite, made once per run: RSA, EC P-256, Ed25519 and an HMAC secret,
with their private JWKs, PEM, DER and PKCS#12 forms to mutate."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from jwtbearer import SigningKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return b64(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
_ED = ed25519.Ed25519PrivateKey.generate()
SECRET = b"fuzz-secret-" + b"k" * 28

KEYS: dict[str, SigningKey] = {
    "RS256": SigningKey.from_private_key(_RSA, alg="RS256", kid="rsa"),
    "ES256": SigningKey.from_private_key(_EC, alg="ES256", kid="ec"),
    "EdDSA": SigningKey.from_private_key(_ED, alg="EdDSA", kid="ed"),
    "HS256": SigningKey.from_secret(SECRET, alg="HS256", kid="hs"),
}


def _private_jwks() -> dict[str, dict[str, Any]]:
    r, e = _RSA.private_numbers(), _EC.private_numbers()
    raw_ed = _ED.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                               serialization.NoEncryption())
    pub_ed = _ED.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    return {
        "RS256": {"kty": "RSA", "alg": "RS256", "kid": "rsa", "use": "sig",
                  "n": _int(r.public_numbers.n), "e": _int(r.public_numbers.e), "d": _int(r.d),
                  "p": _int(r.p), "q": _int(r.q), "dp": _int(r.dmp1), "dq": _int(r.dmq1),
                  "qi": _int(r.iqmp)},
        "ES256": {"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "ec",
                  "x": b64(e.public_numbers.x.to_bytes(32, "big")),
                  "y": b64(e.public_numbers.y.to_bytes(32, "big")),
                  "d": b64(e.private_value.to_bytes(32, "big"))},
        "EdDSA": {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "ed",
                  "x": b64(pub_ed), "d": b64(raw_ed)},
        "HS256": {"kty": "oct", "alg": "HS256", "kid": "hs", "k": b64(SECRET)},
    }


PRIVATE_JWKS = _private_jwks()


def _certificate() -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(_EC.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(_EC, hashes.SHA256()))


CERT = _certificate()
NONE = serialization.NoEncryption()
PEMS: list[bytes] = [
    _RSA.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                       NONE),
    _EC.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NONE)
    + CERT.public_bytes(serialization.Encoding.PEM),
    _ED.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                      serialization.BestAvailableEncryption(b"pw")),
    _EC.public_key().public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo),
    CERT.public_bytes(serialization.Encoding.PEM),
]
DERS: list[bytes] = [
    _EC.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, NONE),
    pkcs12.serialize_key_and_certificates(b"fuzz", _EC, CERT, None,
                                          serialization.BestAvailableEncryption(b"pw")),
    pkcs12.serialize_key_and_certificates(b"fuzz", _EC, CERT, None, NONE),
]
