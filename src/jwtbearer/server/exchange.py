"""The token-exchange grant (RFC 8693): a client trades a token it holds for a new access token.

The subject token (and the actor token, when one is sent) is either an access token this server
issued, checked as RFC 9068 §4 says (``typ`` ``at+jwt``, this server's key, ``iss``, ``exp``,
``aud`` this server's issuer), or a JWT of a ``[[trusted_issuers]]`` entry (that issuer's keys,
the configured audience). The new token is the subject's (``sub``), for the requesting client
(``client_id``, §4.3), with an ``act`` claim naming the actor (§4.1; a delegation chain the
subject token already carries is kept, nested). A ``may_act`` claim in the subject token (§4.4)
limits who may act for it. The new token never outlives the subject token, and its scope, when
the subject token has one, stays within it.

Refusals follow RFC 8693 §2.2.2: a malformed request or a subject or actor token that fails a
check is ``invalid_request`` (the RFC's word for both, with a description naming the check), a
target the client is not registered for is ``invalid_target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import JWSError
from ..jose.jws import unverified_claims, verify_compact
from ..jose.keys import VerifyingKey
from ..oauth import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE
from .config import ServerConfig
from .registry import Client
from .targets import scope_for
from .validation import Refusal

__all__ = ["ISSUED_TOKEN_TYPE", "Exchanged", "TokenExchanger"]

#: What the grant issues: an RFC 9068 access token.
ISSUED_TOKEN_TYPE = ACCESS_TOKEN_TYPE
# Token types a subject or actor token may be sent as (RFC 8693 §3): all are JWTs here.
_ACCEPTED_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE)
_OWN_TYPS = frozenset({"at+jwt", "application/at+jwt"})
# JWTs of other kinds that are never a subject or actor token (RFC 8725 §3.11).
_FOREIGN_TYPS = frozenset({"logout+jwt", "secevent+jwt", "dpop+jwt",
                           "client-authentication+jwt", "token-introspection+jwt"})


@dataclass(frozen=True, slots=True)
class Exchanged:
    """What the new token says: its subject, scope and ``act`` claim, and how long it lives."""

    subject: str
    scope: str
    act: dict[str, Any] | None
    lifetime: int


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(description: str) -> Refusal:
    return Refusal("invalid_request", description)


class TokenExchanger:
    """Validates subject and actor tokens and works out the exchanged token's claims."""

    def __init__(self, config: ServerConfig) -> None:
        self._issuer = config.issuer
        self._own_keys: tuple[VerifyingKey, ...] = (config.signing_key.verifying_key(),)
        self._trusted = {t.issuer: t for t in config.trusted_issuers}
        self._leeway = config.leeway
        self._max_size = config.max_assertion_size
        self._lifetime = config.access_token_lifetime

    def exchange(self, client: Client, form: Mapping[str, str], now: float) -> Exchanged:
        """Check the request's tokens and say what the new one carries, or raise Refusal."""
        requested = form.get("requested_token_type")
        if requested is not None and requested != ACCESS_TOKEN_TYPE:
            raise _refuse(f"requested_token_type {requested[:80]!r} is not issued here; only "
                          f"{ACCESS_TOKEN_TYPE} (or leave it out)")
        token = form.get("subject_token")
        if token is None:
            raise _refuse("subject_token is missing (RFC 8693 §2.1)")
        subject = self.validate(token, form.get("subject_token_type"), "subject_token", now)
        actor_token = form.get("actor_token")
        actor_type = form.get("actor_token_type")
        if actor_token is None and actor_type is not None:
            raise _refuse("actor_token_type is sent without actor_token (RFC 8693 §2.1)")
        prior = subject.get("act")
        if prior is not None and not isinstance(prior, dict):
            raise _refuse("subject_token act claim must be a JSON object (RFC 8693 §4.1)")
        act: dict[str, Any] | None = prior
        if actor_token is not None:
            if actor_type is None:
                raise _refuse("actor_token needs actor_token_type (RFC 8693 §2.1)")
            actor = self.validate(actor_token, actor_type, "actor_token", now)
            _may_act(subject.get("may_act"), actor)
            # The current actor outermost, earlier ones nested within (RFC 8693 §4.1).
            act = {"sub": actor["sub"], "iss": actor["iss"]}
            if prior is not None:
                act["act"] = prior
        scope = _exchanged_scope(client, form.get("scope"), subject.get("scope"))
        left = int(subject["exp"] - now)
        return Exchanged(subject=subject["sub"], scope=scope, act=act,
                         lifetime=max(1, min(self._lifetime, left)))

    def validate(self, token: str, token_type: str | None, name: str,
                 now: float) -> dict[str, Any]:
        """The claims of a subject or actor token sent as ``name``, verified, or Refusal."""
        if token_type is None:
            raise _refuse(f"{name}_type is missing (RFC 8693 §2.1)")
        if token_type not in _ACCEPTED_TYPES:
            raise _refuse(f"{name}_type {token_type[:80]!r} is not accepted here; send a JWT as "
                          + " or ".join(_ACCEPTED_TYPES))
        if len(token) > self._max_size:
            raise _refuse(f"{name} is {len(token)} bytes, over the {self._max_size} byte cap")
        try:
            issuer = unverified_claims(token, max_length=self._max_size).get("iss")
        except JWSError as exc:
            raise _refuse(f"{name} is not a JWT: {exc}") from None
        own = issuer == self._issuer
        trusted = None if own or not isinstance(issuer, str) else self._trusted.get(issuer)
        if not own and trusted is None:
            raise _refuse(f"{name} iss {_show(issuer)} is neither this server nor a trusted "
                          "issuer; add a [[trusted_issuers]] table for it")
        keys = self._own_keys if trusted is None else trusted.keys
        audience = self._issuer if trusted is None else trusted.audience
        try:
            verified = verify_compact(token, list(keys), max_length=self._max_size)
            claims = verified.claims()
        except JWSError as exc:
            raise _refuse(f"{name} refused: {exc}") from None
        typ = verified.header.get("typ")
        typ = typ.lower() if isinstance(typ, str) else typ
        if own and typ not in _OWN_TYPS:
            raise _refuse(f"{name} from this server must be an access token, typ at+jwt "
                          f"(RFC 9068 §4), not {_show(verified.header.get('typ'))}")
        if typ in _FOREIGN_TYPS or (typ is not None and not isinstance(typ, str)):
            raise _refuse(f"{name} typ {_show(verified.header.get('typ'))} is not a token to "
                          "exchange (RFC 8725 §3.11)")
        if claims.get("iss") != issuer:
            raise _refuse(f"{name} iss changed between readings")  # cannot happen: same bytes
        self._check_times(claims, name, now)
        aud = claims.get("aud")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise _refuse(f"{name} aud {_show(aud)} is not {audience!r}; ask its issuer for a "
                          "token addressed to this server")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _refuse(f"{name} has no sub")
        return claims

    def _check_times(self, claims: Mapping[str, Any], name: str, now: float) -> None:
        leeway = self._leeway
        exp: Any = claims.get("exp")
        if not _is_number(exp):
            raise _refuse(f"{name} needs exp, a NumericDate (RFC 9068 §2.2)")
        if exp <= now - leeway:
            raise _refuse(f"{name} expired {int(now - exp)} s ago")
        for claim in ("nbf", "iat"):
            value: Any = claims.get(claim)
            if value is None:
                continue
            if not _is_number(value):
                raise _refuse(f"{name} {claim} must be a NumericDate (RFC 7519 §2)")
            if value > now + leeway:
                raise _refuse(f"{name} {claim} is {int(value - now)} s in the future")


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and abs(value) <= 2**53


def _may_act(may_act: Any, actor: Mapping[str, Any]) -> None:
    """RFC 8693 §4.4: when the subject token names who may act for it, the actor must match."""
    if may_act is None:
        return
    if not isinstance(may_act, dict) or not may_act:
        raise _refuse("subject_token may_act claim must be a JSON object (RFC 8693 §4.4)")
    for claim, wanted in may_act.items():
        if actor.get(claim) != wanted:
            raise _refuse(f"actor_token {claim} {_show(actor.get(claim))} is not the one the "
                          "subject token's may_act allows (RFC 8693 §4.4)")


def _exchanged_scope(client: Client, requested: str | None, held: Any) -> str:
    """The requested scope, registered for the client and within the subject token's scope;
    without a request, the subject token's scope the client is registered for."""
    held_scopes = held.split(" ") if isinstance(held, str) else None
    if requested is None:
        if held_scopes is None:
            return ""
        return " ".join(s for s in dict.fromkeys(held_scopes) if s in client.scopes)
    scope = scope_for(client, requested)
    if held_scopes is not None:
        beyond = [s for s in scope.split(" ") if s not in held_scopes]
        if beyond:
            raise Refusal("invalid_scope", f"scope {beyond[0][:80]!r} is beyond the subject "
                          "token's scope; an exchange may narrow it, never widen it")
    return scope
