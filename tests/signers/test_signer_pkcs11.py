"""Pkcs11Signer against a real SoftHSM2 token: keys made on the token, assertions checked by
PyJWT and accepted by our reference server, the private key proven unreadable."""

from __future__ import annotations

import threading
from pathlib import Path

import jwt as pyjwt
import pytest

import jwtbearer as jb
from conftest import SUBJECT, SoftHsm, reference_server
from jwtbearer.jose import VerifyingKey
from jwtbearer.jose.jws import verify_compact
from jwtbearer.signers.certificate import self_signed_certificate

ALGS = ("ES256", "RS256", "PS256")


def signer(hsm: SoftHsm, alg: str) -> jb.Pkcs11Signer:
    return jb.Pkcs11Signer(hsm.module, hsm.token_label, hsm.labels[alg], pin=hsm.pin,
                           alg=None if alg != "PS256" else "PS256")


@pytest.mark.parametrize("alg", ALGS)
def test_assertions_verify_with_pyjwt(softhsm: SoftHsm, alg: str) -> None:
    with signer(softhsm, alg) as key:
        assert key.alg == alg
        assert key.kid == key.thumbprint()  # RFC 7638 by default
        jws = jb.JWS(jb.JWT(iss="svc", sub=SUBJECT, aud="https://as.example"), key)
        token = jws.compact_serialization()
        claims = pyjwt.decode(token, key.public_key(), algorithms=[alg],
                              audience="https://as.example")
        assert claims["iss"] == "svc" and claims["sub"] == SUBJECT
        header = pyjwt.get_unverified_header(token)
        assert header == {"alg": alg, "typ": "JWT", "kid": key.kid}
        # Our verifier agrees, with the key taken from the public JWK.
        assert verify_compact(token, VerifyingKey.from_jwk(key.public_jwk())).claims()


def test_default_algorithm_follows_the_key_type(softhsm: SoftHsm) -> None:
    with jb.Pkcs11Signer(softhsm.module, softhsm.token_label, softhsm.labels["PS256"],
                         pin=softhsm.pin) as rsa_key:
        assert rsa_key.alg == "RS256"
    with pytest.raises(jb.KeyLoadError, match="is EC: it signs ES256, not RS256"):
        jb.Pkcs11Signer(softhsm.module, softhsm.token_label, softhsm.labels["ES256"],
                        pin=softhsm.pin, alg="RS256")


def test_the_reference_server_accepts_every_algorithm(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    keys = {alg: signer(softhsm, alg) for alg in ALGS}
    clients = {f"hsm-{alg.lower()}": key.public_jwk() for alg, key in keys.items()}
    with reference_server(tmp_path, clients) as (_, token_url):
        for alg, key in keys.items():
            client_id = f"hsm-{alg.lower()}"
            client = jb.TokenClient(token_url, auth=jb.PrivateKeyJWT(client_id, key))
            token = client.client_credentials(scope="api:read")
            assert token.access_token and token.scope == "api:read"
            bearer = client.jwt_bearer(jb.JWT(iss=client_id, sub=SUBJECT, aud=token_url), key)
            assert bearer.access_token
    for key in keys.values():
        key.close()


def test_the_private_key_cannot_be_read(softhsm: SoftHsm) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    from jwtbearer.signers import pkcs11 as ours

    lib = ours._library(softhsm.module)
    token = lib.get_token(token_label=softhsm.token_label)
    with signer(softhsm, "ES256") as key:
        session = ours._sessions[(softhsm.module, softhsm.token_label)].session
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY,
                                  label=softhsm.labels["ES256"])
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            private[Attribute.VALUE]
        rsa_private = session.get_key(object_class=ObjectClass.PRIVATE_KEY,
                                      label=softhsm.labels["RS256"])
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            rsa_private[Attribute.PRIVATE_EXPONENT]
        assert key.sign(b"still signs")
    assert token.label == softhsm.token_label


def test_unknown_labels_and_a_wrong_pin_say_which(softhsm: SoftHsm) -> None:
    with pytest.raises(jb.KeyLoadError, match=r"no PKCS#11 token labelled 'nope'.*'jwtbearer'"):
        jb.Pkcs11Signer(softhsm.module, "nope", "ec-key", pin=softhsm.pin)
    with pytest.raises(jb.KeyLoadError, match="no private key labelled 'missing' on PKCS#11 token"):
        jb.Pkcs11Signer(softhsm.module, softhsm.token_label, "missing", pin=softhsm.pin)
    with pytest.raises(jb.KeyLoadError, match="wrong PIN for PKCS#11 token 'jwtbearer'") as e:
        jb.Pkcs11Signer(softhsm.module, softhsm.token_label, "ec-key", pin="0000")
    assert "0000" not in str(e.value)
    with pytest.raises(jb.KeyLoadError, match="cannot load the PKCS#11 module"):
        jb.Pkcs11Signer("/nonexistent/libpkcs11.so", "t", "k", pin="1")


def test_a_wrong_pin_is_refused_while_the_token_is_logged_in(softhsm: SoftHsm) -> None:
    with signer(softhsm, "ES256"), pytest.raises(jb.KeyLoadError, match="wrong PIN"):
        jb.Pkcs11Signer(softhsm.module, softhsm.token_label, "rsa-key", pin="not-the-pin")


def test_signers_share_one_login_and_closing_one_keeps_the_others(softhsm: SoftHsm) -> None:
    from jwtbearer.signers import pkcs11 as ours

    first, second = signer(softhsm, "ES256"), signer(softhsm, "RS256")
    shared = ours._sessions[(softhsm.module, softhsm.token_label)]
    assert second._shared is first._shared is shared and shared.users == 2
    first.close()
    first.close()  # twice is harmless
    assert shared.users == 1
    assert second.sign(b"after the other closed")  # still logged in
    with pytest.raises(jb.ConfigurationError, match="closed"):
        first.sign(b"x")
    second.close()
    assert (softhsm.module, softhsm.token_label) not in ours._sessions
    with signer(softhsm, "ES256") as again:  # a new session logs in again
        assert again.sign(b"x")


def test_one_session_is_shared_by_threads(softhsm: SoftHsm) -> None:
    key = signer(softhsm, "ES256")
    verifying = key.verifying_key()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                data = f"{n}-{i}".encode()
                assert verifying._verify(data, key.sign(data))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    key.close()
    assert not errors


def test_certificate_signed_by_the_token(softhsm: SoftHsm) -> None:
    for alg in ALGS:
        with signer(softhsm, alg) as key:
            cert = self_signed_certificate(key, "svc", days=30)
            cert.verify_directly_issued_by(cert)
            assert cert.public_key() == key.public_key()
            with_cert = jb.Pkcs11Signer(softhsm.module, softhsm.token_label, key.key_label,
                                        pin=softhsm.pin, alg=alg, certificate=cert)
            token = jb.JWS(jb.JWT(iss="a", sub="b", aud="c"), with_cert,
                           x5t_s256=True).compact_serialization()
            assert pyjwt.get_unverified_header(token)["x5t#S256"] == with_cert.x5t_s256
            with_cert.close()


def test_reference_uri_and_repr_hide_the_pin(softhsm: SoftHsm,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from jwtbearer.signers import signer_from_reference

    monkeypatch.setenv("JWTBEARER_PKCS11_PIN", softhsm.pin)
    key = signer_from_reference(softhsm.uri("PS256"))
    assert key.alg == "PS256" and softhsm.pin not in repr(key)
    key.close()  # type: ignore[attr-defined]
    monkeypatch.delenv("JWTBEARER_PKCS11_PIN")
    with pytest.raises(jb.ConfigurationError, match="JWTBEARER_PKCS11_PIN"):
        signer_from_reference(softhsm.uri("ES256"))
    with pytest.raises(jb.ConfigurationError, match="needs object"):
        signer_from_reference(f"pkcs11:token=x?module-path={softhsm.module}")


def test_a_profile_names_a_key_on_the_token(softhsm: SoftHsm, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    key = signer(softhsm, "ES256")
    monkeypatch.setenv("HSM_PIN", softhsm.pin)
    with reference_server(tmp_path / "server", {"hsm-profile": key.public_jwk()}) as (_, url):
        profiles = tmp_path / "profiles.toml"
        profiles.write_text(f"""
[profiles.hsm]
token_url = "{url}"
grant = "jwt-bearer"
client_id = "hsm-profile"
client_auth = "private_key_jwt"
subject = "{SUBJECT}"
key = "{softhsm.uri('ES256')}"
key_password = "env:HSM_PIN"
cache = "memory"
allow_insecure_http = true
""")
        assert jb.profile("hsm", path=profiles).token().access_token
    key.close()


def test_a_session_the_token_dropped_is_opened_again(softhsm: SoftHsm) -> None:
    from jwtbearer.signers import pkcs11 as ours

    first, second = signer(softhsm, "ES256"), signer(softhsm, "RS256")
    shared = ours._sessions[(softhsm.module, softhsm.token_label)]
    shared.session.close()  # as an HSM restart would: the session and its login are gone
    data = b"after the token dropped the session"
    assert first.verifying_key()._verify(data, first.sign(data))
    assert shared.generation == 1
    assert second.verifying_key()._verify(data, second.sign(data))  # finds its key again
    assert shared.generation == 1  # one new login for both
    assert softhsm.pin not in repr(shared)
    first.close()
    second.close()
