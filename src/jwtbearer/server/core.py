"""The token endpoint as a pure function: form body + headers + clock → status + JSON.

No I/O happens here (the replay cache is injected), so every rule is testable without a
socket, and the ASGI app in ``app.py`` only moves bytes. Grants: RFC 7523 §2.1 JWT bearer and
RFC 6749 §4.4 client credentials; client authentication: RFC 6749 §2.3.1, RFC 7523 §2.2 and
OpenID Connect Core §9. Errors: RFC 6749 §5.2, always JSON and never cached.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import secrets
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from ..jws import sign_compact
from ..token import Clock, system_clock
from .config import ServerConfig
from .registry import AUTH_METHODS, CLIENT_CREDENTIALS, JWT_BEARER, Client
from .replay import ReplayCache, replay_cache_for
from .validation import AssertionPolicy, Refusal, parse_assertion, verify_assertion

__all__ = ["CLIENT_ASSERTION_TYPE", "Response", "TokenEndpoint"]

#: RFC 7523 §2.2 client_assertion_type.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_log = logging.getLogger("jwtbearer.server")
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))
_MAX_FIELDS = 32
_FORM_TYPE = "application/x-www-form-urlencoded"
# Values every request of a grant carries, decoded once here rather than on each request.
_KNOWN_VALUES = {quote_plus(v): v for v in (
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")}
# Authorization schemes named in an error (IANA HTTP Authentication Scheme Registry).
_KNOWN_SCHEMES = frozenset({"bearer", "digest", "dpop", "hoba", "mutual", "negotiate", "ntlm",
                            "oauth", "scram-sha-1", "scram-sha-256", "vapid"})
_MINIMAL = {
    "invalid_request": "the request is malformed",
    "invalid_client": "client authentication failed",
    "invalid_grant": "the grant is invalid",
    "unauthorized_client": "the client may not use this grant type",
    "unsupported_grant_type": "unsupported grant type",
    "invalid_scope": "the requested scope is not allowed",
    "invalid_target": "the requested audience is not allowed",
    "temporarily_unavailable": "try again later",
    "server_error": "the server failed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A status, a JSON object and the headers to send with it."""

    status: int
    body: Mapping[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    #: ``body`` already encoded as compact ASCII JSON, when the endpoint built it so.
    encoded: bytes | None = field(default=None, repr=False, compare=False)

    def json_bytes(self) -> bytes:
        """The body as compact JSON."""
        if self.encoded is not None:
            return self.encoded
        return _JSON(self.body).encode("ascii")

    def __repr__(self) -> str:
        safe = {k: ("<hidden>" if k == "access_token" else v) for k, v in self.body.items()}
        return f"Response(status={self.status}, body={safe!r})"


@dataclass(frozen=True, slots=True)
class _Auth:
    client: Client | None
    method: str
    basic: bool


_NO_AUTH = _Auth(client=None, method="none", basic=False)


class TokenEndpoint:
    """The reference token endpoint: ``token(body, headers) -> Response``.

    ``headers`` maps lower-case header names to values. ``clock`` returns epoch seconds.
    """

    def __init__(
        self, config: ServerConfig, *, replay: ReplayCache | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        # `is None`, not `or`: an empty cache has len() 0 and is falsy.
        self._replay = replay if replay is not None else replay_cache_for(
            config.replay, max_entries=config.replay_max_entries,
            max_bytes=config.replay_max_bytes)
        self._clock = clock or system_clock
        self._policy = AssertionPolicy(
            audiences=frozenset({config.token_endpoint, config.issuer}),
            leeway=config.leeway,
            max_lifetime=config.max_assertion_lifetime,
            max_size=config.max_assertion_size,
            require_jti=config.require_jti,
            allow_audience_array=config.allow_audience_array,
        )
        self._jwks = {"keys": [config.signing_key.public_jwk()]}
        # Worked out once per client rather than on every request: the secret as bytes for
        # hmac.compare_digest, and the scope granted when the request names none.
        self._secrets = {cid: c.client_secret.encode() for cid, c in config.clients.items()
                         if c.client_secret}
        self._default_scopes = {cid: " ".join(c.scopes) for cid, c in config.clients.items()}
        self._clients: dict[str, Client] = dict(config.clients.items())
        self._signing_key = config.signing_key
        self._issuer = config.issuer
        self._default_audience = config.access_token_audience or config.issuer
        # JSON fragments fixed by the configuration, quoted once (RFC 8259 §7; ASCII only, as
        # the compact encoder writes them, so the bytes are those json.dumps would give).
        self._iss_json = '{"iss":' + _quote(config.issuer) + ',"sub":'
        self._client_json = {cid: ',"client_id":' + _quote(cid) + ',"iat":'
                             for cid in config.clients}
        self._body_tail = (',"token_type":"Bearer","expires_in":'
                           f"{config.access_token_lifetime}")

    # -- the other endpoints ----------------------------------------------------------------

    @property
    def replay_entries(self) -> int | None:
        """How many ``jti`` values the replay cache holds, when it counts them (in memory)."""
        replay = self._replay
        return len(replay) if isinstance(replay, Sized) else None

    def jwks(self) -> Response:
        """``GET /jwks``: the access-token verification keys (RFC 7517 §5)."""
        return Response(status=200, body=self._jwks, headers=(("cache-control", "max-age=300"),))

    def metadata(self) -> Response:
        """``GET /.well-known/oauth-authorization-server`` (RFC 8414 §2)."""
        c = self.config
        algs = sorted({k.alg for cl in c.clients.values() for k in cl.assertion_keys()}
                      | {"RS256", "ES256", "EdDSA"})
        body = {
            "issuer": c.issuer,
            "token_endpoint": c.token_endpoint,
            "jwks_uri": c.jwks_uri,
            "grant_types_supported": [CLIENT_CREDENTIALS, JWT_BEARER],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "scopes_supported": sorted({s for cl in c.clients.values() for s in cl.scopes}),
        }
        return Response(status=200, body=body, headers=(("cache-control", "max-age=300"),))

    # -- POST /token ----------------------------------------------------------------------------

    def token(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """Handle one token request; never raises for bad input (it becomes an error response)."""
        basic = headers.get("authorization", "")[:6].lower() == "basic "
        try:
            return self._token(body, headers)
        except Refusal as refusal:
            return self._error(refusal, basic=basic and refusal.error == "invalid_client")

    def _error(self, refusal: Refusal, *, basic: bool) -> Response:
        _log.info("token request refused: %s: %s", refusal.error, refusal.description)
        description = (_MINIMAL.get(refusal.error, refusal.error)
                       if self.config.error_detail == "minimal" else refusal.description)
        headers: tuple[tuple[str, str], ...] = _NO_STORE
        if basic:
            # RFC 6749 §5.2: a failed Basic authentication answers 401 with the challenge.
            headers = (*headers, ("www-authenticate", 'Basic realm="token", charset="UTF-8"'))
        return Response(status=refusal.status,
                        body={"error": refusal.error, "error_description": description},
                        headers=headers)

    def _token(self, body: bytes, headers: Mapping[str, str]) -> Response:
        now = self._clock()
        ctype = headers.get("content-type", "")
        if ctype != _FORM_TYPE:  # the exact value nearly every client sends; else normalise
            ctype = ctype.split(";")[0].strip().lower()
        if ctype != _FORM_TYPE:
            raise Refusal("invalid_request",
                          "Content-Type must be application/x-www-form-urlencoded (RFC 6749 §3.2)")
        if len(body) > self.config.max_body_size:
            raise Refusal("invalid_request",
                          f"body over the {self.config.max_body_size} byte cap", status=413)
        form = _parse_form(body)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise Refusal("invalid_request", "grant_type is missing")
        auth = self._authenticate(form, headers, now)
        if grant_type == CLIENT_CREDENTIALS:
            client = auth.client
            if client is None or auth.method == "none":
                raise Refusal("invalid_client",
                              "client_credentials needs client authentication (RFC 6749 §4.4.2)",
                              status=401)
            self._allowed(client, grant_type)
            return self._issue(client, client.client_id, form, now)
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(auth, form, now)
        raise Refusal("unsupported_grant_type",
                      f"grant_type {grant_type[:80]!r} is not served here; use "
                      f"{CLIENT_CREDENTIALS} or {JWT_BEARER}")

    @staticmethod
    def _allowed(client: Client, grant_type: str) -> None:
        if grant_type not in client.grant_types:
            raise Refusal("unauthorized_client",
                          f"client {client.client_id!r} is not registered for {grant_type}")

    # -- client authentication ---------------------------------------------------------------

    def _client(self, client_id: str) -> Client:
        client = self._clients.get(client_id)
        if client is None:
            raise Refusal("invalid_client", f"unknown client {client_id[:80]!r}", status=401)
        return client

    def _authenticate(self, form: Mapping[str, str], headers: Mapping[str, str],
                      now: float) -> _Auth:
        authorization = headers.get("authorization")
        if (authorization is None and "client_secret" not in form
                and "client_assertion" not in form and "client_assertion_type" not in form):
            # No client authentication: the JWT bearer grant's common case, decided early.
            form_id = form.get("client_id")
            if form_id is None:
                return _NO_AUTH
            client = self._client(form_id)
            self._method(client, "none")
            return _Auth(client=client, method="none", basic=False)
        used = [name for name, present in (
            ("client_secret_basic", authorization is not None),
            ("client_secret_post", "client_secret" in form),
            ("jwt", "client_assertion" in form or "client_assertion_type" in form),
        ) if present]
        if len(used) > 1:
            raise Refusal("invalid_request",
                          f"more than one client authentication method ({', '.join(used)}); "
                          "use exactly one (RFC 6749 §2.3)")
        form_id = form.get("client_id")
        if not used:
            if form_id is None:
                return _Auth(client=None, method="none", basic=False)
            client = self._client(form_id)
            self._method(client, "none")
            return _Auth(client=client, method="none", basic=False)
        if used[0] == "client_secret_basic":
            client_id, secret = _basic(authorization or "")
            client = self._client(client_id)
            if form_id is not None and form_id != client_id:
                raise Refusal("invalid_client", "client_id differs from the Basic user",
                              status=401)
            self._method(client, "client_secret_basic")
            self._secret(client, secret)
            return _Auth(client=client, method="client_secret_basic", basic=True)
        if used[0] == "client_secret_post":
            if form_id is None:
                raise Refusal("invalid_request", "client_secret_post needs client_id")
            client = self._client(form_id)
            self._method(client, "client_secret_post")
            self._secret(client, form["client_secret"])
            return _Auth(client=client, method="client_secret_post", basic=False)
        return self._client_assertion(form, form_id, now)

    @staticmethod
    def _method(client: Client, method: str) -> None:
        if client.token_endpoint_auth_method != method:
            raise Refusal(
                "invalid_client",
                f"client {client.client_id!r} is registered for "
                f"{client.token_endpoint_auth_method}, not {method}",
                status=401,
            )

    def _secret(self, client: Client, secret: str) -> None:
        expected = self._secrets.get(client.client_id, b"")
        if not expected or not hmac.compare_digest(expected, secret.encode()):
            raise Refusal("invalid_client", "client secret does not match", status=401)

    def _client_assertion(self, form: Mapping[str, str], form_id: str | None,
                          now: float) -> _Auth:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise Refusal("invalid_request",
                          f"client_assertion_type must be {CLIENT_ASSERTION_TYPE} (RFC 7523 §2.2)")
        assertion = form.get("client_assertion")
        if assertion is None:
            raise Refusal("invalid_request", "client_assertion is missing")
        parsed = parse_assertion(assertion, client_assertion=True,
                                 max_size=self.config.max_assertion_size)
        issuer: str = parsed.claims["iss"]
        if form_id is not None and form_id != issuer:
            raise Refusal("invalid_client", "client_id differs from the client assertion's iss",
                          status=401)
        client = self._client(issuer)
        if client.token_endpoint_auth_method not in ("client_secret_jwt", "private_key_jwt"):
            self._method(client, "private_key_jwt")
        keys = (client.keys if client.token_endpoint_auth_method == "private_key_jwt"
                else (client.hmac_key,) if client.hmac_key is not None else ())
        verify_assertion(parsed, client_id=client.client_id, keys=keys, policy=self._policy,
                         replay=self._replay, now=now, client_assertion=True)
        return _Auth(client=client, method=client.token_endpoint_auth_method, basic=False)

    # -- grants -------------------------------------------------------------------------------

    def _jwt_bearer(self, auth: _Auth, form: Mapping[str, str], now: float) -> Response:
        assertion = form.get("assertion")
        if assertion is None:
            raise Refusal("invalid_request", "assertion is missing (RFC 7523 §2.1)")
        parsed = parse_assertion(assertion, client_assertion=False,
                                 max_size=self.config.max_assertion_size)
        claims = parsed.claims
        issuer: str = claims["iss"]
        if auth.client is not None:
            client = auth.client
            if issuer != client.client_id:
                raise Refusal("invalid_grant",
                              f"assertion iss {issuer[:80]!r} is not the authenticated client "
                              f"{client.client_id!r}")
        else:
            found = self._clients.get(issuer)
            if found is None:
                raise Refusal("invalid_grant", f"assertion iss {issuer[:80]!r} is not a client")
            client = found
            # A confidential client must authenticate on every request (RFC 6749 §3.2.1).
            self._method(client, "none")
        self._allowed(client, JWT_BEARER)
        verify_assertion(parsed, client_id=client.client_id, keys=client.assertion_keys(),
                         policy=self._policy, replay=self._replay, now=now,
                         client_assertion=False)
        subject = claims["sub"]
        if not client.approves(subject):
            # Salesforce's wording, which its users search for.
            raise Refusal("invalid_grant", "user hasn't approved this consumer")
        return self._issue(client, subject, form, now)

    def _issue(self, client: Client, subject: str, form: Mapping[str, str],
               now: float) -> Response:
        requested = form.get("scope")
        scope = (self._default_scopes[client.client_id] if requested is None
                 else _scope(client, requested))
        audience = (self._default_audience if "audience" not in form and "resource" not in form
                    else self._audience(client, form))
        issued = int(now)
        lifetime = self.config.access_token_lifetime
        jti = secrets.token_urlsafe(16)
        quoted_scope = _quote(scope) if scope else ""
        # The RFC 9068 claims, in this order: iss, sub, aud, client_id, iat, exp, jti, scope.
        # Written directly rather than through json.dumps of a dict: the same bytes for less.
        claims = (f'{self._iss_json}{_quote(subject)},"aud":{_quote(audience)}'
                  f'{self._client_json[client.client_id]}{issued},"exp":{issued + lifetime},'
                  f'"jti":"{jti}"' + (f',"scope":{quoted_scope}}}' if scope else "}"))
        token = sign_compact(claims, self._signing_key, typ="at+jwt")
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer",
                                "expires_in": lifetime}
        encoded = f'{{"access_token":"{token}"{self._body_tail}'
        if scope:
            body["scope"] = scope
            encoded += f',"scope":{quoted_scope}'
        if self.config.instance_url is not None:
            body["instance_url"] = self.config.instance_url
            body["issued_at"] = str(issued * 1000)  # Salesforce sends milliseconds, as a string
            encoded += (f',"instance_url":{_quote(self.config.instance_url)},'
                        f'"issued_at":"{issued * 1000}"')
        return Response(status=200, body=body, headers=_NO_STORE,
                        encoded=(encoded + "}").encode("ascii"))

    def _audience(self, client: Client, form: Mapping[str, str]) -> str:
        requested = {v for v in (form.get("audience"), form.get("resource")) if v is not None}
        if len(requested) > 1:
            raise Refusal("invalid_target", "audience and resource name different targets")
        if not requested:
            return self.config.access_token_audience or self.config.issuer
        target = requested.pop()
        if target not in client.audiences:
            raise Refusal("invalid_target",
                          f"client {client.client_id!r} may not ask for audience {target[:80]!r}")
        return target


def _scope(client: Client, requested: str | None) -> str:
    if requested is None:
        return " ".join(client.scopes)
    wanted = requested.split(" ")
    if any(not s for s in wanted):
        raise Refusal("invalid_scope", "scope is space-separated tokens (RFC 6749 §3.3)")
    refused = [s for s in wanted if s not in client.scopes]
    if refused:
        raise Refusal("invalid_scope",
                      f"scope {refused[0][:80]!r} is not registered for {client.client_id!r}")
    return " ".join(dict.fromkeys(wanted))


def _unquote(text: str) -> str:
    # unquote_plus only when needed: most names and assertions hold neither '%' nor '+'.
    if "%" not in text and "+" not in text:
        return text
    known = _KNOWN_VALUES.get(text)
    return known if known is not None else unquote_plus(text, errors="strict")


def _parse_form(body: bytes) -> dict[str, str]:
    """application/x-www-form-urlencoded, strictly: ASCII on the wire, UTF-8 once decoded,
    every field ``name=value``, no name twice (RFC 6749 §3.2), at most 32 fields."""
    if not body:
        return {}
    try:
        parts = body.decode("ascii").split("&")
    except UnicodeDecodeError:
        raise Refusal("invalid_request", "form body is not valid UTF-8 percent-encoding") from None
    if len(parts) > _MAX_FIELDS:
        raise Refusal("invalid_request", f"form body is malformed: over {_MAX_FIELDS} fields")
    form: dict[str, str] = {}
    seen: set[str] = set()
    for number, part in enumerate(parts, 1):
        raw_name, eq, raw_value = part.partition("=")
        if not eq or not raw_name:
            # The field itself is never echoed: it may be the tail of a secret that held an
            # unencoded '&' (RFC 6749 Appendix B), and this message is logged and sent back.
            raise Refusal("invalid_request",
                          f"form body is malformed: field {number} is not name=value; "
                          "percent-encode '&', '=' and '+' inside values")
        try:
            name, value = _unquote(raw_name), _unquote(raw_value)
        except UnicodeDecodeError:
            raise Refusal("invalid_request",
                          "form body is not valid UTF-8 percent-encoding") from None
        if name in seen:
            raise Refusal("invalid_request", f"parameter {name[:40]!r} is repeated (RFC 6749 §3.2)")
        seen.add(name)
        if value:  # RFC 6749 §3.2: a parameter sent without a value is treated as omitted
            form[name] = value
    return form


def _basic(header: str) -> tuple[str, str]:
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
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    return unquote_plus(user), unquote_plus(password)

