"""The checks of an incoming JWT, shared by :class:`JWTValidator` and :class:`JWTUtil`.

Header rules first (RFC 8725 §3.1, §3.10-§3.11), then the signature, then the claims (RFC 7519
§4.1, RFC 9068 §4). Each refusal is an :class:`~jwtbearer.errors.InvalidToken` subclass that
names the claim and both values; values that came from the token are shortened.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidIssuer,
    InvalidSignature,
    InvalidTokenType,
    JWSError,
    MalformedToken,
    MissingClaim,
    TokenNotYetValid,
)
from ..jose.jws import (
    checked_header,
    compact_text,
    decode_segment,
    malformed,
    match_compact,
    parse_json_object,
)
from ..jose.keys import VerifyingKey

__all__ = ["ValidatedJWT"]

_KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")
# JWSError texts of checked_header that refuse a well-formed header (not a malformed one).
_REFUSED_WORDS = ("is never accepted", "not a supported JWS algorithm", "crit header",
                  "b64 header")


def show(value: object) -> str:
    """A token-supplied value, fit for a message: its repr, at most 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatedJWT:
    """A JWT whose signature and claims were checked: its ``header``, ``claims`` and the ``key``
    that verified it. The token itself is not kept (it is a bearer credential)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    key: VerifyingKey = field(repr=False)

    @property
    def issuer(self) -> str | None:
        """``iss``."""
        value = self.claims.get("iss")
        return value if isinstance(value, str) else None

    @property
    def subject(self) -> str | None:
        """``sub``: the user, or the client for a client-credentials token (RFC 9068 §2.2)."""
        value = self.claims.get("sub")
        return value if isinstance(value, str) else None

    @property
    def scopes(self) -> frozenset[str]:
        """The ``scope`` claim split on spaces (RFC 9068 §2.2.3), or an ``scp`` array."""
        scope = self.claims.get("scope")
        if isinstance(scope, str):
            return frozenset(scope.split())
        scp = self.claims.get("scp")
        if isinstance(scp, list):
            return frozenset(s for s in scp if isinstance(s, str))
        return frozenset()


@dataclass(frozen=True, slots=True)
class Split:
    """A token split once: segments and signing input (for ``verify_split``)."""

    header: dict[str, Any]
    header_b64: str
    payload_b64: str
    signature_b64: str
    signing_input: bytes


def split(token: object, max_length: int) -> Split:
    """Split and vet the header; MalformedToken or InvalidSignature for a refused header."""
    try:
        if type(token) is not str or len(token) > max_length:
            token = compact_text(token, max_length)
        match = match_compact(token)
        if match is None:
            raise malformed(token)
        header_b64, payload_b64, signature_b64 = match.group(1, 2, 3)
        header = checked_header(header_b64)
    except JWSError as exc:
        message = str(exc)
        kind = InvalidSignature if any(w in message for w in _REFUSED_WORDS) else MalformedToken
        claim = "alg" if kind is InvalidSignature and "alg" in message else None
        raise kind(message, claim=claim) from None
    for name in _KEY_HEADERS:
        if name in header:
            raise InvalidSignature(
                f"header {name!r} refused: keys come from the issuer's JWKS or the configured "
                "keys, never from the token (RFC 8725 §3.10)", claim=name,
            )
    return Split(header, header_b64, payload_b64, signature_b64,
                 token[: match.end(2)].encode("ascii"))


def payload(parts: Split) -> dict[str, Any]:
    try:
        return parse_json_object(decode_segment(parts.payload_b64), "JWT claims")
    except JWSError as exc:
        raise MalformedToken(str(exc)) from None


def check_typ(header: Mapping[str, Any], typ: str) -> None:
    """RFC 9068 §4: ``typ`` must be ``at+jwt`` (or ``application/at+jwt``), compared without
    case; in general, the media type asked for (RFC 8725 §3.11)."""
    actual = header.get("typ")
    wanted = typ.lower().removeprefix("application/")
    if not isinstance(actual, str) or actual.lower().removeprefix("application/") != wanted:
        raise InvalidTokenType(
            f"typ header is {show(actual)}, expected {typ!r} (RFC 8725 §3.11: a token of "
            "another kind is refused)", claim="typ", expected=typ, actual=actual,
        )


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedToken(f"{name} is {show(value)}, not a NumericDate (RFC 7519 §2)",
                             claim=name, expected="NumericDate", actual=value)
    return float(value)


def check_times(claims: Mapping[str, Any], *, now: float, leeway: float,
                required: Sequence[str] = ()) -> None:
    """``exp``, ``nbf``, ``iat`` against ``now`` with ``leeway`` seconds, and required claims."""
    for name in required:
        if name not in claims:
            raise MissingClaim(f"required claim {name!r} is missing", claim=name,
                               expected="present", actual=None)
    exp = _numeric(claims, "exp")
    if exp is not None and now - leeway >= exp:
        raise ExpiredToken(
            f"token expired: exp {exp:.0f} ({when(exp)}) is before now {now:.0f} ({when(now)}) "
            f"minus the {leeway:g} s leeway", claim="exp", expected=f"> {now - leeway:.0f}",
            actual=claims["exp"],
        )
    nbf = _numeric(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise TokenNotYetValid(
            f"token not valid yet: nbf {nbf:.0f} ({when(nbf)}) is after now {now:.0f} "
            f"({when(now)}) plus the {leeway:g} s leeway (check the clocks)", claim="nbf",
            expected=f"<= {now + leeway:.0f}", actual=claims["nbf"],
        )
    iat = _numeric(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise TokenNotYetValid(
            f"token issued in the future: iat {iat:.0f} ({when(iat)}) is after now {now:.0f} "
            f"plus the {leeway:g} s leeway (check the clocks)", claim="iat",
            expected=f"<= {now + leeway:.0f}", actual=claims["iat"],
        )


def check_issuer(claims: Mapping[str, Any], issuer: str, also: str | None = None) -> None:
    """``iss`` must be ``issuer`` (or ``also``: the spelling the issuer's metadata uses)."""
    actual = claims.get("iss")
    if actual != issuer and (also is None or actual != also):
        if actual is None:
            raise MissingClaim(f"iss is missing; expected {issuer!r}", claim="iss",
                               expected=issuer, actual=None)
        raise InvalidIssuer(f"iss is {show(actual)}, expected {issuer!r}", claim="iss",
                            expected=issuer, actual=actual)


def check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    """``aud`` is a string or an array; one of its values must be expected (RFC 7519 §4.1.3)."""
    actual = claims.get("aud")
    if isinstance(actual, str):
        if actual in audiences:
            return
    elif isinstance(actual, list):
        if any(isinstance(a, str) and a in audiences for a in actual):
            return
    elif actual is None:
        raise MissingClaim(f"aud is missing; expected {_expected(audiences)}", claim="aud",
                           expected=_expected(audiences), actual=None)
    raise InvalidAudience(f"aud is {show(actual)}, expected {_expected(audiences)}",
                          claim="aud", expected=_expected(audiences), actual=actual)


def _expected(audiences: frozenset[str]) -> str:
    ordered = sorted(audiences)
    return repr(ordered[0]) if len(ordered) == 1 else "one of " + ", ".join(map(repr, ordered))
