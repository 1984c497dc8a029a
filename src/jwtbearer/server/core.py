"""The token endpoint as a pure function: form body + headers + clock → status + JSON.

No I/O happens here (the replay store is injected), so every rule is testable without a
socket, and the ASGI app in ``app.py`` only moves bytes. Grants: RFC 7523 §2.1 JWT bearer,
RFC 6749 §4.4 client credentials, §4.1 authorization code (with RFC 7636 PKCE) and §6 refresh
tokens; client authentication is ``auth.py``'s. Errors: RFC 6749 §5.2, always JSON and never
cached.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from ..jose.assertion import new_jti
from ..jose.jws import sign_compact
from ..token import Clock, system_clock
from .auth import CLIENT_ASSERTION_TYPE, Authenticated, ClientAuthenticator, require_method
from .codeflow import CodeFlow, Grant
from .config import ServerConfig
from .dpop import Binder
from .exchange import ISSUED_TOKEN_TYPE, TokenExchanger
from .forms import parse_form
from .registry import (
    AUTH_METHODS,
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    JWT_BEARER,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
    Client,
)
from .replay import GrantStore, MemoryReplayCache, ReplayCache, replay_cache_for
from .targets import audience_for, scope_for
from .validation import AssertionPolicy, Refusal, parse_assertion, verify_assertion

__all__ = ["CLIENT_ASSERTION_TYPE", "Response", "TokenEndpoint"]


_log = logging.getLogger("jwtbearer.server")
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))
_FORM_TYPE = "application/x-www-form-urlencoded"
_SERVED = (CLIENT_CREDENTIALS, JWT_BEARER, AUTHORIZATION_CODE, REFRESH_TOKEN, TOKEN_EXCHANGE)
_ISSUED = f',"issued_token_type":"{ISSUED_TOKEN_TYPE}"'
_WHY_AUTH = {CLIENT_CREDENTIALS: "RFC 6749 §4.4.2", TOKEN_EXCHANGE: "RFC 8693 §5"}
_SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})
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
# Salesforce's answers for the failures its JWT bearer documentation lists, by Refusal.reason.
_SALESFORCE = {
    "expired": ("invalid_grant", "expired authorization code", 400),
    "signature": ("invalid_grant", "invalid assertion", 400),
    "unapproved": ("invalid_grant", "user hasn't approved this consumer", 400),
    "unknown_client": ("invalid_client_id", "client identifier invalid", 400),
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
        safe = {k: ("<hidden>" if k in _SECRET_FIELDS else v) for k, v in self.body.items()}
        return f"Response(status={self.status}, body={safe!r})"


class TokenEndpoint:
    """The reference token endpoint: ``token(body, headers) -> Response``.

    ``headers`` maps lower-case header names to values. ``clock`` returns epoch seconds.
    ``replay`` keeps assertion ids and, when it is also a :class:`GrantStore` (both built-in
    caches are), codes and refresh tokens; else those live in a memory store of their own.
    """

    def __init__(
        self, config: ServerConfig, *, replay: ReplayCache | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        # `is None`, not `or`: an empty cache has len() 0 and is falsy.
        self._replay = replay if replay is not None else replay_cache_for(
            config.replay, max_entries=config.replay_max_entries,
            max_bytes=config.replay_max_bytes)
        store = self._replay if isinstance(self._replay, GrantStore) else MemoryReplayCache(
            max_entries=config.replay_max_entries, max_bytes=config.replay_max_bytes)
        self._clock = clock or system_clock
        self._policy = AssertionPolicy(
            audiences=frozenset({config.token_endpoint, config.issuer,
                                 *config.assertion_audiences}),
            leeway=config.leeway,
            max_lifetime=config.max_assertion_lifetime,
            max_size=config.max_assertion_size,
            require_jti=config.require_jti,
            allow_audience_array=config.allow_audience_array,
            allow_missing_sub=config.allow_missing_sub,
        )
        self._jwks = {"keys": [config.signing_key.public_jwk()]}
        # Worked out once per client rather than on every request: the kids of its keys, the
        # keys for its grant assertions, and the scope granted when the request names none.
        self._kids = {cid: frozenset(k.kid for k in c.keys if k.kid)
                      for cid, c in config.clients.items()}
        self._grant_keys = {cid: c.assertion_keys() for cid, c in config.clients.items()}
        self._default_scopes = {cid: " ".join(c.scopes) for cid, c in config.clients.items()}
        self._clients: dict[str, Client] = dict(config.clients.items())
        self._auth = ClientAuthenticator(self._clients, policy=self._policy,
                                         replay=self._replay, kids=self._kids)
        self._codes = CodeFlow(config, store)
        self._binder = Binder(token_endpoint=config.token_endpoint, replay=self._replay,
                              leeway=config.leeway, signing_key=config.signing_key)
        self._exchanger = TokenExchanger(config)
        self._signing_key = config.signing_key
        self._issuer = config.issuer
        self._default_audience = config.access_token_audience or config.issuer
        self._wording = _SALESFORCE if config.error_wording == "salesforce" else {}
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
            "authorization_endpoint": c.authorization_endpoint,
            "token_endpoint": c.token_endpoint,
            "jwks_uri": c.jwks_uri,
            "grant_types_supported": list(_SERVED),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "id_token_signing_alg_values_supported": [c.signing_key.alg],
            "subject_types_supported": ["public"],
            "scopes_supported": sorted({s for cl in c.clients.values() for s in cl.scopes}),
            **self._binder.metadata(),
        }
        return Response(status=200, body=body, headers=(("cache-control", "max-age=300"),))

    def authorize(self, query: bytes) -> Response:
        """``GET /authorize`` (RFC 6749 §4.1.1): a 302 to the redirect URI with a code or an
        error, or a 400 when the client or the redirect URI cannot be trusted."""
        answer = self._codes.authorize(query, self._clock())
        if answer.location is not None:
            return Response(status=answer.status, body={},
                            headers=(*_NO_STORE, ("location", answer.location)))
        _log.info("authorization request refused: %s: %s", answer.error, answer.description)
        return Response(status=answer.status, headers=_NO_STORE,
                        body={"error": answer.error, "error_description": answer.description})

    # -- POST /token ----------------------------------------------------------------------------

    def token(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """Handle one token request; never raises for bad input (it becomes an error response)."""
        basic = headers.get("authorization", "")[:6].lower() == "basic "
        try:
            with self._binder.request(headers, self._clock()):  # DPoP and mTLS (dpop.py)
                return self._token(body, headers)
        except Refusal as refusal:
            return self._error(refusal, basic=basic and refusal.error == "invalid_client")

    def _error(self, refusal: Refusal, *, basic: bool) -> Response:
        _log.info("token request refused: %s: %s", refusal.error, refusal.description)
        error, description, status = refusal.error, refusal.description, refusal.status
        worded = self._wording.get(refusal.reason or "")
        if worded is not None and (error == "invalid_grant" or refusal.reason == "unknown_client"):
            error, description, status = worded
            basic = False
        if self.config.error_detail == "minimal":
            description = _MINIMAL.get(error, error)
        headers: tuple[tuple[str, str], ...] = (*_NO_STORE, *refusal.headers)
        if basic:
            # RFC 6749 §5.2: a failed Basic authentication answers 401 with the challenge.
            headers = (*headers, ("www-authenticate", 'Basic realm="token", charset="UTF-8"'))
        return Response(status=status, body={"error": error, "error_description": description},
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
        form = parse_form(body)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise Refusal("invalid_request", "grant_type is missing")
        auth = self._auth.authenticate(form, headers, now)
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(auth, form, now)
        client = auth.client
        if client is not None and auth.method == "none":
            # A confidential client authenticates on every request (RFC 6749 §3.2.1); only
            # the JWT bearer grant's assertion may stand in for that.
            require_method(client, "none")
        if grant_type in (CLIENT_CREDENTIALS, TOKEN_EXCHANGE):
            if client is None or auth.method == "none":
                raise Refusal("invalid_client", f"{grant_type} needs client authentication "
                              f"({_WHY_AUTH[grant_type]})", status=401)
            self._allowed(client, grant_type)
            if grant_type == CLIENT_CREDENTIALS:
                return self._issue(client, client.client_id, form, now)
            done = self._exchanger.exchange(client, form, now)
            return self._respond(client, done.subject, done.scope,
                                 audience_for(client, form, self._default_audience), now,
                                 _ISSUED, lifetime=done.lifetime, act=done.act)
        if grant_type in (AUTHORIZATION_CODE, REFRESH_TOKEN):
            if client is None:
                raise Refusal("invalid_client", f"{grant_type} needs client authentication, or "
                              "client_id for a public client (RFC 6749 §3.2.1)", status=401)
            self._allowed(client, AUTHORIZATION_CODE)
            if grant_type == AUTHORIZATION_CODE:
                grant = self._codes.exchange(client, form, now)
            else:
                grant = self._codes.refresh(client, form, now)
            return self._issue_grant(client, grant, form, now)
        raise Refusal("unsupported_grant_type",
                      f"grant_type {grant_type[:80]!r} is not served here; use "
                      f"{', '.join(_SERVED)}")

    def _allowed(self, client: Client, grant_type: str) -> None:
        if grant_type not in client.grant_types:
            raise Refusal("unauthorized_client",
                          f"client {client.client_id!r} is not registered for {grant_type}")
        self._binder.check(client)  # before the grant is used up

    # -- grants -------------------------------------------------------------------------------

    def _jwt_bearer(self, auth: Authenticated, form: Mapping[str, str], now: float) -> Response:
        assertion = form.get("assertion")
        if assertion is None:
            raise Refusal("invalid_request", "assertion is missing (RFC 7523 §2.1)")
        parsed = parse_assertion(assertion, client_assertion=False,
                                 max_size=self.config.max_assertion_size)
        claims = parsed.claims
        issuer: str = claims["iss"]
        client = auth.client
        if client is not None:
            if issuer != client.client_id:
                raise Refusal("invalid_grant",
                              f"assertion iss {issuer[:80]!r} is not the authenticated client "
                              f"{client.client_id!r}")
        else:
            client = self._clients.get(issuer)
            if client is None:
                raise Refusal("invalid_grant", f"assertion iss {issuer[:80]!r} is not a client",
                              reason="unknown_client")
        if auth.method == "none" and client.require_client_authentication:
            # Opted out of RFC 7523 §3.1's assertion-only authentication.
            require_method(client, "none")
        self._allowed(client, JWT_BEARER)
        # Without client authentication, this verification with the client's registered keys
        # (or its secret, for a secret-only client) is what authenticates it.
        verify_assertion(parsed, client_id=client.client_id,
                         keys=self._grant_keys[client.client_id], policy=self._policy,
                         replay=self._replay, now=now, client_assertion=False,
                         kids=self._kids[client.client_id])
        subject = claims.get("sub")
        if subject is None:  # only with allow_missing_sub: the client acts for itself
            subject = client.client_id
        elif not client.approves(subject):
            # Salesforce's wording, which its users search for.
            raise Refusal("invalid_grant", "user hasn't approved this consumer",
                          reason="unapproved")
        if "scope" not in form and self.config.scope_from_assertion:
            scope = claims.get("scope")
            if isinstance(scope, str) and scope.strip():
                form = {**form, "scope": " ".join(scope.split())}
        return self._issue(client, subject, form, now)

    def _issue_grant(self, client: Client, grant: Grant, form: Mapping[str, str],
                     now: float) -> Response:
        scope = grant.scope
        if "scope" in form and form.get("grant_type") == REFRESH_TOKEN:
            scope = " ".join(dict.fromkeys(form["scope"].split(" ")))
        refresh = self._codes.new_refresh_token(client, grant, now)
        extra = ""
        if refresh is not None:
            extra += f',"refresh_token":"{refresh}"'
        if "openid" in scope.split(" "):
            extra += f',"id_token":"{self._id_token(client, grant, now)}"'
        audience = audience_for(client, form, self._default_audience)
        return self._respond(client, grant.subject, scope, audience, now, extra)

    def _id_token(self, client: Client, grant: Grant, now: float) -> str:
        issued = int(now)
        claims: dict[str, Any] = {"iss": self._issuer, "sub": grant.subject,
                                  "aud": client.client_id, "azp": client.client_id,
                                  "iat": issued, "exp": issued + self.config.access_token_lifetime,
                                  "auth_time": grant.auth_time}
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return sign_compact(claims, self._signing_key, typ="JWT")

    def _issue(self, client: Client, subject: str, form: Mapping[str, str],
               now: float) -> Response:
        requested = form.get("scope")
        scope = (self._default_scopes[client.client_id] if requested is None
                 else scope_for(client, requested))
        audience = (self._default_audience if "audience" not in form and "resource" not in form
                    else audience_for(client, form, self._default_audience))
        return self._respond(client, subject, scope, audience, now, "")

    def _respond(self, client: Client, subject: str, scope: str, audience: str, now: float,
                 extra: str, *, lifetime: int | None = None,
                 act: Mapping[str, Any] | None = None) -> Response:
        issued = int(now)
        tail = self._body_tail
        if lifetime is None:
            lifetime = self.config.access_token_lifetime
        else:
            tail = f',"token_type":"Bearer","expires_in":{lifetime}'
        jti = new_jti()
        quoted_scope = _quote(scope) if scope else ""
        token_type, cnf = self._binder.cnf(client)  # RFC 9449 §6, RFC 8705 §3.1
        # The RFC 9068 claims, in this order: iss, sub, aud, client_id, iat, exp, jti, scope.
        # Written directly rather than through json.dumps of a dict: the same bytes for less.
        claims = (f'{self._iss_json}{_quote(subject)},"aud":{_quote(audience)}'
                  f'{self._client_json[client.client_id]}{issued},"exp":{issued + lifetime},'
                  f'"jti":"{jti}"{cnf}' + ("" if act is None else f',"act":{_JSON(act)}')
                  + (f',"scope":{quoted_scope}}}' if scope else "}"))
        token = sign_compact(claims, self._signing_key, typ="at+jwt")
        if token_type != "Bearer":
            tail = tail.replace('"Bearer"', f'"{token_type}"', 1)
        encoded = f'{{"access_token":"{token}"{tail}'
        if scope:
            encoded += f',"scope":{quoted_scope}'
        if self.config.instance_url is not None:
            # Salesforce sends issued_at in milliseconds, as a string.
            encoded += (f',"instance_url":{_quote(self.config.instance_url)},'
                        f'"issued_at":"{issued * 1000}"')
        encoded += extra + "}"
        body: dict[str, Any] = json.loads(encoded) if extra or cnf else _plain_body(
            token, lifetime, scope, self.config.instance_url, issued)
        return Response(status=200, body=body, headers=_NO_STORE,
                        encoded=encoded.encode("ascii"))


def _plain_body(token: str, lifetime: int, scope: str, instance_url: str | None,
                issued: int) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer",
                            "expires_in": lifetime}
    if scope:
        body["scope"] = scope
    if instance_url is not None:
        body["instance_url"] = instance_url
        body["issued_at"] = str(issued * 1000)
    return body

