"""The rules :func:`jwtbearer.diagnose.inspect_assertion` applies to an assertion.

Each rule reads the decoded, UNTRUSTED header or claims and returns :class:`Finding` values:
what a token endpoint would object to (RFC 7519 §4.1, RFC 7523 §3, RFC 8725) and how to fix it.
:func:`check_header` looks at the algorithm and header parameters, :func:`check_times` at
exp, iat, nbf and jti, :func:`check_identity` at iss, sub and aud. :func:`duration` and
:func:`numeric_date` are the formatters the findings and the CLI share.
``jwtbearer.diagnose`` re-exports every public name here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from ..jose.keys import ALGORITHMS
from ..oauth import MS_THRESHOLD as _MS_THRESHOLD

__all__ = [
    "COMMON_MAX_LIFETIME",
    "SALESFORCE_MAX_LIFETIME",
    "SKEW",
    "Finding",
    "Level",
    "check_header",
    "check_identity",
    "check_times",
    "duration",
    "numeric_date",
]

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One observation about an assertion: ``level`` error (a server will refuse it), warning
    (some servers will) or info; ``code`` is stable (e.g. ``exp-milliseconds``)."""

    level: Level
    code: str
    message: str
    fix: str | None = None


#: Lifetime above which Salesforce refuses an assertion (its rule is 3 minutes, plus skew).
SALESFORCE_MAX_LIFETIME = 300
#: Lifetime above which Okta, PingOne, Google and the reference server refuse an assertion.
COMMON_MAX_LIFETIME = 3600
#: Clock skew tolerated before a time in the future is an error rather than a warning.
SKEW = 60
#: Lifetimes servers refuse, longest first: limit, level, code, who refuses, fix.
_LIFETIME_LIMITS: tuple[tuple[int, Level, str, str, str], ...] = (
    (COMMON_MAX_LIFETIME, "error", "exp-too-far",
     "Okta, PingOne, Google and strict servers refuse more than 60 minutes",
     "Use a lifetime of a few minutes (300 s)."),
    (SALESFORCE_MAX_LIFETIME, "warning", "exp-far",
     "Salesforce wants exp within 3 minutes (it tolerates about 5 with skew)",
     "Use a lifetime of at most 300 s for Salesforce."),
)
#: What a missing claim means (RFC 7523 §3 requires iss, sub, aud and exp; servers want more):
#: level, message, fix. The finding's code is ``<claim>-missing``.
_MISSING: dict[str, tuple[Level, str, str]] = {
    "iss": ("error", "no iss (RFC 7523 §3)",
            "Set iss to the client id (Salesforce: the consumer key)."),
    "sub": ("warning", "no sub: the JWT bearer grant needs the user (Salesforce: the username); "
            "a client assertion needs sub = iss = client id", "Set sub."),
    "aud": ("error", "no aud (RFC 7523 §3)", "Set aud to the token endpoint URL or the server's "
            "issuer (Salesforce: https://login.salesforce.com)."),
    "exp": ("error", "no exp: RFC 7523 §3 requires an expiry", "Set exp = now + 300 (seconds)."),
    "iat": ("info", "no iat: optional in RFC 7523, but Google and Keycloak require it",
            "Add iat = now."),
    "jti": ("warning", "no jti: servers with a replay cache (Okta, PingOne, the reference "
            "server) require a unique id", "Add jti = a fresh random string per assertion."),
}
_UNSAFE_HEADERS = {
    "jku": "a URL to fetch keys from",
    "x5u": "a URL to fetch a certificate from",
    "jwk": "an embedded public key",
    "x5c": "an embedded certificate chain",
}


def check_header(header: Mapping[str, Any], signature: bytes) -> list[Finding]:
    """The algorithm and header parameters servers refuse or need (RFC 7515 §4.1, RFC 8725 §3)."""
    out: list[Finding] = []
    alg = header.get("alg")
    if not isinstance(alg, str):
        out.append(Finding(level="error", code="alg-missing", message="the header has no alg",
                           fix="Sign with RS256 (Salesforce, Google) or the key's algorithm."))
    elif alg.lower() == "none" or not signature:
        out.append(Finding(
            level="error", code="alg-none",
            message="the assertion is unsigned (alg none or an empty signature)",
            fix="Every server refuses unsigned assertions (RFC 8725 §3.2); sign it.",
        ))
    elif alg.startswith("HS"):
        out.append(Finding(
            level="warning", code="alg-hmac",
            message=f"{alg} is an HMAC over a shared secret: only client_secret_jwt uses it",
            fix="A JWT bearer grant or private_key_jwt needs an asymmetric key (RS256/ES256): "
            "the server holds only the public key or certificate.",
        ))
    elif alg not in ALGORITHMS:
        out.append(Finding(level="error", code="alg-unknown", message=f"unknown alg {alg!r}",
                           fix="Use RS256, PS256, ES256 or EdDSA."))
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ("jwt", "jose")):
        out.append(Finding(
            level="warning", code="typ-unexpected",
            message=f"typ {typ!r} names another kind of JWT; strict servers refuse it",
            fix='Use typ "JWT" or leave it out (RFC 8725 §3.11).',
        ))
    if "crit" in header:
        out.append(Finding(
            level="error", code="header-crit",
            message=f"crit {header['crit']!r}: servers that do not know these extensions "
            "must refuse the JWS (RFC 7515 §4.1.11)", fix="Remove the crit header.",
        ))
    for name, what in _UNSAFE_HEADERS.items():
        if name in header:
            out.append(Finding(
                level="warning", code=f"header-{name}",
                message=f"the header carries {name} ({what}); servers never trust keys named "
                "by the token itself and strict ones refuse it (RFC 8725 §3.10)",
                fix=f"Remove {name}: the server verifies with the key registered for the client.",
            ))
    if "kid" not in header and not str(alg).startswith("HS"):
        out.append(Finding(
            level="info", code="kid-missing",
            message="no kid: fine where one key is registered (Salesforce, Google with its "
            "own key id); servers holding a JWK Set for the client (Okta, PingOne) need it",
            fix="Set kid to the key's id in the uploaded JWKS (jwtbearer keys show NAME).",
        ))
    return out


def check_times(claims: Mapping[str, Any], now: float) -> list[Finding]:
    """exp, iat and nbf against ``now`` (RFC 7519 §4.1.4-6, RFC 7523 §3 items 4-6), and jti
    (RFC 7519 §4.1.7), which servers with a replay cache require."""
    out: list[Finding] = []
    exp, found = _time_value(claims, "exp")
    out += found
    iat, found = _time_value(claims, "iat")
    out += found
    nbf, found = _time_value(claims, "nbf")
    out += found
    if "exp" not in claims:
        out.append(_missing("exp"))
    if exp is not None and "exp-milliseconds" not in {f.code for f in out}:
        left = exp - now
        if left <= 0:
            out.append(Finding(
                level="error", code="exp-expired",
                message=f"expired {duration(-left)} ago",
                fix="Sign a fresh assertion right before each token request; check the clock.",
            ))
        else:
            # Longest limit first, so the most serious finding is the one reported.
            for limit, level, code, rule, fix in _LIFETIME_LIMITS:
                if left > limit:
                    out.append(Finding(level=level, code=code, fix=fix,
                                       message=f"exp is {duration(left)} away: {rule}"))
                    break
    if "iat" not in claims:
        out.append(_missing("iat"))
    elif iat is not None and "iat-milliseconds" not in {f.code for f in out}:
        if iat > now + SKEW:
            out.append(Finding(level="error", code="iat-future",
                               message=f"iat is {duration(iat - now)} in the future",
                               fix="Check this machine's clock (NTP); use iat = now."))
        elif iat > now:
            out.append(Finding(level="warning", code="iat-future",
                               message=f"iat is {duration(iat - now)} ahead of now",
                               fix="A clock running fast; servers allow little skew."))
        elif now - iat > COMMON_MAX_LIFETIME:
            out.append(Finding(level="warning", code="iat-old",
                               message=f"iat is {duration(now - iat)} old; servers refuse "
                               "assertions issued long ago", fix="Sign a fresh assertion."))
    if nbf is not None and "nbf-milliseconds" not in {f.code for f in out} and nbf > now:
        out.append(Finding(level="error" if nbf > now + SKEW else "warning", code="nbf-future",
                           message=f"nbf is {duration(nbf - now)} in the future: not valid yet",
                           fix="Set nbf = now - 30 (or leave it out); check the clock."))
    if "jti" not in claims:
        out.append(_missing("jti"))
    elif not isinstance(claims["jti"], str) or not claims["jti"]:
        out.append(Finding(level="error", code="jti-not-string",
                           message="jti must be a non-empty string (RFC 7519 §4.1.7)",
                           fix="Use a random string such as secrets.token_urlsafe(16)."))
    return out


def _time_value(claims: Mapping[str, Any], name: str) -> tuple[float | None, list[Finding]]:
    """The claim as a number, with findings for a wrong type or milliseconds."""
    if name not in claims:
        return None, []
    value = claims[name]
    if isinstance(value, str):
        return None, [Finding(
            level="error", code=f"{name}-string",
            message=f"{name} is a string ({value!r}); NumericDate is a JSON number (RFC 7519 §2)",
            fix=f"Send {name} as an integer number of seconds, without quotes.",
        )]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, [Finding(level="error", code=f"{name}-not-number",
                              message=f"{name} is not a number ({type(value).__name__})",
                              fix=f"Send {name} as integer seconds since 1970.")]
    out: list[Finding] = []
    if isinstance(value, float) and not value.is_integer():
        out.append(Finding(
            level="warning", code=f"{name}-float",
            message=f"{name} has a fraction ({value}); some servers (Salesforce) refuse it",
            fix=f"Send {name} as whole seconds: int(time.time()).",
        ))
    if abs(value) >= _MS_THRESHOLD:
        out.append(Finding(
            level="error", code=f"{name}-milliseconds",
            message=f"{name} = {value} looks like milliseconds; NumericDate is seconds",
            fix=f"Divide by 1000: {name} = int(time.time()) + ..., not Date.now() or "
            "System.currentTimeMillis().",
        ))
    return numeric_date(value), out


def check_identity(claims: Mapping[str, Any], expected: str | None) -> list[Finding]:
    """iss, sub and aud (RFC 7523 §3 items 1-3); aud is compared with ``expected`` when given."""
    out: list[Finding] = []
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        out.append(_missing("iss"))
    if "sub" not in claims:
        out.append(_missing("sub"))
    aud = claims.get("aud")
    if aud is None:
        out.append(_missing("aud"))
        return out
    if isinstance(aud, list):
        out.append(Finding(
            level="warning", code="aud-array",
            message="aud is an array; many servers want one string and strict ones refuse "
            "arrays (audience injection, draft-ietf-oauth-rfc7523bis)",
            fix="Send aud as a single string.",
        ))
        values = [a for a in aud if isinstance(a, str)]
    elif isinstance(aud, str):
        values = [aud]
    else:
        out.append(Finding(level="error", code="aud-not-string",
                           message="aud must be a string", fix="Send aud as a URL string."))
        return out
    if expected and not any(_audience_matches(v, expected) for v in values):
        host = (urlsplit(expected).hostname or "").lower()
        fix = f"Set aud to {expected!r} or the server's issuer."
        if host.endswith(("salesforce.com", "force.com")):
            fix = ("Salesforce wants aud = https://login.salesforce.com (production), "
                   "https://test.salesforce.com (sandbox) or the Experience Cloud site URL.")
        out.append(Finding(level="error", code="aud-mismatch",
                           message=f"aud {aud!r} does not match {expected!r}", fix=fix))
    return out


def _missing(claim: str) -> Finding:
    level, message, fix = _MISSING[claim]
    return Finding(level=level, code=f"{claim}-missing", message=message, fix=fix)


def _audience_matches(aud: str, expected: str) -> bool:
    """aud is the expected URL, or an issuer whose URL is a prefix of it (RFC 7523 §3 item 3)."""
    a, e = _norm(aud), _norm(expected)
    return a == e or e.startswith(a + "/") or a.startswith(e + "/")


def _norm(url: str) -> str:
    return url.strip().rstrip("/").lower()


def duration(seconds: float) -> str:
    """Seconds, of either sign, as a short human duration: ``45 s``, ``4 min 59 s``, ``5 min``,
    ``2 h 5 min``, ``3 days``. The one formatter for the findings and the CLI's time columns."""
    s = int(abs(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    if s < 172800:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
    return f"{s // 86400} days"


def numeric_date(value: Any) -> float | None:
    """A time claim as epoch seconds (RFC 7519 §2 NumericDate), or None when it is not a JSON
    number; a value that can only be milliseconds is divided by 1000, as the
    ``*-milliseconds`` findings assume."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value / 1000.0 if abs(value) >= _MS_THRESHOLD else float(value)
