"""``jwtbearer keys create NAME --pkcs11-module M --token-label T`` makes the key on a real
SoftHSM2 token, in a process of its own; ``--key NAME`` then signs with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt as pyjwt
from cryptography import x509

from conftest import SoftHsm
from jwtbearer.jose import default_key_store

CLI = [str(Path(sys.executable).with_name("jwtbearer"))]


def run(*args: str, pin: str | None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("JWTBEARER_PKCS11_PIN", None)
    if pin is not None:
        env["JWTBEARER_PKCS11_PIN"] = pin
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, input=stdin,
                          timeout=120)


def test_keys_create_on_the_token_then_sign_with_it(softhsm: SoftHsm, tmp_path: Path) -> None:
    for name, alg in (("cli-ec", "ES256"), ("cli-rsa", None)):
        extra = ["--alg", alg] if alg else []
        made = run("keys", "create", name, "--pkcs11-module", softhsm.module, "--token-label",
                   softhsm.token_label, "--subject", "svc.example", *extra, pin=softhsm.pin)
        assert made.returncode == 0, made.stderr + made.stdout
        assert "cannot leave the token" in made.stdout and softhsm.pin not in made.stdout
        store = default_key_store()
        certificate = x509.load_pem_x509_certificate(store.certificate_path(name).read_bytes())
        certificate.verify_directly_issued_by(certificate)  # signed by the token's key
        assert not store.key_path(name).exists()  # no private key file, ever
        assert softhsm.pin not in (store.path / f"{name}.pkcs11").read_text()

        signed = run("assert", "--iss", "svc", "--sub", "svc", "--aud", "https://as",
                     "--key", name, pin=softhsm.pin)
        assert signed.returncode == 0, signed.stderr
        token = signed.stdout.strip()
        claims = pyjwt.decode(token, certificate.public_key(), algorithms=[alg or "RS256"],
                              audience="https://as")
        assert claims["iss"] == "svc"
        with_x5t = run("assert", "--iss", "svc", "--aud", "https://as", "--key", name, "--x5t",
                       pin=softhsm.pin)
        assert with_x5t.returncode == 0, with_x5t.stderr
        assert pyjwt.get_unverified_header(with_x5t.stdout.strip())["x5t#S256"]
    listed = run("keys", "list", pin=None)
    assert "cli-ec  on a PKCS#11 token  pkcs11:token=jwtbearer;object=cli-ec" in listed.stdout


def test_keys_create_needs_a_pin_and_refuses_a_wrong_one(softhsm: SoftHsm) -> None:
    args = ("keys", "create", "cli-nopin", "--pkcs11-module", softhsm.module,
            "--token-label", softhsm.token_label)
    missing = run(*args, pin=None)
    assert missing.returncode != 0 and "JWTBEARER_PKCS11_PIN" in missing.stderr + missing.stdout
    wrong = run(*args, "--pin-stdin", pin=None, stdin="0000\n")
    assert wrong.returncode != 0 and "wrong PIN" in wrong.stderr + wrong.stdout
    alone = run("keys", "create", "x", "--token-label", "t", pin=softhsm.pin)
    assert alone.returncode != 0 and "--pkcs11-module" in alone.stderr + alone.stdout
