"""The public API is pinned: a name added to or removed from ``jwtbearer`` must be added to or
removed here (and in the README) in the same change."""

from __future__ import annotations

import importlib
import inspect

import jwtbearer

PUBLIC = sorted(
    """
    ALGORITHMS AUTHORIZATION_CODE_GRANT AsyncCachedSource AsyncEndpointSource
    AsyncJWTBearerTokenExchange AsyncTokenClient AsyncTokenSource AuthorizationCode BearerAuth
    CLIENT_ASSERTION_TYPE CLIENT_AUTH_METHODS CLIENT_CREDENTIALS_GRANT CachedSource ClientAuth
    ClientCredentials ClientSecretBasic ClientSecretJWT ClientSecretPost Clock ConfigurationError
    EndpointSource Explanation Finding GRANTS Grant InvalidClient InvalidGrant InvalidRequest
    InvalidScope InvalidTarget JWS JWSError JWT JWTBearer JWTBearerError JWTBearerTokenExchange
    JWTBearerTokenExchangeException JWT_BEARER_GRANT KNOWN_ERRORS KeyLoadError KeyStore KnownError
    MAX_RESPONSE_BYTES MAX_TOKEN_LENGTH MemoryStore NoClientAuth PKCE PrivateKeyJWT Profile
    REFRESH_TOKEN_GRANT REGISTERED_CLAIMS RateLimited RedisStore RefreshToken Report
    ResponseFormatError RetryPolicy SQLiteStore ServerError SigningKey StoreError StoreLockTimeout
    TemporarilyUnavailable Token TokenClient TokenEndpointError TokenRequest TokenSource TokenStore
    TransportError UnauthorizedClient UnexpectedRedirect UnsupportedGrantType VerifiedJWS
    VerifyingKey b64url_decode b64url_encode build_token_request default_key_store error_class_for
    explain_error inspect_assertion load_jwks load_profiles make_assertion new_jti
    parse_json_object parse_retry_after parse_token_response profile profiles_path redact
    sign_compact sign_with_header store_key system_clock unverified_claims unverified_header
    verify_compact
    AwsKmsSigner CallableSigner Pkcs11Signer Signer ClientAssertionFile GitHubActionsOIDC
    ACCESS_TOKEN_TYPE ID_TOKEN_TYPE JWT_TOKEN_TYPE REFRESH_TOKEN_TYPE TOKEN_EXCHANGE_GRANT
    TokenExchange
    """.split()
)


def test_all_is_pinned() -> None:
    assert sorted(jwtbearer.__all__) == PUBLIC


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in jwtbearer.__all__:
        value = getattr(jwtbearer, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert getattr(value, "__doc__", None), f"jwtbearer.{name} has no docstring"


def test_module_all_lists_only_existing_names() -> None:
    for module in ("jwtbearer.testing", "jwtbearer.server", "jwtbearer.stores"):
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            assert hasattr(mod, name), f"{module}.__all__ names missing {name}"


def test_version_matches_the_installed_distribution() -> None:
    from importlib.metadata import version

    assert jwtbearer.__version__ == version("jwtbearer")


def test_optional_signers_load_lazily() -> None:
    import subprocess
    import sys

    code = ("import sys, jwtbearer; assert 'pkcs11' not in sys.modules and 'boto3' not in "
            "sys.modules; jwtbearer.Pkcs11Signer; assert 'pkcs11' in sys.modules; "
            "jwtbearer.AwsKmsSigner")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
