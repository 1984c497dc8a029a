"""Flask and plain WSGI: a view decorator (extra ``flask``) and a WSGI middleware (no extra).

Flask::

    @app.get("/orders")
    @require_bearer(validator, scopes=["api:read"])
    def orders():
        return {"sub": flask.g.jwt.subject}

The WSGI middleware puts the :class:`ValidatedJWT` in ``environ["jwtbearer.jwt"]``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from ..errors import JWTBearerError
from ..validation import JWTValidator, ValidatedJWT
from ._bearer import Rejection, bearer_token, check_scopes, check_token

__all__ = ["BearerAuthMiddleware", "require_bearer", "validate_request"]

_F = TypeVar("_F", bound=Callable[..., Any])
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def validate_request(validator: JWTValidator, authorization: str | None, *,
                     scopes: Collection[str] = (), realm: str | None = None) -> ValidatedJWT:
    """Validate an ``Authorization`` header value; a :class:`Rejection` says how to answer."""
    token = bearer_token(authorization, realm)
    try:
        jwt = validator.validate(token)
    except JWTBearerError as exc:
        raise check_token(exc, realm) from None
    return check_scopes(jwt, scopes, realm)


def require_bearer(validator: JWTValidator, *, scopes: Collection[str] = (),
                   realm: str | None = None) -> Callable[[_F], _F]:
    """A Flask view decorator: the view runs with ``flask.g.jwt`` set, or the request is
    answered 401/403/503 as RFC 6750 says."""
    try:
        import flask
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("require_bearer needs Flask: pip install 'jwtbearer[flask]'") from exc

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                flask.g.jwt = validate_request(
                    validator, flask.request.headers.get("Authorization"), scopes=scopes,
                    realm=realm,
                )
            except Rejection as rejection:
                return flask.jsonify(detail=rejection.message), rejection.status, \
                    rejection.headers()
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class BearerAuthMiddleware:
    """Plain WSGI middleware: a valid bearer token for every path but ``exempt``; the
    :class:`ValidatedJWT` goes into ``environ["jwtbearer.jwt"]``."""

    def __init__(self, app: WSGIApp, validator: JWTValidator, *, scopes: Collection[str] = (),
                 realm: str | None = None, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.validator = validator
        self.scopes = tuple(scopes)
        self.realm = realm
        self.exempt = frozenset(exempt)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self.exempt:
            return self.app(environ, start_response)
        try:
            environ["jwtbearer.jwt"] = validate_request(
                self.validator, environ.get("HTTP_AUTHORIZATION"), scopes=self.scopes,
                realm=self.realm,
            )
        except Rejection as rejection:
            body = json.dumps({"detail": rejection.message}).encode()
            reason = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                      503: "Service Unavailable"}[rejection.status]
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       *rejection.headers().items()]
            start_response(f"{rejection.status} {reason}", headers)
            return [body]
        return self.app(environ, start_response)
