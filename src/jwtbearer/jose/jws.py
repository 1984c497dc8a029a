"""Compact JWS (RFC 7515 §7.1) signing and verification over ``cryptography``.

The algorithm is the key's: verification refuses ``none`` and any ``alg`` other than the one the
key was registered with, whatever the header says (RFC 8725 §3.1, §3.2). Input is parsed
strictly, and every malformed token is a :class:`~jwtbearer.errors.JWSError`: base64url without
padding and with canonical trailing bits (RFC 7515 §2, RFC 4648 §3.5), UTF-8, JSON objects
without duplicate members (RFC 7515 §5.2), without NaN/Infinity and without absurd nesting.

The hot paths are kept short: a key's header segment is encoded once, and a verified header
segment is parsed once and remembered (bounded), since one issuer sends the same header again
and again.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError, JWSError
from ._b64 import B64URL as _B64URL
from ._b64 import PAD as _PAD
from ._b64 import TO_STD as _TO_STD
from ._b64 import TO_URL as _TO_URL
from ._b64 import b64url_decode, b64url_encode
from ._b64 import canonical as _canonical
from ._b64 import decode_checked as _decode
from ._b64 import decode_checked as decode_segment
from ._header import build_header
from .keys import ALGORITHMS, SigningKey, VerifyingKey
from .signer import Signer, checked_signer

__all__ = [
    "MAX_TOKEN_LENGTH",
    "VerifiedJWS",
    "b64url_decode",
    "b64url_encode",
    "checked_header",
    "compact_text",
    "decode_segment",
    "malformed",
    "match_compact",
    "parse_json_object",
    "sign_compact",
    "sign_with_header",
    "unverified_claims",
    "unverified_header",
    "verify_compact",
    "verify_split",
]

#: Longest compact JWS accepted by default (characters).
MAX_TOKEN_LENGTH = 64 * 1024
#: Deepest JSON nesting accepted in a header or claim set.
MAX_JSON_DEPTH = 16

#: The compact serialization (RFC 7515 §7.1): a match gives the three segments, ``end(2)``
#: the length of the signing input.
match_compact = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)").fullmatch
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode
_HEADER_CACHE: dict[str, dict[str, Any]] = {}
_HEADER_CACHE_SIZE = 512


def _pairs_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise JWSError(f"duplicate JSON member {name!r} (RFC 7515 §5.2)")
            seen.add(name)
    return result


def _no_constant(name: str) -> Any:
    raise JWSError(f"{name} is not valid JSON (RFC 8259 §6)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JWSError(f"number {text[:20]!r} is out of range")
    return value


def _check_depth(value: dict[str, Any], limit: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise JWSError(f"JSON nested deeper than {limit} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))


# Built once: json.loads with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs_no_duplicates,
    parse_constant=_no_constant,
    parse_float=_finite_float,
)
_decode_json = _DECODER.decode
# Set by JSONDecoder.__init__ (the C scanner when available); not in the type stubs.
_scan_json: Any = _DECODER.scan_once  # type: ignore[attr-defined]


def parse_json_object(data: bytes | str, what: str = "JSON") -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object, strictly (RFC 7515 §5.2, RFC 8259).

    Refused with a :class:`JWSError`: bytes that are not UTF-8, JSON that is not an object,
    duplicate member names, NaN/Infinity or out-of-range numbers, nesting deeper than
    ``MAX_JSON_DEPTH``.
    """
    if type(data) is bytes or isinstance(data, (bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JWSError(f"{what} is not UTF-8") from None
    elif isinstance(data, str):
        text = data
    else:
        raise JWSError(f"{what} must be bytes or text, not {type(data).__name__}")
    if text[:1] == "{":
        # The common case, a compact object: the decoder's scanner alone, without the
        # whitespace handling around it. Anything else, or any failure, takes the full path
        # below, which gives the same value or the same error.
        try:
            value, end = _scan_json(text, 0)
        except Exception:  # raised again, as its precise error, by the full path below
            end = -1
        if end == len(text) and type(value) is dict:
            for member in value.values():
                if isinstance(member, (dict, list)):
                    _check_depth(value, MAX_JSON_DEPTH)
                    break
            return value
    try:
        value = _decode_json(text)
    except RecursionError:
        raise JWSError(f"{what} is nested too deeply") from None
    except JWSError as exc:
        raise JWSError(f"{what}: {exc}") from None
    except ValueError as exc:
        raise JWSError(f"{what} is not valid JSON: {exc.args[0] if exc.args else exc}") from None
    if type(value) is not dict:
        raise JWSError(f"{what} must be a JSON object")
    for member in value.values():
        if isinstance(member, (dict, list)):
            _check_depth(value, MAX_JSON_DEPTH)
            break
    return value


def _signer(key: object) -> Signer:
    signer = checked_signer(key)
    if signer is None:
        raise ConfigurationError(
            "key must be a SigningKey or a signer (alg, kid, x5t_s256, public_jwk(), sign())"
        )
    return signer


def sign_compact(
    payload: Mapping[str, Any] | bytes | str,
    key: SigningKey | Signer,
    *,
    headers: Mapping[str, Any] | None = None,
    typ: str | None = "JWT",
    x5t_s256: bool = False,
) -> str:
    """Sign ``payload`` (claims, or the exact bytes/str to sign) as a compact JWS (RFC 7515 §7.1).

    The header is ``{"alg": key.alg, "typ": typ, "kid": key.kid}`` (kid only when the key has
    one) plus ``x5t#S256`` when asked and any ``headers`` given.
    """
    if isinstance(key, SigningKey):
        segment = key.header_segment(typ, x5t_s256=x5t_s256, headers=headers)
    else:
        segment = build_header(_signer(key), headers, typ, x5t_s256)
    if type(payload) is dict:
        try:
            body = _DUMPS(payload).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"claims must be JSON values: {exc}") from None
    elif isinstance(payload, str):
        try:
            body = payload.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError("payload text is not valid Unicode (lone surrogate)") from None
    elif isinstance(payload, (bytes, bytearray, memoryview)):
        body = bytes(payload)
    elif isinstance(payload, Mapping):
        return sign_compact(dict(payload), key, headers=headers, typ=typ, x5t_s256=x5t_s256)
    else:
        raise ConfigurationError("payload must be a mapping of claims, bytes or str")
    signing_input = segment + _b2a(body, newline=False).translate(_TO_URL).rstrip(b"=")
    signature = _b2a(key.sign(signing_input), newline=False).translate(_TO_URL).rstrip(b"=")
    return (signing_input + b"." + signature).decode("ascii")


def sign_with_header(
    protected_header: bytes | str, payload: bytes | str, key: SigningKey | Signer
) -> str:
    """Sign ``payload`` under exactly the given protected header bytes (RFC 7515 §5.1).

    For reproducing published examples byte for byte and for headers that :func:`sign_compact`
    does not build. The header must be a JSON object whose ``alg`` is the key's.
    """
    raw_header = (
        protected_header.encode("utf-8") if isinstance(protected_header, str)
        else bytes(protected_header)
    )
    header = parse_json_object(raw_header, "JWS header")
    if not isinstance(key, SigningKey):
        key = _signer(key)
    if header.get("alg") != key.alg:
        raise JWSError(f"header alg {header.get('alg')!r} is not the key's {key.alg!r}")
    if "crit" in header or "b64" in header:
        raise ConfigurationError("the 'crit' and 'b64' headers are not supported (RFC 7515)")
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    signing_input = f"{b64url_encode(raw_header)}.{b64url_encode(body)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url_encode(key.sign(signing_input))}"


@dataclass(frozen=True, slots=True)
class VerifiedJWS:
    """A compact JWS whose signature verified: its header, raw payload and the key that matched."""

    header: dict[str, Any]
    payload: bytes
    key: VerifyingKey

    def claims(self) -> dict[str, Any]:
        """The payload parsed as a JSON object (strictly, see :func:`parse_json_object`)."""
        return parse_json_object(self.payload, "JWT claims")


def _text(token: object, max_length: int) -> str:
    if isinstance(token, (bytes, bytearray)):
        try:
            token = bytes(token).decode("ascii")
        except UnicodeDecodeError:
            raise JWSError("a compact JWS holds only ASCII characters") from None
    if not isinstance(token, str):
        raise JWSError(f"a compact JWS must be a string, not {type(token).__name__}")
    if len(token) > max_length:
        raise JWSError(f"JWS is {len(token)} characters, over the limit of {max_length}")
    return token


def malformed(token: str) -> JWSError:
    """Say precisely why ``token`` is not three base64url segments."""
    parts = token.split(".")
    if len(parts) == 5:
        return JWSError("this is a JWE (5 parts), not a signed JWT (3 parts)")
    if len(parts) != 3:
        return JWSError(f"a compact JWS has 3 dot-separated parts, this one has {len(parts)}")
    for name, part in zip(("header", "payload", "signature"), parts, strict=True):
        if _B64URL(part) is None:
            return JWSError(
                f"the {name} is not base64url (RFC 7515 §2: letters, digits, '-' and '_', "
                "no padding, no spaces)"
            )
    return JWSError("the header is empty")


def _split(token: object, max_length: int) -> tuple[str, str, str]:
    text = _text(token, max_length)
    match = match_compact(text)
    if match is None:
        raise malformed(text)
    return match.group(1, 2, 3)  # type: ignore[return-value]


def unverified_header(token: str, *, max_length: int = MAX_TOKEN_LENGTH) -> dict[str, Any]:
    """The JOSE header, NOT verified: for diagnostics and key selection only."""
    header_b64, _, _ = _split(token, max_length)
    return parse_json_object(_decode(header_b64), "JWS header")


def unverified_claims(token: str, *, max_length: int = MAX_TOKEN_LENGTH) -> dict[str, Any]:
    """The claims, NOT verified: for diagnostics only; never trust them."""
    _, payload_b64, _ = _split(token, max_length)
    return parse_json_object(_decode(payload_b64), "JWT claims")


def _checked_header(header_b64: str) -> dict[str, Any]:
    """Parse and vet a header segment; a flat header is remembered for the next token."""
    header = _HEADER_CACHE.get(header_b64)
    if header is not None:
        return header
    header = parse_json_object(_decode(header_b64), "JWS header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JWSError("JWS header has no 'alg' string (RFC 7515 §4.1.1)")
    if alg.lower() == "none":
        raise JWSError("alg 'none' is never accepted (RFC 8725 §3.2)")
    if alg not in ALGORITHMS:
        raise JWSError(f"alg {alg[:20]!r} is not a supported JWS algorithm")
    if "crit" in header:
        raise JWSError(
            "the crit header names extensions that are not supported (RFC 7515 §4.1.11)"
        )
    if "b64" in header:
        raise JWSError("the b64 header (RFC 7797 unencoded payload) is not supported")
    if all(not isinstance(v, (dict, list)) for v in header.values()):
        if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
            _HEADER_CACHE.clear()
        _HEADER_CACHE[header_b64] = header
    return header


def _candidates(
    keys: VerifyingKey | SigningKey | Sequence[VerifyingKey | SigningKey], header: dict[str, Any]
) -> list[VerifyingKey]:
    """The keys allowed to verify a token with this header (RFC 7515 §6, RFC 8725 §3.1)."""
    if isinstance(keys, (VerifyingKey, SigningKey)):
        keys = (keys,)
    elif not isinstance(keys, Sequence) or isinstance(keys, (str, bytes)):
        raise ConfigurationError("keys must be a VerifyingKey, a SigningKey or a list of them")
    pool = [k.verifying_key() if isinstance(k, SigningKey) else k for k in keys]
    if not all(isinstance(k, VerifyingKey) for k in pool):
        raise ConfigurationError("keys must be VerifyingKey or SigningKey objects")
    if len(pool) > 1:
        # RFC 8725 §3.1: a set mixing shared secrets with public keys invites alg confusion.
        if len({k.is_symmetric for k in pool}) > 1:
            raise JWSError(
                "the key set mixes shared secrets and public keys; verify with one kind only"
            )
        kid = header.get("kid")
        if kid is not None:
            by_kid = [k for k in pool if k.kid == kid]
            if len(by_kid) > 1:
                raise JWSError("several keys share the token's kid; key ids must be unique")
            pool = by_kid or [k for k in pool if k.kid is None]
    return pool


def verify_compact(
    token: str,
    keys: VerifyingKey | SigningKey | Sequence[VerifyingKey | SigningKey],
    *,
    max_length: int = MAX_TOKEN_LENGTH,
) -> VerifiedJWS:
    """Verify a compact JWS against the expected key(s) and return its header and payload.

    The header's ``alg`` must equal the key's algorithm; ``none`` never verifies (RFC 8725
    §3.1-§3.2). With several keys, a header ``kid`` selects among them (keys without a kid are
    tried when none matches); a set mixing secrets and public keys, or two keys with the
    token's kid, is refused. A ``crit`` header is refused (no extension is understood, RFC 7515
    §4.1.11), and so is ``b64`` (RFC 7797). Any failure is a :class:`JWSError` saying what.
    """
    if type(token) is not str or len(token) > max_length:
        token = _text(token, max_length)
    match = match_compact(token)
    if match is None:
        raise malformed(token)
    header_b64, payload_b64, signature_b64 = match.group(1, 2, 3)
    header, key = verify_split(
        header_b64, payload_b64, signature_b64, token[: match.end(2)].encode("ascii"), keys
    )
    payload = payload_b64.encode("ascii")
    return VerifiedJWS(
        header.copy(), _a2b(payload.translate(_TO_STD) + _PAD[len(payload) & 3]), key
    )


def verify_split(
    header_b64: str,
    payload_b64: str,
    signature_b64: str,
    signing_input: bytes,
    keys: VerifyingKey | SigningKey | Sequence[VerifyingKey | SigningKey],
) -> tuple[dict[str, Any], VerifyingKey]:
    """The checks and signature verification of :func:`verify_compact`, on a token already
    split (``signing_input`` is its first two segments and the dot, as bytes): the vetted header
    (shared with the cache: do not modify it) and the key that verified.

    For a caller that has already split the token and parsed the payload, so neither happens
    twice; every check of :func:`verify_compact` still runs, in the same order.
    """
    header = _checked_header(header_b64)
    alg = header["alg"]
    if type(keys) is VerifyingKey:
        usable: Sequence[VerifyingKey] = (keys,) if keys.alg == alg else ()
    else:
        pool = _candidates(keys, header)
        usable = [k for k in pool if k.alg == alg]
        keys = pool  # for the message below
    if not usable:
        pinned = keys if isinstance(keys, VerifyingKey) else None
        expected = (
            pinned.alg if pinned is not None
            else ", ".join(sorted({k.alg for k in keys})) or "no key"  # type: ignore[union-attr]
        )
        raise JWSError(
            f"alg {alg!r} is not the registered key's algorithm ({expected}); the algorithm "
            "is fixed by the key, never by the token (RFC 8725 §3.1)"
        )
    if not (_canonical(payload_b64) and _canonical(signature_b64)):
        raise JWSError(
            "not canonical base64url (RFC 7515 §2): a bad length or non-zero trailing bits"
        )
    sig = signature_b64.encode("ascii")
    signature = _a2b(sig.translate(_TO_STD) + _PAD[len(sig) & 3])
    for key in usable:
        if key.verify(signing_input, signature):
            return header, key
    raise JWSError("signature does not verify with the registered key")


#: For callers that split a token themselves (resource-server validation): the text checks of
#: :func:`verify_compact` (type, ASCII, length) and the header vetting of :func:`verify_split`.
compact_text = _text
checked_header = _checked_header
