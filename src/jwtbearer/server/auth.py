"""Client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2, OIDC Core §9).

:class:`ClientAuthenticator` answers "which registered client sent this, and how did it prove
it?" for one request: ``client_secret_basic`` (form-urlencoded as RFC 6749 §2.3.1 says, or raw
as most clients send it), ``client_secret_post``, ``client_secret_jwt`` / ``private_key_jwt``
client assertions, RFC 8705 ``tls_client_auth`` (a certificate from a trusted CA with the
registered subject DN or SAN) and ``self_signed_tls_client_auth`` (a registered certificate),
or nothing (a ``client_id`` alone, or no client at all). Whether a grant may
go without authentication is the grant's decision, not this module's. Secrets are compared as
SHA-256 digests in constant time, so neither their content nor their length shows in timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..errors import ConfigurationError, KeyLoadError
from ..jose.keys import VerifyingKey
from ..oauth import CLIENT_ASSERTION_TYPE, TLS_AUTH_METHODS
from .registry import Client
from .replay import ReplayCache
from .validation import AssertionPolicy, Refusal, parse_assertion, verify_assertion

__all__ = ["CLIENT_ASSERTION_TYPE", "CLIENT_CERT", "NO_AUTH", "Authenticated",
           "ClientAuthenticator", "certificate_thumbprint", "require_method"]

#: Where the app puts the TLS client certificate (PEM) among the request headers: a name no
#: HTTP header can have (``:`` is not a token character), so a client cannot forge it.
CLIENT_CERT = ":client-cert"
_CERTS: dict[str, x509.Certificate] = {}

#: RFC 7523 §2.2 client_assertion_type.

# Authorization schemes named in an error (IANA HTTP Authentication Scheme Registry).
_KNOWN_SCHEMES = frozenset({"bearer", "digest", "dpop", "hoba", "mutual", "negotiate", "ntlm",
                            "oauth", "scram-sha-1", "scram-sha-256", "vapid"})
_NO_DIGEST = b"\x00" * 32
# Authorization header values that authenticated a client already (bounded, cleared when full).
_BASIC_REMEMBERED = 256


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The outcome: the client (None when the request names none), the method it proved itself
    with (``"none"`` when it proved nothing), and whether Basic was used (for the 401 challenge).
    """

    client: Client | None
    method: str
    basic: bool


NO_AUTH = Authenticated(client=None, method="none", basic=False)


def require_method(client: Client, method: str) -> None:
    """Refuse unless ``client`` is registered for ``method`` (RFC 6749 §3.2.1)."""
    if client.token_endpoint_auth_method != method:
        raise Refusal(
            "invalid_client",
            f"client {client.client_id!r} is registered for "
            f"{client.token_endpoint_auth_method}, not {method}",
            status=401,
        )


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class ClientAuthenticator:
    """Authenticates token requests against the registered clients.

    Per client, the secret's digest and the keys that verify its client assertions are worked
    out once here, not on each request.
    """

    def __init__(self, clients: Mapping[str, Client], *, policy: AssertionPolicy,
                 replay: ReplayCache, kids: Mapping[str, frozenset[str]]) -> None:
        self._clients = dict(clients)
        self._policy = policy
        self._replay = replay
        self._kids = kids
        self._digests = {cid: _digest(c.client_secret) for cid, c in clients.items()
                         if c.client_secret}
        # A client sends the same Basic header on every request: once it has passed, the same
        # value (byte for byte: the id and the secret) maps to its client without decoding and
        # hashing it again. Only successes are kept; anything else takes the full check.
        self._basic_passed: dict[str, Authenticated] = {}
        self._assertion_keys = {
            cid: (c.keys if c.token_endpoint_auth_method == "private_key_jwt"
                  else (c.hmac_key,) if c.hmac_key is not None else ())
            for cid, c in clients.items()}

    def client(self, client_id: str) -> Client:
        """The registered client, or ``invalid_client``."""
        client = self._clients.get(client_id)
        if client is None:
            raise Refusal("invalid_client", f"unknown client {client_id[:80]!r}", status=401,
                          reason="unknown_client")
        return client

    def authenticate(self, form: Mapping[str, str], headers: Mapping[str, str],
                     now: float) -> Authenticated:
        """The client and method of this request; raises Refusal when a proof is sent and fails,
        when more than one method is used (RFC 6749 §2.3), or when the client is unknown."""
        authorization = headers.get("authorization")
        form_id = form.get("client_id")
        if (authorization is None and "client_secret" not in form
                and "client_assertion" not in form and "client_assertion_type" not in form):
            # No client authentication: the JWT bearer grant's common case, decided early.
            if form_id is None:
                return NO_AUTH
            client = self.client(form_id)
            if client.token_endpoint_auth_method in TLS_AUTH_METHODS:
                return self._tls(client, headers.get(CLIENT_CERT))
            return Authenticated(client=client, method="none", basic=False)
        used = [name for name, present in (
            ("client_secret_basic", authorization is not None),
            ("client_secret_post", "client_secret" in form),
            ("jwt", "client_assertion" in form or "client_assertion_type" in form),
        ) if present]
        if len(used) > 1:
            raise Refusal("invalid_request",
                          f"more than one client authentication method ({', '.join(used)}); "
                          "use exactly one (RFC 6749 §2.3)")
        if used[0] == "client_secret_basic":
            return self._basic(authorization or "", form_id)
        if used[0] == "client_secret_post":
            if form_id is None:
                raise Refusal("invalid_request", "client_secret_post needs client_id")
            client = self.client(form_id)
            require_method(client, "client_secret_post")
            self._secret(client, form["client_secret"], None)
            return Authenticated(client=client, method="client_secret_post", basic=False)
        return self._client_assertion(form, form_id, now)

    def _basic(self, header: str, form_id: str | None) -> Authenticated:
        passed = self._basic_passed.get(header)
        if passed is not None:
            if form_id is not None and form_id != passed.client.client_id:  # type: ignore[union-attr]
                raise Refusal("invalid_client", "client_id differs from the Basic user",
                              status=401)
            return passed
        raw_id, raw_secret = _basic_parts(header)
        # RFC 6749 §2.3.1 form-urlencodes both parts before Base64; most clients do not. The
        # encoded reading comes first (it is the only one that can hold a ':' in the id).
        decoded_id = unquote_plus(raw_id) if "%" in raw_id or "+" in raw_id else raw_id
        client = self._clients.get(decoded_id)
        if client is None and decoded_id != raw_id:
            client = self._clients.get(raw_id)
        if client is None:
            client = self.client(decoded_id)
        if form_id is not None and form_id != client.client_id:
            raise Refusal("invalid_client", "client_id differs from the Basic user", status=401)
        require_method(client, "client_secret_basic")
        decoded_secret = (unquote_plus(raw_secret) if "%" in raw_secret or "+" in raw_secret
                          else None)
        self._secret(client, raw_secret, decoded_secret)
        passed = Authenticated(client=client, method="client_secret_basic", basic=True)
        if len(self._basic_passed) >= _BASIC_REMEMBERED:
            self._basic_passed.clear()
        self._basic_passed[header] = passed
        return passed

    def _secret(self, client: Client, secret: str, other: str | None) -> None:
        expected = self._digests.get(client.client_id, _NO_DIGEST)
        # Both candidates are always compared (no short cut), as digests: a match needs the
        # secret itself, and neither its length nor which reading matched shows in timing.
        ok = hmac.compare_digest(expected, _digest(secret))
        if other is not None:
            ok = hmac.compare_digest(expected, _digest(other)) | ok
        if not ok or expected is _NO_DIGEST:
            raise Refusal("invalid_client", "client secret does not match", status=401)

    def _client_assertion(self, form: Mapping[str, str], form_id: str | None,
                          now: float) -> Authenticated:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise Refusal("invalid_request",
                          f"client_assertion_type must be {CLIENT_ASSERTION_TYPE} (RFC 7523 §2.2)")
        assertion = form.get("client_assertion")
        if assertion is None:
            raise Refusal("invalid_request", "client_assertion is missing")
        parsed = parse_assertion(assertion, client_assertion=True,
                                 max_size=self._policy.max_size)
        issuer: str = parsed.claims["iss"]
        if form_id is not None and form_id != issuer:
            raise Refusal("invalid_client", "client_id differs from the client assertion's iss",
                          status=401)
        client = self.client(issuer)
        if client.token_endpoint_auth_method not in ("client_secret_jwt", "private_key_jwt"):
            require_method(client, "private_key_jwt")
        keys = self._assertion_keys[client.client_id]
        verify_assertion(parsed, client_id=client.client_id, keys=keys, policy=self._policy,
                         replay=self._replay, now=now, client_assertion=True,
                         kids=self._kids.get(client.client_id, frozenset())
                         if client.token_endpoint_auth_method == "private_key_jwt"
                         else frozenset())
        return Authenticated(client=client, method=client.token_endpoint_auth_method,
                             basic=False)


    def _tls(self, client: Client, pem: str | None) -> Authenticated:
        method = client.token_endpoint_auth_method
        if pem is None:
            raise Refusal("invalid_client", f"client {client.client_id!r} authenticates with "
                          f"{method}: connect with its TLS client certificate (RFC 8705 §2)",
                          status=401)
        cert = parse_certificate(pem)
        if method == "self_signed_tls_client_auth":
            try:
                presented = VerifyingKey.from_public_key(cert.public_key())  # type: ignore[arg-type]
            except (KeyLoadError, ConfigurationError):
                presented = None
            ok = presented is not None and presented.thumbprint() in {
                k.thumbprint() for k in client.keys}
        else:
            ok = _names_match(client, cert)
        if not ok:
            raise Refusal("invalid_client", f"the TLS client certificate is not the one "
                          f"registered for {client.client_id!r} ({method}, RFC 8705 §2)",
                          status=401)
        return Authenticated(client=client, method=method, basic=False)


def parse_certificate(pem: str) -> x509.Certificate:
    """The certificate the app handed over (parsed once per distinct certificate; bounded)."""
    cert = _CERTS.get(pem)
    if cert is None:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        if len(_CERTS) < 1024:
            _CERTS[pem] = cert
    return cert


def certificate_thumbprint(pem: str) -> str:
    """``x5t#S256`` of a PEM certificate (RFC 8705 §3.1): base64url SHA-256 of its DER."""
    der = parse_certificate(pem).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def _names_match(client: Client, cert: x509.Certificate) -> bool:
    """RFC 8705 §2.1.2: the one registered subject DN or SAN value is the certificate's."""
    if client.tls_client_auth_subject_dn is not None:
        wanted = x509.Name.from_rfc4514_string(client.tls_client_auth_subject_dn)
        return cert.subject.rfc4514_string() == wanted.rfc4514_string()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    kind, value = client.tls_client_auth_san or ("", "")
    if kind == "dns":
        return value.lower() in (n.lower() for n in san.get_values_for_type(x509.DNSName))
    if kind == "uri":
        return value in san.get_values_for_type(x509.UniformResourceIdentifier)
    if kind == "email":
        return value in san.get_values_for_type(x509.RFC822Name)
    if kind == "ip":
        return ipaddress.ip_address(value) in san.get_values_for_type(x509.IPAddress)
    return False


def _basic_parts(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        # Only a well-known scheme name is echoed: a header without one starts with the
        # credentials themselves, which must stay out of the answer and the log.
        named = f" {scheme!r}" if scheme.lower() in _KNOWN_SCHEMES else ""
        raise Refusal("invalid_client",
                      f"Authorization scheme{named} is not Basic; send "
                      "'Basic base64(client_id:client_secret)' (RFC 6749 §2.3.1)", status=401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Refusal("invalid_client", "Basic credentials are not base64 of UTF-8",
                      status=401) from None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        raise Refusal("invalid_client", "Basic credentials need client_id:client_secret",
                      status=401)
    return user, password
