"""jwtbearer: server-to-server OAuth 2.0 with JWTs.

The public API, in reading order. ``jwtbearer.testing`` (the mock token endpoint, fake clock and
pytest fixtures) and ``jwtbearer.server`` (the reference token endpoint, extra ``server``) are
imported on their own.
"""

from __future__ import annotations

# Tokens and where they come from
from .token import AsyncTokenSource, Clock, system_clock, Token, TokenSource

# Errors (the tree is drawn in jwtbearer.errors)
from .errors import (
    ConfigurationError,
    DiscoveryError,
    error_class_for,
    ExpiredToken,
    InvalidAudience,
    InvalidClient,
    InvalidGrant,
    InvalidIssuer,
    InvalidRequest,
    InvalidScope,
    InvalidSignature,
    InvalidTarget,
    InvalidToken,
    InvalidTokenType,
    JWSError,
    JWTBearerError,
    JWTBearerTokenExchangeException,
    JWTValidationException,
    KeyLoadError,
    MalformedToken,
    MissingClaim,
    RateLimited,
    redact,
    ResponseFormatError,
    ServerError,
    StoreError,
    StoreLockTimeout,
    TemporarilyUnavailable,
    TokenEndpointError,
    TokenNotYetValid,
    TransportError,
    UnauthorizedClient,
    UnexpectedRedirect,
    UnknownKey,
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

# Authorization server metadata (RFC 8414, OpenID Connect Discovery)
from .discovery import adiscover, discover, ServerMetadata

# Validating incoming JWTs (a resource server's side; Apex Auth.JWTUtil)
from .validation import JWKSCache, JWTUtil, JWTValidator, ParsedJWT, ValidatedJWT

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

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "AUTHORIZATION_CODE_GRANT",
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_AUTH_METHODS",
    "CLIENT_CREDENTIALS_GRANT",
    "GRANTS",
    "JWS",
    "JWT",
    "JWT_BEARER_GRANT",
    "KNOWN_ERRORS",
    "MAX_RESPONSE_BYTES",
    "MAX_TOKEN_LENGTH",
    "PKCE",
    "REFRESH_TOKEN_GRANT",
    "REGISTERED_CLAIMS",
    "AsyncCachedSource",
    "AsyncEndpointSource",
    "AsyncJWTBearerTokenExchange",
    "AsyncTokenClient",
    "AsyncTokenSource",
    "AuthorizationCode",
    "BearerAuth",
    "CachedSource",
    "ClientAuth",
    "ClientCredentials",
    "ClientSecretBasic",
    "ClientSecretJWT",
    "ClientSecretPost",
    "Clock",
    "ConfigurationError",
    "DiscoveryError",
    "EndpointSource",
    "ExpiredToken",
    "Explanation",
    "Finding",
    "Grant",
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
    "JWKSCache",
    "JWSError",
    "JWTBearer",
    "JWTBearerError",
    "JWTBearerTokenExchange",
    "JWTBearerTokenExchangeException",
    "JWTUtil",
    "JWTValidationException",
    "JWTValidator",
    "KeyLoadError",
    "KeyStore",
    "KnownError",
    "MalformedToken",
    "MemoryStore",
    "MissingClaim",
    "NoClientAuth",
    "ParsedJWT",
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
    "ServerMetadata",
    "SigningKey",
    "StoreError",
    "StoreLockTimeout",
    "TemporarilyUnavailable",
    "Token",
    "TokenClient",
    "TokenEndpointError",
    "TokenNotYetValid",
    "TokenRequest",
    "TokenSource",
    "TokenStore",
    "TransportError",
    "UnauthorizedClient",
    "UnexpectedRedirect",
    "UnknownKey",
    "UnsupportedGrantType",
    "ValidatedJWT",
    "VerifiedJWS",
    "VerifyingKey",
    "adiscover",
    "b64url_decode",
    "b64url_encode",
    "build_token_request",
    "default_key_store",
    "discover",
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
