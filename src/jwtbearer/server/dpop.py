"""Sender-constrained tokens at the reference server: DPoP proofs (RFC 9449) and the binding of
an access token to a DPoP key or a TLS client certificate (RFC 8705 §3).

:class:`ProofChecker` validates one ``DPoP`` header: a compact JWS with ``typ: dpop+jwt``, an
asymmetric ``alg``, a *public* ``jwk`` that verifies the signature, ``htm`` and ``htu`` of this
request, ``iat`` within the window, a ``jti`` never seen before (the replay store), ``ath`` when
an access token goes with it, and a server nonce when one is asked for. Every failure is 400
``invalid_dpop_proof``; a missing or stale nonce is 400 ``use_dpop_nonce`` with a fresh
``DPoP-Nonce`` (§8). Nonces are stateless: an HMAC over a five-minute window, keyed from the
server's signing key, so every worker process accepts the others' nonces.

:class:`Binder` applies the per-client rules around one token request. The token endpoint enters
:meth:`Binder.request` once per request (the proof is checked before anything else), calls
:meth:`Binder.check` once the client is known (before a code or an assertion is used up) and
reads :meth:`Binder.cnf` where the token is signed. The request's state lives in a context
variable, so the endpoint's methods keep their signatures and concurrent requests never mix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from ..jose.dpop import DPOP_ALGS, PROOF_MAX_AGE, InvalidProof, verify_proof
from ..jose.dpop import VerifiedProof as Proof
from ..jose.keys import SigningKey
from .auth import CLIENT_CERT, certificate_thumbprint
from .registry import Client
from .replay import ReplayCache, ReplayCacheUnavailable
from .validation import Refusal

__all__ = ["Binder", "Proof", "ProofChecker", "check_bound_token"]

_NONCE_WINDOW = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _bad(description: str) -> Refusal:
    return Refusal("invalid_dpop_proof", description)


class ProofChecker:
    """Validates DPoP proofs (see the module docstring); ``nonce_key`` keys the nonces."""

    def __init__(self, *, replay: ReplayCache, leeway: int, nonce_key: bytes) -> None:
        self._replay = replay
        self._leeway = leeway
        self._nonce_key = nonce_key

    def nonce(self, now: float) -> str:
        """The current server nonce."""
        window = int(now // _NONCE_WINDOW).to_bytes(8, "big")
        return _b64(window + hmac.new(self._nonce_key, window, "sha256").digest()[:16])

    def _nonce_ok(self, nonce: object, now: float) -> bool:
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        current = int(now // _NONCE_WINDOW)
        return any(hmac.compare_digest(nonce, self.nonce(w * _NONCE_WINDOW))
                   for w in (current, current - 1))

    def verify(self, proof: str, *, htm: str, htu: str, now: float,
               access_token: str | None = None) -> Proof:
        """The proof's key and claims (:func:`jwtbearer.jose.dpop.verify_proof`), or
        ``invalid_dpop_proof`` saying what is wrong. The ``jti`` is used up by :meth:`consume`,
        once the request is accepted."""
        try:
            return verify_proof(proof, htm=htm, htu=htu, now=now, leeway=self._leeway,
                                access_token=access_token)
        except InvalidProof as exc:
            raise _bad(str(exc)) from None

    def require_nonce(self, proof: Proof, now: float) -> None:
        """``use_dpop_nonce`` with a fresh nonce unless the proof carries a current one."""
        if not self._nonce_ok(proof.claims.get("nonce"), now):
            raise Refusal("use_dpop_nonce", "this server requires a DPoP nonce: resend the "
                          "proof with the DPoP-Nonce of this answer (RFC 9449 §8)",
                          headers=(("dpop-nonce", self.nonce(now)),))

    def consume(self, proof: Proof, now: float) -> None:
        """Record the proof's ``jti``; a second use is ``invalid_dpop_proof``."""
        iat = float(proof.claims["iat"])
        try:
            first = self._replay.first_use(f"dpop:{proof.jkt}", str(proof.claims["jti"]),
                                           expires_at=iat + PROOF_MAX_AGE + 2 * self._leeway,
                                           now=now)
        except ReplayCacheUnavailable:
            raise Refusal("temporarily_unavailable", "the replay cache is unavailable",
                          status=503) from None
        if not first:
            raise _bad("this DPoP proof was used before (jti replayed): sign a new proof for "
                       "every request (RFC 9449 §11.1)")


def check_bound_token(claims: Mapping[str, Any], *, proof: Proof | None,
                      certificate_der: bytes | None = None) -> None:
    """A resource server's check of a sender-constrained access token's ``cnf`` (RFC 9449 §7,
    RFC 8705 §3): the proof's key or the TLS client certificate must be the bound one.
    ``invalid_token`` (401) otherwise."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, Mapping):
        return
    jkt = cnf.get("jkt")
    if jkt is not None and (proof is None or not hmac.compare_digest(str(jkt), proof.jkt)):
        raise Refusal("invalid_token", "the access token is bound to another DPoP key "
                      "(cnf.jkt, RFC 9449 §6)", status=401)
    x5t = cnf.get("x5t#S256")
    if x5t is not None and (certificate_der is None or not hmac.compare_digest(
            str(x5t), _b64(hashlib.sha256(certificate_der).digest()))):
        raise Refusal("invalid_token", "the access token is bound to another client "
                      "certificate (cnf x5t#S256, RFC 8705 §3)", status=401)


@dataclass(slots=True)
class _State:
    proof: Proof | None
    certificate: str | None
    now: float


_CURRENT: ContextVar[_State | None] = ContextVar("jwtbearer_binding", default=None)


class Binder:
    """The per-client DPoP and certificate-binding rules of one token endpoint."""

    def __init__(self, *, token_endpoint: str, replay: ReplayCache, leeway: int,
                 signing_key: SigningKey) -> None:
        # Keyed from the signing key, so every worker of one server accepts the same nonces.
        material = (secrets.token_bytes(32) if signing_key.is_symmetric
                    else signing_key.private_pem())
        secret = hashlib.sha256(b"jwtbearer dpop nonce\x00" + material).digest()
        self.checker = ProofChecker(replay=replay, leeway=leeway, nonce_key=secret)
        self._htu = token_endpoint

    @contextmanager
    def request(self, headers: Mapping[str, str], now: float) -> Iterator[None]:
        """The scope of one token request: its proof is checked on entry."""
        header = headers.get("dpop")
        proof = None
        if header is not None:
            proof = self.checker.verify(header.strip(), htm="POST", htu=self._htu, now=now)
        token = _CURRENT.set(_State(proof, headers.get(CLIENT_CERT), now))
        try:
            yield
        finally:
            _CURRENT.reset(token)

    def check(self, client: Client) -> None:
        """The client's rules for this request, before any grant is used up."""
        state = _CURRENT.get()
        if state is None:
            return
        if state.proof is None:
            if client.dpop_bound_access_tokens:
                raise _bad(f"client {client.client_id!r} gets DPoP-bound tokens only: send a "
                           "DPoP proof header (RFC 9449 §5)")
        else:
            if client.dpop_nonce:
                self.checker.require_nonce(state.proof, state.now)
            self.checker.consume(state.proof, state.now)
        if client.tls_client_certificate_bound_access_tokens and state.certificate is None:
            raise Refusal("invalid_request", f"client {client.client_id!r} gets "
                          "certificate-bound tokens only: connect with its TLS client "
                          "certificate (RFC 8705 §3)")

    def cnf(self, client: Client) -> tuple[str, str]:
        """(``token_type``, the ``,"cnf":{...}`` JSON fragment or "") for the token issued."""
        state = _CURRENT.get()
        if state is None:
            return "Bearer", ""
        members = []
        if state.proof is not None:
            members.append(f'"jkt":{_quote(state.proof.jkt)}')
        if state.certificate is not None and (
                client.tls_client_certificate_bound_access_tokens
                or client.token_endpoint_auth_method.endswith("tls_client_auth")):
            members.append(f'"x5t#S256":{_quote(certificate_thumbprint(state.certificate))}')
        token_type = "DPoP" if state.proof is not None else "Bearer"
        return token_type, (',"cnf":{' + ",".join(members) + "}") if members else ""

    @staticmethod
    def metadata() -> dict[str, Any]:
        """RFC 9449 §5.1 and RFC 8705 §3.3 server metadata."""
        return {"dpop_signing_alg_values_supported": list(DPOP_ALGS),
                "tls_client_certificate_bound_access_tokens": True}
