"""AwsKmsSigner against moto in server mode and against a KMS that signs as AWS documents."""

from __future__ import annotations

from pathlib import Path

import jwt as pyjwt
import pytest
from fake_kms import FakeKms

import jwtbearer as jb
from conftest import SUBJECT, kms_client, reference_server
from jwtbearer.jose import sign_compact
from jwtbearer.signers.aws_kms import MAX_RAW_MESSAGE

SPECS = {"RS256": "RSA_2048", "PS256": "RSA_2048", "ES256": "ECC_NIST_P256",
         "ES384": "ECC_NIST_P384", "ES512": "ECC_NIST_P521", "RS512": "RSA_3072"}


def moto_key(url: str, spec: str) -> str:
    answer = kms_client(url).create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
    return str(answer["KeyMetadata"]["KeyId"])


@pytest.mark.parametrize("alg", ["RS256", "ES256", "ES384"])
def test_moto_signatures_verify_with_pyjwt(moto_kms: str, aws_env: None, alg: str) -> None:
    key = jb.AwsKmsSigner(moto_key(moto_kms, SPECS[alg]), client=kms_client(moto_kms))
    assert key.alg == alg and key.kid == key.thumbprint()
    token = jb.JWS(jb.JWT(iss="svc", sub=SUBJECT, aud="https://as"), key).compact_serialization()
    claims = pyjwt.decode(token, key.public_key(), algorithms=[alg], audience="https://as")
    assert claims["sub"] == SUBJECT


def test_the_endpoint_comes_from_boto3_configuration(
    moto_kms: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = moto_key(moto_kms, "ECC_NIST_P256")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_kms)
    key = jb.AwsKmsSigner(key_id, region="eu-west-1")
    assert pyjwt.decode(sign_compact({"a": 1}, key), key.public_key(), algorithms=["ES256"])


def test_moto_pss_salt_is_caught_not_sent(moto_kms: str, aws_env: None) -> None:
    # Stock moto signs PSS with the longest salt; RFC 7518 §3.5 wants the hash length, and
    # verifiers (PyJWT, ours) check it. The signer refuses to use such a signature.
    key = jb.AwsKmsSigner(moto_key(moto_kms, "RSA_2048"), alg="PS256",
                          client=kms_client(moto_kms))
    with pytest.raises(jb.KeyLoadError, match="does not verify as PS256"):
        sign_compact({"a": 1}, key)


def test_moto_ignoring_digest_is_caught(moto_kms: str, aws_env: None) -> None:
    key = jb.AwsKmsSigner(moto_key(moto_kms, "RSA_2048"), client=kms_client(moto_kms))
    sign_compact({"a": 1}, key)  # small: RAW, fine
    with pytest.raises(jb.KeyLoadError, match="does not verify"):
        sign_compact({"big": "x" * 5000}, key)  # moto hashes the digest again


@pytest.mark.parametrize("alg", sorted(SPECS))
def test_fake_kms_every_algorithm(fake_kms: FakeKms, aws_env: None, alg: str,
                                  tmp_path: Path) -> None:
    key = jb.AwsKmsSigner(fake_kms.create_key(SPECS[alg]), alg=alg if alg[0] != "E" else None,
                          client=kms_client(fake_kms.url))
    assert key.alg == alg
    token = sign_compact({"iss": "svc"}, key)
    assert pyjwt.decode(token, key.public_key(), algorithms=[alg]) == {"iss": "svc"}
    assert fake_kms.calls == {"GetPublicKey": 1, "Sign": 1}


def test_fake_kms_raw_up_to_4096_then_digest(fake_kms: FakeKms, aws_env: None) -> None:
    for spec, alg in (("RSA_2048", "PS256"), ("ECC_NIST_P256", "ES256")):
        fake_kms.messages.clear()
        key = jb.AwsKmsSigner(fake_kms.create_key(spec), alg=alg,
                              client=kms_client(fake_kms.url))
        exact, over = b"x" * MAX_RAW_MESSAGE, b"y" * (MAX_RAW_MESSAGE + 1)
        for data in (exact, over):
            signature = key.sign(data)
            assert key.verifying_key()._verify(data, signature)
        assert fake_kms.messages == [("RAW", MAX_RAW_MESSAGE), ("DIGEST", 32)]
        big = sign_compact({"claims": "z" * 6000}, key)
        assert pyjwt.decode(big, key.public_key(), algorithms=[alg])["claims"] == "z" * 6000


def test_fake_kms_refuses_big_raw_messages(fake_kms: FakeKms, aws_env: None) -> None:
    key_id = fake_kms.create_key("RSA_2048")
    with pytest.raises(Exception, match="4096"):
        kms_client(fake_kms.url).sign(KeyId=key_id, Message=b"x" * 4097, MessageType="RAW",
                                      SigningAlgorithm="RSASSA_PSS_SHA_256")


def test_one_get_public_key_per_signer_one_sign_per_signature(
    fake_kms: FakeKms, aws_env: None, tmp_path: Path
) -> None:
    key = jb.AwsKmsSigner(fake_kms.create_key("ECC_NIST_P256"),
                          client=kms_client(fake_kms.url))
    with reference_server(tmp_path, {"kms-client": key.public_jwk()}) as (_, token_url):
        client = jb.TokenClient(token_url, auth=jb.PrivateKeyJWT("kms-client", key))
        for _ in range(3):
            assert client.client_credentials(scope="api:read").access_token
        assert client.jwt_bearer(jb.JWT(iss="kms-client", sub=SUBJECT), key).access_token
    # 3 client assertions, then the bearer grant's assertion and its client assertion.
    assert fake_kms.calls == {"GetPublicKey": 1, "Sign": 5}


def test_errors_name_the_problem(fake_kms: FakeKms, aws_env: None) -> None:
    client = kms_client(fake_kms.url)
    with pytest.raises(jb.KeyLoadError, match="NotFoundException"):
        jb.AwsKmsSigner("no-such-key", client=client)
    rsa_id = fake_kms.create_key("RSA_2048")
    with pytest.raises(jb.KeyLoadError, match="does not sign ES256"):
        jb.AwsKmsSigner(rsa_id, alg="ES256", client=client)
    with pytest.raises(jb.KeyLoadError, match="cannot sign 'HS256'"):
        jb.AwsKmsSigner(rsa_id, alg="HS256", client=client)
    closed = kms_client("http://127.0.0.1:9")
    with pytest.raises(jb.TransportError, match="cannot reach AWS KMS"):
        jb.AwsKmsSigner(rsa_id, client=closed)


def test_arn_reference_takes_the_region(fake_kms: FakeKms, aws_env: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from jwtbearer.signers import signer_from_reference

    key_id = fake_kms.create_key("ECC_NIST_P256")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", fake_kms.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The fake takes the key id as given; the ARN form only has to reach it with its region.
    fake_kms.keys[f"arn:aws:kms:eu-central-1:111122223333:key/{key_id}"] = fake_kms.keys[key_id]
    key = signer_from_reference(f"arn:aws:kms:eu-central-1:111122223333:key/{key_id}")
    assert key._client.meta.region_name == "eu-central-1"  # type: ignore[attr-defined]
    assert key.alg == "ES256"
    other = signer_from_reference(f"aws-kms:{key_id}?alg=ES256")
    assert other.kid == key.kid
