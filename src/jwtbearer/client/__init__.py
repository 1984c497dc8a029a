"""The token client: client authentication (RFC 6749 §2.3, RFC 7523 §2.2), grants (RFC 7523
§2.1, RFC 6749 §4), the sans-I/O protocol, the HTTP drivers over httpx, and the Apex
``Auth.JWTBearerTokenExchange``.

Layer: imports ``jose`` and the root modules; never the server, the lifecycle or the CLI.
"""

from __future__ import annotations

from .client_auth import (
    ClientAuth,
    ClientSecretBasic,
    ClientSecretJWT,
    ClientSecretPost,
    NoClientAuth,
    PrivateKeyJWT,
)
from .exchange import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange
from .grants import PKCE, AuthorizationCode, ClientCredentials, Grant, JWTBearer, RefreshToken
from .protocol import RetryPolicy
from .sources import AsyncEndpointSource, EndpointSource
from .token_client import AsyncTokenClient, TokenClient

__all__ = [
    "PKCE",
    "AsyncEndpointSource",
    "AsyncJWTBearerTokenExchange",
    "AsyncTokenClient",
    "AuthorizationCode",
    "ClientAuth",
    "ClientCredentials",
    "ClientSecretBasic",
    "ClientSecretJWT",
    "ClientSecretPost",
    "EndpointSource",
    "Grant",
    "JWTBearer",
    "JWTBearerTokenExchange",
    "NoClientAuth",
    "PrivateKeyJWT",
    "RefreshToken",
    "RetryPolicy",
    "TokenClient",
]
