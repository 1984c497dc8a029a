"""The access token value, its expiry arithmetic, and the clock type.

Expiry is stored as an absolute time (``expires_at``, epoch seconds) computed once when the token
arrives, and every check takes ``now`` from an injected clock, so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigurationError

__all__ = [
    "AsyncTokenSource",
    "Clock",
    "Token",
    "TokenSource",
    "system_clock",
]

#: A zero-argument callable returning the current time in epoch seconds.
Clock = Callable[[], float]

system_clock: Clock = time.time

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An access token as a token endpoint issued it (the fields of RFC 6749 §5.1).

    ``expires_at`` is ``issued_at + expires_in``; ``id_token`` is OpenID Connect's;
    ``extra`` holds every other response field.

    ``repr()`` and ``str()`` never show ``access_token``, ``refresh_token`` or ``id_token``.
    """

    access_token: str
    token_type: str = "Bearer"
    expires_at: float | None = None
    """Absolute expiry in epoch seconds; None when the server sent no ``expires_in``."""
    scope: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    issued_at: float = field(default_factory=time.time)
    """When the token was received (epoch seconds), per the client's clock."""
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    """Every other field of the token response (e.g. Salesforce ``instance_url``)."""

    def expires_in(self, now: float) -> float | None:
        """Seconds left at ``now`` (negative when expired); None when the expiry is unknown."""
        return None if self.expires_at is None else self.expires_at - now

    @property
    def lifetime(self) -> float | None:
        """Total lifetime granted by the server, in seconds; None when the expiry is unknown."""
        return None if self.expires_at is None else self.expires_at - self.issued_at

    def is_expired(self, now: float) -> bool:
        """True once ``now`` has reached ``expires_at``. A token with no expiry never expires."""
        return self.expires_at is not None and now >= self.expires_at

    def is_valid(self, now: float, leeway: float = 0.0) -> bool:
        """True while the token is still good for at least ``leeway`` more seconds."""
        return self.expires_at is None or now + leeway < self.expires_at

    @property
    def issued_token_type(self) -> str | None:
        """What a token exchange issued (RFC 8693 §2.2.1), e.g.
        ``urn:ietf:params:oauth:token-type:access_token``; None for other grants."""
        value = self.extra.get("issued_token_type")
        return value if isinstance(value, str) else None

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value: ``Bearer <token>`` (RFC 6750 §2.1)."""
        if self.token_type == "N_A":
            raise ConfigurationError(
                "token_type N_A: the token exchange issued a token that is not an access token "
                f"({self.issued_token_type}, RFC 8693 §2.2.1); use token.access_token as it is"
            )
        kind = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{kind} {self.access_token}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict holding every field (secrets included: for stores, not for logs)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "scope": self.scope,
            "refresh_token": self.refresh_token,
            "id_token": self.id_token,
            "issued_at": self.issued_at,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """The inverse of :meth:`to_dict`."""
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            scope=data.get("scope"),
            refresh_token=data.get("refresh_token"),
            id_token=data.get("id_token"),
            issued_at=float(data.get("issued_at") or 0.0),
            extra=MappingProxyType(dict(data.get("extra") or {})),
        )

    def __repr__(self) -> str:
        parts = [
            f"token_type={self.token_type!r}",
            f"expires_at={self.expires_at!r}",
            f"scope={self.scope!r}",
            f"access_token=<{len(self.access_token)} chars>",
        ]
        if self.refresh_token is not None:
            parts.append("refresh_token=<hidden>")
        if self.id_token is not None:
            parts.append("id_token=<hidden>")
        if self.extra:
            parts.append(f"extra_keys={sorted(self.extra)!r}")
        return f"Token({', '.join(parts)})"

    __str__ = __repr__


@runtime_checkable
class TokenSource(Protocol):
    """Anything that hands out tokens: ``source.token() -> Token``."""

    def token(self) -> Token: ...


@runtime_checkable
class AsyncTokenSource(Protocol):
    """The async twin: ``await source.token() -> Token``."""

    def token(self) -> Awaitable[Token]: ...
