"""Every hint table in one place: what an error code or an error description tells the user.

:data:`KNOWN_ERRORS` is the per-provider table (Salesforce, Okta, Entra ID, Auth0, PingOne,
Google wordings, with what/why/fix). :func:`hint_for` gives the one-line hint that follows a
:class:`~jwtbearer.errors.TokenEndpointError` message: the matching provider entry's fix first,
then :data:`DESCRIPTION_HINTS` and :data:`CODE_HINTS`. :func:`jwtbearer.diagnose.explain_error`
reads the same provider table, and :data:`GENERIC_BY_CODE` for servers it does not know, so
the hint under an error and ``jwtbearer explain`` never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "AADSTS_CODE",
    "CODE_HINTS",
    "DESCRIPTION_HINTS",
    "GENERIC_BY_CODE",
    "KNOWN_ERRORS",
    "KnownError",
    "find_known",
    "hint_for",
]

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
    ("audience", "The aud claim must be what the server expects: Salesforce wants "
     "https://login.salesforce.com (https://test.salesforce.com for a sandbox, or the Experience "
     "Cloud site URL), never the token URL; other servers their token endpoint URL or issuer."),
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


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownError:
    """One known error message: matched when every ``needles`` string is in the description
    (case-insensitive) and, when ``error`` is set, the error code is that one."""

    provider: str
    needles: tuple[str, ...]
    what: str
    why: str
    fix: str
    error: str | None = None


def _k(provider: str, needles: str | tuple[str, ...], what: str, why: str, fix: str,
       error: str | None = None) -> KnownError:
    return KnownError(provider=provider, needles=(needles,) if isinstance(needles, str)
                      else needles, what=what, why=why, fix=fix, error=error)


#: Provider names, as reported in :attr:`KnownError.provider`.
SF, OKTA, AAD, AUTH0, PING, GOOGLE = (
    "Salesforce", "Okta", "Microsoft Entra ID (Azure AD)", "Auth0", "PingOne", "Google")

#: Known error messages, most specific first. Providers word the same failure differently;
#: matching on the description is what lets one tool explain all of them.
KNOWN_ERRORS: tuple[KnownError, ...] = (
    _k(SF, "user hasn't approved this consumer",
       "Salesforce has no approval for this connected app from the user named in sub.",
       "The JWT bearer flow cannot ask the user, so the approval must exist beforehand: an "
       "admin pre-authorised the user's profile or permission set, or the user once approved "
       "the app in a browser with the refresh_token scope. It also happens when sub is not "
       "an exact username in this org.",
       "In the connected app's policies set Permitted Users to 'Admin approved users are "
       "pre-authorized' and add the user's profile or permission set; check that sub is the "
       "user's exact username in this org (sandbox usernames end in .sandboxname)."),
    _k(SF, "user is not admin approved",
       "The app is 'admin approved users are pre-authorized' and this user is not among them.",
       "The user's profile or permission set is not assigned to the connected app.",
       "Add the user's profile or a permission set to the connected app (Manage > Profiles)."),
    _k(SF, "audience is invalid",
       "The aud claim is not one Salesforce accepts.",
       "aud was the token URL, a My Domain URL or the wrong environment.",
       "aud = https://login.salesforce.com (production), https://test.salesforce.com "
       "(sandbox) or the Experience Cloud site URL; post to the matching host."),
    _k(SF, "invalid assertion",
       "Salesforce could not accept the assertion's signature or claims.",
       "The key does not match the certificate uploaded to the app, the app is new (changes "
       "take up to 10 minutes), iss is not the consumer key, or the JWT is malformed.",
       "Run `jwtbearer inspect` on the assertion with --cert pointing at the uploaded "
       "certificate; check iss = consumer key; wait after editing the app."),
    _k(SF, "expired authorization code",
       "Salesforce considers the grant expired.",
       "In the JWT bearer flow: exp was already past (or in milliseconds, or the clock is "
       "wrong); in the web-server flow: the code was older than 15 minutes or reused.",
       "exp = now + at most 300 s, in seconds; sync this machine's clock; sign a fresh "
       "assertion for each request."),
    _k(SF, "client identifier invalid",
       "Salesforce does not know this client id (consumer key).",
       "iss/client_id is wrong, the app is in another org, or it was just created.",
       "Copy the consumer key from the app's 'Manage Consumer Details'; use the right login "
       "host (login vs test)."),
    _k(SF, "request not supported on this domain",
       "The client credentials flow was sent to login.salesforce.com.",
       "Salesforce's client credentials flow only works on the org's My Domain.",
       "Post to https://<MyDomain>.my.salesforce.com/services/oauth2/token."),
    _k(SF, "no client credentials user enabled",
       "The client credentials flow has no run-as user.",
       "'Enable Client Credentials Flow' is on but no execution user is set.",
       "Set 'Run As' in the connected app's policies (Client Credentials Flow)."),
    _k(SF, ("authentication failure",),
       "Salesforce refused the credentials.",
       "Wrong client secret, user locked, IP restrictions or login hours.",
       "Check the secret, the user's status and the app's IP relaxation policy.",
       "invalid_grant"),
    _k(SF, "ip restricted",
       "The login is outside the allowed IP ranges or login hours.",
       "The profile or app restricts IP ranges.",
       "Relax IP restrictions for the app or add this host's address to the profile."),
    _k(OKTA, "expiration too far into the future",
       "The client assertion lives longer than Okta allows.",
       "Okta refuses exp more than 60 minutes ahead, measured on its clock.",
       "Use a lifetime of a few minutes (300 s) and keep the clock in sync."),
    _k(OKTA, ("client_assertion", "expired"),
       "The client assertion had expired when Okta checked it.",
       "exp in the past, a slow clock, or a reused assertion.",
       "Sign a fresh assertion per request; check the clock."),
    _k(OKTA, ("client_assertion", "signature"),
       "The client assertion's signature does not verify with the client's registered keys.",
       "Signed with another key, kid not in the registered JWKS, or the wrong algorithm.",
       "Register the public JWK (jwtbearer keys jwk NAME) and send its kid."),
    _k(OKTA, ("audience", "client_assertion"),
       "The client assertion's aud is not the endpoint called.",
       "aud was the issuer or another org's URL.",
       "Set aud to the exact token endpoint URL, e.g. https://ORG.okta.com/oauth2/default/v1/token."),
    _k(OKTA, "does not have any configured default scopes",
       "No scope was requested and the authorization server has no default scope.",
       "Okta needs an explicit scope for client credentials.", "Pass --scope."),
    _k(OKTA, "either the client or the client credentials are invalid",
       "Client authentication failed.",
       "Wrong client id or secret, or an authentication method the app is not set up for.",
       "Check the id/secret and the app's 'Client authentication' setting."),
    _k(OKTA, "not authorized to use the provided grant type",
       "The app may not use this grant.", "The grant type is not enabled for the app.",
       "Enable the grant (e.g. Client Credentials) in the app's General Settings."),
    _k(AAD, "AADSTS700027",
       "The client assertion's signature did not verify.",
       "The certificate uploaded to the app registration is not the one of the signing key, "
       "or the header's x5t/x5t#S256 names another certificate.",
       "Upload the certificate of the signing key (Certificates & secrets) and send its "
       "thumbprint (jwtbearer assert --x5t)."),
    _k(AAD, "AADSTS7000215",
       "The client secret is wrong.",
       "The secret's ID was sent instead of its value, or the secret was rotated.",
       "Use the secret's Value (shown once when created), not its Secret ID."),
    _k(AAD, "AADSTS7000222",
       "The client secret has expired.", "Secrets expire (at most 24 months).",
       "Create a new secret, or switch to a certificate."),
    _k(AAD, "AADSTS700024",
       "The client assertion is not within its valid time range.",
       "exp/nbf/iat wrong: the clock is off, times are in milliseconds or local time, or the "
       "lifetime is too long.",
       "Use UTC epoch seconds; lifetime a few minutes; sync the clock."),
    _k(AAD, "AADSTS50027",
       "The JWT is invalid or malformed.",
       "A required claim is missing or has the wrong type, or the encoding is wrong.",
       "Run `jwtbearer inspect` on it."),
    _k(AAD, "AADSTS700016",
       "The application (client id) was not found in this tenant.",
       "Wrong client id, wrong tenant in the URL, or the app is not consented in the tenant.",
       "Check the Application (client) ID and the tenant id in the token URL."),
    _k(AAD, "AADSTS700023",
       "The client assertion's aud does not match the tenant's issuer.",
       "aud was not this tenant's token endpoint.",
       "aud = https://login.microsoftonline.com/TENANT/oauth2/v2.0/token."),
    _k(AAD, "AADSTS90002", "The tenant was not found.", "A typo in the tenant id or domain.",
       "Check the tenant in the token URL."),
    _k(AAD, "AADSTS1002012",
       "The scope is not valid for client credentials.",
       "Client credentials need a resource scope ending in /.default.",
       "Use --scope https://graph.microsoft.com/.default (or your API's URI + /.default)."),
    _k(AAD, "AADSTS70011", "The scope is invalid.", "A malformed or unknown scope.",
       "Use RESOURCE/.default for client credentials."),
    _k(AAD, "AADSTS70021",
       "No federated identity credential matches the presented assertion.",
       "iss, sub or aud of the external token differ from the federated credential.",
       "Compare the assertion's iss/sub/aud with the federated credential exactly."),
    _k(AAD, "AADSTS500011",
       "The resource (API) was not found in the tenant.",
       "The scope names an API not present or not consented in this tenant.",
       "Check the resource URI and grant admin consent."),
    _k(AAD, "AADSTS50012", "Client authentication failed.",
       "An invalid secret or assertion (older wording of 7000215/700027).",
       "Check the secret or the certificate registered for the app."),
    _k(AUTH0, "service not enabled within domain",
       "The audience is not an API defined in this Auth0 tenant.",
       "A typo in audience, or the API was created in another tenant.",
       "Use the API's Identifier exactly as shown under Applications > APIs."),
    _k(AUTH0, "client-grant",
       "The application is not authorised for this API.",
       "No client grant links the machine-to-machine application to the API.",
       "Authorise the application under the API's Machine to Machine Applications tab."),
    _k(AUTH0, "has not been granted scopes",
       "A requested scope was not granted to the application.",
       "The client grant lacks the scope.", "Grant the scope or ask only for granted ones."),
    _k(AUTH0, "grant type 'client_credentials' not allowed",
       "The application may not use client credentials.",
       "It is not a machine-to-machine application or the grant is disabled.",
       "Enable Client Credentials under the application's Advanced Settings > Grant Types."),
    _k(PING, "unsupported authentication method",
       "The client authenticated with a method the application is not configured for.",
       "tokenEndpointAuthMethod differs from what was sent (e.g. Basic vs client_secret_jwt).",
       "Match --auth to the application's Token Endpoint Authentication Method."),
    _k(GOOGLE, "invalid jwt signature",
       "Google could not verify the assertion with the service account's keys.",
       "The key was deleted or rotated, or iss names another service account than the key's.",
       "Use the key file of that service account; iss = its client_email; check the key "
       "still exists in IAM."),
    _k(GOOGLE, "short-lived token",
       "The assertion's time window is not acceptable.",
       "exp - iat over 60 minutes, or iat/exp off because of the clock or milliseconds.",
       "iat = now, exp = now + at most 3600, in seconds; sync the clock."),
    _k(GOOGLE, "account not found",
       "The service account in iss does not exist.", "A deleted account or a typo.",
       "Check iss against the key file's client_email."),
    _k(GOOGLE, "client is unauthorized to retrieve access tokens using this method",
       "Domain-wide delegation is not granted for these scopes.",
       "sub impersonates a user but the service account is not authorised in Admin console.",
       "Add the client id and exact scopes under Security > API controls > Domain-wide "
       "delegation."),
    _k(GOOGLE, "invalid email or user id", "sub is not a user of the domain.",
       "A typo or a user outside the Workspace domain.", "Set sub to an existing user."),
)

#: A Microsoft Entra ID error number (``AADSTS700027``); Microsoft's entries match on it exactly.
AADSTS_CODE = re.compile(r"AADSTS\d+")


def find_known(error: str | None, text: str) -> KnownError | None:
    """The first entry of :data:`KNOWN_ERRORS` whose ``needles`` all occur in ``text`` (the
    error code and description, case-insensitive) and whose ``error``, when set, is ``error``.

    Microsoft's entries also need the AADSTS number to be exactly theirs, since one number is
    often the prefix of another (``AADSTS700021`` and ``AADSTS7000215``).
    """
    lowered = text.lower()
    aad = AADSTS_CODE.search(text)
    for known in KNOWN_ERRORS:
        if known.error is not None and known.error != error:
            continue
        if all(n.lower() in lowered for n in known.needles):
            if known.provider == AAD and (aad is None or aad.group(0) != known.needles[0]):
                continue
            return known
    return None


def hint_for(status: int | None, error: str | None, description: str | None) -> str | None:
    """The one-line hint for an error answer: the provider table's fix when its wording is
    known (:data:`KNOWN_ERRORS`), else the description's or the code's hint, else None."""
    text = " ".join(x for x in (error, description) if x)
    known = find_known(error, text) if text else None
    if known is not None:
        return known.fix
    described = (description or "").lower()
    for needle, hint in DESCRIPTION_HINTS:
        if needle in described:
            return hint
    if error is not None and error in CODE_HINTS:
        return CODE_HINTS[error]
    return None
