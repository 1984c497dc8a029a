"""Token sources over a token client: a new token from the endpoint on every ``token()``.

``cache_key`` is :func:`jwtbearer.lifecycle.stores.store_key` of the endpoint, the client id
and the grant's identity, so a key computed by hand for the same parameters finds the same
stored token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util import identity_key
from ..token import Token
from .grants import Grant, RefreshToken

if TYPE_CHECKING:
    from .token_client import AsyncTokenClient, TokenClient

__all__ = ["AsyncEndpointSource", "EndpointSource"]


def _cache_key(client: TokenClient | AsyncTokenClient, grant: Grant) -> str:
    return identity_key(client.endpoint, client.auth.client_id, grant.cache_identity())


def _next_grant(grant: Grant, token: Token) -> Grant:
    # A server that rotates refresh tokens (RFC 9700 §4.14.2) invalidates the one just used.
    if isinstance(grant, RefreshToken) and token.refresh_token not in (None, grant.refresh_token):
        assert token.refresh_token is not None
        return RefreshToken(token.refresh_token, grant.scope)
    return grant


class EndpointSource:
    """A :class:`TokenSource` asking the token endpoint on every ``token()`` (no caching).

    Wrap it in :class:`CachedSource` to reuse tokens. ``cache_key`` is a SHA-256 over the token
    endpoint, the client id and the grant's identity (type, subject, scope, audience/resource):
    stable across processes, and never derived from a secret.
    """

    __slots__ = ("cache_key", "client", "grant")

    def __init__(self, client: TokenClient, grant: Grant) -> None:
        self.client = client
        self.grant = grant
        self.cache_key = _cache_key(client, grant)

    def token(self) -> Token:
        """A new token (a freshly signed assertion for JWT grants)."""
        token = self.client.request_token(self.grant)
        self.grant = _next_grant(self.grant, token)
        return token

    def __repr__(self) -> str:
        return f"EndpointSource({self.client.endpoint!r}, grant={self.grant.grant_type!r})"


class AsyncEndpointSource:
    """The async twin of :class:`EndpointSource`: ``await source.token()``."""

    __slots__ = ("cache_key", "client", "grant")

    def __init__(self, client: AsyncTokenClient, grant: Grant) -> None:
        self.client = client
        self.grant = grant
        self.cache_key = _cache_key(client, grant)

    async def token(self) -> Token:
        """A new token (a freshly signed assertion for JWT grants)."""
        token = await self.client.request_token(self.grant)
        self.grant = _next_grant(self.grant, token)
        return token

    def __repr__(self) -> str:
        return f"AsyncEndpointSource({self.client.endpoint!r}, grant={self.grant.grant_type!r})"
