"""Shared pieces of the server flow tests: the running server's description, and hand-made
compact JWS values, including malformed and hostile ones.

Built from raw base64url and ``SigningKey.sign`` so that anything can be produced: alg none,
algorithm confusion, headers the server must refuse, duplicate JSON members, non-UTF-8 bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jwtbearer.jose.jws import b64url_encode
from jwtbearer.jose.keys import SigningKey
from jwtbearer.server.core import TokenEndpoint

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SUBJECT = "alice@example.com"
API = "https://api.example.com"
REDIRECT_URI = "http://127.0.0.1:9/callback"


@dataclass
class FlowServer:
    """A running reference server and what its clients need to talk to it."""

    url: str
    token_url: str
    endpoint: TokenEndpoint
    rsa: SigningKey
    ec: SigningKey
    other_rsa: SigningKey
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class Trap:
    """A loopback listener that counts every connection made to it."""

    url: str
    connections: int = 0


def segment(value: Mapping[str, Any] | bytes | str) -> str:
    """base64url of a JSON object, or of the exact bytes/text given."""
    if isinstance(value, Mapping):
        raw = json.dumps(value, separators=(",", ":")).encode()
    elif isinstance(value, str):
        raw = value.encode()
    else:
        raw = value
    return b64url_encode(raw)


def compact(header: Mapping[str, Any] | bytes | str, payload: Mapping[str, Any] | bytes | str,
            key: SigningKey | None) -> str:
    """``header.payload.signature``; no key gives an empty signature (as alg none does)."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = b64url_encode(key.sign(signing_input.encode())) if key is not None else ""
    return f"{signing_input}.{signature}"


def signed(payload: Mapping[str, Any] | bytes | str, key: SigningKey,
           **header: Any) -> str:
    """A JWS with header ``{"alg": key.alg, "typ": "JWT", **header}``."""
    full: dict[str, Any] = {"alg": key.alg, "typ": "JWT"}
    full.update(header)
    full = {k: v for k, v in full.items() if v is not None}
    return compact(full, payload, key)


def hmac_signed(payload: Mapping[str, Any], secret: bytes, alg: str = "HS256") -> str:
    """An HMAC JWS made with raw ``hmac`` (the library refuses a PEM as a secret, as it should)."""
    import hashlib
    import hmac

    signing_input = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(payload)}"
    digest = getattr(hashlib, "sha" + alg[2:])
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url_encode(mac)}"
