"""jwtbearer: server-to-server OAuth 2.0 with JWTs.

The public API, in reading order; each name lives in the layer that defines it and is loaded on
first use, so ``import jwtbearer`` stays cheap (a CLI call or a serverless cold start pays only
for what it touches). The layers, top-down:

- ``jwtbearer.token``, ``jwtbearer.errors``, ``jwtbearer.oauth``: the shared vocabulary;
- ``jwtbearer.jose``: keys, compact JWS, the key store, Apex ``Auth.JWT`` / ``Auth.JWS``;
- ``jwtbearer.client``: client authentication, grants, the sans-I/O protocol, the token
  clients and the Apex ``Auth.JWTBearerTokenExchange``;
- ``jwtbearer.lifecycle``: caching, token stores, ``BearerAuth``;
- ``jwtbearer.signers``: keys on a PKCS#11 token, in AWS KMS or behind any signing function;
- ``jwtbearer.profiles`` and ``jwtbearer.diagnose``;
- ``jwtbearer.testing`` (mock token endpoint, fake clock, pytest fixtures) and
  ``jwtbearer.server`` (the reference token endpoint, extra ``server``), imported on their own.

Plumbing (base64url, request builders, registries, constants) is imported from its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy

if TYPE_CHECKING:
    # Tokens and where they come from
    from .token import AsyncTokenSource, Token, TokenSource

    # Errors (the tree is drawn in jwtbearer.errors; the rarer RFC 6749 codes are imported from
    # there)
    from .errors import (
        ConfigurationError,
        InvalidClient,
        InvalidGrant,
        JWTBearerError,
        JWTBearerTokenExchangeException,
        KeyLoadError,
        ResponseFormatError,
        TokenEndpointError,
        TransportError,
    )

    # Keys and Apex Auth.JWT / Auth.JWS
    from .jose import JWS, JWT, KeyStore, SigningKey

    # Client authentication (RFC 6749 §2.3, RFC 7523 §2.2) and grants (RFC 7523 §2.1, RFC 6749 §4)
    from .client import (
        ClientSecretBasic,
        ClientSecretJWT,
        ClientSecretPost,
        NoClientAuth,
        PrivateKeyJWT,
    )
    from .client import AuthorizationCode, ClientCredentials, JWTBearer, PKCE, RefreshToken

    # Token clients (the only I/O) and Apex Auth.JWTBearerTokenExchange
    from .client import AsyncTokenClient, RetryPolicy, TokenClient
    from .client import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange

    # Token exchange (RFC 8693); workload identity: the platform's JWT as client assertion
    from .client.token_exchange import TokenExchange
    from .client.workload import ClientAssertionFile, GitHubActionsOIDC

    # Keys that never leave a PKCS#11 token, AWS KMS or any signing function
    from .jose.signer import Signer
    from .signers import AwsKmsSigner, CallableSigner, Pkcs11Signer

    # Reuse until shortly before expiry; stores for a process, a machine, a fleet; httpx/requests
    from .lifecycle import AsyncCachedSource, BearerAuth, CachedSource
    from .lifecycle import MemoryStore, RedisStore, SQLiteStore

    # Authorization server metadata (RFC 8414, OpenID Connect Discovery)
    from .client import adiscover, discover, ServerMetadata
    from .errors import DiscoveryError

    # Validating incoming JWTs (a resource server's side; Apex Auth.JWTUtil)
    from .validation import JWTUtil, JWTValidator, ValidatedJWT
    from .errors import InvalidToken, JWTValidationException

    # Named credentials from TOML; inspect an assertion, explain an error
    from .profiles import profile
    from .diagnose import explain_error, inspect_assertion

__version__ = "0.1.0"

#: Where each public name is defined (module relative to this package).
_HOMES = {
    **dict.fromkeys(("AsyncTokenSource", "Token", "TokenSource"), ".token"),
    **dict.fromkeys(
        (
            "ConfigurationError", "InvalidClient", "InvalidGrant", "JWTBearerError",
            "JWTBearerTokenExchangeException", "KeyLoadError", "ResponseFormatError",
            "TokenEndpointError", "TransportError", "DiscoveryError", "InvalidToken",
            "JWTValidationException",
        ),
        ".errors",
    ),
    **dict.fromkeys(("JWS", "JWT"), ".jose.assertion"),
    "SigningKey": ".jose.keys",
    "KeyStore": ".jose.keystore",
    **dict.fromkeys(
        ("ClientSecretBasic", "ClientSecretJWT", "ClientSecretPost", "NoClientAuth",
         "PrivateKeyJWT"),
        ".client.client_auth",
    ),
    **dict.fromkeys(
        ("AuthorizationCode", "ClientCredentials", "JWTBearer", "PKCE", "RefreshToken"),
        ".client.grants",
    ),
    **dict.fromkeys(("AsyncTokenClient", "TokenClient"), ".client.token_client"),
    "RetryPolicy": ".client.protocol",
    **dict.fromkeys(("ServerMetadata", "adiscover", "discover"), ".client.discovery"),
    **dict.fromkeys(("JWTUtil", "JWTValidator", "ValidatedJWT"), ".validation"),
    **dict.fromkeys(
        ("AsyncJWTBearerTokenExchange", "JWTBearerTokenExchange"), ".client.exchange"
    ),
    "TokenExchange": ".client.token_exchange",
    **dict.fromkeys(("ClientAssertionFile", "GitHubActionsOIDC"), ".client.workload"),
    "Signer": ".jose.signer",
    "CallableSigner": ".signers.callable",
    "Pkcs11Signer": ".signers.pkcs11",
    "AwsKmsSigner": ".signers.aws_kms",
    **dict.fromkeys(("AsyncCachedSource", "CachedSource"), ".lifecycle.caching"),
    "BearerAuth": ".lifecycle.httpauth",
    "MemoryStore": ".lifecycle.stores.memory",
    "RedisStore": ".lifecycle.stores.redis",
    "SQLiteStore": ".lifecycle.stores.sqlite",
    "profile": ".profiles",
    **dict.fromkeys(("explain_error", "inspect_assertion"), ".diagnose.explain"),
}
#: The layers, reachable as attributes too (``jwtbearer.jose.verify_compact``).
_SUBMODULES = frozenset({
    "cli", "client", "demo", "diagnose", "errors", "integrations", "jose", "lifecycle", "oauth",
    "profiles", "server", "signers", "testing", "token", "validation",
})

__all__ = [
    "JWS",
    "JWT",
    "PKCE",
    "AsyncCachedSource",
    "AsyncJWTBearerTokenExchange",
    "AsyncTokenClient",
    "AsyncTokenSource",
    "AuthorizationCode",
    "AwsKmsSigner",
    "BearerAuth",
    "CachedSource",
    "CallableSigner",
    "ClientAssertionFile",
    "ClientCredentials",
    "ClientSecretBasic",
    "ClientSecretJWT",
    "ClientSecretPost",
    "ConfigurationError",
    "DiscoveryError",
    "GitHubActionsOIDC",
    "InvalidClient",
    "InvalidGrant",
    "InvalidToken",
    "JWTBearer",
    "JWTBearerError",
    "JWTBearerTokenExchange",
    "JWTBearerTokenExchangeException",
    "JWTUtil",
    "JWTValidationException",
    "JWTValidator",
    "KeyLoadError",
    "KeyStore",
    "MemoryStore",
    "NoClientAuth",
    "Pkcs11Signer",
    "PrivateKeyJWT",
    "RedisStore",
    "RefreshToken",
    "ResponseFormatError",
    "RetryPolicy",
    "SQLiteStore",
    "ServerMetadata",
    "Signer",
    "SigningKey",
    "Token",
    "TokenClient",
    "TokenEndpointError",
    "TokenExchange",
    "TokenSource",
    "TransportError",
    "ValidatedJWT",
    "adiscover",
    "discover",
    "explain_error",
    "inspect_assertion",
    "profile",
]


__getattr__, __dir__ = lazy(__name__, _HOMES, globals(), _SUBMODULES)
