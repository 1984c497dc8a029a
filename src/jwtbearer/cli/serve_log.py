"""``jwtbearer serve``'s request log: one line per token request, never a token or a secret.

:class:`LoggedEndpoint` wraps the reference endpoint: it times each ``POST /token``, and reads
from the request only the client id (``client_id``, the Basic user name, or the ``iss`` of the
assertion or client assertion, read without trusting it) and the grant type; from the answer
only the status and the error code.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import JWTBearerError
from ..jose.jws import b64url_decode, parse_json_object
from ..oauth import JWT_BEARER_GRANT
from ..server.core import Response, TokenEndpoint
from ..server.forms import parse_form
from ..server.validation import Refusal
from ._common import escape

__all__ = ["LoggedEndpoint", "json_line", "request_line"]

_SHORT_GRANTS = {JWT_BEARER_GRANT: "jwt-bearer"}
_MAX_FIELD = 80


def _iss(jwt: str) -> str | None:
    try:
        claims = parse_json_object(b64url_decode(jwt.split(".")[1]), "JWT claims")
    except (IndexError, JWTBearerError, ValueError):
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def _basic_user(value: str) -> str | None:
    if value[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, _ = decoded.partition(":")  # the password is never kept
    return user if sep else None


def _who(body: bytes, headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    try:
        form = parse_form(body)
    except (Refusal, ValueError):
        form = {}
    client = (form.get("client_id") or _basic_user(headers.get("authorization", ""))
              or _iss(form.get("client_assertion", "")) or _iss(form.get("assertion", "")))
    grant = form.get("grant_type")
    return client, None if grant is None else _SHORT_GRANTS.get(grant, grant)


def request_line(record: Mapping[str, Any]) -> str:
    """One request as a human-readable line."""
    parts = [record["time"], f"client={record['client_id'] or '-'}",
             f"grant={record['grant'] or '-'}", str(record["status"])]
    if record["error"]:
        parts.append(record["error"])
    parts.append(f"{record['ms']:.0f} ms")
    return escape("  ".join(str(p)[:_MAX_FIELD] for p in parts))


class LoggedEndpoint:
    """The endpoint's interface, each token request logged through ``log(record)``."""

    def __init__(self, endpoint: TokenEndpoint, log: Callable[[dict[str, Any]], None]) -> None:
        self._endpoint = endpoint
        self._log = log
        self.config = endpoint.config

    def token(self, body: bytes, headers: Mapping[str, str]) -> Response:
        started = time.perf_counter()
        response = self._endpoint.token(body, headers)
        ms = (time.perf_counter() - started) * 1000
        client, grant = _who(body, headers)
        error = response.body.get("error") if response.status >= 400 else None
        self._log({
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "client_id": None if client is None else client[:_MAX_FIELD],
            "grant": None if grant is None else grant[:_MAX_FIELD],
            "status": response.status,
            "error": error if isinstance(error, str) else None,
            "ms": round(ms, 1),
        })
        return response

    def jwks(self) -> Response:
        return self._endpoint.jwks()

    def metadata(self) -> Response:
        return self._endpoint.metadata()

    def authorize(self, query: bytes) -> Response:
        return self._endpoint.authorize(query)


def json_line(record: Mapping[str, Any]) -> str:
    """One request as a JSON line (``serve --json``)."""
    return json.dumps({"event": "request", **record})
