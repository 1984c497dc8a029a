"""Validating incoming access tokens: JWTValidator against a raw floor, PyJWT + PyJWKClient and
joserfc, in one interleaved run.

Run with ``.venv/bin/python bench/validate.py``. The issuer's JWK Set (three keys, the token's
among them) is served on 127.0.0.1 and fetched once by every implementation that fetches
(jwtbearer's JWKS cache, PyJWKClient's cache); joserfc gets the same set as a ``KeySet``. Each
call validates one RFC 9068 access token: signature, ``iss``, ``aud``, ``exp``, the claims
returned. The floor is the least work that does this correctly: split, base64url, ``json.loads``
of header and claims, the ``alg`` and ``kid`` checks, the raw ``cryptography`` verify, and the
three claim comparisons. Timing as in ``bench/sign.py`` (round-robin batches, the order rotating,
medians); the run is bounded (about 30 s).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt as pyjwt
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from _results import machine, write_section  # bench/ is on sys.path when run as a script
from jwtbearer import JWTValidator, SigningKey
from jwtbearer.jose.jws import sign_compact
from sign import _raw_verifier, measure

ALGS = ("ES256", "EdDSA", "RS256")
TARGET = 1.3
ISS = "https://issuer.example.com"
AUD = "https://api.example.com"

Call = Callable[[], Any]


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class _JWKS:
    """The issuer's JWK Set on a loopback port, counting requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def implementations(alg: str) -> tuple[dict[str, Call], _JWKS]:
    """The validate callables, each checked to return the claims and to refuse a bad aud."""
    key = SigningKey.generate(alg, kid=f"{alg}-current")
    others = [SigningKey.generate("ES256", kid="old"), SigningKey.generate("RS256", kid="next")]
    document = {"keys": [k.public_jwk() for k in (*others, key)]}
    server = _JWKS(document)
    now = int(time.time())
    claims = {"iss": ISS, "sub": "svc", "aud": AUD, "client_id": "svc", "scope": "api:read",
              "iat": now, "exp": now + 3600, "jti": "Vb0kQ5jv7n2HcdS8E3fWqA"}
    token = sign_compact(claims, key, typ="at+jwt")
    public = key.public_key()
    raw_verify = _raw_verifier(alg, public)
    kid = key.kid

    def floor() -> dict[str, Any]:
        h, p, s = token.split(".")
        header = json.loads(_b64d(h))
        if header["alg"] != alg or header.get("kid") != kid:
            raise ValueError("alg/kid")
        raw_verify(f"{h}.{p}".encode(), _b64d(s))
        body: dict[str, Any] = json.loads(_b64d(p))
        if body["iss"] != ISS or body["aud"] != AUD or body["exp"] <= time.time() - 30:
            raise ValueError("claims")
        return body

    validator = JWTValidator(issuer=ISS, audience=AUD, jwks_uri=server.url,
                             allow_insecure_http=True)
    jwk_client = pyjwt.PyJWKClient(server.url, cache_jwk_set=True, lifespan=3600)

    def pyjwt_validate() -> dict[str, Any]:
        signing_key = jwk_client.get_signing_key_from_jwt(token)
        decoded: dict[str, Any] = pyjwt.decode(token, signing_key.key, algorithms=[alg],
                                               audience=AUD, issuer=ISS, leeway=30)
        return decoded

    key_set = KeySet.import_key_set(document)
    registry = jose_jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISS},
                                          aud={"essential": True, "value": AUD}, leeway=30)

    def joserfc_validate() -> dict[str, Any]:
        decoded = jose_jwt.decode(token, key_set, algorithms=[alg])
        registry.validate(decoded.claims)
        return decoded.claims  # type: ignore[no-any-return]

    calls: dict[str, Call] = {
        "floor": floor,
        "jwtbearer": lambda: validator.validate(token).claims,
        "PyJWT": pyjwt_validate,
        "joserfc": joserfc_validate,
    }
    for name, call in calls.items():
        assert dict(call()) == claims, name
    assert server.requests == 2, "jwtbearer and PyJWKClient each fetched the JWKS once"
    return calls, server


def main() -> None:
    # joserfc prefers the RFC 9864 name Ed25519; EdDSA is what RFC 8037 and RFC 9068 peers use.
    warnings.filterwarnings("ignore", "EdDSA is deprecated")
    started = time.perf_counter()
    rows, misses = [], []
    for alg in ALGS:
        calls, server = implementations(alg)
        try:
            medians = measure(calls)
            assert server.requests == 2, "a JWKS was refetched during the run"
        finally:
            server.close()
        floor = medians["floor"]
        ratio = {name: value / floor for name, value in medians.items()}
        met = ratio["jwtbearer"] <= TARGET
        if not met:
            misses.append(f"{alg}: {ratio['jwtbearer']:.2f}x against ≤ {TARGET}x")
        rows.append(f"| {alg} | {floor * 1e6:,.1f} µs | **{ratio['jwtbearer']:.2f}x** | "
                    f"≤ {TARGET}x {'met' if met else 'MISSED'} | {ratio['PyJWT']:.2f}x | "
                    f"{ratio['joserfc']:.2f}x |")
        print(f"{alg}: " + ", ".join(f"{n} {r:.2f}x" for n, r in ratio.items()), file=sys.stderr)
    elapsed = time.perf_counter() - started
    table = "\n".join(["| alg | floor per call | jwtbearer `validate()` | target | "
                       "PyJWT + PyJWKClient | joserfc |", "|---|---:|---:|---|---:|---:|", *rows])
    verdict = ("Every target is met." if not misses
               else "Missed: " + "; ".join(misses) + ".")
    write_section("validate", f"""## Validating incoming access tokens (`bench/validate.py`)

{machine()}; whole run {elapsed:.0f} s.

One RFC 9068 access token (`typ: at+jwt`, a `kid` among three published keys) validated per
call: signature with the key chosen by `kid`, `iss`, `aud`, `exp`, claims returned. The JWK Set
is served on 127.0.0.1 and fetched once before timing by `JWTValidator` (its JWKS cache) and by
PyJWT's `PyJWKClient` (its cache on; `get_signing_key_from_jwt` then `jwt.decode` with
`audience`/`issuer`); joserfc decodes against the same set as a `KeySet` and runs its
`JWTClaimsRegistry`. No request reaches the JWKS endpoint during the timed run (checked). The
floor: split, base64url, `json.loads` of header and claims, `alg` and `kid` checks, the raw
`cryptography` verify and the three claim comparisons. Ratios to the floor (lower is better),
interleaved round-robin in one process, medians over all rounds.

{table}

{verdict}
""")


if __name__ == "__main__":
    main()
