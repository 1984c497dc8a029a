"""The ``Signer`` protocol: what signing an assertion needs from a key, and nothing more.

A :class:`~jwtbearer.keys.SigningKey` (a key in memory) is one implementation; a key that never
leaves a hardware token or a cloud KMS is another. Anything with these five members signs JWS
through every API that takes a key. :class:`RemoteSigner` is the base of the signers shipped
here: it holds the public key (a :class:`~jwtbearer.keys.VerifyingKey`), derives the RFC 7638
``kid``, and checks the first signature against the public key, so a key of another algorithm
or a DER-encoded ECDSA signature is a clear error, never a token the server refuses later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from cryptography import x509

from .._algorithms import PublicKey
from ..errors import ConfigurationError, KeyLoadError
from ..keys import SigningKey, VerifyingKey, default_key_store

__all__ = ["RemoteSigner", "Signer", "as_signer"]


@runtime_checkable
class Signer(Protocol):
    """What signs a JWS: ``alg``, ``kid``, ``x5t_s256``, ``public_jwk()`` and ``sign(data)``.

    ``sign(data)`` returns the JWS signature of the bytes given (RFC 7515 §5.1): for ECDSA the
    raw ``r || s``, each left-padded to the coordinate size (RFC 7518 §3.4), not DER.
    """

    @property
    def alg(self) -> str:
        """The JWS algorithm (RFC 7518 §3.1), fixed by the key."""

    @property
    def kid(self) -> str | None:
        """The key id sent in the header (None: no ``kid``)."""

    @property
    def x5t_s256(self) -> str | None:
        """``x5t#S256`` of the key's certificate (RFC 7515 §4.1.8), or None."""

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517) to register with the server."""

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data``."""


class RemoteSigner:
    """Base of signers whose private key lives elsewhere (a token, a KMS, a callable).

    Subclasses call :meth:`_setup` with the public key once it is known and implement
    :meth:`sign`. ``repr()`` shows the algorithm and kid, never a secret.
    """

    __slots__ = ("_header_cache", "_plain_headers", "_sign", "_verifying", "alg", "kid")

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
        # What jwtbearer.jws uses on its hot path, as for a SigningKey.
        self._header_cache: dict[Any, bytes] = {}
        self._plain_headers: dict[str | None, bytes] = {}
        self._sign: Callable[[bytes], bytes] = self._first_sign

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (ECDSA as r||s)."""
        raise NotImplementedError

    def _first_sign(self, data: bytes) -> bytes:
        """Sign, and check the signature against the public key (the first one, or each)."""
        signature = self.sign(data)
        if not self._verifying._verify(data, signature):
            raise KeyLoadError(
                f"{self!r} returned a signature that does not verify as {self.alg} with its "
                "public key: check the key's algorithm (PKCS#1 v1.5 or PSS), and that an ECDSA "
                "signature is raw r||s, not DER (see jwtbearer.signers.der_to_raw)"
            )
        if not self._verify_every:
            self._sign = self.sign
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
        return self._verifying._key  # type: ignore[return-value]

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


class _Adapted(RemoteSigner):
    """Any object following :class:`Signer`, given what jwtbearer.jws needs."""

    __slots__ = ("_inner", "_x5t")

    def __init__(self, inner: Signer) -> None:
        self._inner = inner
        self.alg, self.kid = inner.alg, inner.kid
        self._x5t = inner.x5t_s256
        self._header_cache = {}
        self._plain_headers = {}
        self._sign = inner.sign

    def sign(self, data: bytes) -> bytes:
        return self._inner.sign(data)

    @property
    def x5t_s256(self) -> str | None:
        return self._x5t

    def public_jwk(self) -> dict[str, Any]:
        return self._inner.public_jwk()

    def __repr__(self) -> str:
        return repr(self._inner)


def as_signer(key: object, *, what: str = "key") -> SigningKey | RemoteSigner:
    """``key`` as something :mod:`jwtbearer.jws` signs with: a :class:`SigningKey` or a signer
    as is, a key-store name looked up, any other :class:`Signer` adapted."""
    if isinstance(key, (SigningKey, RemoteSigner)):
        return key
    if isinstance(key, str):
        return default_key_store().get(key)
    if isinstance(key, Signer) and not isinstance(key, type):
        alg = key.alg
        if not isinstance(alg, str) or alg.startswith("HS") or alg.lower() == "none":
            raise ConfigurationError(f"a signer's alg must be an asymmetric JWS algorithm, not "
                                     f"{alg!r}")
        return _Adapted(key)
    raise ConfigurationError(
        f"{what} must be a SigningKey, a signer (alg, kid, x5t_s256, public_jwk(), sign()) or "
        "the name of a key in the key store"
    )
