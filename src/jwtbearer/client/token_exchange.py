"""OAuth 2.0 Token Exchange (RFC 8693), client side: trade a token for another.

A service holding a token (an access token, an ID token, a JWT from another issuer) asks the
token endpoint for a new one, for another audience or with narrower scope, optionally acting on
behalf of the subject (``actor_token``, RFC 8693 §1.1, §4.1). The answer names what was issued
in ``issued_token_type`` (:attr:`jwtbearer.Token.issued_token_type`); a ``token_type`` of
``N_A`` says the issued token is not an access token (RFC 8693 §2.2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import ConfigurationError
from ..oauth import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from .grants import Identity, _scope, _set

__all__ = ["TokenExchange"]

def _token(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string (the token itself)")
    if any(c.isspace() for c in value):
        raise ConfigurationError(f"{what} holds whitespace: pass the token alone, no 'Bearer '")
    return value


def _type(value: object, what: str) -> str:
    if not isinstance(value, str) or ":" not in value or any(c.isspace() for c in value):
        raise ConfigurationError(
            f"{what} must be a token type URI such as {ACCESS_TOKEN_TYPE} (RFC 8693 §3), not "
            f"{str(value)[:60]!r}"
        )
    return value


def _optional(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"{what} must be a non-empty string (one value; several are not supported)"
        )
    return value


def _digest(token: str | None) -> str | None:
    """A stand-in for a token in cache keys: never the token itself."""
    return None if token is None else "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, repr=False)
class TokenExchange:
    """The token exchange grant (RFC 8693 §2.1).

    ``subject_token`` is the token to exchange and ``subject_token_type`` its type (e.g.
    :data:`ACCESS_TOKEN_TYPE`, :data:`JWT_TOKEN_TYPE`); ``actor_token``/``actor_token_type``
    identify who acts for the subject (delegation, §1.1), and go together. ``audience``,
    ``resource`` (an absolute URI, RFC 8707) and ``scope`` say what the new token is for;
    ``requested_token_type`` what kind of token is wanted. Tokens never appear in ``repr``.
    """

    subject_token: str
    subject_token_type: str
    actor_token: str | None = None
    actor_token_type: str | None = None
    requested_token_type: str | None = None
    audience: str | None = None
    resource: str | None = None
    scope: str | Sequence[str] | None = None
    grant_type: str = field(default=TOKEN_EXCHANGE_GRANT, init=False)

    def __post_init__(self) -> None:
        _token(self.subject_token, "subject_token")
        _type(self.subject_token_type, "subject_token_type")
        if self.actor_token is not None:
            _token(self.actor_token, "actor_token")
            if self.actor_token_type is None:
                raise ConfigurationError(
                    "actor_token needs actor_token_type (RFC 8693 §2.1)"
                )
            _type(self.actor_token_type, "actor_token_type")
        elif self.actor_token_type is not None:
            raise ConfigurationError(
                "actor_token_type without actor_token: RFC 8693 §2.1 forbids sending it alone"
            )
        if self.requested_token_type is not None:
            _type(self.requested_token_type, "requested_token_type")
        _optional(self.audience, "audience")
        resource = _optional(self.resource, "resource")
        if resource is not None and ("://" not in resource or "#" in resource):
            raise ConfigurationError(
                "resource must be an absolute URI without a fragment (RFC 8693 §2.1, RFC 8707)"
            )
        _set(self, "scope", _scope(self.scope))

    def form(self, token_endpoint: str, *, now: float) -> dict[str, str]:
        """``grant_type``, the subject (and actor) token with its type, and what was given."""
        fields = {"grant_type": self.grant_type, "subject_token": self.subject_token,
                  "subject_token_type": self.subject_token_type}
        for name in ("actor_token", "actor_token_type", "requested_token_type", "audience",
                     "resource", "scope"):
            value = getattr(self, name)
            if value:
                fields[name] = value
        return fields

    def cache_identity(self) -> Identity:
        """Grant, the subject and actor tokens (as digests), audience, resource, scope."""
        return {
            "grant_type": self.grant_type,
            "subject": _digest(self.subject_token),
            "actor": _digest(self.actor_token),
            "requested_token_type": self.requested_token_type,
            "scope": self.scope if isinstance(self.scope, str) else None,
            "audience": self.audience,
            "resource": self.resource,
        }

    def __repr__(self) -> str:
        actor = f", actor_token=<{len(self.actor_token)} chars>" if self.actor_token else ""
        return (
            f"TokenExchange(subject_token=<{len(self.subject_token)} chars>, "
            f"subject_token_type={self.subject_token_type!r}{actor}, "
            f"audience={self.audience!r}, resource={self.resource!r}, scope={self.scope!r})"
        )
