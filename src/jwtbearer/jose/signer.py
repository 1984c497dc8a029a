"""The ``Signer`` protocol: what signing a JWS needs from a key, and nothing more.

A :class:`~jwtbearer.jose.keys.SigningKey` (a key in memory) is one implementation; a key that
never leaves a hardware token or a cloud KMS (:mod:`jwtbearer.signers`) is another. Anything
with these five members signs through every API that takes a key; its JWS header is built by
the same header builder as a SigningKey's.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError

__all__ = ["Signer", "checked_signer"]


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


def checked_signer(key: object) -> Signer | None:
    """``key`` when it follows :class:`Signer` (None when it does not); a signer whose ``alg``
    is not an asymmetric JWS algorithm is a :class:`ConfigurationError`."""
    if isinstance(key, type) or not isinstance(key, Signer):
        return None
    alg = key.alg
    if not isinstance(alg, str) or alg.startswith("HS") or alg.lower() == "none":
        raise ConfigurationError(
            f"a signer's alg must be an asymmetric JWS algorithm, not {alg!r}"
        )
    return key
