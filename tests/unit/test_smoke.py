import jwtbearer as jb


def test_package_imports_and_signs_a_jwt() -> None:
    key = jb.SigningKey.generate("ES256")
    token = jb.JWS(jb.JWT(iss="a", sub="b", aud="c"), key).compact_serialization()
    claims = jb.jose.verify_compact(token, key.verifying_key()).claims()
    assert claims["exp"] - claims["iat"] == 300
