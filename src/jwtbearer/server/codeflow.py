"""The authorization code grant (RFC 6749 §4.1, PKCE RFC 7636) and refresh tokens (§6).

``GET /authorize`` is non-interactive: it approves at once, as the configured ``test_user`` or
as a ``login_hint`` among the client's ``subjects``, and redirects with a one-time code valid
for 60 s and bound to the client, the redirect URI and the PKCE challenge (S256 only; required
for public clients). Refresh tokens rotate on every use; a used one presented again revokes
its whole family, the code's tokens included (RFC 9700 §4.14). Codes and refresh tokens are
random strings; only their SHA-256 is stored, in the replay store (memory or Redis).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from .config import ServerConfig
from .forms import parse_form
from .registry import AUTHORIZATION_CODE, REFRESH_TOKEN, Client
from .replay import GrantStore, ReplayCacheUnavailable
from .targets import scope_for
from .validation import Refusal

__all__ = ["CODE_LIFETIME", "CodeFlow", "Grant", "Redirect"]

#: Seconds an authorization code stays valid (RFC 6749 §4.1.2 advises at most 10 minutes).
CODE_LIFETIME = 60
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
_USED = "\x00used"  # the replay-store namespace of spent codes and refresh tokens


@dataclass(frozen=True, slots=True)
class Grant:
    """What a code or a refresh token stands for: who approved which scope, in which family."""

    subject: str
    scope: str
    family: str
    auth_time: int
    nonce: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect:
    """The authorization endpoint's answer: where to send the browser, or an error page."""

    status: int
    location: str | None = None
    error: str | None = None
    description: str | None = None


def _hash(prefix: str, value: str) -> str:
    return prefix + hashlib.sha256(value.encode()).hexdigest()


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class CodeFlow:
    """Issues and redeems authorization codes and refresh tokens for one configuration."""

    def __init__(self, config: ServerConfig, store: GrantStore) -> None:
        self._config = config
        self._store = store
        self._clients = config.clients
        self._refresh_lifetime = config.refresh_token_lifetime

    # -- GET /authorize -----------------------------------------------------------------------

    def authorize(self, query: bytes, now: float) -> Redirect:
        """Handle one authorization request (RFC 6749 §4.1.1); never raises for bad input."""
        try:
            params = parse_form(query, what="query")
        except Refusal as refusal:
            return Redirect(status=400, error=refusal.error, description=refusal.description)
        client_id = params.get("client_id")
        client = self._clients.get(client_id) if client_id is not None else None
        if client is None:
            # Never redirect for an unknown client or URI (RFC 6749 §4.1.2.1): open redirector.
            what = "client_id is missing" if client_id is None else \
                f"unknown client {client_id[:80]!r}"
            return Redirect(status=400, error="invalid_request", description=what)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            target = client.redirect_uris[0]
        elif redirect_uri is not None and redirect_uri in client.redirect_uris:
            target = redirect_uri
        else:
            return Redirect(status=400, error="invalid_request", description=(
                "redirect_uri is missing" if redirect_uri is None else
                f"redirect_uri {redirect_uri[:120]!r} is not registered for client "
                f"{client.client_id!r} (exact match, RFC 6749 §3.1.2)"))
        state = params.get("state")
        try:
            code = self._approve(client, params, target, redirect_uri is not None, now)
        except Refusal as refusal:
            return self._back(target, state, error=refusal.error,
                              error_description=refusal.description)
        return self._back(target, state, code=code)

    def _back(self, target: str, state: str | None, **fields: str) -> Redirect:
        answer = dict(fields)
        if state is not None:
            answer["state"] = state
        answer["iss"] = self._config.issuer  # RFC 9207: which server answered
        joiner = "&" if urlsplit(target).query else "?"
        return Redirect(status=302, location=target + joiner + urlencode(answer))

    def _approve(self, client: Client, params: Mapping[str, str], target: str, given: bool,
                 now: float) -> str:
        if params.get("response_type") != "code":
            raise Refusal("unsupported_response_type", "response_type must be code")
        if AUTHORIZATION_CODE not in client.grant_types:
            raise Refusal("unauthorized_client", f"client {client.client_id!r} is not "
                          "registered for authorization_code")
        mode = params.get("response_mode")
        if mode is not None and mode != "query":
            raise Refusal("invalid_request", "only response_mode=query is served")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise Refusal("invalid_request", "code_challenge_method without code_challenge")
            if client.token_endpoint_auth_method == "none":
                raise Refusal("invalid_request", "a public client must use PKCE: send "
                              "code_challenge and code_challenge_method=S256 (RFC 9700 §2.1.1)")
        else:
            if method != "S256":
                raise Refusal("invalid_request", "code_challenge_method must be S256 (plain and "
                              "a missing method are refused, RFC 9700 §2.1.1)")
            if not _CHALLENGE.match(challenge):
                raise Refusal("invalid_request", "code_challenge must be the 43-character "
                              "base64url SHA-256 of the verifier (RFC 7636 §4.2)")
        scope = scope_for(client, params.get("scope"))
        hint = params.get("login_hint")
        if hint is not None:
            if not client.approves(hint):
                raise Refusal("access_denied", f"login_hint {hint[:80]!r} is not among the "
                              f"subjects of client {client.client_id!r}")
            subject = hint
        elif self._config.test_user is not None:
            subject = self._config.test_user
        else:
            raise Refusal("login_required", "no user to approve as: set test_user in the "
                          "server configuration, or send a login_hint among the client's subjects")
        code = secrets.token_urlsafe(32)
        record = {"c": client.client_id, "r": target, "rg": given, "ch": challenge,
                  "s": subject, "sc": scope, "f": secrets.token_urlsafe(16),
                  "at": int(now), "n": params.get("nonce")}
        self._put(_hash("code:", code), record, now + CODE_LIFETIME, now)
        return code

    # -- POST /token --------------------------------------------------------------------------

    def exchange(self, client: Client, form: Mapping[str, str], now: float) -> Grant:
        """Redeem a code (RFC 6749 §4.1.3); raises Refusal."""
        code = form.get("code")
        if code is None:
            raise Refusal("invalid_request", "code is missing (RFC 6749 §4.1.3)")
        key = _hash("code:", code)
        record = self._get(key, now)
        if record is None or record["c"] != client.client_id:
            raise Refusal("invalid_grant", "authorization code is unknown, expired or was "
                          f"issued to another client than {client.client_id!r}")
        if not self._first_use(key, now + CODE_LIFETIME, now):
            self._revoke(record["f"], now)
            raise Refusal("invalid_grant", "authorization code was already used; the tokens "
                          "issued for it are revoked (RFC 6749 §4.1.2)")
        redirect_uri = form.get("redirect_uri")
        if (redirect_uri is None and record["rg"]) or (
                redirect_uri is not None and redirect_uri != record["r"]):
            raise Refusal("invalid_grant", "redirect_uri must be the one of the authorization "
                          "request (RFC 6749 §4.1.3)")
        verifier = form.get("code_verifier")
        challenge = record["ch"]
        if challenge is None and verifier is not None:
            raise Refusal("invalid_grant", "code_verifier sent, but the authorization request "
                          "had no code_challenge (RFC 9700 §2.1.1)")
        if challenge is not None:
            if verifier is None:
                raise Refusal("invalid_grant", "code_verifier is missing; the code was issued "
                              "for a PKCE challenge (RFC 7636 §4.5)")
            if not _VERIFIER.match(verifier) or not hmac.compare_digest(_s256(verifier),
                                                                        challenge):
                raise Refusal("invalid_grant", "code_verifier does not match the code_challenge "
                              "(RFC 7636 §4.6)")
        return Grant(subject=record["s"], scope=record["sc"], family=record["f"],
                     auth_time=record["at"], nonce=record["n"])

    def refresh(self, client: Client, form: Mapping[str, str], now: float) -> Grant:
        """Redeem a refresh token (RFC 6749 §6), which is then spent; raises Refusal."""
        token = form.get("refresh_token")
        if token is None:
            raise Refusal("invalid_request", "refresh_token is missing (RFC 6749 §6)")
        if REFRESH_TOKEN not in client.grant_types:
            raise Refusal("unauthorized_client",
                          f"client {client.client_id!r} is not registered for refresh_token")
        key = _hash("rt:", token)
        record = self._get(key, now)
        if record is None or record["c"] != client.client_id:
            raise Refusal("invalid_grant", "refresh token is unknown, expired or was issued to "
                          f"another client than {client.client_id!r}")
        if self._store.get("family:" + record["f"], now=now) is not None:
            raise Refusal("invalid_grant", "refresh token was revoked: a spent refresh token of "
                          "its family was presented again (RFC 9700 §4.14)")
        if not self._first_use(key, record["e"], now):
            self._revoke(record["f"], now)
            raise Refusal("invalid_grant", "refresh token was already used; every token of its "
                          "family is revoked (RFC 9700 §4.14)")
        scope = record["sc"]
        requested = form.get("scope")
        if requested is not None:
            granted = set(scope.split())
            refused = [s for s in requested.split(" ") if s not in granted]
            if refused:
                raise Refusal("invalid_scope", f"scope {refused[0][:80]!r} was not granted to "
                              "this refresh token (RFC 6749 §6)")
        return Grant(subject=record["s"], scope=scope, family=record["f"],
                     auth_time=record["at"], nonce=None)

    def new_refresh_token(self, client: Client, grant: Grant, now: float) -> str | None:
        """A new refresh token in ``grant``'s family, when the client may refresh."""
        if REFRESH_TOKEN not in client.grant_types:
            return None
        token = secrets.token_urlsafe(32)
        expires = now + self._refresh_lifetime
        self._put(_hash("rt:", token), {"c": client.client_id, "s": grant.subject,
                                        "sc": grant.scope, "f": grant.family,
                                        "at": grant.auth_time, "e": expires}, expires, now)
        return token

    # -- the store ----------------------------------------------------------------------------

    def _put(self, key: str, record: dict[str, Any], expires_at: float, now: float) -> None:
        try:
            self._store.put(key, json.dumps(record, separators=(",", ":")).encode(),
                            expires_at=expires_at, now=now)
        except ReplayCacheUnavailable as exc:
            raise Refusal("temporarily_unavailable", str(exc), status=503) from None

    def _get(self, key: str, now: float) -> dict[str, Any] | None:
        try:
            raw = self._store.get(key, now=now)
        except ReplayCacheUnavailable as exc:
            raise Refusal("temporarily_unavailable", str(exc), status=503) from None
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        return record

    def _first_use(self, key: str, expires_at: float, now: float) -> bool:
        try:
            return self._store.first_use(_USED, key, expires_at=expires_at, now=now)
        except ReplayCacheUnavailable as exc:
            raise Refusal("temporarily_unavailable", str(exc), status=503) from None

    def _revoke(self, family: str, now: float) -> None:
        # Kept as long as any refresh token of the family can live.
        # When the store fails the request is refused anyway; the tokens expire on their own.
        with contextlib.suppress(ReplayCacheUnavailable):
            self._store.put("family:" + family, b"revoked",
                            expires_at=now + self._refresh_lifetime, now=now)

