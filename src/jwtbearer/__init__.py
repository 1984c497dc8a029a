"""jwtbearer: server-to-server OAuth 2.0 with JWTs.

The public API, in reading order. ``jwtbearer.testing`` (the mock token endpoint, fake clock and
pytest fixtures) and ``jwtbearer.server`` (the reference token endpoint, extra ``server``) are
imported on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Tokens and where they come from
from .token import AsyncTokenSource, Clock, system_clock, Token, TokenSource

# Errors (the tree is drawn in jwtbearer.errors)
from .errors import (
    ConfigurationError,
    error_class_for,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    JWSError,
    JWTBearerError,
    JWTBearerTokenExchangeException,
    KeyLoadError,
    RateLimited,
    redact,
    ResponseFormatError,
    ServerError,
    StoreError,
    StoreLockTimeout,
    TemporarilyUnavailable,
    TokenEndpointError,
    TransportError,
    UnauthorizedClient,
    UnexpectedRedirect,
    UnsupportedGrantType,
)

# Keys: PEM, PKCS#12, JWK, secrets; named keys
from .keys import ALGORITHMS, default_key_store, KeyStore, load_jwks, SigningKey, VerifyingKey

# Compact JWS (RFC 7515), algorithm pinned by the key
from .jws import (
    b64url_decode,
    b64url_encode,
    MAX_TOKEN_LENGTH,
    parse_json_object,
    sign_compact,
    sign_with_header,
    unverified_claims,
    unverified_header,
    VerifiedJWS,
    verify_compact,
)

# Apex Auth.JWT and Auth.JWS
from .assertion import JWS, JWT, make_assertion, new_jti, REGISTERED_CLAIMS

# Apex Auth.JWTBearerTokenExchange
from .exchange import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange

# Client authentication (RFC 6749 §2.3, RFC 7523 §2.2)
from .client_auth import (
    CLIENT_ASSERTION_TYPE,
    ClientAuth,
    ClientSecretBasic,
    ClientSecretJWT,
    ClientSecretPost,
    NoClientAuth,
    PrivateKeyJWT,
)

# Grants (RFC 7523 §2.1, RFC 6749 §4)
from .grants import (
    AUTHORIZATION_CODE_GRANT,
    AuthorizationCode,
    CLIENT_CREDENTIALS_GRANT,
    ClientCredentials,
    Grant,
    JWT_BEARER_GRANT,
    JWTBearer,
    PKCE,
    REFRESH_TOKEN_GRANT,
    RefreshToken,
)

# Protocol core, no I/O: requests, responses, retries
from .protocol import (
    build_token_request,
    MAX_RESPONSE_BYTES,
    parse_retry_after,
    parse_token_response,
    RetryPolicy,
    TokenRequest,
)

# Token clients: the only I/O
from .client import AsyncEndpointSource, AsyncTokenClient, EndpointSource, TokenClient

# Reuse until shortly before expiry, one refresh per expiry
from .caching import AsyncCachedSource, CachedSource

# Token stores: process, machine (SQLite), fleet (Redis)
from .stores import MemoryStore, RedisStore, SQLiteStore, store_key, TokenStore

# httpx and requests integration
from .httpauth import BearerAuth

# Named credentials from TOML
from .profiles import CLIENT_AUTH_METHODS, GRANTS, load_profiles, Profile, profile, profiles_path

# Inspect an assertion, explain an error
from .diagnose import (
    explain_error,
    Explanation,
    Finding,
    inspect_assertion,
    KNOWN_ERRORS,
    KnownError,
    Report,
)

# Signers: keys that stay in a PKCS#11 token, AWS KMS or any signing service. Pkcs11Signer
# (extra pkcs11) and AwsKmsSigner (extra aws) are imported on first use.
from .signers import CallableSigner, Signer

# Token exchange (RFC 8693)
from .token_exchange import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    TokenExchange,
)

# Workload identity: the platform's JWT as the client assertion (Kubernetes, Entra ID, GitHub)
from .workload import ClientAssertionFile, GitHubActionsOIDC

if TYPE_CHECKING:
    from .signers.aws_kms import AwsKmsSigner
    from .signers.pkcs11 import Pkcs11Signer

__version__ = "0.1.0"

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ALGORITHMS",
    "AUTHORIZATION_CODE_GRANT",
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_AUTH_METHODS",
    "CLIENT_CREDENTIALS_GRANT",
    "GRANTS",
    "ID_TOKEN_TYPE",
    "JWS",
    "JWT",
    "JWT_BEARER_GRANT",
    "JWT_TOKEN_TYPE",
    "KNOWN_ERRORS",
    "MAX_RESPONSE_BYTES",
    "MAX_TOKEN_LENGTH",
    "PKCE",
    "REFRESH_TOKEN_GRANT",
    "REFRESH_TOKEN_TYPE",
    "REGISTERED_CLAIMS",
    "TOKEN_EXCHANGE_GRANT",
    "AsyncCachedSource",
    "AsyncEndpointSource",
    "AsyncJWTBearerTokenExchange",
    "AsyncTokenClient",
    "AsyncTokenSource",
    "AuthorizationCode",
    "AwsKmsSigner",
    "BearerAuth",
    "CachedSource",
    "CallableSigner",
    "ClientAssertionFile",
    "ClientAuth",
    "ClientCredentials",
    "ClientSecretBasic",
    "ClientSecretJWT",
    "ClientSecretPost",
    "Clock",
    "ConfigurationError",
    "EndpointSource",
    "Explanation",
    "Finding",
    "GitHubActionsOIDC",
    "Grant",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "JWSError",
    "JWTBearer",
    "JWTBearerError",
    "JWTBearerTokenExchange",
    "JWTBearerTokenExchangeException",
    "KeyLoadError",
    "KeyStore",
    "KnownError",
    "MemoryStore",
    "NoClientAuth",
    "Pkcs11Signer",
    "PrivateKeyJWT",
    "Profile",
    "RateLimited",
    "RedisStore",
    "RefreshToken",
    "Report",
    "ResponseFormatError",
    "RetryPolicy",
    "SQLiteStore",
    "ServerError",
    "Signer",
    "SigningKey",
    "StoreError",
    "StoreLockTimeout",
    "TemporarilyUnavailable",
    "Token",
    "TokenClient",
    "TokenEndpointError",
    "TokenExchange",
    "TokenRequest",
    "TokenSource",
    "TokenStore",
    "TransportError",
    "UnauthorizedClient",
    "UnexpectedRedirect",
    "UnsupportedGrantType",
    "VerifiedJWS",
    "VerifyingKey",
    "b64url_decode",
    "b64url_encode",
    "build_token_request",
    "default_key_store",
    "error_class_for",
    "explain_error",
    "inspect_assertion",
    "load_jwks",
    "load_profiles",
    "make_assertion",
    "new_jti",
    "parse_json_object",
    "parse_retry_after",
    "parse_token_response",
    "profile",
    "profiles_path",
    "redact",
    "sign_compact",
    "sign_with_header",
    "store_key",
    "system_clock",
    "unverified_claims",
    "unverified_header",
    "verify_compact",
]


def __getattr__(name: str) -> Any:
    """The optional signers, imported (with python-pkcs11 or boto3) when first used."""
    if name in ("Pkcs11Signer", "AwsKmsSigner"):
        from . import signers

        return getattr(signers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
