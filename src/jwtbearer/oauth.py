"""The shared OAuth vocabulary: the names client and server must spell the same way.

Grant types (RFC 6749 §4, RFC 7523 §2.1, RFC 8693 §2.1), token type identifiers (RFC 8693
§3), the JWT client assertion type (RFC 7523 §2.2), the
token endpoint authentication methods (IANA "OAuth Token Endpoint Authentication Methods",
RFC 7591 §2) and the bounds of a NumericDate (RFC 7519 §2). The client (``jwtbearer.client``),
the reference server (``jwtbearer.server``), the profiles and the diagnostics import them from
here; nothing here imports anything.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "AUTHORIZATION_CODE_GRANT",
    "AUTH_METHODS",
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_CREDENTIALS_GRANT",
    "ID_TOKEN_TYPE",
    "JWT_BEARER_GRANT",
    "JWT_TOKEN_TYPE",
    "MAX_NUMERIC_DATE",
    "MS_THRESHOLD",
    "REFRESH_TOKEN_GRANT",
    "REFRESH_TOKEN_TYPE",
    "SALESFORCE_LOGIN",
    "SALESFORCE_SANDBOX_LOGIN",
    "SAML1_TOKEN_TYPE",
    "SAML2_TOKEN_TYPE",
    "SECRET_AUTH_METHODS",
    "TLS_AUTH_METHODS",
    "TOKEN_EXCHANGE_GRANT",
    "default_assertion_audience",
    "is_salesforce_sandbox",
]

#: RFC 7523 §2.1.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: RFC 6749 §4.4.2.
CLIENT_CREDENTIALS_GRANT = "client_credentials"
#: RFC 6749 §4.1.3.
AUTHORIZATION_CODE_GRANT = "authorization_code"
#: RFC 6749 §6.
REFRESH_TOKEN_GRANT = "refresh_token"
#: Token exchange (RFC 8693 §2.1).
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"

#: Token type identifiers (RFC 8693 §3).
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SAML1_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:saml1"
SAML2_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:saml2"

#: ``client_assertion_type`` of a JWT client assertion (RFC 7523 §2.2).
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Token endpoint authentication methods, named as in the IANA registry (RFC 7591 §2).
AUTH_METHODS = (
    "none",
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
)
#: The methods that need a client secret.
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")
#: RFC 8705 §2: mutual-TLS client authentication (the proof is the TLS client certificate).
TLS_AUTH_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")

#: Largest NumericDate accepted: beyond 2**53 a number is no longer exact in IEEE doubles
#: (RFC 7493 §2.2), and an integer past the float range would overflow the time arithmetic.
MAX_NUMERIC_DATE = 2**53
#: Epoch seconds past this (year 5138) can only be milliseconds; a NumericDate is seconds.
MS_THRESHOLD = 10**11

#: The aud Salesforce wants in a JWT bearer assertion for production and Developer Edition orgs,
#: whatever host the token request goes to (My Domain included).
SALESFORCE_LOGIN = "https://login.salesforce.com"
#: ... and for sandboxes.
SALESFORCE_SANDBOX_LOGIN = "https://test.salesforce.com"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_salesforce_sandbox(url: str) -> bool:
    """True for ``test.salesforce.com`` and a sandbox My Domain
    (``*.sandbox.my.salesforce.com``)."""
    host = _host(url)
    return host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com")


def default_assertion_audience(token_url: str) -> str:
    """The assertion's aud when none is configured: the token URL (RFC 7523 §3), except for
    Salesforce (``*.salesforce.com``, ``*.force.com``), which documents
    https://login.salesforce.com, or https://test.salesforce.com for a sandbox, as the aud
    for every token host, My Domain and Experience Cloud sites included."""
    host = _host(token_url)
    if host == "salesforce.com" or host.endswith((".salesforce.com", ".force.com")):
        return SALESFORCE_SANDBOX_LOGIN if is_salesforce_sandbox(token_url) else SALESFORCE_LOGIN
    return token_url
