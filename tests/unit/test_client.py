"""TokenClient / AsyncTokenClient over httpx.MockTransport: wiring, rules and error paths.

Real sockets (slow, hostile and broken servers) are in test_transport.py.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

import jwtbearer as jb
from jwtbearer.client import transport as client_module
from jwtbearer.client.protocol import RetryPolicy
from jwtbearer.errors import UnexpectedRedirect

ENDPOINT = "https://auth.example.com/oauth2/token"
NOW = 1_800_000_000.0
MODES = ["sync", "async"]
SECRET = "client-secret-0123456789-abcdefghijkl"
ACCESS = "at-SENSITIVE-0001"
REFRESH = "rt-SENSITIVE-0002"

Handler = Callable[[httpx.Request], httpx.Response]


def ok(body: dict[str, Any] | None = None) -> Handler:
    answer = body or {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 3600}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    return handler


def run(mode: str, handler: Handler, call: Callable[[Any], Any], *,
        auth: jb.client.ClientAuth | None = None, endpoint: str = ENDPOINT,
        follow_redirects: bool = False) -> tuple[Any, list[httpx.Request]]:
    """``call(client)`` on a sync or async client over a recording mock transport."""
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    transport = httpx.MockTransport(recording)
    kwargs: dict[str, Any] = {"retry": RetryPolicy.none(), "clock": lambda: NOW}
    if mode == "sync":
        with httpx.Client(transport=transport, follow_redirects=follow_redirects) as http:
            client = jb.TokenClient(endpoint, auth or jb.NoClientAuth(), http=http, **kwargs)
            return call(client), seen

    async def main() -> Any:
        async with httpx.AsyncClient(transport=transport,
                                     follow_redirects=follow_redirects) as http:
            client = jb.AsyncTokenClient(endpoint, auth or jb.NoClientAuth(), http=http,
                                         **kwargs)
            return await call(client)

    return anyio.run(main), seen


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(httpx.QueryParams(request.content.decode()))


# -- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [jb.TokenClient, jb.AsyncTokenClient])
@pytest.mark.parametrize("url", ["http://auth.example.com/token", "http://10.0.0.1/token",
                                 "http://127.0.0.1.evil.com/token"])
def test_plain_http_is_refused_except_to_loopback(cls: type, url: str) -> None:
    with pytest.raises(jb.ConfigurationError, match="allow_insecure_http"):
        cls(url)
    cls(url, allow_insecure_http=True)


@pytest.mark.parametrize("cls", [jb.TokenClient, jb.AsyncTokenClient])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/token", "http://127.8.9.10/token",
                                 "http://[::1]:8000/token", "http://localhost/token",
                                 "http://LOCALHOST:1/token"])
def test_plain_http_to_loopback_is_allowed(cls: type, url: str) -> None:
    assert cls(url).endpoint == url


@pytest.mark.parametrize("url", ["ftp://auth.example.com/token", "/token", "auth.example.com",
                                 "https://user:pw@auth.example.com/token",
                                 "https://auth.example.com/token#frag", "https://"])
def test_bad_endpoints_are_refused(url: str) -> None:
    with pytest.raises(jb.ConfigurationError):
        jb.TokenClient(url)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), "10", True])
def test_bad_timeouts_are_refused(timeout: Any) -> None:
    with pytest.raises(jb.ConfigurationError, match="timeout"):
        jb.TokenClient(ENDPOINT, timeout=timeout)


def test_auth_must_be_a_client_authentication() -> None:
    with pytest.raises(jb.ConfigurationError, match="auth"):
        jb.TokenClient(ENDPOINT, ("id", "secret"))  # type: ignore[arg-type]


def test_attributes_and_repr() -> None:
    auth = jb.ClientSecretBasic("app", SECRET)
    with jb.TokenClient(ENDPOINT, auth) as client:
        assert client.endpoint == ENDPOINT and client.auth is auth
        assert SECRET not in repr(client) and "auth.example.com" in repr(client)


# -- requests on the wire -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_client_credentials_with_basic_auth(mode: str) -> None:
    token, seen = run(mode, ok(), lambda c: c.client_credentials(scope="api", audience="aud"),
                      auth=jb.ClientSecretBasic("app", SECRET))
    assert token.access_token == ACCESS and token.expires_at == NOW + 3600
    (request,) = seen
    assert request.method == "POST" and str(request.url) == ENDPOINT
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert base64.b64decode(request.headers["authorization"][6:]) == f"app:{SECRET}".encode()
    assert form_of(request) == {"grant_type": "client_credentials", "scope": "api",
                                "audience": "aud"}


@pytest.mark.parametrize("mode", MODES)
def test_jwt_bearer_with_private_key_jwt(mode: str) -> None:
    grant_key, client_key = jb.SigningKey.generate("RS256"), jb.SigningKey.generate("ES256")
    _, seen = run(mode, ok(), lambda c: c.jwt_bearer(jb.JWT(iss="app", sub="alice"), grant_key,
                                                     scope="api"),
                  auth=jb.PrivateKeyJWT("app", client_key))
    form = form_of(seen[0])
    assert form["grant_type"] == jb.oauth.JWT_BEARER_GRANT and form["scope"] == "api"
    grant_claims = jb.jose.verify_compact(form["assertion"], grant_key.verifying_key()).claims()
    client_claims = jb.jose.verify_compact(form["client_assertion"],
                                           client_key.verifying_key()).claims()
    assert grant_claims["sub"] == "alice" and grant_claims["aud"] == ENDPOINT
    assert client_claims["sub"] == "app" and client_claims["aud"] == ENDPOINT
    assert form["client_assertion_type"] == jb.oauth.CLIENT_ASSERTION_TYPE


@pytest.mark.parametrize("mode", MODES)
def test_authorization_code_with_client_secret_jwt(mode: str) -> None:
    pkce = jb.PKCE.generate()
    _, seen = run(mode, ok(), lambda c: c.authorization_code("code-1", "https://app/cb",
                                                             pkce.verifier),
                  auth=jb.ClientSecretJWT("app", SECRET, audience="https://issuer"))
    form = form_of(seen[0])
    assert form["code"] == "code-1" and form["code_verifier"] == pkce.verifier
    claims = jb.jose.verify_compact(form["client_assertion"],
                               jb.jose.VerifyingKey.from_secret(SECRET)).claims()
    assert claims["aud"] == "https://issuer"


@pytest.mark.parametrize("mode", MODES)
def test_refresh_keeps_the_old_refresh_token(mode: str) -> None:
    token, seen = run(mode, ok(), lambda c: c.refresh(REFRESH, scope="api"),
                      auth=jb.NoClientAuth("app"))
    assert token.refresh_token == REFRESH
    assert form_of(seen[0]) == {"grant_type": "refresh_token", "refresh_token": REFRESH,
                                "scope": "api", "client_id": "app"}


@pytest.mark.parametrize("mode", MODES)
def test_redirects_are_not_followed_even_by_a_following_client(mode: str) -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "https://elsewhere.example.org/token"})

    with pytest.raises(UnexpectedRedirect, match=r"elsewhere\.example\.org"):
        run(mode, redirect, lambda c: c.client_credentials(), follow_redirects=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadError("reset"),
                                 httpx.RemoteProtocolError("illegal chunk"),
                                 httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"),
                                 httpx.WriteError("broken pipe"), httpx.ProxyError("proxy"),
                                 ConnectionResetError("reset by peer")])
def test_httpx_failures_become_transport_errors(mode: str, exc: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(jb.TransportError) as info:
        run(mode, fail, lambda c: c.client_credentials())
    assert "auth.example.com" in str(info.value)
    assert not isinstance(info.value, httpx.HTTPError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("mode", MODES)
def test_request_token_takes_any_grant(mode: str) -> None:
    token, seen = run(mode, ok({"access_token": ACCESS, "custom": 1}),
                      lambda c: c.request_token(jb.ClientCredentials(extra={"tenant": "t"})))
    assert token.extra["custom"] == 1
    assert form_of(seen[0])["tenant"] == "t"


# -- sources ------------------------------------------------------------------------------------


def test_a_source_fetches_and_signs_on_every_call() -> None:
    key = jb.SigningKey.generate("ES256")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": f"at-{len(seen)}"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = jb.TokenClient(ENDPOINT, http=http)
        source = client.source(jb.JWTBearer(jb.JWT(iss="app", sub="alice"), key))
        assert isinstance(source, jb.TokenSource)
        assert [source.token().access_token for _ in range(3)] == ["at-1", "at-2", "at-3"]
    jtis = {jb.jose.unverified_claims(form_of(r)["assertion"])["jti"] for r in seen}
    assert len(jtis) == 3


def test_async_source_token() -> None:
    async def main() -> tuple[str, str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(ok())) as http:
            client = jb.AsyncTokenClient(ENDPOINT, jb.ClientSecretPost("app", SECRET), http=http)
            source = client.source(jb.ClientCredentials(scope="api"))
            sync_key = jb.TokenClient(ENDPOINT, jb.ClientSecretPost("app", "x")).source(
                jb.ClientCredentials(scope="api")).cache_key
            return (await source.token()).access_token, source.cache_key + " " + sync_key

    access, keys = anyio.run(main)
    assert access == ACCESS
    async_key, sync_key = keys.split()
    assert async_key == sync_key  # same endpoint, client id and grant: same key


def test_a_refresh_source_follows_rotated_refresh_tokens() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(form_of(request)["refresh_token"])
        return httpx.Response(200, json={"access_token": "a", "refresh_token": f"rt-{len(seen)}"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        source = jb.TokenClient(ENDPOINT, http=http).source(jb.RefreshToken("rt-0"))
        source.token()
        source.token()
    assert seen == ["rt-0", "rt-1"]


def _key(endpoint: str = ENDPOINT, auth: jb.client.ClientAuth | None = None,
         grant: Any = None) -> str:
    client = jb.TokenClient(endpoint, auth or jb.ClientSecretBasic("app", SECRET))
    return client.source(grant or jb.ClientCredentials(scope="api")).cache_key


def test_cache_key_is_stable_and_distinguishes_what_matters() -> None:
    key = jb.SigningKey.generate("ES256")
    base = _key()
    assert base == _key()
    assert len(base) == 64 and int(base, 16) >= 0
    assert base == _key(auth=jb.ClientSecretBasic("app", "another-secret"))
    assert base == _key(auth=jb.ClientSecretPost("app", SECRET))
    others = {
        _key(endpoint="https://other.example.com/token"),
        _key(auth=jb.ClientSecretBasic("app2", SECRET)),
        _key(grant=jb.ClientCredentials(scope="other")),
        _key(grant=jb.ClientCredentials(scope="api", audience="x")),
        _key(grant=jb.ClientCredentials(scope="api", resource="urn:x")),
        _key(grant=jb.JWTBearer(jb.JWT(iss="app", sub="alice"), key, scope="api")),
        _key(grant=jb.JWTBearer(jb.JWT(iss="app", sub="bob"), key, scope="api")),
    }
    assert base not in others and len(others) == 7
    assert SECRET not in base


def test_store_key_is_the_sources_cache_key() -> None:
    from jwtbearer.lifecycle.stores import store_key

    client = jb.TokenClient(ENDPOINT, jb.ClientSecretBasic("app", SECRET))
    grant = jb.ClientCredentials(scope="api", audience="x", resource="urn:r", extra={"k": "v"})
    assert client.source(grant).cache_key == store_key(
        token_endpoint=ENDPOINT, client_id="app", grant_type="client_credentials", scope="api",
        audience="x", resource="urn:r", extra={"k": "v"})
    jwt = jb.JWT(iss="app", sub="alice", aud="https://aud")
    bearer = jb.JWTBearer(jwt, jb.SigningKey.generate("ES256"), scope="api")
    assert client.source(bearer).cache_key == store_key(
        token_endpoint=ENDPOINT, client_id="app",
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", issuer="app",
        subject="alice", audience="https://aud", scope="api")
    assert client.source(jb.ClientCredentials()).cache_key == store_key(
        token_endpoint=ENDPOINT, client_id="app", grant_type="client_credentials")


# -- the default transport hook -----------------------------------------------------------------


def test_default_transports_route_clients_created_without_http() -> None:
    sync_transport = httpx.MockTransport(ok())
    async_transport = httpx.MockTransport(ok({"access_token": "async-token"}))
    previous = client_module.set_default_transports(sync_transport, async_transport)
    try:
        assert previous == (None, None)
        with jb.TokenClient(ENDPOINT) as client:
            assert client.client_credentials().access_token == ACCESS

        async def main() -> str:
            async with jb.AsyncTokenClient(ENDPOINT) as client:
                return (await client.client_credentials()).access_token

        assert anyio.run(main) == "async-token"
    finally:
        assert client_module.set_default_transports(*previous) == (
            sync_transport, async_transport)
    assert not hasattr(jb, "_set_default_transports")  # a test hook, not public API


def test_close_closes_only_an_owned_client() -> None:
    owned = jb.TokenClient(ENDPOINT)
    owned.close()
    assert owned._http.is_closed
    with httpx.Client(transport=httpx.MockTransport(ok())) as http:
        jb.TokenClient(ENDPOINT, http=http).close()
        assert not http.is_closed


# -- no secret anywhere -------------------------------------------------------------------------


def test_no_secret_token_or_signature_in_messages_reprs_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="jwtbearer")
    key = jb.SigningKey.generate("ES256")
    assertion = jb.JWS(jb.JWT(iss="app", sub="alice", aud="a"), key).compact_serialization()
    signature = assertion.rsplit(".", 1)[1]
    secrets = [SECRET, ACCESS, REFRESH, signature]
    texts: list[str] = []
    bodies: list[tuple[int, dict[str, Any]]] = [
        (400, {"error": "invalid_grant", "error_description": f"bad assertion {assertion}"}),
        (401, {"error": "invalid_client", "client_secret": SECRET}),
        (200, {"access_token": ACCESS + "\r\n", "refresh_token": REFRESH}),
        (500, {"access_token": ACCESS, "refresh_token": REFRESH}),
        (429, {"error": "slow_down", "assertion": assertion}),
    ]
    auths: list[jb.client.ClientAuth] = [jb.ClientSecretBasic("app", SECRET),
                                  jb.ClientSecretPost("app", SECRET),
                                  jb.ClientSecretJWT("app", SECRET)]
    for mode in MODES:
        for auth in auths:
            for status, body in bodies:
                def handler(request: httpx.Request, status: int = status,
                            body: dict[str, Any] = body) -> httpx.Response:
                    return httpx.Response(status, json=body)

                with pytest.raises(jb.JWTBearerError) as info:
                    run(mode, handler, lambda c: c.jwt_bearer(assertion), auth=auth)
                texts += [str(info.value), repr(info.value)]
            token, _ = run(mode, ok({"access_token": ACCESS, "refresh_token": REFRESH}),
                           lambda c: c.refresh(REFRESH), auth=auth)
            texts += [repr(token), str(token), repr(auth), str(auth)]
    request = jb.client.protocol.build_token_request(ENDPOINT, jb.RefreshToken(REFRESH),
                                     jb.ClientSecretPost("app", SECRET), now=NOW)
    texts += [repr(request), repr(jb.RefreshToken(REFRESH)), caplog.text]
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("body", [
    b'{"access_token":"at","expires_in":1' + b"0" * 400 + b"}",
    b'{"access_token":"at","expires_in":-1' + b"0" * 400 + b"}",
    b'{"access_token":"at","expires_in":"1' + b"0" * 400 + b'"}',
], ids=["huge", "huge-negative", "huge-string"])
def test_an_expires_in_past_the_float_range_is_a_response_format_error(
        mode: str, body: bytes) -> None:
    # json.loads gives a Python int of any size; float() of it once raised OverflowError.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    with pytest.raises(jb.ResponseFormatError) as info:
        run(mode, handler, lambda c: c.client_credentials())
    assert "expires_in" in str(info.value) and len(str(info.value)) < 300


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exc", [httpx.InvalidURL("bad url"), httpx.StreamClosed()])
def test_httpx_errors_outside_httperror_become_transport_errors(mode: str,
                                                                exc: Exception) -> None:
    # httpx.InvalidURL and httpx.StreamError do not derive from httpx.HTTPError.
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(jb.TransportError) as info:
        run(mode, fail, lambda c: c.client_credentials())
    assert "auth.example.com" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_the_http_clients_own_auth_never_touches_a_token_request(mode: str) -> None:
    # An httpx client shared with API calls may carry auth= (Basic, or a bearer flow that
    # itself needs a token); the token request carries only its own client authentication.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": ACCESS, "expires_in": 60})

    other = httpx.BasicAuth("api-user", "api-password")
    for auth in (jb.NoClientAuth(), jb.ClientSecretBasic("svc", SECRET)):
        if mode == "sync":
            with httpx.Client(transport=httpx.MockTransport(handler), auth=other) as http:
                jb.TokenClient(ENDPOINT, auth, http=http).client_credentials()
        else:
            async def main(auth: jb.client.ClientAuth = auth) -> None:
                async with httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                             auth=other) as http:
                    await jb.AsyncTokenClient(ENDPOINT, auth, http=http).client_credentials()

            anyio.run(main)
    no_auth, basic_auth = seen
    assert "authorization" not in no_auth.headers
    expected = "Basic " + base64.b64encode(f"svc:{SECRET}".encode()).decode()
    assert basic_auth.headers["authorization"] == expected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page", [b"<" * 65000, b"<script" * 9000, b"<!--" * 16000],
                         ids=["open-angles", "open-scripts", "open-comments"])
def test_a_hostile_html_page_is_excerpted_without_a_hang(mode: str, page: bytes) -> None:
    # A backtracking tag pattern took seconds of CPU on these 64 KiB pages; a hang bound only.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, content=b"<html>" + page, headers={"content-type": "text/html"})

    started = time.monotonic()
    with pytest.raises(jb.ResponseFormatError) as info:
        run(mode, handler, lambda c: c.client_credentials())
    assert "answered HTML with status 401" in str(info.value)
    assert time.monotonic() - started < 1.5
