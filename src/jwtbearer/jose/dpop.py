"""DPoP proofs (RFC 9449 §4): the client's proof of possession, built with no I/O.

:class:`DPoP` holds one key pair and makes a proof JWT for each HTTP request: header ``typ:
dpop+jwt``, the key's ``alg`` and its *public* ``jwk``; claims ``jti`` (fresh), ``htm``, ``htu``
(the URL without query and fragment, §4.2), ``iat``, and ``ath`` (the access token's SHA-256,
§4.2) or ``nonce`` (§8) when asked. It remembers the last ``DPoP-Nonce`` each server (origin)
sent, so later proofs to that server carry it. The token client, ``CachedSource`` and
``BearerAuth`` all use the same object: the binding is this key's RFC 7638 thumbprint
(:attr:`DPoP.jkt`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError, JWSError, KeyLoadError
from ._b64 import b64url_decode, b64url_encode
from .jws import parse_json_object, verify_compact
from .keys import SigningKey, VerifyingKey
from .signer import Signer, checked_signer

__all__ = ["DPOP_ALGS", "PROOF_MAX_AGE", "DPoP", "DPoPKey", "InvalidProof", "VerifiedProof",
           "access_token_hash", "htu_of", "jwk_thumbprint", "verify_proof"]

#: Asymmetric JWS algorithms a proof may use (RFC 9449 §4.2: never ``none`` nor a MAC).
DPOP_ALGS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
             "EdDSA")
#: How old a proof may be (plus the leeway); RFC 9449 §11.1 asks for a short window.
PROOF_MAX_AGE = 60
_MAX_PROOF = 8 * 1024
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


#: What signs proofs: a :class:`SigningKey`, or any :class:`~jwtbearer.Signer` (an HSM, KMS).
DPoPKey = Signer


def htu_of(url: str) -> str:
    """``url`` as a proof's ``htu``: no query, no fragment, scheme and host in lower case and
    the default port left out (RFC 9449 §4.2, RFC 3986 §6.2.2-§6.2.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("https", 443), ("http", 80)) \
        else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def origin_of(url: str) -> str:
    """The server a nonce belongs to: scheme, host and port."""
    parts = urlsplit(htu_of(url))
    return f"{parts.scheme}://{parts.netloc}"


def access_token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url SHA-256 of the access token's ASCII bytes."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def public_members(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """``jwk`` without private members; refuses one that has any (RFC 9449 §4.2)."""
    private = sorted(_PRIVATE_MEMBERS & set(jwk))
    if private:
        raise ConfigurationError(
            f"the DPoP jwk holds private key members ({', '.join(private)}); a proof carries "
            "the public key only"
        )
    return dict(jwk)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK (the ``jkt`` of RFC 9449 §6)."""
    return VerifyingKey.from_jwk(dict(jwk)).thumbprint()


class DPoP:
    """A DPoP key and the proofs it signs (RFC 9449); pass it as ``TokenClient(dpop=...)``.

    ``key`` defaults to a fresh ES256 key pair that lives as long as this object; give a
    :class:`SigningKey` or any :class:`~jwtbearer.Signer` (PKCS#11, KMS) to keep the binding
    across restarts. ``repr()`` shows the thumbprint, never key material.
    """

    __slots__ = ("_jwk", "_lock", "_nonces", "jkt", "key")

    def __init__(self, key: DPoPKey | None = None) -> None:
        if key is None:
            key = SigningKey.generate("ES256")
        if isinstance(key, SigningKey) and key.is_symmetric:
            raise ConfigurationError("a DPoP proof is signed with an asymmetric key, not a "
                                     "shared secret (RFC 9449 §4.2)")
        signer = checked_signer(key)
        if signer is None:
            raise ConfigurationError(
                "DPoP key must be a SigningKey or a Signer (alg, kid, public_jwk(), sign())"
            )
        key = signer
        if key.alg not in DPOP_ALGS:
            raise ConfigurationError(
                f"a DPoP proof is signed with an asymmetric key ({', '.join(DPOP_ALGS)}), not "
                f"{key.alg} (RFC 9449 §4.2)"
            )
        jwk = {k: v for k, v in key.public_jwk().items() if k not in ("use", "key_ops", "kid")}
        self.key = key
        self._jwk = public_members(jwk)
        self.jkt = jwk_thumbprint(jwk)
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def alg(self) -> str:
        """The proofs' JWS algorithm (for ``dpop_signing_alg_values_supported``)."""
        return self.key.alg

    def proof(self, htm: str, htu: str, *, access_token: str | None = None,
              nonce: str | None = None, now: float | None = None) -> str:
        """A fresh proof for ``htm htu``; ``nonce`` defaults to the one the server last sent."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16), "htm": htm.upper(), "htu": htu_of(htu),
            "iat": int(time.time() if now is None else now),
        }
        if nonce is None:
            nonce = self.nonce_for(htu)
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        header = {"typ": "dpop+jwt", "alg": self.key.alg, "jwk": self._jwk}
        signing_input = (b64url_encode(_DUMPS(header).encode("ascii")) + "."
                         + b64url_encode(_DUMPS(claims).encode("ascii")))
        signature = self.key.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url_encode(signature)}"

    def nonce_for(self, url: str) -> str | None:
        """The nonce the server at ``url`` sent last, or None."""
        return self._nonces.get(origin_of(url))

    def remember(self, url: str, headers: Mapping[str, str]) -> str | None:
        """Keep the ``DPoP-Nonce`` of an answer from ``url``; returns it when it is new."""
        nonce = headers.get("dpop-nonce")
        if not nonce or len(nonce) > 512:
            return None
        origin = origin_of(url)
        with self._lock:
            if self._nonces.get(origin) == nonce:
                return None
            self._nonces[origin] = nonce
            if len(self._nonces) > 256:  # bounded: the oldest server is forgotten
                self._nonces.pop(next(iter(self._nonces)))
        return nonce

    def __repr__(self) -> str:
        return f"DPoP(alg={self.key.alg!r}, jkt={self.jkt!r})"


class InvalidProof(JWSError):
    """A DPoP proof is refused (RFC 9449 §4.3); the message says which check failed."""


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """A proof that passed :func:`verify_proof`: its key's thumbprint and its claims."""

    jkt: str
    claims: Mapping[str, Any]


def verify_proof(proof: object, *, htm: str, htu: str, now: float, leeway: float = 30,
                 access_token: str | None = None) -> VerifiedProof:
    """Check a ``DPoP`` header (RFC 9449 §4.3): a compact JWS with ``typ: dpop+jwt``, an
    asymmetric ``alg``, a *public* ``jwk`` that verifies the signature, ``htm`` and ``htu`` of
    this request, ``iat`` within :data:`PROOF_MAX_AGE` plus ``leeway``, a ``jti``, and ``ath``
    when ``access_token`` is given. The ``jti`` replay check and nonces are the caller's."""
    if not isinstance(proof, str) or len(proof) > _MAX_PROOF or proof.count(".") != 2:
        raise InvalidProof("the DPoP header is not a compact JWS (RFC 9449 §4.2)")
    try:
        header = parse_json_object(b64url_decode(proof.split(".", 1)[0]), "DPoP header")
    except JWSError as exc:
        raise InvalidProof(f"the DPoP proof header is unreadable: {exc}") from None
    if header.get("typ") != "dpop+jwt":
        raise InvalidProof("the DPoP proof must have typ dpop+jwt (RFC 9449 §4.2)")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise InvalidProof(f"the DPoP proof alg must be one of {', '.join(DPOP_ALGS)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidProof("the DPoP proof needs the public key in its jwk header (RFC 9449 §4.2)")
    try:
        key = VerifyingKey.from_jwk(public_members(jwk), alg=alg)
    except ConfigurationError:
        raise InvalidProof("the DPoP proof's jwk holds a private key: send the public key only "
                           "(RFC 9449 §4.2)") from None
    except KeyLoadError as exc:
        raise InvalidProof(f"the DPoP proof's jwk is not a usable public key: {exc}") from None
    try:
        claims = verify_compact(proof, key, max_length=_MAX_PROOF).claims()
    except JWSError as exc:
        raise InvalidProof(f"the DPoP proof does not verify with its own jwk: {exc}") from None
    _check_claims(claims, htm, htu, now, leeway, access_token)
    return VerifiedProof(jkt=key.thumbprint(), claims=claims)


def _check_claims(claims: Mapping[str, Any], htm: str, htu: str, now: float, leeway: float,
                  access_token: str | None) -> None:
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidProof("the DPoP proof needs a jti (RFC 9449 §4.2)")
    if claims.get("htm") != htm:
        raise InvalidProof(f"the DPoP proof is for method {str(claims.get('htm'))[:16]!r}, not "
                           f"{htm} (htm, RFC 9449 §4.3)")
    sent_htu = claims.get("htu")
    if not isinstance(sent_htu, str) or htu_of(sent_htu) != htu_of(htu):
        raise InvalidProof(f"the DPoP proof is for {str(sent_htu)[:120]!r}, not {htu_of(htu)} "
                           "(htu, RFC 9449 §4.3)")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise InvalidProof("the DPoP proof needs iat, a NumericDate")
    if not now - PROOF_MAX_AGE - leeway <= iat <= now + leeway:
        raise InvalidProof(f"the DPoP proof's iat is {int(now - iat)} s off this clock; a proof "
                           f"is good for {PROOF_MAX_AGE} s (check the client's clock)")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidProof("the DPoP proof's ath is not the hash of this access token "
                           "(RFC 9449 §4.3)")
