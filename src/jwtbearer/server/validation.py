"""Checks on a JWT assertion, as a client assertion or as an authorization grant.

RFC 7523 §3 lists the claim rules; RFC 8725 the header rules. Every failure raises
:class:`Refusal` naming the check, and nothing here ever fetches a URL a token names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import JWSError
from ..jose.jws import decode_segment as _decode
from ..jose.jws import malformed as _malformed
from ..jose.jws import match_compact as _COMPACT
from ..jose.jws import parse_json_object
from ..jose.jws import verify_split as _verify_segments
from ..jose.keys import VerifyingKey
from ..oauth import MAX_NUMERIC_DATE as _MAX_DATE
from .replay import ReplayCache, ReplayCacheUnavailable

__all__ = ["AssertionPolicy", "ParsedAssertion", "Refusal", "parse_assertion",
           "verify_assertion"]

# Headers that point at keys or certificates elsewhere: never fetched, never trusted, refused
# (RFC 8725 §3.10, and CVE-2018-0114 for an embedded jwk).
_KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")
# Headers of JWE or nested/unencoded forms that a signed assertion never needs.
_OTHER_HEADERS = ("enc", "zip", "cty", "b64", "crit")
# A typ naming another kind of JWT is refused (RFC 8725 §3.11): an access token (at+jwt) or a
# logout token must not pass as an assertion.
_GRANT_TYPS = frozenset({"jwt", "application/jwt"})
_CLIENT_TYPS = _GRANT_TYPS | {"client-authentication+jwt", "application/client-authentication+jwt"}
# Headers that passed, by (encoded header, client assertion?): a client signs every assertion
# with the same header, so it is parsed and vetted once, not on every request. Bounded; a
# stream of distinct headers only costs the parsing it would cost without the cache.
_PASSED: dict[tuple[str, bool], dict[str, Any]] = {}
_PASSED_MAX = 1024


class Refusal(Exception):
    """A request refused with an RFC 6749 §5.2 error code."""

    def __init__(self, error: str, description: str, *, status: int = 400,
                 reason: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        #: What failed, for providers that word it their own way: ``expired``, ``signature``,
        #: ``unapproved``, ``unknown_client`` (None for everything else).
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class AssertionPolicy:
    """The checks' settings (see the ``ServerConfig`` fields of the same names)."""

    audiences: frozenset[str]
    leeway: int
    max_lifetime: int
    max_size: int
    require_jti: bool
    allow_audience_array: bool
    #: A grant assertion without ``sub`` acts for its issuer (Google's service accounts).
    allow_missing_sub: bool = False


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _vet_header(segment: str, header: dict[str, Any], client_assertion: bool, code: str,
                status: int) -> dict[str, Any]:
    """The RFC 8725 header rules; a flat header that passes is remembered by its segment."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise Refusal(code, "assertion alg must name a signature algorithm, not none",
                      status=status)
    for name in _KEY_HEADERS:
        if name in header:
            raise Refusal(
                code,
                f"assertion header {name!r} refused: keys come only from the client's "
                "registration, never from the token (RFC 8725 §3.10)",
                status=status,
            )
    for name in _OTHER_HEADERS:
        if name in header:
            raise Refusal(code, f"assertion header {name!r} is not supported", status=status)
    typ = header.get("typ")
    allowed = _CLIENT_TYPS if client_assertion else _GRANT_TYPS
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in allowed):
        raise Refusal(
            code,
            f"assertion typ {_show(typ)} is not a JWT assertion (RFC 8725 §3.11); send typ JWT",
            status=status,
        )
    if all(not isinstance(v, (dict, list)) for v in header.values()):
        if len(_PASSED) >= _PASSED_MAX:
            _PASSED.clear()
        _PASSED[segment, client_assertion] = header
    return header


class ParsedAssertion:
    """An assertion split once, its header vetted and its claims parsed, NOT yet verified.

    What :func:`parse_assertion` gives and :func:`verify_assertion` takes: the token is split
    and each segment decoded exactly once on the way from the form to the verified claims.
    """

    __slots__ = ("claims", "header_segment", "kid", "payload_segment", "signature_segment",
                 "signing_input")

    def __init__(self, *, header_segment: str, payload_segment: str, signature_segment: str,
                 signing_input: bytes, claims: dict[str, Any], kid: Any = None) -> None:
        self.kid = kid
        self.header_segment = header_segment
        self.payload_segment = payload_segment
        self.signature_segment = signature_segment
        self.signing_input = signing_input
        self.claims = claims

    def __repr__(self) -> str:
        # The signature stays out of logs (it is a bearer credential for its lifetime).
        return f"ParsedAssertion(iss={_show(self.claims.get('iss'))})"


def parse_assertion(token: str, *, client_assertion: bool, max_size: int) -> ParsedAssertion:
    """Split ``token`` once and check what can be checked before any key is touched: the size
    cap, the compact shape, the RFC 8725 header rules (no ``none``, no ``jku``/``x5u``/``jwk``/
    ``x5c``/``crit``, ``typ`` of a JWT assertion), the claims parsed strictly and an ``iss``
    present (RFC 7523 §3 item 1). Nothing is trusted until :func:`verify_assertion`."""
    code, status = ("invalid_client", 401) if client_assertion else ("invalid_grant", 400)
    if len(token) > max_size:
        raise Refusal(
            "invalid_request", f"assertion is {len(token)} bytes, over the {max_size} byte cap"
        )
    match = _COMPACT(token)
    if match is None:
        raise Refusal(code, f"malformed assertion: {_malformed(token)}", status=status)
    header_b64, payload_b64, signature_b64 = match.group(1, 2, 3)
    try:
        header = _PASSED.get((header_b64, client_assertion))
        if header is None:
            header = _vet_header(header_b64,
                                 parse_json_object(_decode(header_b64), "JWS header"),
                                 client_assertion, code, status)
        claims = parse_json_object(_decode(payload_b64), "JWT claims")
    except JWSError as exc:
        raise Refusal(code, f"malformed assertion: {exc}", status=status) from None
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise Refusal(code, "assertion has no iss (RFC 7523 §3 item 1)", status=status)
    return ParsedAssertion(header_segment=header_b64, payload_segment=payload_b64,
                           signature_segment=signature_b64,
                           signing_input=token[: match.end(2)].encode("ascii"), claims=claims,
                           kid=header.get("kid"))


def _number(claims: Mapping[str, Any], name: str, code: str, status: int) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if (type(value) is int or type(value) is float) and -_MAX_DATE <= value <= _MAX_DATE:
        return value  # the common case, first
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refusal(
            code,
            f"{name} must be a NumericDate number of seconds (RFC 7519 §2), not {_show(value)}",
            status=status,
        )
    if -_MAX_DATE <= value <= _MAX_DATE:
        return float(value)
    raise Refusal(code, f"{name} is out of range for a NumericDate (at most 2**53 seconds, "
                  "RFC 7493 §2.2)", status=status)


def verify_assertion(
    parsed: ParsedAssertion,
    *,
    client_id: str,
    keys: Sequence[VerifyingKey],
    policy: AssertionPolicy,
    replay: ReplayCache,
    now: float,
    client_assertion: bool,
    kids: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Verify an assertion :func:`parse_assertion` gave (parsed with ``policy.max_size``) for
    ``client_id`` and return its claims, or raise :class:`Refusal`.

    The token is not split or decoded again: the claims were parsed from exactly the bytes the
    signature covers, and are trusted only once it verifies with the client's registered keys
    and their algorithms. ``iss`` must be the client; ``sub`` present (and the client itself
    for a client assertion, RFC 7523 §3 item 2.B); ``aud`` one of the server's identifiers;
    ``exp`` required and not passed, at most ``max_lifetime`` ahead; ``nbf`` reached; ``iat``
    neither in the future nor older than ``max_lifetime``; ``jti`` used once. Times allow
    ``leeway`` seconds of skew. ``kids`` are the registered keys' ids: when there are any, a
    ``kid`` in the header must be one of them (even when a single key is registered).
    """
    code, status = ("invalid_client", 401) if client_assertion else ("invalid_grant", 400)
    kind = "client assertion" if client_assertion else "assertion"
    if not keys:
        raise Refusal(code, f"client {client_id!r} has no key to verify a {kind}", status=status)
    kid = parsed.kid
    if kids and kid is not None and kid not in kids:
        raise Refusal(code, f"{kind} kid {_show(kid)} names no key registered for client "
                      f"{client_id!r} (registered kids: {', '.join(sorted(kids))})",
                      status=status, reason="signature")
    try:
        _verify_segments(parsed.header_segment, parsed.payload_segment, parsed.signature_segment,
                         parsed.signing_input, keys[0] if len(keys) == 1 else keys)
    except JWSError as exc:
        raise Refusal(code, f"{kind} refused: {exc}", status=status,
                      reason="signature") from None
    return _check_claims(parsed.claims, client_id=client_id, policy=policy, replay=replay,
                         now=now, client_assertion=client_assertion)


def _check_claims(claims: dict[str, Any], *, client_id: str, policy: AssertionPolicy,
                  replay: ReplayCache, now: float, client_assertion: bool) -> dict[str, Any]:
    """RFC 7523 §3 items 1-7 on claims whose signature has verified."""
    code, status = ("invalid_client", 401) if client_assertion else ("invalid_grant", 400)
    kind = "client assertion" if client_assertion else "assertion"
    iss = claims.get("iss")
    if iss != client_id:
        raise Refusal(code, f"{kind} iss {_show(iss)} is not the client {client_id!r}",
                      status=status)
    sub = claims.get("sub")
    if sub is None and not client_assertion and policy.allow_missing_sub:
        pass
    elif not isinstance(sub, str) or not sub:
        raise Refusal(code, f"{kind} has no sub (RFC 7523 §3 item 2)", status=status)
    if client_assertion and sub != client_id:
        raise Refusal(code, "client assertion sub must be the client_id (RFC 7523 §3 item 2.B)",
                      status=status)
    aud = claims.get("aud")
    if isinstance(aud, list) and policy.allow_audience_array:
        matches = any(isinstance(a, str) and a in policy.audiences for a in aud)
    elif isinstance(aud, list):
        raise Refusal(code, f"{kind} aud must be a single string, not an array "
                      "(audience injection; set allow_audience_array to accept one)", status=status)
    else:
        matches = isinstance(aud, str) and aud in policy.audiences
    if not matches:
        expected = ", ".join(sorted(policy.audiences))
        raise Refusal(code, f"{kind} audience {_show(aud)} is not accepted here; accepted: "
                      f"{expected}", status=status)
    leeway = policy.leeway
    exp = _number(claims, "exp", code, status)
    if exp is None:
        raise Refusal(code, f"{kind} has no exp (RFC 7523 §3 item 4)", status=status)
    if exp <= now - leeway:
        raise Refusal(code, f"{kind} expired {int(now - exp)} s ago (exp {int(exp)})",
                      status=status, reason="expired")
    if exp - now > policy.max_lifetime + leeway:
        raise Refusal(code, f"{kind} exp is {int(exp - now)} s ahead, over the "
                      f"{policy.max_lifetime} s maximum lifetime", status=status)
    nbf = _number(claims, "nbf", code, status)
    if nbf is not None and nbf > now + leeway:
        raise Refusal(code, f"{kind} is not valid yet (nbf {int(nbf - now)} s ahead)",
                      status=status)
    iat = _number(claims, "iat", code, status)
    if iat is not None and iat > now + leeway:
        raise Refusal(code, f"{kind} iat is {int(iat - now)} s in the future", status=status)
    if iat is not None and now - iat > policy.max_lifetime + leeway:
        raise Refusal(code, f"{kind} iat is {int(now - iat)} s old, over the "
                      f"{policy.max_lifetime} s maximum lifetime", status=status)
    jti = claims.get("jti")
    if jti is None and policy.require_jti:
        raise Refusal(code, f"{kind} has no jti; a unique jti is required to stop replay",
                      status=status)
    if jti is not None:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise Refusal(code, f"{kind} jti must be a string of 1 to 256 characters",
                          status=status)
        try:
            fresh = replay.first_use(client_id, jti, expires_at=exp + leeway, now=now)
        except ReplayCacheUnavailable as exc:
            raise Refusal("temporarily_unavailable", str(exc), status=503) from None
        if not fresh:
            raise Refusal(code, f"{kind} jti was already used (replay refused)", status=status)
    return claims
