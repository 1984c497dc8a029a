"""FastAPI/Starlette: a dependency, and a plain ASGI middleware (extra ``asgi`` or ``fastapi``).

FastAPI::

    bearer = BearerToken(jb.JWTValidator(issuer=..., audience=...), scopes=["api:read"])

    @app.get("/orders")
    async def orders(jwt: jb.ValidatedJWT = Depends(bearer)) -> dict: ...

The dependency validates with ``avalidate`` (the JWKS is fetched without blocking the loop) and
raises Starlette's ``HTTPException`` carrying the RFC 6750 answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

try:
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "jwtbearer.integrations.asgi needs Starlette: pip install 'jwtbearer[asgi]' (or "
        "'jwtbearer[fastapi]')"
    ) from exc

from ..errors import JWTBearerError
from ..validation import JWTValidator, ValidatedJWT
from ._bearer import Rejection, bearer_token, check_scopes, check_token

__all__ = ["BearerAuthMiddleware", "BearerToken"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _validate(validator: JWTValidator, authorization: str | None,
                    scopes: Collection[str], realm: str | None) -> ValidatedJWT:
    token = bearer_token(authorization, realm)
    try:
        jwt = await validator.avalidate(token)
    except JWTBearerError as exc:
        raise check_token(exc, realm) from None
    return check_scopes(jwt, scopes, realm)


class BearerToken:
    """A FastAPI/Starlette dependency returning the request's :class:`ValidatedJWT`.

    ``scopes`` must all be in the token's ``scope`` (else 403 ``insufficient_scope``);
    ``realm`` goes into the challenge.
    """

    def __init__(self, validator: JWTValidator, *, scopes: Collection[str] = (),
                 realm: str | None = None) -> None:
        self.validator = validator
        self.scopes = tuple(scopes)
        self.realm = realm

    async def __call__(self, request: Request) -> ValidatedJWT:
        try:
            return await _validate(self.validator, request.headers.get("authorization"),
                                   self.scopes, self.realm)
        except Rejection as rejection:
            raise HTTPException(rejection.status, detail=rejection.message,
                                headers=rejection.headers()) from None


class BearerAuthMiddleware:
    """Plain ASGI middleware: every HTTP request needs a valid bearer token, except the
    ``exempt`` paths; the :class:`ValidatedJWT` is put in ``scope["state"]["jwt"]``
    (``request.state.jwt`` in Starlette)."""

    def __init__(self, app: ASGIApp, validator: JWTValidator, *,
                 scopes: Collection[str] = (), realm: str | None = None,
                 exempt: Collection[str] = ()) -> None:
        self.app = app
        self.validator = validator
        self.scopes = tuple(scopes)
        self.realm = realm
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            jwt = await _validate(self.validator, authorization, self.scopes, self.realm)
        except Rejection as rejection:
            await _answer(send, rejection)
            return
        scope.setdefault("state", {})["jwt"] = jwt
        await self.app(scope, receive, send)


async def _answer(send: Send, rejection: Rejection) -> None:
    import json

    body = json.dumps({"detail": rejection.message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in rejection.headers().items()]
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
