"""Against panva oidc-provider, an implementation nobody here wrote: its metadata, its JWKS and
the RFC 9068 JWT access tokens it issues (ES256 and RS256), fetched with from_issuer."""

from __future__ import annotations

import json

import anyio
import pytest
from oidc_provider import RESOURCE, RSA_RESOURCE, OIDCProvider
from typer.testing import CliRunner

import jwtbearer as jb
from jwtbearer.cli import app as cli_app
from jwtbearer.errors import InvalidAudience


def test_discovery_of_oidc_provider(oidc_provider: OIDCProvider) -> None:
    md = jb.discover(oidc_provider.issuer)
    assert md.issuer == oidc_provider.issuer
    assert md.token_endpoint == f"{oidc_provider.issuer}/token"
    assert md.jwks_uri == f"{oidc_provider.issuer}/jwks"
    assert "private_key_jwt" in md.token_endpoint_auth_methods_supported
    assert "ES256" in md.token_endpoint_auth_signing_alg_values_supported
    assert "client_credentials" in md.grant_types_supported


def test_from_issuer_both_auth_methods_and_validate_its_jwt_access_tokens(
    oidc_provider: OIDCProvider
) -> None:
    basic = jb.TokenClient.from_issuer(oidc_provider.issuer,
                                       jb.ClientSecretBasic("svc", oidc_provider.secret))
    pkjwt = jb.TokenClient.from_issuer(oidc_provider.issuer,
                                       jb.PrivateKeyJWT("svc-jwt", oidc_provider.client_key))
    assert pkjwt.auth.audience == oidc_provider.issuer  # type: ignore[attr-defined]
    v = jb.JWTValidator(issuer=oidc_provider.issuer, audience=RESOURCE, typ="at+jwt")
    for client, subject in ((basic, "svc"), (pkjwt, "svc-jwt")):
        with client:
            token = client.client_credentials(scope="api:read", resource=RESOURCE)
        result = v.validate(token.access_token)
        assert result.subject == subject and result.claims["client_id"] == subject
        assert result.scopes == {"api:read"} and result.header["alg"] == "ES256"
    assert v.jwks is not None and v.jwks.fetches == 1


def test_rs256_tokens_and_a_wrong_audience(oidc_provider: OIDCProvider) -> None:
    with jb.TokenClient.from_issuer(oidc_provider.issuer,
                                    jb.ClientSecretBasic("svc", oidc_provider.secret)) as client:
        token = client.client_credentials(scope="api:read", resource=RSA_RESOURCE).access_token
    v = jb.JWTValidator(issuer=oidc_provider.issuer, audience=RSA_RESOURCE, typ="at+jwt",
                        algorithms=["RS256"])
    assert v.validate(token).key.alg == "RS256"
    with pytest.raises(InvalidAudience) as info:
        jb.JWTValidator(issuer=oidc_provider.issuer, audience=RESOURCE).validate(token)
    assert info.value.actual == RSA_RESOURCE
    parsed = jb.JWTUtil.validate_jwt_with_keys_endpoint(token, f"{oidc_provider.issuer}/jwks")
    assert parsed.aud == RSA_RESOURCE and parsed.sub == "svc"


def test_async_against_oidc_provider(oidc_provider: OIDCProvider) -> None:
    async def main() -> jb.ValidatedJWT:
        client = await jb.AsyncTokenClient.from_issuer(
            oidc_provider.issuer, jb.PrivateKeyJWT("svc-jwt", oidc_provider.client_key))
        async with client:
            token = await client.client_credentials(scope="api:read", resource=RESOURCE)
        v = jb.JWTValidator(issuer=oidc_provider.issuer, audience=RESOURCE, typ="at+jwt")
        return await v.avalidate(token.access_token)

    assert anyio.run(main).subject == "svc-jwt"


def test_from_issuer_refuses_what_oidc_provider_does_not_take(
    oidc_provider: OIDCProvider
) -> None:
    es512 = jb.SigningKey.generate("ES512")
    with pytest.raises(jb.ConfigurationError, match=r"ES512.*ES256"):
        jb.TokenClient.from_issuer(oidc_provider.issuer, jb.PrivateKeyJWT("svc-jwt", es512))


def test_cli_verify_on_an_oidc_provider_token(oidc_provider: OIDCProvider) -> None:
    with jb.TokenClient.from_issuer(oidc_provider.issuer,
                                    jb.ClientSecretBasic("svc", oidc_provider.secret)) as client:
        token = client.client_credentials(scope="api:read", resource=RESOURCE).access_token
    result = CliRunner().invoke(cli_app, ["verify", token, "--issuer", oidc_provider.issuer,
                                          "--audience", RESOURCE, "--typ", "at+jwt", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["claims"]["client_id"] == "svc"
