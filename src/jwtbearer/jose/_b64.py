"""Base64url (RFC 7515 §2, RFC 4648 §5): one encoder, one strict decoder, shared by JWS, JWK
and PEM thumbprints."""

from __future__ import annotations

import binascii
import re

from ..errors import JWSError

__all__ = ["B64URL", "PAD", "TO_STD", "TO_URL", "b64url_decode", "b64url_encode", "canonical",
           "decode_checked"]

B64URL = re.compile(r"[A-Za-z0-9_-]*").fullmatch
TO_STD = bytes.maketrans(b"-_", b"+/")
TO_URL = bytes.maketrans(b"+/", b"-_")
PAD = (b"", b"", b"==", b"=")
# RFC 4648 §3.5: the unused low bits of the last character must be zero, so that each byte
# string has exactly one encoding (a token cannot be altered without changing its bytes).
_LAST_OF_2 = frozenset("AQgw")
_LAST_OF_3 = frozenset("AEIMQUYcgkosw048")
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return _b2a(data, newline=False).translate(TO_URL).rstrip(b"=").decode("ascii")


def canonical(segment: str) -> bool:
    """True when the trailing bits of ``segment`` are zero and its length is possible."""
    rest = len(segment) & 3
    if rest == 0:
        return True
    if rest == 2:
        return segment[-1] in _LAST_OF_2
    return rest == 3 and segment[-1] in _LAST_OF_3


def decode_checked(segment: str) -> bytes:
    """Decode a segment already known to hold only base64url characters."""
    if not canonical(segment):
        raise JWSError(
            "not canonical base64url (RFC 7515 §2): a bad length or non-zero trailing bits"
        )
    raw = segment.encode("ascii")
    return _a2b(raw.translate(TO_STD) + PAD[len(raw) & 3])


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); anything else is a :class:`JWSError`.

    Refused: ``=`` padding, ``+`` or ``/``, whitespace, any other character, a length of 4n+1,
    and non-zero trailing bits (RFC 4648 §3.5).
    """
    if not isinstance(segment, str) or B64URL(segment) is None:
        raise JWSError("not base64url (RFC 7515 §2: letters, digits, '-' and '_', no padding)")
    return decode_checked(segment)
