"""Assertion signing and verification: jwtbearer against a hand-rolled floor, PyJWT and joserfc.

Run with ``.venv/bin/python bench/sign.py``. For each algorithm and operation, every
implementation runs one short batch per round, in an order that rotates each round, so all of
them see the same machine load; the figure kept is the median of the per-call times of all
rounds. The floor is the least work that makes a correct compact JWS: a precomputed header
segment, a prebuilt compact JSON encoder, base64url and the raw ``cryptography``/``hmac`` call
(for ECDSA, the DER to r||s conversion too); its verification splits, decodes, parses the
header and the claims, checks ``alg`` and calls the raw verifier. The whole run is bounded
(about 40 s).
"""

from __future__ import annotations

import base64
import gc
import hmac
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from joserfc import jwk as jose_jwk
from joserfc import jwt as jose_jwt

from _results import machine, write_section  # bench/ is on sys.path when run as a script
from jwtbearer import SigningKey
from jwtbearer.jose.jws import sign_compact, verify_compact

ALGS = ("RS256", "ES256", "EdDSA", "HS256")
SIGN_TARGET = {"RS256": 1.02, "ES256": 1.2, "EdDSA": 1.2, "HS256": 1.5}
VERIFY_TARGET = 1.3
BUDGET_S = 4.5  # per algorithm and operation
BATCH_S = 0.002  # one batch of one implementation
MIN_ROUNDS, MAX_ROUNDS = 25, 600

Call = Callable[[], Any]


def _b64e(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0QqEWhqKpoW3svG3X",
        "sub": "integration.user@example.com",
        "aud": "https://login.salesforce.com",
        "iat": now,
        "exp": now + 300,
        "jti": "Vb0kQ5jv7n2HcdS8E3fWqA",
    }


def _raw_signer(alg: str, private: Any) -> Callable[[bytes], bytes]:
    if alg == "RS256":
        return lambda data: private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())

        def sign_ec(data: bytes) -> bytes:
            r, s = decode_dss_signature(private.sign(data, ecdsa))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return sign_ec
    if alg == "EdDSA":
        return private.sign  # type: ignore[no-any-return]
    return lambda data: hmac.digest(private, data, "sha256")


def _raw_verifier(alg: str, public: Any) -> Callable[[bytes, bytes], None]:
    if alg == "RS256":
        return lambda data, sig: public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())

        def verify_ec(data: bytes, sig: bytes) -> None:
            der = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
            public.verify(der, data, ecdsa)

        return verify_ec
    if alg == "EdDSA":
        return lambda data, sig: public.verify(sig, data)

    def verify_hmac(data: bytes, sig: bytes) -> None:
        if not hmac.compare_digest(hmac.digest(public, data, "sha256"), sig):
            raise ValueError("bad MAC")

    return verify_hmac


def _private(alg: str) -> Any:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return b"bench-secret-of-thirty-two-bytes-or-more!"


def implementations(alg: str) -> tuple[dict[str, Call], dict[str, Call]]:
    """(sign, verify) callables for floor, jwtbearer, PyJWT and joserfc, checked to agree."""
    private = _private(alg)
    public = private if isinstance(private, bytes) else private.public_key()
    claims = _claims()
    key = SigningKey(private)
    verifying = key.verifying_key()
    # joserfc wraps the same cryptography key objects, typed by their JWK kty.
    jose_private = jose_jwk.import_key(private, key.kty)  # type: ignore[call-overload]
    jose_public = jose_jwk.import_key(public, key.kty)  # type: ignore[call-overload]
    encode = json.JSONEncoder(separators=(",", ":")).encode
    header = _b64e(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    raw_sign, raw_verify = _raw_signer(alg, private), _raw_verifier(alg, public)

    def floor_sign() -> str:
        signing_input = header + b"." + _b64e(encode(claims).encode())
        return (signing_input + b"." + _b64e(raw_sign(signing_input))).decode()

    signs: dict[str, Call] = {
        "floor": floor_sign,
        "jwtbearer": lambda: sign_compact(claims, key),
        "PyJWT": lambda: pyjwt.encode(claims, private, algorithm=alg),
        "joserfc": lambda: jose_jwt.encode({"alg": alg}, claims, jose_private, algorithms=[alg]),
    }
    token = sign_compact(claims, key)

    def floor_verify() -> dict[str, Any]:
        h, p, s = token.split(".")
        if json.loads(_b64d(h))["alg"] != alg:
            raise ValueError("alg")
        raw_verify(f"{h}.{p}".encode(), _b64d(s))
        return json.loads(_b64d(p))  # type: ignore[no-any-return]

    no_claim_checks = {"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                       "verify_aud": False, "verify_iss": False}
    verifies: dict[str, Call] = {
        "floor": floor_verify,
        "jwtbearer": lambda: verify_compact(token, verifying).claims(),
        "PyJWT": lambda: pyjwt.decode(token, public, algorithms=[alg], options=no_claim_checks),
        "joserfc": lambda: jose_jwt.decode(token, jose_public, algorithms=[alg]).claims,
    }
    for name, sign in signs.items():  # every implementation makes a token the others accept
        assert verify_compact(sign(), verifying).claims() == claims, name
    for name, verify in verifies.items():
        assert verify() == claims, name
    return signs, verifies


def measure(calls: dict[str, Call]) -> dict[str, float]:
    """Median seconds per call of each implementation, interleaved round-robin."""
    names = list(calls)
    per_batch = {}
    for name in names:  # batch sizes from a short calibration, so each batch takes ~BATCH_S
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < 0.02:
            calls[name]()
            count += 1
        per_batch[name] = max(1, int(BATCH_S * count / (time.perf_counter() - start)))
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + BUDGET_S
    rounds = 0
    gc.collect()
    gc.disable()
    try:
        while rounds < MAX_ROUNDS and (rounds < MIN_ROUNDS or time.perf_counter() < deadline):
            order = names[rounds % len(names):] + names[: rounds % len(names)]
            for name in order:
                call, n = calls[name], per_batch[name]
                start = time.perf_counter()
                for _ in range(n):
                    call()
                samples[name].append((time.perf_counter() - start) / n)
            rounds += 1
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def _fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def main() -> None:
    started = time.perf_counter()
    rows = []
    misses = []
    for alg in ALGS:
        signs, verifies = implementations(alg)
        for op, calls, target in (
            ("sign", signs, SIGN_TARGET[alg]),
            ("verify", verifies, VERIFY_TARGET),
        ):
            medians = measure(calls)
            floor = medians["floor"]
            ratio = {name: value / floor for name, value in medians.items()}
            met = ratio["jwtbearer"] <= target
            if not met:
                misses.append(f"{alg} {op}: {ratio['jwtbearer']:.2f}x against ≤ {target}x")
            rows.append(
                f"| {alg} | {op} | {_fmt_us(floor)} | **{ratio['jwtbearer']:.2f}x** | "
                f"≤ {target}x {'met' if met else 'MISSED'} | {ratio['PyJWT']:.2f}x | "
                f"{ratio['joserfc']:.2f}x |"
            )
            print(f"{alg} {op}: " + ", ".join(f"{n} {r:.2f}x" for n, r in ratio.items()),
                  file=sys.stderr)
    elapsed = time.perf_counter() - started
    table = "\n".join(
        [
            "| alg | op | floor per call | jwtbearer | target | PyJWT | joserfc |",
            "|---|---|---:|---:|---|---:|---:|",
            *rows,
        ]
    )
    verdict = (
        "Every target is met." if not misses
        else "Missed: " + "; ".join(misses) + ". See the note below."
    )
    write_section(
        "sign",
        f"""## Signing and verifying assertions (`bench/sign.py`)

{machine()}; whole run {elapsed:.0f} s.

An RFC 7523 claim set (iss, sub, aud, iat, exp, jti) signed as a compact JWS with
`typ: JWT`, and that token verified and its claims parsed. Ratios are to the floor (lower is
better): the least work that yields a correct token (precomputed header segment, a prebuilt
compact JSON encoder, base64url, the raw `cryptography`/`hmac` call, and for ES256 the DER to
r||s conversion) and, for verification, split + base64url + `json.loads` of header and claims +
`alg` check + the raw verify. Implementations run round-robin in one process, one short batch
each per round (the order rotating), and each figure is the median over all rounds. PyJWT runs
with its claim checks off and joserfc decodes without claim validation, so all four do the
same work. Keys are `cryptography` objects, loaded once, for every implementation.

{table}

{verdict}
""",
    )


if __name__ == "__main__":
    main()
