"""Compact JWS (RFC 7515 §7.1) signing and verification over ``cryptography``.

The algorithm is the key's: verification refuses ``none`` and any ``alg`` other than the one the
key was registered with, whatever the header says (RFC 8725 §3.1, §3.2). JSON is parsed strictly:
duplicate members, NaN/Infinity and absurd nesting are refused (RFC 7515 §5.2, RFC 8725 §3.2).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import JWSError
from .keys import SigningKey, VerifyingKey

__all__ = [
    "MAX_TOKEN_LENGTH",
    "VerifiedJWS",
    "b64url_decode",
    "b64url_encode",
    "parse_json_object",
    "sign_compact",
    "unverified_claims",
    "unverified_header",
    "verify_compact",
]

#: Longest compact JWS accepted by default (characters).
MAX_TOKEN_LENGTH = 64 * 1024
MAX_JSON_DEPTH = 16

_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding: any other character, or a bad length, is a JSWError."""
    if len(segment) % 4 == 1 or not _B64URL_RE.match(segment):
        raise JWSError("not base64url (RFC 7515 §2: letters, digits, '-' and '_', no padding)")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JWSError("not base64url") from None


def _pairs_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise JWSError(f"duplicate JSON member {dup!r} (RFC 7515 §5.2)")
    return result


def _no_constant(name: str) -> Any:
    raise JWSError(f"{name} is not valid JSON")


def _depth(value: Any, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise JWSError(f"JSON nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))


def parse_json_object(data: bytes, what: str = "JSON") -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object; strict (see module docstring)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JWSError(f"{what} is not UTF-8") from None
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs_no_duplicates, parse_constant=_no_constant
        )
    except RecursionError:
        raise JWSError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, JWSError):
            raise JWSError(f"{what}: {exc}") from None
        raise JWSError(f"{what} is not valid JSON: {exc.args[0] if exc.args else exc}") from None
    if not isinstance(value, dict):
        raise JWSError(f"{what} must be a JSON object")
    for member in value.values():
        if isinstance(member, (dict, list)):
            _depth(value, MAX_JSON_DEPTH)
            break
    return value


def _header_segment(key: SigningKey, headers: Mapping[str, Any] | None, typ: str | None,
                    x5t_s256: bool) -> bytes:
    cache_key = (typ, x5t_s256, None if headers is None else tuple(sorted(headers.items())))
    try:
        return key._header_cache[cache_key]
    except (KeyError, TypeError):
        pass
    header: dict[str, Any] = {"alg": key.alg}
    if typ is not None:
        header["typ"] = typ
    if key.kid is not None:
        header["kid"] = key.kid
    if x5t_s256:
        thumb = key.x5t_s256
        if thumb is None:
            raise JWSError("x5t#S256 asked for, but the key has no certificate")
        header["x5t#S256"] = thumb
    if headers:
        for name, value in headers.items():
            if name == "alg" and value != key.alg:
                raise JWSError(f"header alg {value!r} differs from the key's {key.alg!r}")
            header[name] = value
    segment = b64url_encode(_DUMPS(header).encode()).encode("ascii")
    with contextlib.suppress(TypeError):  # unhashable header values are not cached
        key._header_cache[cache_key] = segment
    return segment


def sign_compact(
    payload: Mapping[str, Any] | bytes | str,
    key: SigningKey,
    *,
    headers: Mapping[str, Any] | None = None,
    typ: str | None = "JWT",
    x5t_s256: bool = False,
) -> str:
    """Sign ``payload`` (claims, or the exact bytes/str to sign) as a compact JWS.

    The header is ``{"alg": key.alg, "typ": typ, "kid": key.kid}`` (kid only when the key has one)
    plus ``x5t#S256`` when asked and any ``headers`` given.
    """
    if isinstance(payload, Mapping):
        body = _DUMPS(payload).encode()
    elif isinstance(payload, str):
        body = payload.encode("utf-8")
    else:
        body = bytes(payload)
    signing_input = (
        _header_segment(key, headers, typ, x5t_s256)
        + b"."
        + base64.urlsafe_b64encode(body).rstrip(b"=")
    )
    signature = base64.urlsafe_b64encode(key._sign(signing_input)).rstrip(b"=")
    return (signing_input + b"." + signature).decode("ascii")


@dataclass(frozen=True, slots=True)
class VerifiedJWS:
    """A compact JWS whose signature verified: its header, raw payload and the key that matched."""

    header: dict[str, Any]
    payload: bytes
    key: VerifyingKey

    def claims(self) -> dict[str, Any]:
        """The payload parsed as a JSON object (strictly)."""
        return parse_json_object(self.payload, "JWT claims")


def _split(token: str, max_length: int) -> tuple[str, str, str]:
    if not isinstance(token, str):
        raise JWSError("a compact JWS must be a string")
    if len(token) > max_length:
        raise JWSError(f"JWS is {len(token)} characters, over the limit of {max_length}")
    parts = token.split(".")
    if len(parts) != 3:
        if len(parts) == 5:
            raise JWSError("this is a JWE (5 parts), not a signed JWT (3 parts)")
        raise JWSError(f"a compact JWS has 3 dot-separated parts, this one has {len(parts)}")
    return parts[0], parts[1], parts[2]


def unverified_header(token: str, *, max_length: int = MAX_TOKEN_LENGTH) -> dict[str, Any]:
    """The JOSE header, NOT verified: for diagnostics and key selection only."""
    header_b64, _, _ = _split(token, max_length)
    return parse_json_object(b64url_decode(header_b64), "JWS header")


def unverified_claims(token: str, *, max_length: int = MAX_TOKEN_LENGTH) -> dict[str, Any]:
    """The claims, NOT verified: for diagnostics only; never trust them."""
    _, payload_b64, _ = _split(token, max_length)
    return parse_json_object(b64url_decode(payload_b64), "JWT claims")


def verify_compact(
    token: str,
    keys: VerifyingKey | SigningKey | Sequence[VerifyingKey],
    *,
    max_length: int = MAX_TOKEN_LENGTH,
) -> VerifiedJWS:
    """Verify a compact JWS against the expected key(s) and return its header and payload.

    The header's ``alg`` must equal the key's algorithm; ``none`` never verifies. With several
    keys, a header ``kid`` selects among them (keys without a kid are tried too). A ``crit``
    header is refused (no extension is understood, RFC 7515 §4.1.11), and so is ``b64``
    (RFC 7797). Raises :class:`JWSError` saying what failed.
    """
    header_b64, payload_b64, signature_b64 = _split(token, max_length)
    header = parse_json_object(b64url_decode(header_b64), "JWS header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JWSError("JWS header has no 'alg'")
    if alg.lower() == "none":
        raise JWSError("alg 'none' is never accepted (RFC 8725 §3.2)")
    if "crit" in header:
        raise JWSError(f"crit header {header['crit']!r} names extensions that are not supported")
    if "b64" in header:
        raise JWSError("the b64 header (RFC 7797 unencoded payload) is not supported")
    if isinstance(keys, SigningKey):
        candidates: Sequence[VerifyingKey] = (keys.verifying_key(),)
    elif isinstance(keys, VerifyingKey):
        candidates = (keys,)
    else:
        candidates = keys
    kid = header.get("kid")
    if kid is not None and len(candidates) > 1:
        by_kid = [k for k in candidates if k.kid == kid]
        candidates = by_kid or [k for k in candidates if k.kid is None]
    usable = [k for k in candidates if k.alg == alg]
    if not usable:
        expected = ", ".join(sorted({k.alg for k in candidates})) or "no key"
        raise JWSError(
            f"alg {alg!r} is not the registered key's algorithm ({expected}); the algorithm "
            "is fixed by the key, never by the token"
        )
    signature = b64url_decode(signature_b64)
    if b64url_encode(signature) != signature_b64:
        raise JWSError("signature is not canonical base64url")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    for key in usable:
        if key._verify(signing_input, signature):
            return VerifiedJWS(header, b64url_decode(payload_b64), key)
    raise JWSError("signature does not verify with the registered key")
