"""Sign with a key that never leaves a PKCS#11 token (an HSM, a smart card, SoftHSM): extra
``pkcs11`` (python-pkcs11).

RSA keys sign RS256 (``CKM_SHA256_RSA_PKCS``) or PS256 (``CKM_SHA256_RSA_PKCS_PSS``, MGF1-SHA256,
32-byte salt as RFC 7518 §3.5 says). P-256 keys sign ES256 by hashing SHA-256 on the host and
signing the digest with ``CKM_ECDSA``, which every token has (SoftHSM 2.6 lacks
``CKM_ECDSA_SHA256``) and which already returns the JWS form r||s.

One session per token and process is opened at first use, logged in once, and shared by every
signer on that token; it is closed (and logged out) when the last of them is closed, so closing
one signer never logs the others out. Operations on the session are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..errors import ConfigurationError, KeyLoadError
from ._protocol import RemoteSigner

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11 import exceptions as p11e
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ImportError(
        "Pkcs11Signer needs python-pkcs11: pip install 'jwtbearer[pkcs11]'"
    ) from exc

__all__ = ["Pkcs11Signer", "generate_key"]

_ALGS = {"RSA": ("RS256", "PS256"), "EC": ("ES256",)}
# DER of the named curve P-256 (secp256r1, OID 1.2.840.10045.3.1.7) for CKA_EC_PARAMS.
_P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
_PSS_PARAMS = (Mechanism.SHA256, pkcs11.MGF.SHA256, 32)

_SESSION_LOST = (p11e.SessionHandleInvalid, p11e.SessionClosed, p11e.UserNotLoggedIn,
                 p11e.KeyHandleInvalid, p11e.ObjectHandleInvalid)
_libraries: dict[str, Any] = {}
_sessions: dict[tuple[str, str], _SharedSession] = {}
_registry_lock = threading.Lock()


class _SharedSession:
    """One logged-in session on one token, counted by the signers using it.

    The PIN is kept (never shown) to log in again when the token drops the session (an HSM
    restart, a network HSM's failover); ``generation`` counts the sessions opened so far.
    """

    def __init__(self, token: Any, session: Any, pin: str, pin_digest: bytes) -> None:
        self.token = token
        self.session = session
        self._pin = pin
        self.pin_digest = pin_digest
        self.users = 0
        self.generation = 0
        self.lock = threading.Lock()

    def reopen(self, generation: int) -> None:
        """Open and log in a new session, unless another signer already did (call locked)."""
        if generation != self.generation:
            return
        with contextlib.suppress(p11e.PKCS11Error):
            self.session.close()
        self.session = self.token.open(user_pin=self._pin, rw=True)
        self.generation += 1

    def __repr__(self) -> str:
        return f"_SharedSession(users={self.users}, generation={self.generation})"


def _library(module: str) -> Any:
    # A PKCS#11 module is initialised once per process (C_Initialize), so it is loaded once.
    lib = _libraries.get(module)
    if lib is None:
        try:
            lib = _libraries[module] = pkcs11.lib(module)
        except (p11e.PKCS11Error, OSError, RuntimeError) as exc:
            raise KeyLoadError(f"cannot load the PKCS#11 module {module}: {exc}") from None
    return lib


def _pin_digest(pin: str) -> bytes:
    return hashlib.sha256(b"jwtbearer-pkcs11-pin\0" + pin.encode("utf-8")).digest()


def _acquire(module: str, token_label: str, pin: str, rw: bool = False) -> _SharedSession:
    """The shared logged-in session for this token (opened and logged in on first use)."""
    if not isinstance(pin, str) or not pin:
        raise ConfigurationError("the PKCS#11 user PIN must be a non-empty string (pin=...)")
    digest = _pin_digest(pin)
    with _registry_lock:
        shared = _sessions.get((module, token_label))
        if shared is not None:
            if not hmac.compare_digest(shared.pin_digest, digest):
                raise KeyLoadError(
                    f"wrong PIN for PKCS#11 token {token_label!r}: it differs from the PIN the "
                    "token is already logged in with in this process"
                )
            shared.users += 1
            return shared
        lib = _library(module)
        try:
            token = lib.get_token(token_label=token_label)
        except p11e.NoSuchToken:
            labels = sorted({t.label for t in lib.get_tokens() if t.label})
            raise KeyLoadError(
                f"no PKCS#11 token labelled {token_label!r} in {module} (tokens: "
                f"{', '.join(map(repr, labels)) or 'none'})"
            ) from None
        except p11e.MultipleTokensReturned:
            raise KeyLoadError(f"several PKCS#11 tokens are labelled {token_label!r}") from None
        try:
            # Read-write, so the same session can also create keys (generate_key).
            session = token.open(user_pin=pin, rw=True)
        except (p11e.PinIncorrect, p11e.PinLenRange, p11e.PinInvalid):
            raise KeyLoadError(
                f"wrong PIN for PKCS#11 token {token_label!r} (the user PIN, not the SO PIN)"
            ) from None
        except p11e.PinLocked:
            raise KeyLoadError(f"the PIN of PKCS#11 token {token_label!r} is locked") from None
        except p11e.PKCS11Error as exc:
            raise KeyLoadError(
                f"cannot log in to PKCS#11 token {token_label!r}: {type(exc).__name__}"
            ) from None
        shared = _sessions[(module, token_label)] = _SharedSession(token, session, pin, digest)
        shared.users = 1
        return shared


def _release(module: str, token_label: str, shared: _SharedSession) -> None:
    with _registry_lock:
        shared.users -= 1
        if shared.users > 0 or _sessions.get((module, token_label)) is not shared:
            return
        del _sessions[(module, token_label)]
        with shared.lock:
            shared.session.close()  # logs out: no signer uses this token any more


def _ec_point(der_point: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (04 || X || Y)."""
    if len(der_point) == 67 and der_point[:2] == b"\x04\x41":
        return der_point[2:]
    if len(der_point) == 65 and der_point[0] == 4:  # some modules return the raw point
        return der_point
    raise KeyLoadError("the token's EC public key is not an uncompressed P-256 point")


def _public_key(public: Any) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    if public.key_type == KeyType.RSA:
        n = int.from_bytes(public[Attribute.MODULUS], "big")
        e = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if public.key_type == KeyType.EC:
        if bytes(public[Attribute.EC_PARAMS]) != _P256_PARAMS:
            raise KeyLoadError("only P-256 EC keys are supported on PKCS#11 tokens (ES256)")
        point = _ec_point(bytes(public[Attribute.EC_POINT]))
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    raise KeyLoadError(f"PKCS#11 key type {public.key_type!r} cannot sign JWS (RSA or EC)")


def _find(session: Any, object_class: Any, label: str, token_label: str) -> Any:
    try:
        return session.get_key(object_class=object_class, label=label)
    except p11e.NoSuchKey:
        kind = "private" if object_class == ObjectClass.PRIVATE_KEY else "public"
        raise KeyLoadError(
            f"no {kind} key labelled {label!r} on PKCS#11 token {token_label!r}"
        ) from None
    except p11e.MultipleObjectsReturned:
        raise KeyLoadError(
            f"several keys are labelled {label!r} on PKCS#11 token {token_label!r}"
        ) from None


class Pkcs11Signer(RemoteSigner):
    """A JWS signer whose private key stays on a PKCS#11 token.

    ``module`` is the PKCS#11 library (e.g. ``/usr/lib/softhsm/libsofthsm2.so``),
    ``token_label`` the token's label, ``key_label`` the label of the key pair (``CKA_LABEL``
    of both the private and the public key), ``pin`` the user PIN. ``alg`` defaults to RS256
    for RSA keys and ES256 for P-256 keys; PS256 is chosen with ``alg="PS256"``. ``kid``
    defaults to the public key's RFC 7638 thumbprint. An unknown token or key label, or a
    wrong PIN, is a :class:`~jwtbearer.errors.KeyLoadError` saying which.

    Use it as a context manager, or call :meth:`close`, to release the token's session.
    """

    __slots__ = ("_closed", "_generation", "_key", "_mechanism", "_module", "_shared",
                 "_token_label", "key_label")

    def __init__(
        self,
        module: str,
        token_label: str,
        key_label: str,
        *,
        pin: str,
        alg: str | None = None,
        kid: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        for name, value in (("module", module), ("token_label", token_label),
                            ("key_label", key_label)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{name} must be a non-empty string")
        self._module, self._token_label, self.key_label = str(module), token_label, key_label
        self._closed = True
        shared = _acquire(self._module, token_label, pin)
        self._shared, self._closed = shared, False
        try:
            with shared.lock:
                private = _find(shared.session, ObjectClass.PRIVATE_KEY, key_label, token_label)
                public = _public_key(
                    _find(shared.session, ObjectClass.PUBLIC_KEY, key_label, token_label)
                )
            kty = "RSA" if isinstance(public, rsa.RSAPublicKey) else "EC"
            alg = alg or _ALGS[kty][0]
            if alg not in _ALGS[kty]:
                raise KeyLoadError(
                    f"PKCS#11 key {key_label!r} is {kty}: it signs {' or '.join(_ALGS[kty])}, "
                    f"not {alg}"
                )
            self._key, self._generation = private, shared.generation
            self._mechanism = {
                "RS256": (Mechanism.SHA256_RSA_PKCS, None),
                "PS256": (Mechanism.SHA256_RSA_PKCS_PSS, _PSS_PARAMS),
                "ES256": (Mechanism.ECDSA, None),
            }[alg]
            self._setup(public, alg, kid, certificate)
        except BaseException:
            self.close()
            raise

    def _signature(self, data: bytes) -> bytes:
        """Sign on the token (ES256: SHA-256 here, ``CKM_ECDSA`` there, r||s as returned)."""
        if self._closed:
            raise ConfigurationError(f"{self!r} is closed")
        mechanism, param = self._mechanism
        message = hashlib.sha256(data).digest() if mechanism == Mechanism.ECDSA else data
        shared = self._shared
        try:
            with shared.lock:
                try:
                    if self._generation != shared.generation:
                        self._refind()
                    return bytes(self._key.sign(message, mechanism=mechanism,
                                                mechanism_param=param))
                except _SESSION_LOST:
                    # The token dropped the session: log in again once, find the key, retry.
                    shared.reopen(self._generation)
                    self._refind()
                    return bytes(self._key.sign(message, mechanism=mechanism,
                                                mechanism_param=param))
        except KeyLoadError:
            raise
        except p11e.PKCS11Error as exc:
            raise KeyLoadError(
                f"PKCS#11 token {self._token_label!r} refused to sign with {self.key_label!r}: "
                f"{type(exc).__name__}"
            ) from None

    def _refind(self) -> None:
        """The private key again, in the shared session's current session (called locked)."""
        shared = self._shared
        self._key = _find(shared.session, ObjectClass.PRIVATE_KEY, self.key_label,
                          self._token_label)
        self._generation = shared.generation

    def close(self) -> None:
        """Stop using the token; the last signer on it closes the session and logs out."""
        if not self._closed:
            self._closed = True
            _release(self._module, self._token_label, self._shared)

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Pkcs11Signer(token={self._token_label!r}, key={self.key_label!r}, "
                f"alg={getattr(self, 'alg', None)!r}, kid={getattr(self, 'kid', None)!r})")

    __str__ = __repr__


def generate_key(
    module: str,
    token_label: str,
    key_label: str,
    *,
    pin: str,
    alg: str = "ES256",
    rsa_bits: int = 2048,
) -> Pkcs11Signer:
    """Generate a key pair on the token and return its signer.

    The private key is created on the token as sensitive and non-extractable (``CKA_SENSITIVE``
    true, ``CKA_EXTRACTABLE`` false), allowed to sign only; it can never be read out. A key of
    that label already on the token is an error (labels name keys uniquely here).
    """
    if alg not in ("RS256", "PS256", "ES256"):
        raise ConfigurationError(f"a PKCS#11 key is made for RS256, PS256 or ES256, not {alg!r}")
    shared = _acquire(str(module), token_label, pin)
    try:
        with shared.lock:
            session = shared.session
            if list(session.get_objects({Attribute.LABEL: key_label})):
                raise KeyLoadError(
                    f"PKCS#11 token {token_label!r} already has a key labelled {key_label!r}"
                )
            key_id = hashlib.sha256(key_label.encode()).digest()[:16]
            private_template = {
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.PRIVATE: True,
            }
            options: dict[str, Any] = {
                "label": key_label, "id": key_id, "store": True,
                "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
                "private_template": private_template,
            }
            if alg == "ES256":
                params = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: _P256_PARAMS}, local=True
                )
                params.generate_keypair(**options)
            else:
                session.generate_keypair(KeyType.RSA, rsa_bits, **options)
    finally:
        _release(str(module), token_label, shared)
    return Pkcs11Signer(module, token_label, key_label, pin=pin, alg=alg)
