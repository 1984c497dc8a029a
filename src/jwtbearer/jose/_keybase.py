"""What a signing key and a verifying key share: the key, its algorithm, kid and certificate.

The algorithm is fixed here, when the key object is made, and checked against the key (RFC 7518
§3, RFC 8725 §3.1); a certificate given with the key must be that key's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..errors import KeyLoadError
from ._algorithms import JWK_CURVE, PrivateKey, PublicKey, check_key, default_alg, key_type
from ._jwk import public_jwk_of, rfc7638_thumbprint
from ._pem import certificate_x5t_s256, check_certificate

if TYPE_CHECKING:
    from cryptography import x509

__all__: list[str] = []

_KeyT = TypeVar("_KeyT", bound=PrivateKey | PublicKey | bytes)
_R = TypeVar("_R")


class KeyBase(Generic[_KeyT]):
    """What a signing and a verifying key share: the key, its algorithm, kid and certificate."""

    __slots__ = ("_key", "alg", "certificate", "kid")

    _key: _KeyT
    alg: str
    kid: str | None
    certificate: x509.Certificate | None

    def _load(
        self, key: _KeyT, alg: str | None, kid: str | None, certificate: x509.Certificate | None
    ) -> None:
        alg = alg or default_alg(key)
        check_key(key, alg)
        check_certificate(certificate, self._public_of(key))
        self._key = key
        self.alg = alg
        self.kid = kid
        self.certificate = certificate

    if TYPE_CHECKING:  # each subclass defines these two

        @staticmethod
        def _public_of(key: _KeyT) -> PublicKey | bytes:
            """The public half of ``key`` (a secret is its own)."""

        def _use(self) -> None:
            """Build the signing or verifying function and its caches, once per key object."""

    @property
    def kty(self) -> str:
        """JWK key type (RFC 7517 §4.1): ``RSA``, ``EC``, ``OKP`` or ``oct``."""
        return key_type(self._key)

    @property
    def is_symmetric(self) -> bool:
        """True for a shared secret (HS*)."""
        return isinstance(self._key, bytes)

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256`` (RFC 7515 §4.1.8): base64url SHA-256 of the certificate's DER, or None."""
        return certificate_x5t_s256(self.certificate)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517), with ``kid`` when known, ``alg`` and ``use: sig``."""
        return public_jwk_of(self._public_of(self._key), self.alg, self.kid)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint of the public key (SHA-256, base64url)."""
        return rfc7638_thumbprint(self._public_of(self._key))

    def with_kid(self, kid: str | None) -> Self:
        """The same key under another ``kid`` (the key is not parsed or checked again)."""
        other = object.__new__(type(self))
        other._key, other.alg, other.kid = self._key, self.alg, kid
        other.certificate = self.certificate
        other._use()
        return other

    def __repr__(self) -> str:
        key, size = self._key, ""
        if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            size = f", bits={key.key_size}"
        elif isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
            size = f", crv={JWK_CURVE.get(key.curve.name, key.curve.name)!r}"
        has_cert = ", certificate=yes" if self.certificate is not None else ""
        return (
            f"{type(self).__name__}(alg={self.alg!r}, kid={self.kid!r}, "
            f"kty={key_type(key)!r}{size}{has_cert})"
        )

    __str__ = __repr__


def read_key_file(path: str | os.PathLike[str], load: Callable[[bytes], _R]) -> _R:
    """``load`` applied to a file's bytes; errors name the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        problem = getattr(exc, "strerror", None) or exc
        raise KeyLoadError(f"cannot read key file {p}: {problem}") from None
    try:
        return load(data)
    except KeyLoadError as exc:
        raise KeyLoadError(f"{p}: {exc}") from None


def is_jwk(data: bytes) -> bool:
    return data.lstrip().startswith(b"{")
