"""The JWS protected header a SigningKey or any Signer signs under (RFC 7515 §4.1), encoded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, JWSError
from ._b64 import b64url_encode

if TYPE_CHECKING:
    from .signer import Signer

__all__ = ["build_header"]

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def build_header(
    key: Signer, headers: Mapping[str, Any] | None, typ: str | None, x5t_s256: bool
) -> bytes:
    """``{"alg", "typ", "kid", "x5t#S256", **headers}`` as base64url, followed by '.'."""
    header: dict[str, Any] = {"alg": key.alg}
    if typ is not None:
        header["typ"] = typ
    if key.kid is not None:
        header["kid"] = key.kid
    if x5t_s256:
        thumb = key.x5t_s256
        if thumb is None:
            raise ConfigurationError("x5t#S256 asked for, but the key has no certificate")
        header["x5t#S256"] = thumb
    for name, value in (headers or {}).items():
        if name == "alg" and value != key.alg:
            raise JWSError(f"header alg {value!r} differs from the key's {key.alg!r}")
        if name in ("crit", "b64"):
            raise ConfigurationError(f"the {name!r} header is not supported (RFC 7515 §4.1.11)")
        header[name] = value
    try:
        return b64url_encode(_JSON(header).encode()).encode("ascii") + b"."
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"header values must be JSON values: {exc}") from None
