"""The token client: client authentication (RFC 6749 §2.3, RFC 7523 §2.2), grants (RFC 7523
§2.1, RFC 6749 §4), the sans-I/O protocol, the HTTP drivers over httpx, and the Apex
``Auth.JWTBearerTokenExchange``.

Layer: imports ``jose`` and the root modules; never the server, the lifecycle or the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from ._fetch import Fetched, afetch, fetch
    from .client_auth import (
        ClientAuth,
        ClientSecretBasic,
        ClientSecretJWT,
        ClientSecretPost,
        NoClientAuth,
        PrivateKeyJWT,
    )
    from .discovery import ServerMetadata, adiscover, discover
    from .exchange import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange
    from .grants import PKCE, AuthorizationCode, ClientCredentials, Grant, JWTBearer, RefreshToken
    from .protocol import RetryPolicy
    from .sources import AsyncEndpointSource, EndpointSource
    from .token_client import AsyncTokenClient, TokenClient

# Names load their module on first use: a process that never uses the Apex exchange never
# loads it.
__getattr__, __dir__ = lazy(__name__, {
    **dict.fromkeys(("ClientAuth", "ClientSecretBasic", "ClientSecretJWT", "ClientSecretPost",
                     "NoClientAuth", "PrivateKeyJWT"), ".client_auth"),
    **dict.fromkeys(("AsyncJWTBearerTokenExchange", "JWTBearerTokenExchange"), ".exchange"),
    **dict.fromkeys(("PKCE", "AuthorizationCode", "ClientCredentials", "Grant", "JWTBearer",
                     "RefreshToken"), ".grants"),
    "RetryPolicy": ".protocol",
    **dict.fromkeys(("ServerMetadata", "adiscover", "discover"), ".discovery"),
    **dict.fromkeys(("Fetched", "afetch", "fetch"), "._fetch"),
    **dict.fromkeys(("AsyncEndpointSource", "EndpointSource"), ".sources"),
    **dict.fromkeys(("AsyncTokenClient", "TokenClient"), ".token_client"),
}, globals(), ("client_auth", "discovery", "exchange", "grants", "protocol", "response", "sources",
               "token_client", "transport"))

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
    "Fetched",
    "Grant",
    "JWTBearer",
    "JWTBearerTokenExchange",
    "NoClientAuth",
    "PrivateKeyJWT",
    "RefreshToken",
    "RetryPolicy",
    "ServerMetadata",
    "TokenClient",
    "adiscover",
    "afetch",
    "discover",
    "fetch",
]
