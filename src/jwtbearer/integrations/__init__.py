"""Web-framework helpers validating incoming bearer tokens with a :class:`~jwtbearer.JWTValidator`.

- :mod:`jwtbearer.integrations.asgi`: a FastAPI/Starlette dependency and a plain ASGI
  middleware (extra ``asgi``, or ``fastapi``);
- :mod:`jwtbearer.integrations.wsgi`: a Flask view decorator and a plain WSGI middleware
  (extra ``flask`` for the decorator).

Both answer as RFC 6750 §3 says: 401 with ``WWW-Authenticate: Bearer`` (``error="invalid_token"``
and an ``error_description`` when a token was sent but refused), 403 ``insufficient_scope`` when
a required scope is missing, and 503 when the issuer's keys cannot be fetched at all.
"""

from __future__ import annotations

from ._bearer import Rejection, bearer_token, challenge, check_token

__all__ = ["Rejection", "bearer_token", "challenge", "check_token"]
