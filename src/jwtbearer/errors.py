"""Every exception jwtbearer raises, in one place.

::

    JWTBearerError                      root: catch this to catch everything below
    ├── ConfigurationError              bad arguments or settings (also a ValueError)
    │   └── DiscoveryError              server metadata missing, malformed or for another issuer
    ├── KeyLoadError                    a key or certificate could not be read or is refused
    ├── JWSError                        a compact JWS is malformed or does not verify
    ├── TransportError                  timeout, refused/reset connection, TLS, broken HTTP
    ├── StoreError                      a shared token store failed (Redis down, disk error)
    │   └── StoreLockTimeout            the refresh lock stayed taken too long
    ├── ResponseFormatError             the endpoint answered, but not with a usable token
    │   └── UnexpectedRedirect          a 3xx from a token endpoint (never followed)
    ├── TokenEndpointError              an error answer (RFC 6749 §5.2); Apex name:
    │   │                               JWTBearerTokenExchangeException
    │   ├── InvalidRequest              invalid_request
    │   ├── InvalidClient               invalid_client
    │   ├── InvalidGrant                invalid_grant
    │   ├── UnauthorizedClient          unauthorized_client
    │   ├── UnsupportedGrantType        unsupported_grant_type
    │   ├── InvalidScope                invalid_scope
    │   ├── InvalidTarget               invalid_target (RFC 8707)
    │   ├── ServerError                 server_error, or any 5xx
    │   ├── TemporarilyUnavailable      temporarily_unavailable
    │   └── RateLimited                 HTTP 429 (``retry_after`` in seconds when known)
    └── InvalidToken                    an incoming JWT is refused; Apex name:
        │                               JWTValidationException
        ├── MalformedToken              not a compact JWS of JSON objects
        ├── InvalidSignature            bad signature, or an algorithm/header that is refused
        ├── UnknownKey                  no key of the issuer's JWKS has the token's kid
        ├── MissingClaim                a required claim is absent
        ├── ExpiredToken                exp is past (leeway included)
        ├── TokenNotYetValid            nbf or iat is in the future
        ├── InvalidIssuer               iss is not the expected issuer
        ├── InvalidAudience             aud does not contain the expected audience
        └── InvalidTokenType            the typ header is not the expected one (RFC 9068: at+jwt)

Messages say what was wrong and what to check. None of them ever holds a client secret, a
private key, an access or refresh token, or an assertion's signature.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from ._hints import CODE_HINTS, hint_for

__all__ = [
    "REDACTED",
    "ConfigurationError",
    "DiscoveryError",
    "ExpiredToken",
    "InvalidAudience",
    "InvalidClient",
    "InvalidGrant",
    "InvalidIssuer",
    "InvalidRequest",
    "InvalidScope",
    "InvalidSignature",
    "InvalidTarget",
    "InvalidToken",
    "InvalidTokenType",
    "JWSError",
    "JWTBearerError",
    "JWTBearerTokenExchangeException",
    "JWTValidationException",
    "KeyLoadError",
    "MalformedToken",
    "MissingClaim",
    "RateLimited",
    "ResponseFormatError",
    "ServerError",
    "StoreError",
    "StoreLockTimeout",
    "TemporarilyUnavailable",
    "TokenEndpointError",
    "TokenNotYetValid",
    "TransportError",
    "UnauthorizedClient",
    "UnexpectedRedirect",
    "UnknownKey",
    "UnsupportedGrantType",
    "error_class_for",
    "redact",
]

#: How much of a response body an exception keeps.
BODY_EXCERPT_LIMIT = 2000
# How much of a body is redacted before the excerpt is cut from it.
_SCAN_LIMIT = 64 * 1024

# A compact JWS/JWT (three base64url segments) or a long opaque run that looks like a token.
_JWT_RE = re.compile(r"\b(eyJ[A-Za-z0-9_-]{4,})\.([A-Za-z0-9_-]{2,})\.([A-Za-z0-9_-]{8,})")
_SECRET_FIELD_RE = re.compile(
    r'("?(?:access_token|refresh_token|id_token|client_secret|assertion|client_assertion|'
    r'password|private_key)"?\s*[:=]\s*"?)([^"&,\s}]{4,})',
    re.IGNORECASE,
)


#: What replaces a known secret value (see :func:`redact`).
REDACTED = "[redacted]"
# Shorter values are not looked for: they would blank out ordinary words of a message.
_MIN_SECRET = 4


@functools.lru_cache(maxsize=8)  # a few: a retry or a re-raise reuses one
def _values_re(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One pattern for every known secret value and the forms a server may echo it in."""
    import html
    import json
    from urllib.parse import quote, quote_plus

    forms: set[str] = set()
    for value in secrets:
        if len(value) >= _MIN_SECRET:
            forms.update((value, quote_plus(value, safe=""), quote(value, safe=""),
                          json.dumps(value)[1:-1], html.escape(value)))
    if not forms:
        return None
    # Longest first, so a value that contains another is replaced whole.
    ordered = sorted(forms, key=lambda f: (-len(f), f))
    return re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets from text meant for a message or a log.

    First by value: each of ``secrets`` (a client secret, a Basic credential, a token, an
    assertion's signature...), also urlencoded, JSON- or HTML-escaped and in any letter case,
    becomes ``[redacted]``. Then by pattern, as a second net: a JWT keeps its header and payload
    (they are what one needs to debug it) and loses its signature; a field named like a secret
    (``access_token=...``, ``"client_secret": "..."``) keeps its name and loses its value.
    """
    known = secrets if isinstance(secrets, frozenset) else frozenset(secrets)
    pattern = _values_re(known) if known else None
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _JWT_RE.sub(lambda m: f"{m.group(1)}.{m.group(2)}.<signature removed>", text)
    return _SECRET_FIELD_RE.sub(lambda m: f"{m.group(1)}<redacted>", text)

class JWTBearerError(Exception):
    """Root of every jwtbearer exception: ``except jb.JWTBearerError`` catches them all.

    The tree is drawn in this module's docstring. Messages and ``repr()`` never contain a
    secret, a private key, a token or an assertion's signature (see :func:`redact`).
    """


class ConfigurationError(JWTBearerError, ValueError):
    """An argument or a setting is wrong; the message names it and what it should be.

    Also a :class:`ValueError`, so code written for plain Python argument errors catches it.
    """


class DiscoveryError(ConfigurationError):
    """Authorization server metadata (RFC 8414, OpenID Connect Discovery) could not be used.

    Not found at either well-known URL, not a JSON object, lacking a required member, or naming
    another issuer than the one asked for (RFC 8414 §3.3: such a document must not be used).
    """


class KeyLoadError(JWTBearerError):
    """A key or certificate could not be loaded, or is refused (too small, wrong type).

    Refused: RSA keys under 2048 bits (RFC 7518 §3.3), HMAC secrets shorter than the hash
    (RFC 7518 §3.2), and keys that do not fit the requested ``alg``.
    """


class JWSError(JWTBearerError):
    """A compact JWS is malformed, uses an algorithm other than the key's, or does not verify.

    The algorithm is the key's, never the header's (RFC 8725 §3.1); the format rules are
    RFC 7515 §7.1.
    """


class TransportError(JWTBearerError):
    """The HTTP exchange itself failed: timeout, refused or reset connection, TLS, bad HTTP."""


class StoreError(JWTBearerError):
    """A shared token store could not be read, written or locked (server down, disk error).

    :class:`~jwtbearer.caching.CachedSource` catches it, logs a warning and talks to the token
    endpoint directly: a cache outage must not become an authentication outage.
    """


class StoreLockTimeout(StoreError):
    """The refresh lock stayed taken longer than the store's ``lock_timeout``."""


class ResponseFormatError(JWTBearerError):
    """The token endpoint answered, but not with a usable token response.

    HTML instead of JSON, a body over the size cap, no ``access_token``, or an access token that
    could not be sent back as a header value.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 secrets: Iterable[str] | None = None) -> None:
        # A message built from a server's answer comes with the request's secrets.
        super().__init__(message if secrets is None else redact(message, secrets))
        self.status = status


class UnexpectedRedirect(ResponseFormatError):
    """The token endpoint answered with a redirect (3xx); token requests never follow one.

    A followed redirect would carry the client's credentials to another URL;
    the message names where the redirect pointed.
    """


class TokenEndpointError(JWTBearerError):
    """The token endpoint answered with an error (RFC 6749 §5.2).

    ``str(err)`` begins like Apex's ``JWTBearerTokenExchangeException``, ``Error 400: <body>``,
    and a hint on what to check follows on the next line.
    """

    def __init__(
        self,
        status: int,
        *,
        error: str | None = None,
        error_description: str | None = None,
        error_uri: str | None = None,
        body: str = "",
        retry_after: float | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        # Servers echo what they refused (an assertion, a secret) into every field: each is
        # redacted by value (``secrets``: those of the request answered) and by pattern.
        known = frozenset(secrets)
        self.status = status
        self.error = None if error is None else redact(error, known)
        self.error_description = (
            None if error_description is None else redact(error_description, known)
        )
        self.error_uri = None if error_uri is None else redact(error_uri, known)
        # Redacted before the cut, so no secret is left half-shown at the end of the excerpt.
        self.body = redact(body[:_SCAN_LIMIT], known)[:BODY_EXCERPT_LIMIT]
        self.retry_after = retry_after
        super().__init__(self._message())

    @property
    def hint(self) -> str | None:
        """What to check, from the error code and the description; None when nothing is known."""
        hint = hint_for(self.status, self.error, self.error_description)
        if hint is not None:
            return hint
        if self.status == 429:
            when = f" after {self.retry_after:g} s" if self.retry_after is not None else " later"
            return f"The server is rate limiting token requests; retry{when}."
        if self.status >= 500:
            return CODE_HINTS["server_error"]
        return None

    def _message(self) -> str:
        body = self.body.strip() or (self.error or "")
        message = f"Error {self.status}: {body}"
        hint = self.hint
        return f"{message}\n{hint}" if hint else message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, error={self.error!r}, "
            f"error_description={self.error_description!r})"
        )


#: The name Apex gives the same exception.
JWTBearerTokenExchangeException = TokenEndpointError


class InvalidRequest(TokenEndpointError):
    """``invalid_request`` (RFC 6749 §5.2): a parameter is missing, repeated or malformed."""


class InvalidClient(TokenEndpointError):
    """``invalid_client`` (RFC 6749 §5.2): client authentication failed (often HTTP 401)."""


class InvalidGrant(TokenEndpointError):
    """``invalid_grant`` (RFC 6749 §5.2, RFC 7523 §3.1): the assertion, code or refresh token
    is invalid, expired or revoked."""


class UnauthorizedClient(TokenEndpointError):
    """``unauthorized_client`` (RFC 6749 §5.2): the client may not use this grant type."""


class UnsupportedGrantType(TokenEndpointError):
    """``unsupported_grant_type`` (RFC 6749 §5.2): the server does not know this grant type."""


class InvalidScope(TokenEndpointError):
    """``invalid_scope`` (RFC 6749 §5.2): a requested scope is unknown or not allowed."""


class InvalidTarget(TokenEndpointError):
    """``invalid_target`` (RFC 8707 §2): the requested resource or audience is refused."""


class ServerError(TokenEndpointError):
    """``server_error`` (RFC 6749 §4.1.2.1, used by token endpoints too), or any 5xx status
    without a recognised error code. Retried by the default :class:`~jwtbearer.RetryPolicy`."""


class TemporarilyUnavailable(TokenEndpointError):
    """``temporarily_unavailable`` (RFC 6749 §4.1.2.1): the server asks to come back later."""


class RateLimited(TokenEndpointError):
    """HTTP 429 (RFC 6585 §4): too many token requests.

    ``retry_after`` is the server's ``Retry-After`` (RFC 9110 §10.2.3) in seconds, or None.
    """


_BY_CODE: dict[str, type[TokenEndpointError]] = {
    "invalid_request": InvalidRequest,
    "invalid_client": InvalidClient,
    "invalid_grant": InvalidGrant,
    "unauthorized_client": UnauthorizedClient,
    "unsupported_grant_type": UnsupportedGrantType,
    "invalid_scope": InvalidScope,
    "invalid_target": InvalidTarget,
    "server_error": ServerError,
    "temporarily_unavailable": TemporarilyUnavailable,
}


def error_class_for(status: int, error: str | None) -> type[TokenEndpointError]:
    """The exception class for an error answer: by RFC 6749 code, else by HTTP status."""
    if status == 429:
        return RateLimited
    if error in _BY_CODE:
        return _BY_CODE[error]
    if status >= 500:
        return ServerError
    return TokenEndpointError


class InvalidToken(JWTBearerError):
    """An incoming JWT is refused (:class:`~jwtbearer.JWTValidator`, :class:`~jwtbearer.JWTUtil`).

    ``claim`` names the claim or header that failed (None for the signature or the format),
    ``expected`` and ``actual`` the two values compared (``actual`` is None when absent).
    ``reason`` is the one-line text a resource server may send back as the RFC 6750
    ``error_description``; it never holds the token. Apex name: ``JWTValidationException``.
    """

    def __init__(self, reason: str, *, claim: str | None = None, expected: object = None,
                 actual: object = None) -> None:
        self.reason = redact(reason)
        self.claim = claim
        self.expected = expected
        self.actual = actual
        super().__init__(self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, claim={self.claim!r})"


#: The name Apex gives the same exception (``Auth.JWTValidationException``).
JWTValidationException = InvalidToken


class MalformedToken(InvalidToken):
    """Not a compact JWS (RFC 7515 §7.1) whose header and payload are JSON objects."""


class InvalidSignature(InvalidToken):
    """The signature does not verify, or the header asks for something refused: ``alg`` other
    than the key's, ``none``, ``jku``/``x5u``/``jwk``/``x5c`` or ``crit`` (RFC 8725 §3.1-§3.2)."""


class UnknownKey(InvalidToken):
    """The token's ``kid`` is in none of the keys, even after refetching the JWKS."""


class MissingClaim(InvalidToken):
    """A required claim (``exp`` by default) is absent (RFC 7519 §4.1)."""


class ExpiredToken(InvalidToken):
    """``exp`` is in the past, beyond the leeway (RFC 7519 §4.1.4)."""


class TokenNotYetValid(InvalidToken):
    """``nbf`` (RFC 7519 §4.1.5) or ``iat`` is in the future, beyond the leeway."""


class InvalidIssuer(InvalidToken):
    """``iss`` is not the expected issuer (RFC 7519 §4.1.1, RFC 9068 §4)."""


class InvalidAudience(InvalidToken):
    """``aud`` is not, and does not contain, the expected audience (RFC 7519 §4.1.3)."""


class InvalidTokenType(InvalidToken):
    """The ``typ`` header is not the one required (RFC 9068 §2.1: ``at+jwt``; RFC 8725 §3.11)."""
