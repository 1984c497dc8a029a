"""The public API is pinned: a name added to or removed from ``jwtbearer`` must be added to or
removed here (and in the README) in the same change."""

from __future__ import annotations

import importlib
import inspect

import jwtbearer

PUBLIC = sorted(
    """
    AsyncCachedSource AsyncJWTBearerTokenExchange AsyncTokenClient AsyncTokenSource
    AuthorizationCode BearerAuth CachedSource ClientCredentials ClientSecretBasic ClientSecretJWT
    ClientSecretPost ConfigurationError InvalidClient InvalidGrant JWS JWT JWTBearer JWTBearerError
    JWTBearerTokenExchange JWTBearerTokenExchangeException KeyLoadError KeyStore MemoryStore
    NoClientAuth PKCE PrivateKeyJWT RedisStore RefreshToken ResponseFormatError RetryPolicy
    SQLiteStore SigningKey Token TokenClient TokenEndpointError TokenSource TransportError
    explain_error inspect_assertion profile DiscoveryError InvalidToken JWTUtil
    JWTValidationException JWTValidator ServerMetadata ValidatedJWT adiscover discover AwsKmsSigner
    CallableSigner Pkcs11Signer Signer ClientAssertionFile GitHubActionsOIDC TokenExchange
    """.split()
)

#: Names that left the root: each is importable from the module that defines it.
PLUMBING = {
    "jwtbearer.jose": "ALGORITHMS MAX_TOKEN_LENGTH REGISTERED_CLAIMS VerifiedJWS VerifyingKey "
                      "default_key_store load_jwks make_assertion new_jti sign_compact "
                      "unverified_claims unverified_header verify_compact",
    "jwtbearer.jose.jws": "b64url_decode b64url_encode parse_json_object sign_with_header",
    "jwtbearer.client": "AsyncEndpointSource ClientAuth EndpointSource Grant",
    "jwtbearer.client.protocol": "MAX_RESPONSE_BYTES TokenRequest build_token_request "
                                 "parse_retry_after parse_token_response",
    "jwtbearer.oauth": "AUTHORIZATION_CODE_GRANT CLIENT_ASSERTION_TYPE CLIENT_CREDENTIALS_GRANT "
                       "JWT_BEARER_GRANT REFRESH_TOKEN_GRANT TOKEN_EXCHANGE_GRANT "
                       "ACCESS_TOKEN_TYPE ID_TOKEN_TYPE JWT_TOKEN_TYPE REFRESH_TOKEN_TYPE "
                       "SAML1_TOKEN_TYPE SAML2_TOKEN_TYPE",
    "jwtbearer.signers": "RemoteSigner as_signer der_to_raw raw_to_der is_signer_reference "
                         "signer_from_reference",
    "jwtbearer.lifecycle": "TokenStore store_key",
    "jwtbearer.diagnose": "KNOWN_ERRORS Explanation Finding KnownError Report",
    "jwtbearer.profiles": "CLIENT_AUTH_METHODS GRANTS Profile load_profiles profiles_path",
    "jwtbearer.token": "Clock system_clock",
    "jwtbearer.client.discovery": "DEFAULT_METADATA_MAX_AGE metadata_urls",
    "jwtbearer.validation": "JWKSCache ParsedJWT",
    "jwtbearer.errors": "StoreLockTimeout error_class_for redact ExpiredToken InvalidAudience "
                        "InvalidRequest InvalidScope InvalidTarget UnauthorizedClient "
                        "UnsupportedGrantType ServerError TemporarilyUnavailable RateLimited "
                        "UnexpectedRedirect StoreError JWSError "
                        "InvalidIssuer InvalidSignature InvalidTokenType MalformedToken "
                        "MissingClaim TokenNotYetValid UnknownKey",
}


def test_the_root_stays_small() -> None:
    # Headroom for the features still to come; plumbing lives in its own module.
    assert len(jwtbearer.__all__) <= 60


def test_plumbing_is_importable_from_its_module() -> None:
    for module, names in PLUMBING.items():
        mod = importlib.import_module(module)
        for name in names.split():
            assert hasattr(mod, name), f"{module}.{name}"
            assert name not in jwtbearer.__all__, name


def test_import_loads_only_the_root_until_a_name_is_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, jwtbearer\n"
        "print(sorted(m for m in sys.modules if m.startswith('jwtbearer')))\n"
        "jwtbearer.TokenClient\n"
        "print('httpx' in sys.modules, 'jwtbearer.server' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out[0] == "['jwtbearer', 'jwtbearer._lazy']"
    assert out[1] == "True False"


def test_all_is_pinned() -> None:
    assert sorted(jwtbearer.__all__) == PUBLIC


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in jwtbearer.__all__:
        value = getattr(jwtbearer, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert getattr(value, "__doc__", None), f"jwtbearer.{name} has no docstring"


def test_module_all_lists_only_existing_names() -> None:
    for module in ("jwtbearer.testing", "jwtbearer.server", "jwtbearer.lifecycle.stores",
                   "jwtbearer.jose", "jwtbearer.client", "jwtbearer.lifecycle",
                   "jwtbearer.diagnose", "jwtbearer.oauth", "jwtbearer.signers",
                   "jwtbearer.validation", "jwtbearer.client.discovery",
                   "jwtbearer.integrations"):
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
