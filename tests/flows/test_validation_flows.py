"""Discovery, from_issuer and validation against the reference server's own metadata and tokens;
the ASGI (FastAPI) and WSGI (Flask) integrations served for real on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from server_craft import API, FlowServer
from typer.testing import CliRunner

import jwtbearer as jb
from jwtbearer.cli import app as cli_app
from jwtbearer.errors import InvalidAudience, InvalidIssuer
from jwtbearer.jose import sign_compact, unverified_claims, unverified_header
from jwtbearer.profiles import Profile
from jwtbearer.server.app import BackgroundServer

pytestmark = [pytest.mark.flow]


def access_token(server: FlowServer, **kw: Any) -> str:
    with jb.TokenClient.from_issuer(server.url, jb.PrivateKeyJWT("pkjwt", server.rsa)) as client:
        return client.client_credentials(scope="api:read", audience=API, **kw).access_token


def validator(server: FlowServer, **kw: Any) -> jb.JWTValidator:
    return jb.JWTValidator(issuer=server.url, audience=API, typ="at+jwt", **kw)


def test_discover_reads_the_reference_metadata(token_server: FlowServer) -> None:
    md = jb.discover(token_server.url)
    assert md.issuer == token_server.url
    assert md.token_endpoint == token_server.token_url
    assert md.jwks_uri == f"{token_server.url}/jwks"
    assert "private_key_jwt" in md.token_endpoint_auth_methods_supported
    assert md.url == f"{token_server.url}/.well-known/oauth-authorization-server"


def test_from_issuer_assertion_aud_is_the_issuer_and_the_server_accepts_it(
    token_server: FlowServer
) -> None:
    client = jb.TokenClient.from_issuer(token_server.url, jb.PrivateKeyJWT("pkjwt",
                                                                           token_server.rsa))
    assert client.auth.audience == token_server.url  # type: ignore[attr-defined]
    assert client.client_credentials(scope="api:read").access_token


def test_async_from_issuer_and_avalidate(token_server: FlowServer) -> None:
    async def main() -> jb.ValidatedJWT:
        client = await jb.AsyncTokenClient.from_issuer(
            token_server.url, jb.ClientSecretPost("post", token_server.secrets["post"]))
        async with client:
            token = await client.client_credentials(scope="api:read")
        v = jb.JWTValidator(issuer=token_server.url, audience=token_server.url)
        return await v.avalidate(token.access_token)

    result = anyio.run(main)
    assert result.subject == "post" and result.claims["client_id"] == "post"


def test_reference_tokens_validate_and_the_wrong_audience_or_issuer_is_refused(
    token_server: FlowServer
) -> None:
    token = access_token(token_server)
    result = validator(token_server).validate(token)
    assert result.subject == "pkjwt" and result.scopes == {"api:read"}
    assert result.header["typ"] == "at+jwt" and result.key.alg == "EdDSA"
    with pytest.raises(InvalidAudience) as aud:
        jb.JWTValidator(issuer=token_server.url, audience="https://other").validate(token)
    assert aud.value.expected == "'https://other'" and aud.value.actual == API
    with pytest.raises(InvalidIssuer) as iss:
        jb.JWTValidator(issuer="https://issuer.example.com", audience=API,
                        jwks_uri=f"{token_server.url}/jwks").validate(token)
    assert iss.value.actual == token_server.url


def test_jwtutil_keys_endpoint_on_reference_tokens(token_server: FlowServer) -> None:
    token = access_token(token_server)
    parsed = jb.JWTUtil.validate_jwt_with_keys_endpoint(token, f"{token_server.url}/jwks")
    assert parsed.iss == token_server.url and parsed.additional_claims["scope"] == "api:read"
    again = jb.JWTUtil.validate_jwt_with_keys_endpoint(token, f"{token_server.url}/jwks",
                                                       use_cache=False)
    assert again.sub == parsed.sub


def test_cli_verify_exit_codes_and_json(token_server: FlowServer) -> None:
    token = access_token(token_server)
    runner = CliRunner()
    good = runner.invoke(cli_app, ["verify", token, "--issuer", token_server.url, "--audience",
                                   API, "--typ", "at+jwt", "--json"])
    assert good.exit_code == 0, good.output
    data = json.loads(good.output)
    assert data["valid"] is True and data["reason"] is None and data["claims"]["aud"] == API
    bad = runner.invoke(cli_app, ["verify", token, "--issuer", token_server.url, "--audience",
                                  "https://other", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["valid"] is False and data["claims"] is None and "aud" in data["reason"]
    text = runner.invoke(cli_app, ["verify", token, "--issuer", token_server.url,
                                   "--jwks", f"{token_server.url}/jwks"])
    assert text.exit_code == 0 and "valid" in text.output and token not in text.output
    inspect = runner.invoke(cli_app, ["inspect", token, "--jwks", f"{token_server.url}/jwks"])
    assert "signature" in inspect.output.lower() and "verif" in inspect.output.lower()


# -- integrations, served for real --------------------------------------------------------------


def _fastapi_app(v: jb.JWTValidator) -> Any:
    from fastapi import Depends, FastAPI

    from jwtbearer.integrations.asgi import BearerToken

    app = FastAPI()
    read = BearerToken(v, scopes=["api:read"], realm="api")
    write = BearerToken(v, scopes=["api:write"], realm="api")

    @app.get("/me")
    async def me(jwt: jb.ValidatedJWT = Depends(read)) -> dict[str, Any]:  # noqa: B008
        return {"sub": jwt.subject}

    @app.get("/admin")
    async def admin(jwt: jb.ValidatedJWT = Depends(write)) -> dict[str, Any]:  # noqa: B008
        return {"sub": jwt.subject}

    return app


@pytest.fixture
def fastapi_url(token_server: FlowServer) -> Iterator[str]:
    with BackgroundServer(_fastapi_app(validator(token_server))) as server:
        yield server.url


@pytest.fixture
def flask_url(token_server: FlowServer) -> Iterator[str]:
    import flask
    from werkzeug.serving import make_server

    from jwtbearer.integrations.wsgi import require_bearer

    app = flask.Flask("api")

    @app.get("/me")
    @require_bearer(validator(token_server), scopes=["api:read"], realm="api")
    def me() -> dict[str, Any]:
        return {"sub": flask.g.jwt.subject}

    @app.get("/admin")
    @require_bearer(validator(token_server), scopes=["api:write"])
    def admin() -> dict[str, Any]:
        return {"sub": flask.g.jwt.subject}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_integration_answers_rfc6750(token_server: FlowServer, framework: str,
                                     request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{framework}_url")
    token = access_token(token_server)
    with httpx.Client(base_url=url) as http:
        ok = http.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == {"sub": "pkjwt"}

        missing = http.get("/me")
        assert missing.status_code == 401
        challenge = missing.headers["www-authenticate"]
        assert challenge.startswith("Bearer") and "error=" not in challenge

        other = jb.SigningKey.generate("EdDSA", kid=unverified_header(token)["kid"])
        forged = sign_compact(unverified_claims(token), other, typ="at+jwt")
        bad = http.get("/me", headers={"Authorization": f"Bearer {forged}"})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert "error_description=" in bad.headers["www-authenticate"]
        assert bad.headers["cache-control"] == "no-store"

        garbage = http.get("/me", headers={"Authorization": "Bearer not-a-jwt"})
        assert garbage.status_code == 401 and "invalid_token" in garbage.headers[
            "www-authenticate"]

        scope = http.get("/admin", headers={"Authorization": f"Bearer {token}"})
        assert scope.status_code == 403
        assert 'error="insufficient_scope"' in scope.headers["www-authenticate"]
        assert 'scope="api:write"' in scope.headers["www-authenticate"]


def test_a_profile_with_issuer_instead_of_token_url(token_server: FlowServer,
                                                    tmp_path: Any) -> None:
    key_file = tmp_path / "pkjwt.pem"
    key_file.write_bytes(token_server.rsa.private_pem())
    profile = Profile.from_mapping("svc", {
        "issuer": token_server.url, "grant": "client-credentials", "client_id": "pkjwt",
        "client_auth": "private_key_jwt", "key": str(key_file), "scope": "api:read",
        "cache": "memory",
    })
    assert profile.token_url is None
    client = profile.token_client()
    assert client.endpoint == token_server.token_url
    assert client.auth.audience == token_server.url  # type: ignore[attr-defined]
    token = profile.source().token()
    assert token.scope == "api:read"
    assert jb.JWTValidator(issuer=token_server.url, audience=token_server.url
                           ).validate(token.access_token).subject == "pkjwt"
    with pytest.raises(jb.ConfigurationError, match="token_url"):
        Profile.from_mapping("both", {"issuer": token_server.url,
                                         "token_url": token_server.token_url,
                                         "grant": "client-credentials"})


def test_a_jwt_bearer_profile_with_issuer_uses_it_as_aud(token_server: FlowServer,
                                                         tmp_path: Any) -> None:
    key_file = tmp_path / "sf.pem"
    key_file.write_bytes(token_server.rsa.private_pem())
    profile = Profile.from_mapping("sf", {
        "issuer": token_server.url, "client_id": "sf", "subject": "alice@example.com",
        "key": str(key_file), "cache": "memory",
    })
    grant = profile.grant_object()
    assert grant.assertion.aud == token_server.url  # type: ignore[union-attr]
    assert profile.source().token().access_token
