"""Diagnostics: lint a JWT assertion, and explain what a token endpoint's error means.

:func:`inspect_assertion` decodes an assertion WITHOUT trusting it and lists what a token
endpoint would object to (RFC 7519 §4.1, RFC 7523 §3, RFC 8725), verifying the signature only
when a key is given; the rules it applies live in ``jwtbearer._lint``. :func:`explain_error`
turns an error answer (RFC 6749 §5.2) into what it means, why it usually happens and what to
check, recognising the wording of Salesforce, Okta, Microsoft Entra ID (Azure AD), Auth0,
PingOne and Google from :data:`KNOWN_ERRORS` (the table lives in ``jwtbearer._known_errors``).
Both modules' public names are re-exported here.

Neither function raises anything but a :class:`~jwtbearer.errors.JWTBearerError`; input that is
not a JWT gives a report that says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import JWSError, redact
from ..jose.jws import b64url_decode, parse_json_object, verify_compact
from ..jose.keys import SigningKey, VerifyingKey
from ._known_errors import AAD, AADSTS_CODE, GENERIC_BY_CODE, KNOWN_ERRORS, KnownError, find_known

# The provider names and the lint rules' names stay importable from here, where they were
# first defined; the CLI formats times with duration and numeric_date.
from ._known_errors import AUTH0 as AUTH0
from ._known_errors import GOOGLE as GOOGLE
from ._known_errors import OKTA as OKTA
from ._known_errors import PING as PING
from ._known_errors import SF as SF
from ._lint import COMMON_MAX_LIFETIME as COMMON_MAX_LIFETIME
from ._lint import SALESFORCE_MAX_LIFETIME as SALESFORCE_MAX_LIFETIME
from ._lint import SKEW as SKEW
from ._lint import Finding, check_header, check_identity, check_times
from ._lint import Level as Level
from ._lint import duration as duration
from ._lint import numeric_date as numeric_date
from ._pasted import read_pasted

__all__ = [
    "KNOWN_ERRORS",
    "Explanation",
    "Finding",
    "KnownError",
    "Report",
    "explain_error",
    "inspect_assertion",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


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
    kind: str = "assertion"
    """``assertion``, or ``access_token`` for an access token (RFC 9068 ``typ: at+jwt``, or the
    ``client_id``/``scp`` claims of one): those are not linted as assertions."""

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
    recognised: bool = True
    """False when the input is not an error answer that could be read (``explain`` exits 1)."""
    page_title: str | None = None
    """For an HTML answer, the page's title."""


# -- inspecting an assertion ----------------------------------------------------------------


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
    kind = "access_token" if looks_like_access_token(header, claims) else "assertion"
    if kind == "access_token":
        findings.append(Finding(
            level="info", code="access-token",
            message="this is an access token (what a token endpoint answers), not an "
            "assertion: only its algorithm and times are checked",
            fix="To lint an assertion, pass the JWT you send as assertion or "
            "client_assertion."))
        findings += [f for f in check_header(header, signature) if f.code not in _AT_SKIP]
        findings += [f for f in check_times(claims, now) if f.code not in _AT_SKIP]
    else:
        findings += check_header(header, signature)
        findings += check_times(claims, now)
        findings += check_identity(claims, expected_audience)
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
        kind=kind,
    )


#: Assertion rules that do not apply to an access token.
_AT_SKIP = frozenset({"kid-missing", "exp-too-far", "exp-far", "iat-old",
                      "iat-missing", "jti-missing", "jti-not-string"})
_AT_TYPES = ("at+jwt", "application/at+jwt")


def looks_like_access_token(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    """True for a JWT access token: ``typ`` at+jwt (RFC 9068 §2.1), or the claims only access
    tokens carry (``client_id``, ``scp``, ``token_use: access``) and no assertion would."""
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in _AT_TYPES:
        return True
    return "client_id" in claims or "scp" in claims or claims.get("token_use") == "access"


def _not_jwt(message: str, now: float, fix: str | None = None) -> Report:
    finding = Finding(level="error", code="not-a-jwt", message=message, fix=fix)
    return Report(is_jwt=False, findings=(finding,), now=now)


_PASTED_PREFIXES = ("bearer ", "assertion=", "client_assertion=")


def _clean(token: str) -> str:
    """The JWT out of what people paste: quotes, a ``Bearer`` prefix or a form field name."""
    token = token.strip().strip("'\"").strip()
    lowered = token.lower()
    for prefix in _PASTED_PREFIXES:
        if lowered.startswith(prefix):
            return token[len(prefix):].strip()
    return token


# -- explaining token endpoint errors -------------------------------------------------------


def explain_error(status: int | None, body: str | Mapping[str, Any]) -> Explanation:
    """Explain a token endpoint error answer (RFC 6749 §5.2): JSON, form or plain text.

    ``status`` is the HTTP status when known. Messages from Salesforce, Okta, Microsoft Entra
    ID, Auth0, PingOne and Google are recognised (:data:`KNOWN_ERRORS`); anything else gets the
    meaning of its RFC error code. Secrets and token values in the body are never echoed.
    """
    page_title = page_text = None
    if isinstance(body, Mapping):
        data, text = {str(k): v for k, v in body.items()}, ""
    else:
        pasted = read_pasted(body if isinstance(body, str) else str(body))
        data, text = pasted.fields, pasted.text
        page_title, page_text = pasted.html_title, pasted.html_text
        status = pasted.status if status is None else status
    error = _text(data.get("error"))
    description = _text(data.get("error_description") or data.get("message"))
    if "access_token" in data and error is None:
        return Explanation(
            status=status, error=None, error_description=None,
            what="This is a successful token response, not an error.",
            why="It holds an access_token (not shown).", fix="Nothing to fix.",
        )
    if page_title is not None or page_text is not None:
        return _html_page(status, page_title, page_text)
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
        return Explanation(
            status=status, error=None, error_description=description, recognised=False,
            what="The answer is not an OAuth error response.",
            why="No 'error' field (RFC 6749 §5.2) and no wording this tool knows.",
            fix="Check the token URL and the request format; paste the whole answer body.")
    return Explanation(status=status, error=error, error_description=description,
                       what=what, why=why, fix=fix, provider=provider)


def _html_page(status: int | None, title: str | None, text: str | None) -> Explanation:
    quoted = f" {title!r}" if title else ""
    at = f" with status {status}" if status else ""
    description = redact(text[:300]) if text else None
    if status == 401 or (status is None and "whitelabel" in (title or text or "").lower()
                         and "unauthorized" in (text or "").lower()):
        what, why, fix = GENERIC_BY_CODE["invalid_client"]
        return Explanation(
            status=status, error=None, error_description=description, page_title=title,
            what=f"The server answered an HTML page{quoted}{at}: client authentication was "
            "refused. " + what,
            why="A Spring 'Whitelabel Error Page' 401 (or any 401 page) comes from the "
            "server's security filter, before OAuth: " + why, fix=fix)
    return Explanation(
        status=status, error=None, error_description=description, page_title=title,
        what=f"The server answered an HTML page{quoted}{at}, not a token response.",
        why="The URL is not the token endpoint (a login page, a proxy, a Spring "
        "'Whitelabel Error Page'), or a gateway blocked the request.",
        fix="Check the token URL (Salesforce: https://login.salesforce.com/services/oauth2/"
        "token); POST form fields, not JSON.")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return redact(value if isinstance(value, str) else json.dumps(value, default=str))[:2000]
