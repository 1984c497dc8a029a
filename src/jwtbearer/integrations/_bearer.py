"""The framework-free part of the integrations: read the header, decide the RFC 6750 answer."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection

from ..errors import InvalidToken, JWTBearerError
from ..validation import ValidatedJWT

__all__ = ["Rejection", "bearer_token", "challenge", "check_scopes", "check_token"]

logger = logging.getLogger("jwtbearer")

# RFC 6750 §3: error_description and scope are %x20-21 / %x23-5B / %x5D-7E (no '"' or '\').
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


class Rejection(Exception):
    """An HTTP answer refusing the request: ``status``, and the ``WWW-Authenticate`` value."""

    def __init__(self, status: int, www_authenticate: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.www_authenticate = www_authenticate
        self.message = message

    def headers(self) -> dict[str, str]:
        """The response headers (``WWW-Authenticate``, and ``Cache-Control: no-store``)."""
        headers = {"Cache-Control": "no-store"}
        if self.www_authenticate is not None:
            headers["WWW-Authenticate"] = self.www_authenticate
        return headers


def _quoted(value: str, limit: int = 200) -> str:
    return '"' + _UNSAFE.sub("?", value.replace('"', "'").replace("\\", "/"))[:limit] + '"'


def challenge(*, realm: str | None = None, error: str | None = None,
              description: str | None = None, scope: str | None = None) -> str:
    """A ``WWW-Authenticate: Bearer`` value (RFC 6750 §3)."""
    params = []
    if realm is not None:
        params.append(f"realm={_quoted(realm)}")
    if error is not None:
        params.append(f'error="{error}"')
    if description is not None:
        params.append(f"error_description={_quoted(description)}")
    if scope is not None:
        params.append(f"scope={_quoted(scope)}")
    return "Bearer" + (" " + ", ".join(params) if params else "")


def bearer_token(authorization: str | None, realm: str | None = None) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), else a Rejection."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        # No credentials of this scheme: a bare challenge, no error code (RFC 6750 §3.1).
        raise Rejection(401, challenge(realm=realm), "a bearer token is required")
    if " " in token or "," in token:
        raise Rejection(400, challenge(realm=realm, error="invalid_request",
                                       description="one bearer token, without spaces"),
                        "malformed Authorization header")
    return token


def _refused(exc: JWTBearerError, realm: str | None) -> Rejection:
    if isinstance(exc, InvalidToken):
        return Rejection(401, challenge(realm=realm, error="invalid_token",
                                        description=exc.reason), exc.reason)
    # The issuer's keys cannot be had: the token may well be valid; say so, not "invalid".
    logger.warning("cannot validate bearer tokens: %s", exc)
    return Rejection(503, None, "the token issuer's keys are unavailable; retry later")


def check_scopes(jwt: ValidatedJWT, scopes: Collection[str], realm: str | None) -> ValidatedJWT:
    missing = sorted(set(scopes) - jwt.scopes)
    if missing:
        wanted = " ".join(sorted(scopes))
        raise Rejection(403, challenge(realm=realm, error="insufficient_scope",
                                       description=f"missing scope {' '.join(missing)}",
                                       scope=wanted), "insufficient scope")
    return jwt


def check_token(error: JWTBearerError, realm: str | None = None) -> Rejection:
    """The Rejection for a validation failure (401 invalid_token, or 503 without keys)."""
    return _refused(error, realm)
