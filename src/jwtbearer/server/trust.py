"""Issuers whose JWTs the token-exchange grant accepts as subject or actor tokens.

One ``[[trusted_issuers]]`` table of the server's TOML file becomes one :class:`TrustedIssuer`:
its ``issuer`` (the ``iss`` its tokens carry), the ``audience`` they must be addressed to (this
server's issuer by default) and the keys that verify them, from a JWK Set file or URL.

A URL is fetched once, while the configuration loads, never per request and never because a
token names a URL: the token endpoint stays pure (no I/O on the request path) and a server
whose trusted keys cannot be read refuses to start, saying which URL failed, instead of
refusing every exchange later. ``https`` only, ``http`` to a loopback address (a local
identity provider in development); no redirects, a 10 s timeout and a 1 MiB cap. Keys rotate
with a restart.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import KeyLoadError
from ..jose.keys import VerifyingKey, load_jwks
from .registry import ServerConfigError

__all__ = ["FETCH_MAX_BYTES", "FETCH_TIMEOUT", "TrustedIssuer", "parse_trusted_issuers"]

FETCH_TIMEOUT = 10.0
FETCH_MAX_BYTES = 1024 * 1024
_KEYS = frozenset({"issuer", "jwks", "audience"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedIssuer:
    """An issuer whose JWTs may be exchanged: ``iss``, the required ``aud``, its keys."""

    issuer: str
    audience: str
    keys: tuple[VerifyingKey, ...]
    #: Where the keys came from (a file path or the URL), for messages.
    origin: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is then an HTTPError: the configured URL itself must answer


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http"
                                        and _loopback(parts.hostname or "")):
        raise KeyLoadError(f"{url!r}: give an https URL (http only to a loopback address)")
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked above)
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT) as answer:
            data: bytes = answer.read(FETCH_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise KeyLoadError(f"{url} answered HTTP {exc.code}; it must serve the JWK Set "
                           "itself (redirects are not followed)") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KeyLoadError(f"cannot fetch {url}: {reason}") from None
    if len(data) > FETCH_MAX_BYTES:
        raise KeyLoadError(f"{url} sent over {FETCH_MAX_BYTES} bytes; not a JWK Set")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyLoadError(f"{url} did not send UTF-8 JSON") from None


def _keys(value: Any, base: Path) -> tuple[tuple[VerifyingKey, ...], str]:
    if isinstance(value, dict):
        text, origin = json.dumps(value), "inline JWK Set"
    elif isinstance(value, str) and value.startswith(("https://", "http://")):
        text, origin = _fetch(value), value
    elif isinstance(value, str) and value:
        path = base / value
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
        origin = str(path)
    else:
        raise KeyLoadError('must be a file name, an https URL or an inline JWK Set table')
    keys = load_jwks(text)
    if not keys:
        raise KeyLoadError(f"the JWK Set from {origin} holds no signature key")
    if any(k.is_symmetric for k in keys):
        raise KeyLoadError("a trusted issuer is verified with public keys only, not secrets")
    return tuple(keys), origin


def parse_trusted_issuers(tables: Any, *, base: Path, source: str,
                          own_issuer: str) -> tuple[TrustedIssuer, ...]:
    """Build the ``[[trusted_issuers]]`` tables, or raise :class:`ServerConfigError`."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ServerConfigError(source, "trusted_issuers", "must be [[trusted_issuers]] tables")
    trusted: dict[str, TrustedIssuer] = {}
    for index, table in enumerate(tables):
        trusted_issuer = _parse_one(table, index, base, source, own_issuer)
        if trusted_issuer.issuer in trusted:
            raise ServerConfigError(source, f"trusted_issuers[{index}].issuer",
                                    f"{trusted_issuer.issuer!r} is listed twice")
        trusted[trusted_issuer.issuer] = trusted_issuer
    return tuple(trusted.values())


def _parse_one(table: Mapping[str, Any], index: int, base: Path, source: str,
               own_issuer: str) -> TrustedIssuer:
    where = f"trusted_issuers[{index}]"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ServerConfigError(source, f"{where}.{unknown[0]}",
                                "unknown key; known: " + ", ".join(sorted(_KEYS)))
    issuer = table.get("issuer")
    if not isinstance(issuer, str) or not issuer.strip():
        raise ServerConfigError(source, f"{where}.issuer",
                                'required, the iss its tokens carry, e.g. "https://idp.example"')
    if issuer == own_issuer:
        raise ServerConfigError(source, f"{where}.issuer",
                                "is this server's own issuer; its tokens are trusted already")
    audience = table.get("audience", own_issuer)
    if not isinstance(audience, str) or not audience:
        raise ServerConfigError(source, f"{where}.audience", "must be a non-empty string")
    if "jwks" not in table:
        raise ServerConfigError(source, f"{where}.jwks",
                                'required: "file.jwks.json" or an https URL')
    try:
        keys, origin = _keys(table["jwks"], base)
    except KeyLoadError as exc:
        raise ServerConfigError(source, f"{where}.jwks", str(exc)) from None
    return TrustedIssuer(issuer=issuer, audience=audience, keys=keys, origin=origin)
