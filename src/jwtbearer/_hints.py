"""Every hint table in one place: what an error code or an error description tells the user.

:data:`CODE_HINTS` and :data:`DESCRIPTION_HINTS` give the one-line hint that follows a
:class:`~jwtbearer.errors.TokenEndpointError` message; :data:`GENERIC_BY_CODE` gives
:func:`jwtbearer.diagnose.explain_error` its what/why/fix for servers whose wording is not in
:data:`jwtbearer.diagnose.KNOWN_ERRORS` (the per-provider table, which lives with the
diagnostics that match it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CODE_HINTS", "DESCRIPTION_HINTS", "GENERIC_BY_CODE"]

#: The one-line hint a TokenEndpointError adds to its message, by RFC 6749 §5.2 error code.
CODE_HINTS: Mapping[str, str] = MappingProxyType({
    "invalid_grant": (
        "Check the assertion: exp in seconds and in the future, aud equal to what the server "
        "expects (Salesforce: https://login.salesforce.com or https://test.salesforce.com), "
        "iss the client id, sub a user the client is approved for, and the signing key matching "
        "the certificate uploaded to the server."
    ),
    "invalid_client": (
        "Check the client id, and the client secret or the key/certificate registered for "
        "the client, and that the client authentication method matches the registration."
    ),
    "invalid_request": "A parameter is missing or malformed; read error_description.",
    "unauthorized_client": (
        "This client is not allowed to use this grant type; check its registration."
    ),
    "unsupported_grant_type": "The server does not support this grant_type; check its metadata.",
    "invalid_scope": "Ask only for scopes that are registered for this client.",
    "invalid_target": "The requested resource/audience is not known to or allowed by the server.",
    "server_error": "The server failed; retry later, and report it to its operator if it persists.",
    "temporarily_unavailable": "The server is overloaded or in maintenance; retry later.",
})

#: Hints chosen by a phrase of error_description (checked before the code's hint).
DESCRIPTION_HINTS: tuple[tuple[str, str], ...] = (
    (
        "user hasn't approved this consumer",
        "The user (sub) is not pre-authorized for this app: in Salesforce set 'Admin approved "
        "users are pre-authorized' and add the user's profile or permission set to the app.",
    ),
    (
        "expired",
        "The assertion expired: its exp must be now + a few minutes, in seconds (not ms), and the "
        "machine clock must be right.",
    ),
    ("audience", "The aud claim must be the server's token endpoint URL or its issuer."),
)

#: What each RFC 6749 §5.2 error code means: (what, why, fix).
GENERIC_BY_CODE: Mapping[str, tuple[str, str, str]] = MappingProxyType({
    "invalid_grant": (
        "The grant (assertion, code or refresh token) was refused.",
        "An expired, not-yet-valid or badly signed assertion, a wrong aud, iss or sub, or a "
        "user not approved for the client.",
        "Run `jwtbearer inspect ASSERTION --token-url URL --cert CERT` and fix what it reports."),
    "invalid_client": (
        "Client authentication failed.",
        "Wrong client id or secret, a client assertion signed with another key, or an "
        "authentication method other than the registered one.",
        "Check the client id, the secret or registered key, and --auth."),
    "invalid_request": ("The request is malformed.", "A missing, repeated or bad parameter.",
                        "Read error_description: it names the parameter."),
    "unauthorized_client": ("The client may not use this grant type.",
                            "The grant is not enabled for the client.",
                            "Enable it in the client's registration."),
    "unsupported_grant_type": ("The server does not support this grant type.",
                               "A typo in grant_type or a server without the JWT bearer grant.",
                               "Check the server's metadata (grant_types_supported)."),
    "invalid_scope": ("A requested scope is unknown or not allowed.",
                      "The scope is not registered for the client.",
                      "Ask only for registered scopes."),
    "access_denied": ("The server denied the request.", "The client lacks permission.",
                      "Check the client's grants or permissions."),
    "server_error": ("The server failed.", "A fault on the server's side.",
                     "Retry later; report it if it persists."),
    "temporarily_unavailable": ("The server is overloaded or in maintenance.",
                                "Load or maintenance.", "Retry later."),
})
