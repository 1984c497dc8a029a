"""Keys: every file format, the refusals, kid/thumbprint/x5t#S256, and the key store."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, OKPKey, RSAKey

import jwtbearer
from jwtbearer import ConfigurationError, KeyLoadError, KeyStore, SigningKey
from jwtbearer.jose import VerifyingKey, default_key_store
from jwtbearer.jose.jws import sign_compact, verify_compact

PKCS8 = serialization.PrivateFormat.PKCS8
PEM = serialization.Encoding.PEM
NOENC = serialization.NoEncryption()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(key: Any, cn: str = "test", signer: Any = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signer or key, hashes.SHA256())
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(PEM)


def _roundtrips(key: SigningKey) -> None:
    token = sign_compact({"sub": "x"}, key)
    assert verify_compact(token, key.verifying_key()).claims() == {"sub": "x"}


def _secret_texts(private: Any) -> list[str]:
    """Pieces of key material that must never show in repr/str."""
    pem = private.private_bytes(PEM, PKCS8, NOENC).decode()
    pieces = [line for line in pem.splitlines() if "-----" not in line and len(line) > 20]
    if isinstance(private, rsa.RSAPrivateKey):
        d = private.private_numbers().d
        pieces += [str(d)[:30], hex(d)[2:30], _private_jwk(private)["d"][:30]]
    return pieces


# -- files ---------------------------------------------------------------------------------


def test_pem_pkcs1_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(
        rsa_key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, NOENC)
    )
    assert b"BEGIN RSA PRIVATE KEY" in path.read_bytes()
    key = SigningKey.from_file(path)
    assert (key.alg, key.kid, key.kty, key.certificate) == ("RS256", None, "RSA", None)
    _roundtrips(key)


def test_pem_pkcs8_file(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(ec_key.private_bytes(PEM, PKCS8, NOENC))
    key = SigningKey.from_file(str(path), kid="k1")
    assert (key.alg, key.kid) == ("ES256", "k1")
    _roundtrips(key)


@pytest.mark.parametrize("password", ["s3cret-pass", b"s3cret-pass"])
def test_encrypted_pkcs8_needs_the_right_password(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, password: str | bytes
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(
        rsa_key.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"s3cret-pass"))
    )
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    key = SigningKey.from_file(path, password=password)
    _roundtrips(key)
    with pytest.raises(KeyLoadError, match="encrypted and no password was given"):
        SigningKey.from_file(path)
    with pytest.raises(KeyLoadError, match="wrong password"):
        SigningKey.from_file(path, password="nope")


def test_password_for_an_unencrypted_key_is_an_error(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(rsa_key.private_bytes(PEM, PKCS8, NOENC))
    with pytest.raises(KeyLoadError, match="not encrypted"):
        SigningKey.from_file(path, password="x")


@pytest.mark.parametrize("suffix", [".p12", ".pfx"])
def test_pkcs12_gives_key_and_certificate(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, suffix: str
) -> None:
    cert = _cert(rsa_key, "p12-cert")
    path = tmp_path / f"bundle{suffix}"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"bundle", rsa_key, cert, None, serialization.BestAvailableEncryption(b"pw")
        )
    )
    key = SigningKey.from_file(path, password="pw")
    assert key.certificate == cert
    der = cert.public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert key.x5t_s256 == expected
    _roundtrips(key)
    with pytest.raises(KeyLoadError, match="no password was given"):
        SigningKey.from_file(path)
    with pytest.raises(KeyLoadError, match="wrong password"):
        SigningKey.from_file(path, password="bad")


def test_pem_with_key_and_certificate(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    cert = _cert(rsa_key)
    path = tmp_path / "both.pem"
    path.write_bytes(rsa_key.private_bytes(PEM, PKCS8, NOENC) + _cert_pem(cert))
    key = SigningKey.from_file(path)
    assert key.certificate == cert
    assert key.x5t_s256 == base64.urlsafe_b64encode(
        hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    ).rstrip(b"=").decode()


def test_pem_picks_the_keys_certificate_from_a_chain(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    own, ca = _cert(rsa_key, "leaf", signer=other_rsa_key), _cert(other_rsa_key, "ca")
    key = SigningKey.from_pem(
        rsa_key.private_bytes(PEM, PKCS8, NOENC) + _cert_pem(ca) + _cert_pem(own)
    )
    assert key.certificate == own


def test_certificate_of_another_key_is_refused(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    foreign = _cert(other_rsa_key)
    with pytest.raises(KeyLoadError, match="does not belong"):
        SigningKey.from_pem(rsa_key.private_bytes(PEM, PKCS8, NOENC) + _cert_pem(foreign))
    with pytest.raises(KeyLoadError, match="does not belong"):
        SigningKey(rsa_key, certificate=foreign)
    with pytest.raises(KeyLoadError, match="does not belong"):
        VerifyingKey(rsa_key.public_key(), certificate=foreign)


def test_certificate_alone_is_not_a_signing_key(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyLoadError, match="no private key found"):
        SigningKey.from_pem(_cert_pem(_cert(rsa_key)))
    verifying = VerifyingKey.from_pem(_cert_pem(_cert(rsa_key)))
    assert verifying.certificate is not None and verifying.alg == "RS256"


def test_missing_file_is_a_key_load_error(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="cannot read key file"):
        SigningKey.from_file(tmp_path / "absent.pem")


# -- JWK -----------------------------------------------------------------------------------


def _private_jwk(private: Any) -> dict[str, Any]:
    cls = {rsa.RSAPrivateKey: RSAKey, ec.EllipticCurvePrivateKey: ECKey}
    for base, kind in cls.items():
        if isinstance(private, base):
            return dict(kind.import_key(private).as_dict(private=True))
    return dict(OKPKey.import_key(private).as_dict(private=True))


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ES512"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    ],
)
def test_from_jwk_default_alg_by_curve(make: Callable[[], Any], alg: str) -> None:
    jwk = _private_jwk(make())
    jwk["kid"] = "from-jwk"
    key = SigningKey.from_jwk(jwk)
    assert (key.alg, key.kid) == (alg, "from-jwk")
    _roundtrips(key)
    assert SigningKey.from_jwk(json.dumps(jwk)).alg == alg
    public = VerifyingKey.from_jwk(key.public_jwk())
    assert public.thumbprint() == key.thumbprint()


def test_from_jwk_rsa_with_and_without_crt_members(rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = _private_jwk(rsa_key)
    key = SigningKey.from_jwk(jwk)
    assert key.alg == "RS256" and key.kid is None
    bare = {name: jwk[name] for name in ("kty", "n", "e", "d")}
    recovered = SigningKey.from_jwk(bare)
    assert recovered.private_pem() == key.private_pem()
    partial = {**bare, "p": jwk["p"]}
    with pytest.raises(KeyLoadError, match="'q'"):
        SigningKey.from_jwk(partial)


def test_from_jwk_oct_and_public_refusal(ec_key: ec.EllipticCurvePrivateKey) -> None:
    secret = os.urandom(32)
    oct_jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    key = SigningKey.from_jwk(oct_jwk)
    assert key.alg == "HS256" and key.is_symmetric
    assert VerifyingKey.from_secret(secret).verify(b"abc", key.sign(b"abc"))
    assert key.verifying_key().verify(b"abc", key.sign(b"abc"))
    public = _private_jwk(ec_key)
    del public["d"]
    with pytest.raises(KeyLoadError, match="no 'd'"):
        SigningKey.from_jwk(public)


def test_from_jwk_d_that_does_not_match_the_public_part(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    jwk = _private_jwk(ec_key)
    other = _private_jwk(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(KeyLoadError, match="does not match"):
        SigningKey.from_jwk({**jwk, "d": other["d"]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use": "enc"}, "use 'enc'"),
        ({"key_ops": ["encrypt"]}, "key_ops"),
        ({"alg": "ES224"}, "not a JWS algorithm"),
        ({"alg": "ES384"}, "needs a P-384 key"),
        ({"alg": "RS256"}, "cannot sign or verify RS256"),
        ({"crv": "P-384"}, "needs 48"),
        ({"x": "not*base64"}, "not base64url"),
        ({"x": "AAAA"}, "needs 32"),
        ({"kty": "RSA"}, "RSA JWK needs a string"),
        ({"kty": "DSA"}, "unsupported JWK kty"),
        ({"kid": 7}, "'kid' must be a string"),
    ],
)
def test_from_jwk_refusals(
    ec_key: ec.EllipticCurvePrivateKey, change: dict[str, Any], message: str
) -> None:
    jwk = {**_private_jwk(ec_key), **change}
    with pytest.raises(KeyLoadError, match=message):
        SigningKey.from_jwk(jwk)
    public = {k: v for k, v in jwk.items() if k != "d"}
    with pytest.raises(KeyLoadError):
        VerifyingKey.from_jwk(public)


def test_from_jwk_point_off_the_curve_is_refused(ec_key: ec.EllipticCurvePrivateKey) -> None:
    public = {k: v for k, v in _private_jwk(ec_key).items() if k != "d"}
    y = bytearray(base64.urlsafe_b64decode(public["y"] + "=="))
    y[-1] ^= 1
    public["y"] = base64.urlsafe_b64encode(bytes(y)).rstrip(b"=").decode()
    with pytest.raises(KeyLoadError, match="invalid EC JWK"):
        VerifyingKey.from_jwk(public)


def test_from_jwk_rsa_exponent_one_and_even_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    public = {k: v for k, v in _private_jwk(rsa_key).items() if k in ("kty", "n", "e")}
    for e in ("AQ", "Ag", "AAAA"):  # 1, 2 and 0
        with pytest.raises(KeyLoadError):
            VerifyingKey.from_jwk({**public, "e": e})


def test_roca_modulus_is_refused_and_ordinary_keys_are_not(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    data = json.loads(
        (Path(__file__).parents[1] / "vectors/wycheproof/json_web_key_test.json").read_text()
    )
    group = next(g for g in data["testGroups"] if g["comment"] == "jws_rsa_roca_key")
    with pytest.raises(KeyLoadError, match="ROCA"):
        VerifyingKey.from_jwk(group["public"]["keys"][0])
    for key in (rsa_key, other_rsa_key):
        VerifyingKey(key.public_key())


# -- secrets and refusals ------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_shorter_than_the_hash_is_refused(alg: str, size: int) -> None:
    SigningKey.from_secret(b"k" * size, alg=alg)
    with pytest.raises(KeyLoadError, match=f"at least {size} bytes"):
        SigningKey.from_secret(b"k" * (size - 1), alg=alg)
    with pytest.raises(KeyLoadError, match=f"at least {size} bytes"):
        VerifyingKey.from_secret(b"k" * (size - 1), alg=alg)


def test_from_secret_defaults_and_refusals(rsa_key: rsa.RSAPrivateKey) -> None:
    key = SigningKey.from_secret("x" * 40)
    assert (key.alg, key.kid, key.kty) == ("HS256", None, "oct")
    with pytest.raises(ConfigurationError, match="HS256/HS384/HS512"):
        SigningKey.from_secret("x" * 40, alg="RS256")
    pem = rsa_key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyLoadError, match="PEM key"):
        VerifyingKey.from_secret(pem)


@pytest.mark.filterwarnings("ignore:Key size")
def test_rsa_below_2048_bits_is_refused_everywhere() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyLoadError, match=r"1024 bits refused.*at least 2048"):
        SigningKey.from_private_key(small)
    with pytest.raises(KeyLoadError, match="at least 2048"):
        SigningKey.from_pem(small.private_bytes(PEM, PKCS8, NOENC))
    with pytest.raises(KeyLoadError, match="at least 2048"):
        VerifyingKey(small.public_key())
    with pytest.raises(KeyLoadError, match="at least 2048"):
        SigningKey.from_jwk(_private_jwk(small))


def test_default_alg_by_key_type(rsa_key: rsa.RSAPrivateKey) -> None:
    cases = {
        "RS256": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES512": ec.generate_private_key(ec.SECP521R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    for alg, private in cases.items():
        assert SigningKey(private).alg == alg
        assert VerifyingKey(private.public_key()).alg == alg
    assert SigningKey(b"s" * 32).alg == "HS256"
    with pytest.raises(KeyLoadError, match="EC curve"):
        SigningKey(ec.generate_private_key(ec.SECP256K1()))


def test_alg_must_fit_the_key(rsa_key: rsa.RSAPrivateKey) -> None:
    assert SigningKey(rsa_key, alg="PS384").alg == "PS384"
    with pytest.raises(KeyLoadError, match="cannot sign or verify ES256"):
        SigningKey(rsa_key, alg="ES256")
    with pytest.raises(KeyLoadError, match="cannot sign or verify HS256"):
        VerifyingKey(rsa_key.public_key(), alg="HS256")
    with pytest.raises(ConfigurationError, match="unsupported algorithm"):
        SigningKey(rsa_key, alg="none")
    with pytest.raises(ConfigurationError):
        SigningKey.generate("XS256")


# -- identity: kid, thumbprint, x5t#S256, public JWK, repr ---------------------------------


def test_kid_is_sent_only_when_known(rsa_key: rsa.RSAPrivateKey) -> None:
    from jwtbearer.jose.jws import unverified_header

    plain = SigningKey(rsa_key)
    assert "kid" not in unverified_header(sign_compact({}, plain))
    named = plain.with_kid("given")
    assert unverified_header(sign_compact({}, named))["kid"] == "given"
    assert plain.kid is None  # with_kid makes a new object


def test_thumbprint_matches_joserfc(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    assert SigningKey(rsa_key).thumbprint() == RSAKey.import_key(rsa_key).thumbprint()
    assert SigningKey(ec_key).thumbprint() == ECKey.import_key(ec_key).thumbprint()
    assert SigningKey(ed).thumbprint() == OKPKey.import_key(ed).thumbprint()


def test_x5t_s256_needs_a_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    assert SigningKey(rsa_key).x5t_s256 is None
    cert = _cert(rsa_key)
    key = SigningKey(rsa_key, certificate=cert)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    assert key.x5t_s256 == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert key.verifying_key().x5t_s256 == key.x5t_s256


def test_public_jwk_has_no_private_member(rsa_key: rsa.RSAPrivateKey) -> None:
    key = SigningKey(rsa_key, alg="PS256", kid="k")
    jwk = key.public_jwk()
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (jwk["alg"], jwk["use"], jwk["kid"]) == ("PS256", "sig", "k")
    verifying = VerifyingKey.from_jwk(jwk)
    assert verifying.verify(b"m", key.sign(b"m"))
    with pytest.raises(ConfigurationError, match="never publish"):
        SigningKey.from_secret(b"s" * 32).public_jwk()


def test_repr_and_str_never_show_key_material(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    secret = b"super-secret-value-0123456789-abcdef"
    shown = []
    for key in (SigningKey(rsa_key), SigningKey(ec_key), SigningKey.from_secret(secret)):
        shown += [repr(key), str(key), repr(key.verifying_key()), str(key.verifying_key())]
    text = "\n".join(shown)
    for piece in _secret_texts(rsa_key) + _secret_texts(ec_key):
        assert piece not in text
    assert secret.decode() not in text and secret.hex() not in text
    ec_d = _private_jwk(ec_key)["d"]
    assert ec_d not in text
    assert "kty='RSA'" in text and "bits=2048" in text


# -- key store -----------------------------------------------------------------------------


def test_store_default_path_follows_jwtbearer_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert KeyStore().path == Path(os.environ["JWTBEARER_HOME"]) / "keys"
    assert default_key_store().path == KeyStore().path
    monkeypatch.delenv("JWTBEARER_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert KeyStore().path == tmp_path / ".config" / "jwtbearer" / "keys"


def test_store_create_writes_a_private_key_and_a_matching_certificate(tmp_path: Path) -> None:
    now = 1_800_000_000
    store = KeyStore(tmp_path / "keys", clock=lambda: now)
    key = store.create("my-cert", days=30, subject="Integration User")
    key_path = store.key_path("my-cert")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    private = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    cert = x509.load_pem_x509_certificate(store.certificate_path("my-cert").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Integration User"
    )
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    assert cert.not_valid_before_utc == start - dt.timedelta(minutes=5)
    assert cert.not_valid_after_utc == start + dt.timedelta(days=30)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(PEM, spki) == private.public_key().public_bytes(
        PEM, spki
    )
    assert key.kid == key.thumbprint() and key.alg == "RS256"
    jwks = json.loads(store.jwks_path("my-cert").read_text())
    (published,) = jwks["keys"]
    assert published["kid"] == key.kid and published["x5t#S256"] == key.x5t_s256
    assert "d" not in published
    assert store.get("my-cert").kid == key.kid


def test_store_subject_defaults_to_the_name(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.create("svc-a")
    cert = x509.load_pem_x509_certificate(store.certificate_path("svc-a").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "svc-a"


def test_store_get_parses_once_while_the_file_is_unchanged(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.create("a")
    first = store.get("a")
    assert store.get("a") is first
    replaced = store.create("a", overwrite=True)
    again = store.get("a")
    assert again is not first and again.kid == replaced.kid != first.kid
    assert store.get("a") is again


def test_store_create_refuses_to_overwrite(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.create("a")
    before = store.key_path("a").read_bytes()
    with pytest.raises(ConfigurationError, match=r"already exists.*overwrite=True"):
        store.create("a")
    assert store.key_path("a").read_bytes() == before


def test_store_names_and_unknown_name(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    assert store.names() == []
    store.create("b")
    store.create("a")
    assert store.names() == ["a", "b"]
    assert "a" in store and "zz" not in store and "../a" not in store
    with pytest.raises(KeyLoadError) as info:
        store.get("missing")
    message = str(info.value)
    assert "known: a, b" in message and "create" in message and "'missing'" in message


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "a b", "x" * 129, "a\n"])
def test_store_refuses_invalid_names(tmp_path: Path, name: str) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(ConfigurationError, match="invalid key name"):
        store.create(name)
    with pytest.raises(ConfigurationError, match="invalid key name"):
        store.get(name)
    assert not any(tmp_path.iterdir())


def test_store_import_file_encrypted_pem(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    source = tmp_path / "in.pem"
    source.write_bytes(
        rsa_key.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw"))
    )
    store = KeyStore(tmp_path / "store")
    imported = store.import_file("imported", source, password="pw")
    assert imported.kid == imported.thumbprint()
    assert stat.S_IMODE(store.key_path("imported").stat().st_mode) == 0o600
    assert store.get("imported").thumbprint() == SigningKey(rsa_key).thumbprint()
    with pytest.raises(KeyLoadError, match="shared secret"):
        secret = tmp_path / "s.jwk"
        secret.write_text(json.dumps({"kty": "oct", "k": "A" * 43}))
        store.import_file("s", secret)


def test_store_import_pkcs12_keeps_the_certificate(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    cert = _cert(rsa_key, "from-p12")
    source = tmp_path / "in.p12"
    source.write_bytes(pkcs12.serialize_key_and_certificates(b"x", rsa_key, cert, None, NOENC))
    store = KeyStore(tmp_path / "store")
    store.import_file("p12", source)
    assert store.get("p12").certificate == cert


def test_keystore_is_reexported_from_jose() -> None:
    from jwtbearer.jose import KeyStore as FromKeys
    from jwtbearer.jose import default_key_store as from_keys
    from jwtbearer.jose import keystore

    assert FromKeys is keystore.KeyStore is jwtbearer.KeyStore
    assert from_keys is keystore.default_key_store


def test_der_private_key_file(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "key.der"
    path.write_bytes(ec_key.private_bytes(serialization.Encoding.DER, PKCS8, NOENC))
    assert SigningKey.from_file(path).thumbprint() == SigningKey(ec_key).thumbprint()
    (tmp_path / "junk.bin").write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(KeyLoadError, match="PKCS#12"):
        SigningKey.from_file(tmp_path / "junk.bin")


def test_load_jwks_keeps_signature_keys_only(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    from jwtbearer.jose import load_jwks

    signing = SigningKey(ec_key, kid="sig").public_jwk()
    enc = {**SigningKey(rsa_key).public_jwk(), "use": "enc", "alg": "RSA-OAEP", "kid": "enc"}
    oaep = {**SigningKey(rsa_key).public_jwk(), "alg": "RSA-OAEP", "kid": "oaep"}
    del oaep["use"]
    wrapping = {**signing, "kid": "wrap", "key_ops": ["wrapKey"]}
    unknown = {"kty": "PQC", "kid": "future"}
    keys = load_jwks(json.dumps({"keys": [enc, signing, oaep, wrapping, unknown]}))
    assert [k.kid for k in keys] == ["sig"]
    broken = {**signing, "x": "AAAA"}
    with pytest.raises(KeyLoadError, match="JWK Set entry 1"):
        load_jwks({"keys": [signing, broken]})
    with pytest.raises(KeyLoadError, match="'keys' array"):
        load_jwks({"key": []})


def test_public_half_of_a_private_jwk_marked_sign_verifies(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    jwk = {**_private_jwk(ec_key), "key_ops": ["sign"]}
    key = SigningKey.from_jwk(jwk)
    assert VerifyingKey.from_jwk(jwk).verify(b"m", key.sign(b"m"))
    public = {k: v for k, v in jwk.items() if k != "d"}
    with pytest.raises(KeyLoadError, match="key_ops"):
        VerifyingKey.from_jwk(public)


# -- the fully specified Ed25519 name (RFC 9864) and what both key kinds share ------------------


def test_ed25519_alg_is_pinned_apart_from_eddsa() -> None:
    from joserfc import jws as jose_jws

    from jwtbearer.errors import JWSError
    from jwtbearer.jose import load_jwks

    private = ed25519.Ed25519PrivateKey.generate()
    assert SigningKey(private).alg == "EdDSA"  # the default is unchanged
    key = SigningKey(private, alg="Ed25519", kid="e1")
    token = sign_compact({"sub": "x"}, key)
    assert verify_compact(token, key.verifying_key()).claims() == {"sub": "x"}
    # joserfc verifies it under the same name, and the JWK carries it.
    jose_key = OKPKey.import_key(key.public_jwk())
    assert jose_jws.deserialize_compact(token, jose_key, algorithms=["Ed25519"]).payload
    assert key.public_jwk()["alg"] == "Ed25519"
    (loaded,) = load_jwks({"keys": [key.public_jwk()]})
    assert loaded.alg == "Ed25519" and loaded.verify(b"m", key.sign(b"m"))
    # The same key registered as EdDSA refuses an Ed25519 token, and the other way round.
    with pytest.raises(JWSError, match="never by the token"):
        verify_compact(token, VerifyingKey(private.public_key()))
    with pytest.raises(JWSError, match="never by the token"):
        verify_compact(sign_compact({}, SigningKey(private)), loaded)


def test_ed25519_alg_refuses_other_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed448

    with pytest.raises(KeyLoadError, match="not Ed448"):
        VerifyingKey(ed448.Ed448PrivateKey.generate().public_key(), alg="Ed25519")
    with pytest.raises(KeyLoadError, match="needs a OKP key"):
        SigningKey(ec.generate_private_key(ec.SECP256R1()), alg="Ed25519")
    assert SigningKey.generate("Ed25519").kty == "OKP"


def test_verifying_key_with_kid_keeps_key_alg_and_certificate(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    signing = SigningKey(rsa_key, alg="PS256", certificate=_cert(rsa_key, "renamed"))
    verifying = signing.verifying_key()
    renamed = verifying.with_kid("new")
    assert type(renamed) is VerifyingKey and renamed.kid == "new" and verifying.kid is None
    assert (renamed.alg, renamed.certificate) == ("PS256", signing.certificate)
    assert renamed.verify(b"m", signing.sign(b"m")) and not renamed.verify(b"n", signing.sign(b"m"))
    assert repr(renamed).startswith("VerifyingKey(alg='PS256', kid='new', kty='RSA', bits=")
    pinned = renamed.with_alg("RS256")
    assert (pinned.alg, pinned.kid) == ("RS256", "new")
    assert not pinned.verify(b"m", signing.sign(b"m"))
