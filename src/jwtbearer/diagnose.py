"""Diagnostics: lint a JWT assertion, and explain what a token endpoint's error means.

:func:`inspect_assertion` decodes an assertion WITHOUT trusting it and lists what a token
endpoint would object to (RFC 7519 §4.1, RFC 7523 §3, RFC 8725), verifying the signature only
when a key is given. :func:`explain_error` turns an error answer (RFC 6749 §5.2) into what it
means, why it usually happens and what to check, recognising the wording of Salesforce, Okta,
Microsoft Entra ID (Azure AD), Auth0, PingOne and Google from :data:`KNOWN_ERRORS` (the table
lives in ``jwtbearer._known_errors`` and is re-exported here).

Neither function raises anything but a :class:`~jwtbearer.errors.JWTBearerError`; input that is
not a JWT gives a report that says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from ._known_errors import AAD, AADSTS_CODE, GENERIC_BY_CODE, KNOWN_ERRORS, KnownError, find_known

# The provider names stay importable from here, where they were first defined.
from ._known_errors import AUTH0 as AUTH0
from ._known_errors import GOOGLE as GOOGLE
from ._known_errors import OKTA as OKTA
from ._known_errors import PING as PING
from ._known_errors import SF as SF
from .errors import JWSError, redact
from .jws import b64url_decode, parse_json_object, verify_compact
from .keys import ALGORITHMS, SigningKey, VerifyingKey

__all__ = [
    "KNOWN_ERRORS",
    "Explanation",
    "Finding",
    "KnownError",
    "Report",
    "explain_error",
    "inspect_assertion",
]

Level = Literal["error", "warning", "info"]

#: Lifetime above which Salesforce refuses an assertion (its rule is 3 minutes, plus skew).
SALESFORCE_MAX_LIFETIME = 300
#: Lifetime above which Okta, PingOne, Google and the reference server refuse an assertion.
COMMON_MAX_LIFETIME = 3600
#: Clock skew tolerated before a time in the future is an error rather than a warning.
SKEW = 60
_MS_THRESHOLD = 100_000_000_000  # NumericDate seconds reach this in the year 5138
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_UNSAFE_HEADERS = {
    "jku": "a URL to fetch keys from",
    "x5u": "a URL to fetch a certificate from",
    "jwk": "an embedded public key",
    "x5c": "an embedded certificate chain",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One observation about an assertion: ``level`` error (a server will refuse it), warning
    (some servers will) or info; ``code`` is stable (e.g. ``exp-milliseconds``)."""

    level: Level
    code: str
    message: str
    fix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What :func:`inspect_assertion` found. Header and claims are NOT verified unless
    ``signature_valid`` is True; the signature itself is never kept, only its length."""

    is_jwt: bool
    header: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    claims: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    signature_length: int = 0
    signature_valid: bool | None = None
    """True/False when a key was given and the signature was checked; None otherwise."""
    findings: tuple[Finding, ...] = ()
    now: float = 0.0

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings at level ``error``."""
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings at level ``warning``."""
        return tuple(f for f in self.findings if f.level == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing at level ``error`` was found."""
        return not self.errors

    def codes(self) -> set[str]:
        """The codes of every finding."""
        return {f.code for f in self.findings}


def _not_jwt(message: str, now: float, fix: str | None = None) -> Report:
    finding = Finding(level="error", code="not-a-jwt", message=message, fix=fix)
    return Report(is_jwt=False, findings=(finding,), now=now)


def inspect_assertion(
    token: str,
    *,
    now: float,
    expected_audience: str | None = None,
    key: SigningKey | VerifyingKey | Sequence[VerifyingKey] | None = None,
) -> Report:
    """Decode and lint a compact JWT assertion (RFC 7523 §3) at time ``now`` (epoch seconds).

    Nothing is trusted: the header and claims are read without verification, unless ``key``
    (the signer's key, its certificate's key or a JWK Set) is given, in which case the signature
    is checked with the algorithm pinned by the key (RFC 8725 §3.1). ``expected_audience`` is
    the token endpoint URL or issuer the assertion is meant for.
    """
    if not isinstance(token, str):
        return _not_jwt("the input is not text", now)
    token = _clean(token)
    parts = token.split(".")
    if len(parts) == 5:
        return _not_jwt(
            "this is an encrypted JWT (JWE, 5 parts); an assertion is a signed JWT (3 parts)", now
        )
    if len(parts) != 3:
        return _not_jwt(
            f"a JWT has 3 dot-separated parts (header.claims.signature); this has {len(parts)}",
            now,
            "Pass the compact assertion itself, not a JSON response or a curl command.",
        )
    try:
        header = parse_json_object(b64url_decode(parts[0]), "JWT header")
        claims = parse_json_object(b64url_decode(parts[1]), "JWT claims")
        signature = b64url_decode(parts[2])
    except JWSError as exc:
        return _not_jwt(f"not a JWT: {exc}", now)
    findings: list[Finding] = []
    findings += _check_header(header, signature)
    findings += _check_times(claims, now)
    findings += _check_identity(claims, expected_audience)
    valid: bool | None = None
    if key is not None:
        try:
            verify_compact(token, key)
            valid = True
            findings.append(Finding(level="info", code="signature-valid",
                                    message="the signature verifies with the given key"))
        except JWSError as exc:
            valid = False
            findings.append(Finding(
                level="error", code="signature-invalid", message=f"signature: {exc}",
                fix="Sign with the private key whose certificate/JWK is registered with the "
                "server; after a key rotation upload the new certificate.",
            ))
    return Report(
        is_jwt=True,
        header=MappingProxyType(header),
        claims=MappingProxyType(claims),
        signature_length=len(signature),
        signature_valid=valid,
        findings=tuple(findings),
        now=now,
    )


_PASTED_PREFIXES = ("bearer ", "assertion=", "client_assertion=")


def _clean(token: str) -> str:
    """The JWT out of what people paste: quotes, a ``Bearer`` prefix or a form field name."""
    token = token.strip().strip("'\"").strip()
    lowered = token.lower()
    for prefix in _PASTED_PREFIXES:
        if lowered.startswith(prefix):
            return token[len(prefix):].strip()
    return token


def _check_header(header: Mapping[str, Any], signature: bytes) -> list[Finding]:
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
        return value / 1000.0, out
    return float(value), out


def _check_times(claims: Mapping[str, Any], now: float) -> list[Finding]:
    out: list[Finding] = []
    exp, found = _time_value(claims, "exp")
    out += found
    iat, found = _time_value(claims, "iat")
    out += found
    nbf, found = _time_value(claims, "nbf")
    out += found
    if "exp" not in claims:
        out.append(Finding(level="error", code="exp-missing",
                           message="no exp: RFC 7523 §3 requires an expiry",
                           fix="Set exp = now + 300 (seconds)."))
    if exp is not None and "exp-milliseconds" not in {f.code for f in out}:
        left = exp - now
        if left <= 0:
            out.append(Finding(
                level="error", code="exp-expired",
                message=f"expired {duration(-left)} ago",
                fix="Sign a fresh assertion right before each token request; check the clock.",
            ))
        elif left > COMMON_MAX_LIFETIME:
            out.append(Finding(
                level="error", code="exp-too-far",
                message=f"exp is {duration(left)} away: Okta, PingOne, Google and strict "
                "servers refuse more than 60 minutes",
                fix="Use a lifetime of a few minutes (300 s).",
            ))
        elif left > SALESFORCE_MAX_LIFETIME:
            out.append(Finding(
                level="warning", code="exp-far",
                message=f"exp is {duration(left)} away: Salesforce wants exp within 3 minutes "
                "(it tolerates about 5 with skew)",
                fix="Use a lifetime of at most 300 s for Salesforce.",
            ))
    if "iat" not in claims:
        out.append(Finding(
            level="info", code="iat-missing",
            message="no iat: optional in RFC 7523, but Google and Keycloak require it",
            fix="Add iat = now.",
        ))
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
        level: Level = "error" if nbf > now + SKEW else "warning"
        out.append(Finding(level=level, code="nbf-future",
                           message=f"nbf is {duration(nbf - now)} in the future: not valid yet",
                           fix="Set nbf = now - 30 (or leave it out); check the clock."))
    if "jti" not in claims:
        out.append(Finding(
            level="warning", code="jti-missing",
            message="no jti: servers with a replay cache (Okta, PingOne, the reference server) "
            "require a unique id", fix="Add jti = a fresh random string per assertion.",
        ))
    elif not isinstance(claims["jti"], str) or not claims["jti"]:
        out.append(Finding(level="error", code="jti-not-string",
                           message="jti must be a non-empty string (RFC 7519 §4.1.7)",
                           fix="Use a random string such as secrets.token_urlsafe(16)."))
    return out


def _norm(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _audience_matches(aud: str, expected: str) -> bool:
    """aud is the expected URL, or an issuer whose URL is a prefix of it (RFC 7523 §3 item 3)."""
    a, e = _norm(aud), _norm(expected)
    return a == e or e.startswith(a + "/") or a.startswith(e + "/")


def _check_identity(claims: Mapping[str, Any], expected: str | None) -> list[Finding]:
    out: list[Finding] = []
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        out.append(Finding(level="error", code="iss-missing", message="no iss (RFC 7523 §3)",
                           fix="Set iss to the client id (Salesforce: the consumer key)."))
    if "sub" not in claims:
        out.append(Finding(
            level="warning", code="sub-missing",
            message="no sub: the JWT bearer grant needs the user (Salesforce: the username); "
            "a client assertion needs sub = iss = client id", fix="Set sub.",
        ))
    aud = claims.get("aud")
    if aud is None:
        out.append(Finding(level="error", code="aud-missing", message="no aud (RFC 7523 §3)",
                           fix="Set aud to the token endpoint URL or the server's issuer "
                           "(Salesforce: https://login.salesforce.com)."))
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


# -- explaining token endpoint errors -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """What an error answer means: ``what`` it says, ``why`` it usually happens, ``fix``
    what to check; ``provider`` when the wording is recognisable."""

    status: int | None
    error: str | None
    error_description: str | None
    what: str
    why: str
    fix: str
    provider: str | None = None
    known: KnownError | None = field(default=None, repr=False)


_MAX_BODY = 64 * 1024
_BARE_CODE_RE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")  # `explain invalid_grant`


def _parse_body(body: str | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(body, Mapping):
        return {str(k): v for k, v in body.items()}, ""
    text = body[:_MAX_BODY] if isinstance(body, str) else str(body)[:_MAX_BODY]
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value, text
    if _BARE_CODE_RE.match(stripped):
        return {"error": stripped}, text
    if "=" in stripped and "<" not in stripped and " " not in stripped:
        pairs = parse_qsl(stripped)
        if pairs:
            return dict(pairs), text
    return {}, text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return redact(value if isinstance(value, str) else json.dumps(value, default=str))[:2000]


def explain_error(status: int | None, body: str | Mapping[str, Any]) -> Explanation:
    """Explain a token endpoint error answer (RFC 6749 §5.2): JSON, form or plain text.

    ``status`` is the HTTP status when known. Messages from Salesforce, Okta, Microsoft Entra
    ID, Auth0, PingOne and Google are recognised (:data:`KNOWN_ERRORS`); anything else gets the
    meaning of its RFC error code. Secrets and token values in the body are never echoed.
    """
    data, text = _parse_body(body)
    error = _text(data.get("error"))
    description = _text(data.get("error_description") or data.get("message"))
    if "access_token" in data and error is None:
        return Explanation(
            status=status, error=None, error_description=None,
            what="This is a successful token response, not an error.",
            why="It holds an access_token (not shown).", fix="Nothing to fix.",
        )
    lowered = text.lower()
    if not data and ("<html" in lowered or "<!doctype" in lowered):
        return Explanation(
            status=status, error=None, error_description=None,
            what=f"The server answered an HTML page{f' with status {status}' if status else ''}"
            ", not a token response.",
            why="The URL is not the token endpoint (a login page, a proxy, a Spring "
            "'Whitelabel Error Page'), or a gateway blocked the request.",
            fix="Check the token URL (Salesforce: https://login.salesforce.com/services/oauth2/"
            "token); POST form fields, not JSON.",
        )
    haystack = " ".join(x for x in (error, description) if x) or redact(text[:2000])
    known = find_known(error, haystack)
    if known is not None:
        return Explanation(status=status, error=error, error_description=description,
                           what=known.what, why=known.why, fix=known.fix,
                           provider=known.provider, known=known)
    provider = AAD if AADSTS_CODE.search(haystack) else None
    if error is not None and error in GENERIC_BY_CODE:
        what, why, fix = GENERIC_BY_CODE[error]
    elif error == "invalid_client_id":
        what, why, fix = GENERIC_BY_CODE["invalid_client"]
        provider = SF
    elif status == 429:
        what, why, fix = ("Too many token requests.", "The server rate-limits its token "
                          "endpoint.", "Cache tokens (jwtbearer profiles use a cache) and "
                          "retry after Retry-After.")
    elif status is not None and status >= 500:
        what, why, fix = GENERIC_BY_CODE["server_error"]
    elif error:
        what, why, fix = (f"The server answered error {error!r}.", "Not a standard RFC 6749 "
                          "code.", "Read error_description and the server's documentation.")
    else:
        what, why, fix = ("The answer is not an OAuth error response.", "No 'error' field "
                          "(RFC 6749 §5.2).", "Check the token URL and the request format.")
    return Explanation(status=status, error=error, error_description=description,
                       what=what, why=why, fix=fix, provider=provider)
