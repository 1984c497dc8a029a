"""Validating incoming JWTs: :class:`JWTValidator` (a resource server's tool), the JWKS cache
behind it, and :class:`JWTUtil` (Apex ``Auth.JWTUtil``)."""

from __future__ import annotations

from .claims import ValidatedJWT
from .jwks import JWKSCache
from .jwtutil import JWTUtil, ParsedJWT
from .validator import JWTValidator

__all__ = ["JWKSCache", "JWTUtil", "JWTValidator", "ParsedJWT", "ValidatedJWT"]
