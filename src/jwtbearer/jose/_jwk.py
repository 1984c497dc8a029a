"""JWK and JWK Set parsing and export (RFC 7517, RFC 7518 §6, RFC 8037 §2), and thumbprints.

Parsing is strict: members are exact base64url (RFC 7515 §2), coordinates have their curve's size,
a private part must match its public part, and a JWK meant for another use is refused (RFC 7517
§4.2-§4.4). The key classes in :mod:`jwtbearer.keys` build on these functions.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ..errors import ConfigurationError, JWSError, KeyLoadError
from ._algorithms import ALGORITHMS, JWK_CURVE, PrivateKey, PublicKey, spki
from ._b64 import b64url_decode, b64url_encode

if TYPE_CHECKING:
    from cryptography import x509

__all__: list[str] = []

_K = TypeVar("_K")

_JWK_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}
_OKP_SIZES = {"Ed25519": 32, "Ed448": 57}


def _member(data: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    """A base64url JWK member, strictly decoded; ``size`` fixes its length in bytes."""
    value = data.get(name)
    if not isinstance(value, str):
        raise KeyLoadError(f"this {data.get('kty')} JWK needs a string '{name}' member")
    try:
        decoded = b64url_decode(value)
    except JWSError:
        raise KeyLoadError(f"the JWK '{name}' member is not base64url (RFC 7515 §2)") from None
    if size is not None and len(decoded) != size:
        raise KeyLoadError(
            f"the JWK '{name}' member has {len(decoded)} bytes; this curve needs {size} "
            "(RFC 7518 §6.2.1.2)"
        )
    return decoded


def _int(data: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_member(data, name), "big")


def _jwk_dict(jwk: Mapping[str, Any] | str) -> dict[str, Any]:
    """A JWK (or JWK Set) as a dict, from a mapping or JSON text."""
    if isinstance(jwk, str):
        try:
            loaded = json.loads(jwk)
        except (ValueError, RecursionError) as exc:
            raise KeyLoadError(f"the JWK is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise KeyLoadError("a JWK must be a JSON object")
        return loaded
    if not isinstance(jwk, Mapping):
        raise KeyLoadError("a JWK must be a JSON object or a mapping")
    return dict(jwk)


def _jwk_oct_bytes(data: Mapping[str, Any]) -> bytes:
    """The secret of an ``oct`` JWK (RFC 7518 §6.4.1)."""
    return _member(data, "k")


def _kty_of(data: Mapping[str, Any]) -> str:
    kty = data.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        raise KeyLoadError(f"unsupported JWK kty {kty!r}; use RSA, EC, OKP or oct")
    return str(kty)


def _ec_curve(data: Mapping[str, Any]) -> tuple[ec.EllipticCurve, int]:
    crv = data.get("crv")
    if not isinstance(crv, str) or crv not in _JWK_CURVES:
        raise KeyLoadError(f"unsupported EC curve {crv!r}; use P-256, P-384 or P-521")
    return _JWK_CURVES[crv]


def _okp_size(data: Mapping[str, Any]) -> int:
    crv = data.get("crv")
    if not isinstance(crv, str) or crv not in _OKP_SIZES:
        raise KeyLoadError(f"unsupported OKP curve {crv!r}; use Ed25519 (RFC 8037)")
    return _OKP_SIZES[crv]


def _public_from_jwk(data: Mapping[str, Any]) -> PublicKey:
    """The public key of an RSA, EC or OKP JWK (private members, if any, are ignored)."""
    kty = _kty_of(data)
    try:
        if kty == "RSA":
            return rsa.RSAPublicNumbers(_int(data, "e"), _int(data, "n")).public_key()
        if kty == "EC":
            curve, size = _ec_curve(data)
            x = int.from_bytes(_member(data, "x", size), "big")
            y = int.from_bytes(_member(data, "y", size), "big")
            return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        raw = _member(data, "x", _okp_size(data))
        if data["crv"] == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return ed448.Ed448PublicKey.from_public_bytes(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"invalid {kty} JWK: {exc}") from None


def _private_from_jwk(data: Mapping[str, Any]) -> PrivateKey:
    """The private key of an RSA, EC or OKP JWK, checked against its public members."""
    kty = _kty_of(data)
    if "d" not in data:
        raise KeyLoadError("this JWK is a public key (no 'd'); signing needs the private key")
    public = _public_from_jwk(data)
    try:
        private: PrivateKey
        if kty == "RSA":
            private = _rsa_private(data)
        elif kty == "EC":
            curve, size = _ec_curve(data)
            d = int.from_bytes(_member(data, "d", size), "big")
            private = ec.derive_private_key(d, curve)
        elif data["crv"] == "Ed25519":
            private = ed25519.Ed25519PrivateKey.from_private_bytes(
                _member(data, "d", _OKP_SIZES["Ed25519"])
            )
        else:
            private = ed448.Ed448PrivateKey.from_private_bytes(
                _member(data, "d", _OKP_SIZES["Ed448"])
            )
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"invalid {kty} JWK: {exc}") from None
    if spki(private.public_key()) != spki(public):
        raise KeyLoadError(f"this {kty} JWK's private part 'd' does not match its public part")
    return private


def _rsa_private(data: Mapping[str, Any]) -> rsa.RSAPrivateKey:
    if "oth" in data:
        raise KeyLoadError("multi-prime RSA JWKs ('oth', RFC 7518 §6.3.2.7) are not supported")
    n, e, d = _int(data, "n"), _int(data, "e"), _int(data, "d")
    public = rsa.RSAPublicNumbers(e, n)
    crt = ("p", "q", "dp", "dq", "qi")
    if any(name in data for name in crt):
        # RFC 7518 §6.3.2: with one CRT member present, all must be.
        p, q, dp, dq, qi = (_int(data, name) for name in crt)
    else:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()


def _public_members(key: PublicKey) -> dict[str, Any]:
    """The required public members of a key's JWK (RFC 7638 §3.2), in JWK form."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": b64url_encode(_uint(numbers.n)),
                "e": b64url_encode(_uint(numbers.e))}
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = JWK_CURVE[key.curve.name]
        size = _JWK_CURVES[crv][1]
        point = key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(point.x.to_bytes(size, "big")),
            "y": b64url_encode(point.y.to_bytes(size, "big")),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return {"kty": "OKP", "crv": crv, "x": b64url_encode(raw)}


def _uint(value: int) -> bytes:
    # RFC 7518 §6.3.1.1: big-endian, no leading zero octets.
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _jwk_certificate(data: Mapping[str, Any]) -> x509.Certificate | None:
    """The first certificate of a JWK's ``x5c`` chain (RFC 7517 §4.7), if any."""
    from cryptography import x509
    chain = data.get("x5c")
    if chain is None:
        return None
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise KeyLoadError("the JWK 'x5c' member must be a non-empty array of base64 strings")
    try:
        return x509.load_der_x509_certificate(binascii.a2b_base64(chain[0], strict_mode=True))
    except (ValueError, binascii.Error):
        raise KeyLoadError("the JWK 'x5c' certificate could not be read") from None


def _jwk_alg(data: Mapping[str, Any], alg: str | None) -> str | None:
    """The algorithm a JWK asks for, refused when unknown (RFC 7517 §4.4)."""
    chosen = alg or data.get("alg")
    if chosen is not None and (not isinstance(chosen, str) or chosen not in ALGORITHMS):
        raise KeyLoadError(
            f"JWK alg {chosen!r} is not a JWS algorithm jwtbearer accepts "
            f"({', '.join(sorted(ALGORITHMS))})"
        )
    return chosen


def _check_jwk_use(data: Mapping[str, Any], op: str) -> None:
    """RFC 7517 §4.2/§4.3: a key meant for encryption, or not for ``op``, is not used to sign."""
    use = data.get("use")
    if use is not None and use != "sig":
        raise KeyLoadError(f"this JWK has use {use!r}; a signature key needs use 'sig'")
    ops = data.get("key_ops")
    # The public half of a private JWK marked for "sign" verifies what it signs.
    allowed = {op, "sign"} if op == "verify" and "d" in data else {op}
    if ops is not None and (not isinstance(ops, list) or
                            not any(isinstance(o, str) and o in allowed for o in ops)):
        raise KeyLoadError(f"this JWK's key_ops {ops!r} do not include {op!r}")


def _jwk_kid(data: Mapping[str, Any]) -> str | None:
    kid = data.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise KeyLoadError("the JWK 'kid' must be a string (RFC 7517 §4.5)")
    return kid


def _as_key_error(build: Callable[[], _K]) -> _K:
    # A JWK carries its own alg: a mismatch is a problem of the key file, not of the caller.
    try:
        return build()
    except ConfigurationError as exc:
        raise KeyLoadError(str(exc)) from None


def public_jwk_of(key: PublicKey | bytes, alg: str, kid: str | None) -> dict[str, Any]:
    if isinstance(key, bytes):
        raise ConfigurationError("a shared secret (HS*) has no public JWK; never publish it")
    jwk: dict[str, Any] = _public_members(key)
    if kid is not None:
        jwk["kid"] = kid
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def rfc7638_thumbprint(key: PublicKey | bytes) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace."""
    members = ({"kty": "oct", "k": b64url_encode(key)} if isinstance(key, bytes)
               else _public_members(key))
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _jwk_parts(
    jwk: Mapping[str, Any] | str, op: str, kid: str | None, alg: str | None
) -> tuple[dict[str, Any], str | None, str | None]:
    """A JWK checked for ``op``, with its kid and alg; a ``kid`` or ``alg`` given wins."""
    data = _jwk_dict(jwk)
    _check_jwk_use(data, op)
    return data, kid if kid is not None else _jwk_kid(data), _jwk_alg(data, alg)
