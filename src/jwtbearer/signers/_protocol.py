"""The base of the signers shipped here, and :func:`as_signer`.

:class:`~jwtbearer.jose.signer.Signer` is what signing an assertion needs from a key: an
in-memory :class:`~jwtbearer.jose.keys.SigningKey` is one implementation, a key that never
leaves a hardware token or a cloud KMS is another. :class:`RemoteSigner` holds the public key
(a :class:`~jwtbearer.jose.keys.VerifyingKey`), derives the RFC 7638 ``kid``, and checks the
first signature against the public key, so a key of another algorithm or a DER-encoded ECDSA
signature is a clear error, never a token the server refuses later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography import x509

from ..errors import ConfigurationError, KeyLoadError
from ..jose.keys import SigningKey, VerifyingKey
from ..jose.keystore import resolve_key
from ..jose.signer import Signer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    PublicKey = (
        rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey
    )

__all__ = ["RemoteSigner", "as_signer"]


class RemoteSigner:
    """Base of signers whose private key lives elsewhere (a token, a KMS, a callable).

    Subclasses call :meth:`_setup` with the public key once it is known and implement
    :meth:`_signature` (the device's answer); :meth:`sign` checks it against the public key.
    ``repr()`` shows the algorithm and kid, never a secret.
    """

    __slots__ = ("_sign", "_verifying", "alg", "kid")

    #: Never a shared secret: ``private_key_jwt`` accepts these.
    is_symmetric = False
    #: Check every signature, not only the first (for signers across a network, where a
    #: verification costs little next to the round trip).
    _verify_every = False

    alg: str
    kid: str | None

    def _setup(
        self,
        public: PublicKey,
        alg: str,
        kid: str | None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        try:
            self._verifying = VerifyingKey(public, alg=alg, certificate=certificate)
        except ConfigurationError as exc:
            raise KeyLoadError(str(exc)) from None
        self.alg = self._verifying.alg
        self.kid = kid if kid is not None else self._verifying.thumbprint()
        self._verifying = self._verifying.with_kid(self.kid)
        self._sign: Callable[[bytes], bytes] = self._first_sign

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (ECDSA as r||s), checked against the public key the
        first time (every time for a signer across a network)."""
        return self._sign(data)

    def _signature(self, data: bytes) -> bytes:
        """The device's signature of ``data`` (ECDSA as r||s): what a subclass implements."""
        raise NotImplementedError

    def _first_sign(self, data: bytes) -> bytes:
        """Sign, and check the signature against the public key (the first one, or each)."""
        signature = self._signature(data)
        if not self._verifying.verify(data, signature):
            raise KeyLoadError(
                f"{self!r} returned a signature that does not verify as {self.alg} with its "
                "public key: check the key's algorithm (PKCS#1 v1.5 or PSS), and that an ECDSA "
                "signature is raw r||s, not DER (see jwtbearer.signers.der_to_raw)"
            )
        if not self._verify_every:
            self._sign = self._signature
        return signature

    @property
    def certificate(self) -> x509.Certificate | None:
        """The key's X.509 certificate, when one was given."""
        return self._verifying.certificate

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256`` of the certificate (RFC 7515 §4.1.8), or None without one."""
        return self._verifying.x5t_s256

    @property
    def kty(self) -> str:
        """JWK key type: ``RSA`` or ``EC``."""
        return self._verifying.kty

    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key."""
        return self._verifying.public_key()

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK, with ``kid``, ``alg`` and ``use: sig``."""
        return self._verifying.public_jwk()

    def thumbprint(self) -> str:
        """RFC 7638 thumbprint of the public key (SHA-256, base64url)."""
        return self._verifying.thumbprint()

    def verifying_key(self) -> VerifyingKey:
        """The key that verifies this signer's signatures."""
        return self._verifying

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alg={self.alg!r}, kid={self.kid!r})"

    __str__ = __repr__


def as_signer(key: object, *, what: str = "key") -> SigningKey | Signer:
    """``key`` as something :mod:`jwtbearer.jose.jws` signs with: a :class:`SigningKey` or a
    :class:`Signer` as is (an asymmetric ``alg`` only), a key-store name looked up; one
    resolution with :func:`jwtbearer.jose.keystore.resolve_key`."""
    return resolve_key(
        key,
        f"{what} must be a SigningKey, a signer (alg, kid, x5t_s256, public_jwk(), sign()) or "
        "the name of a key in the key store",
    )
