"""An ES256 assertion signed through a PKCS#11 token (SoftHSM2) against the in-memory floor.

Run with ``.venv/bin/python bench/hsm.py`` (``make bench`` runs it; it needs the Debian
``softhsm2`` package, which ``make bench`` installs). A token is initialised in a temporary
directory and a P-256 key generated on it. Contenders, interleaved as in bench/sign.py: the
in-memory floor (raw ``cryptography`` ECDSA, DER to r||s, base64url), jwtbearer's in-memory
``SigningKey``, the bare python-pkcs11 call on the token (SHA-256 here, ``CKM_ECDSA`` there,
base64url), and jwtbearer's ``Pkcs11Signer``. Reported, no target: the token's cost is the
token's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from _results import machine, write_section  # bench/ is on sys.path when run as a script
from sign import _b64e, _claims, _raw_signer, measure  # the same floor and timing loop

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
           "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "bench-pin"


def _token() -> tuple[str, Path]:
    module = next((m for m in MODULES if os.path.exists(m)), None)
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        sys.exit("SoftHSM2 is not installed: `make bench` installs the softhsm2 package")
    directory = Path(tempfile.mkdtemp(prefix="jwtbearer-bench-hsm-"))
    (directory / "tokens").mkdir()
    (directory / "softhsm2.conf").write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(directory / "softhsm2.conf")
    subprocess.run([util, "--init-token", "--free", "--label", "bench", "--pin", PIN,
                    "--so-pin", "bench-so-pin"], check=True, capture_output=True, timeout=60)
    return module, directory


def main() -> None:
    import json

    from pkcs11 import Mechanism

    from jwtbearer import Pkcs11Signer, SigningKey
    from jwtbearer.jose.jws import sign_compact, verify_compact
    from jwtbearer.signers.pkcs11 import generate_key

    started = time.perf_counter()
    module, directory = _token()
    try:
        signer = generate_key(module, "bench", "es256", pin=PIN, alg="ES256")
        assert isinstance(signer, Pkcs11Signer)
        private = ec.generate_private_key(ec.SECP256R1())
        key = SigningKey(private)
        claims = _claims()
        encode = json.JSONEncoder(separators=(",", ":")).encode
        header = _b64e(json.dumps({"alg": "ES256", "typ": "JWT"}, separators=(",", ":")).encode())
        raw_sign = _raw_signer("ES256", private)
        token_key = signer._key

        def floor() -> str:
            signing_input = header + b"." + _b64e(encode(claims).encode())
            return (signing_input + b"." + _b64e(raw_sign(signing_input))).decode()

        def bare_token() -> str:
            signing_input = header + b"." + _b64e(encode(claims).encode())
            digest = hashlib.sha256(signing_input).digest()
            signature = token_key.sign(digest, mechanism=Mechanism.ECDSA)
            return (signing_input + b"." + _b64e(bytes(signature))).decode()

        calls = {
            "floor (in memory)": floor,
            "jwtbearer SigningKey (in memory)": lambda: sign_compact(claims, key),
            "python-pkcs11 call (SoftHSM2)": bare_token,
            "jwtbearer Pkcs11Signer (SoftHSM2)": lambda: sign_compact(claims, signer),
        }
        assert verify_compact(sign_compact(claims, signer), signer.verifying_key()).claims()
        medians = measure(calls)
        signer.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    base = medians["floor (in memory)"]
    rows = [f"| {name} | {value * 1e6:,.1f} µs | {value / base:.2f}x |"
            for name, value in medians.items()]
    over = medians["jwtbearer Pkcs11Signer (SoftHSM2)"] / medians["python-pkcs11 call (SoftHSM2)"]
    write_section("hsm", f"""## ES256 through a PKCS#11 token (`bench/hsm.py`)

{machine()}; whole run {time.perf_counter() - started:.0f} s.

The RFC 7523 claim set of bench/sign.py signed as an ES256 compact JWS, in memory and through
SoftHSM2 (a P-256 key generated on a token in a temporary directory, the session opened once).
Ratios are to the in-memory floor of bench/sign.py. Reported, no target.

| contender | per call | × in-memory floor |
|---|---:|---:|
{chr(10).join(rows)}

`Pkcs11Signer` costs {over:.2f}x the bare python-pkcs11 call on the same token (its lock, the
mechanism lookup and jwtbearer's JWS assembly).
""")


if __name__ == "__main__":
    main()
