"""A signer made of a plain function, and the ECDSA signature conversions remote signers need.

``CallableSigner`` is how any signing service plugs in (Google Cloud KMS ``asymmetric_sign``,
Azure Key Vault ``CryptographyClient.sign``, an in-house signing API): give the algorithm, a
``sign(data) -> bytes`` function returning the JWS signature, and the public key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ..errors import ConfigurationError, KeyLoadError
from ..jose.keys import ALGORITHMS, VerifyingKey
from ._protocol import RemoteSigner

if TYPE_CHECKING:
    from ._protocol import PublicKey

__all__ = ["CallableSigner", "der_to_raw", "raw_to_der"]


_PUBLIC_TYPES = (
    rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey
)
#: Bytes in each of r and s of a JWS ECDSA signature (RFC 7518 §3.4).
_COORDINATE_SIZE = {"ES256": 32, "ES384": 48, "ES512": 66}


def _coordinate_size(alg: str) -> int:
    try:
        return _COORDINATE_SIZE[alg]
    except KeyError:
        raise ConfigurationError(
            f"{alg!r} is not an ECDSA algorithm (ES256, ES384, ES512)"
        ) from None


def der_to_raw(signature: bytes, alg: str) -> bytes:
    """An ECDSA signature in DER (what KMS services and ``cryptography`` return) as the JWS
    form ``r || s``, each left-padded to the curve's coordinate size (RFC 7518 §3.4)."""
    size = _coordinate_size(alg)
    try:
        r, s = decode_dss_signature(bytes(signature))
    except ValueError:
        raise KeyLoadError(f"the {alg} signature is not a DER ECDSA signature") from None
    if r.bit_length() > 8 * size or s.bit_length() > 8 * size:
        raise KeyLoadError(f"the DER signature's r or s is too large for {alg}")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def raw_to_der(signature: bytes, alg: str) -> bytes:
    """The JWS ``r || s`` form of an ECDSA signature as DER (the inverse of :func:`der_to_raw`)."""
    size = _coordinate_size(alg)
    if len(signature) != 2 * size:
        raise KeyLoadError(f"a raw {alg} signature is {2 * size} bytes, not {len(signature)}")
    return encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )


def _public_key(value: object) -> PublicKey:
    if isinstance(value, _PUBLIC_TYPES):
        return value
    if isinstance(value, VerifyingKey):
        return value.public_key()
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        key = (
            VerifyingKey.from_jwk(json.loads(text)) if text.lstrip().startswith("{")
            else VerifyingKey.from_pem(text)
        )
        return key.public_key()
    if isinstance(value, Mapping):
        return VerifyingKey.from_jwk(dict(value)).public_key()
    raise ConfigurationError(
        "public_jwk must be a JWK (dict or JSON), a PEM public key or a cryptography public key"
    )


class CallableSigner(RemoteSigner):
    """A :class:`~jwtbearer.signers.Signer` around a function: ``sign(data) -> bytes`` returns
    the JWS signature of ``data`` (ECDSA as raw ``r || s``; convert a service's DER answer with
    :func:`der_to_raw`).

    ``public_jwk`` is the public key (a JWK dict or JSON text, a PEM public key, or a
    ``cryptography`` public key): with it the ``kid`` defaults to the key's RFC 7638 thumbprint
    and the first signature is checked against it. Without it the ``kid`` is the one given (or
    none), :meth:`public_jwk` raises, and signatures are sent unchecked. ``certificate`` adds
    ``x5t#S256`` support.
    """

    __slots__ = ("_function", "_public_given")

    def __init__(
        self,
        alg: str,
        sign: Callable[[bytes], bytes],
        kid: str | None = None,
        public_jwk: Mapping[str, Any] | str | bytes | PublicKey | None = None,
        *,
        certificate: x509.Certificate | None = None,
    ) -> None:
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise ConfigurationError(
                f"unsupported algorithm {alg!r}; use one of {', '.join(sorted(ALGORITHMS))}"
            )
        if alg.startswith("HS"):
            raise ConfigurationError(
                "CallableSigner is for private keys; an HMAC secret is a SigningKey.from_secret"
            )
        if not callable(sign):
            raise ConfigurationError("sign must be a function taking bytes and returning bytes")
        self._function = sign
        self._public_given = public_jwk is not None
        if public_jwk is not None:
            self._setup(_public_key(public_jwk), alg, kid, certificate)
            return
        if certificate is not None:
            self._setup(certificate.public_key(), alg, kid, certificate)  # type: ignore[arg-type]
            self._public_given = True
            return
        self.alg, self.kid = alg, kid
        self._sign = self._signature

    def _signature(self, data: bytes) -> bytes:
        """Call the function; what it returns must be bytes."""
        signature = self._function(bytes(data))
        if not isinstance(signature, (bytes, bytearray)):
            raise ConfigurationError(
                f"the sign function returned {type(signature).__name__}, not bytes"
            )
        return bytes(signature)

    def _unknown(self) -> ConfigurationError:
        return ConfigurationError(
            "this CallableSigner was made without its public key: pass public_jwk= to publish "
            "or check it"
        )

    @property
    def certificate(self) -> x509.Certificate | None:
        return super().certificate if self._public_given else None

    @property
    def x5t_s256(self) -> str | None:
        return super().x5t_s256 if self._public_given else None

    def public_jwk(self) -> dict[str, Any]:
        if not self._public_given:
            raise self._unknown()
        return super().public_jwk()

    def public_key(self) -> PublicKey:
        if not self._public_given:
            raise self._unknown()
        return super().public_key()

    def verifying_key(self) -> VerifyingKey:
        if not self._public_given:
            raise self._unknown()
        return super().verifying_key()
