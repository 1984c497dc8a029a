"""A self-signed X.509 certificate signed by a remote signer (the key never leaves its token).

``cryptography`` signs certificates only with a private key it holds, so the certificate is
built with a throwaway key of the same type (which fixes the signature algorithm identifier),
and its to-be-signed part is then signed by the signer and the certificate reassembled (RFC
5280 §4.1: SEQUENCE of tbsCertificate, signatureAlgorithm, signatureValue).
"""

from __future__ import annotations

import datetime as dt
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ..errors import KeyLoadError
from ._protocol import RemoteSigner
from .callable import raw_to_der

__all__ = ["self_signed_certificate"]


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _element_end(der: bytes, start: int) -> int:
    """Where the DER element starting at ``start`` ends."""
    first = der[start + 1]
    if first < 0x80:
        return start + 2 + first
    count = first & 0x7F
    length = int.from_bytes(der[start + 2:start + 2 + count], "big")
    return start + 2 + count + length


def self_signed_certificate(
    signer: RemoteSigner, common_name: str, *, days: int = 365
) -> x509.Certificate:
    """A self-signed certificate for ``signer``'s public key, signed by ``signer`` itself."""
    public = signer.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        stand_in: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa.generate_private_key(
            65537, public.key_size
        )
        pad: padding.PSS | None = (
            padding.PSS(padding.MGF1(hashes.SHA256()), 32) if signer.alg == "PS256" else None
        )
    elif isinstance(public, ec.EllipticCurvePublicKey):
        stand_in, pad = ec.generate_private_key(public.curve), None
    else:  # pragma: no cover - remote signers hold RSA or EC keys
        raise KeyLoadError("a certificate is made for RSA and EC keys only")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    draft = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(stand_in, hashes.SHA256(), rsa_padding=pad)
    )
    der = draft.public_bytes(serialization.Encoding.DER)
    tbs = draft.tbs_certificate_bytes
    body_start = der.index(tbs)
    algorithm_end = _element_end(der, body_start + len(tbs))
    algorithm = der[body_start + len(tbs):algorithm_end]
    signature = signer.sign(tbs)
    if isinstance(public, ec.EllipticCurvePublicKey):
        signature = raw_to_der(signature, signer.alg)
    certificate = x509.load_der_x509_certificate(
        _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    )
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise KeyLoadError(f"the signer's certificate signature does not verify: {exc}") from None
    return certificate

