"""JWTBearerTokenExchange: Apex ``Auth.JWTBearerTokenExchange`` behaviour, over TokenClient."""

from __future__ import annotations

import anyio
import httpx
import pytest

from jwtbearer import (
    JWS,
    JWT,
    AsyncJWTBearerTokenExchange,
    ConfigurationError,
    InvalidGrant,
    JWTBearerTokenExchange,
    JWTBearerTokenExchangeException,
    KeyStore,
    ResponseFormatError,
    SigningKey,
    TokenEndpointError,
    TransportError,
)
from jwtbearer.errors import ServerError
from jwtbearer.oauth import JWT_BEARER_GRANT
from jwtbearer.testing import FakeClock, MockAnswer, MockTokenEndpoint

ENDPOINT = "https://login.salesforce.com/services/oauth2/token"
APPROVAL = "user hasn't approved this consumer"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("RS256")


@pytest.fixture
def mock() -> MockTokenEndpoint:
    return MockTokenEndpoint(extra={"instance_url": "https://acme.my.salesforce.com"})


def new_jws(key: SigningKey, sub: str = "user@example.com") -> JWS:
    return JWS(JWT(iss="3MVG9-client", sub=sub, aud="https://login.salesforce.com"), key)


def test_posts_once_and_remembers(key: SigningKey, mock: MockTokenEndpoint) -> None:
    jws = new_jws(key)
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, jws)
        assert mock.requests == []  # nothing is sent before a token is asked for
        assert exchange.get_access_token() == "mock-access-token-1"
        assert exchange.get_access_token() == "mock-access-token-1"
        assert exchange.get_http_response().status_code == 200
        assert exchange.get_token().extra["instance_url"] == "https://acme.my.salesforce.com"
    (request,) = mock.requests
    assert request.url == ENDPOINT
    assert dict(request.form) == {
        "grant_type": JWT_BEARER_GRANT, "assertion": jws.compact_serialization()
    }
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.assertion_claims is not None
    assert request.assertion_claims["sub"] == "user@example.com"


def test_no_argument_constructor_with_setters(key: SigningKey, mock: MockTokenEndpoint) -> None:
    exchange = JWTBearerTokenExchange()
    assert exchange.token_endpoint is None and exchange.jws is None
    assert exchange.grant_type == JWT_BEARER_GRANT
    with pytest.raises(ConfigurationError, match="token_endpoint and jws"):
        exchange.get_access_token()
    exchange.token_endpoint = ENDPOINT
    exchange.jws = new_jws(key)
    with mock.install():
        assert exchange.get_access_token() == "mock-access-token-1"
    assert len(mock.requests) == 1


def test_changing_an_attribute_sends_again(key: SigningKey, mock: MockTokenEndpoint) -> None:
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key))
        first = exchange.get_access_token()
        exchange.jws = new_jws(key, sub="other@example.com")
        second = exchange.get_access_token()
        exchange.grant_type = "urn:ietf:params:oauth:grant-type:saml2-bearer"
        third = exchange.get_access_token()
        exchange.token_endpoint = "https://test.salesforce.com/services/oauth2/token"
        fourth = exchange.get_access_token()
    assert len({first, second, third, fourth}) == 4
    records = mock.requests
    assert [r.assertion_claims["sub"] for r in records if r.assertion_claims] == [
        "user@example.com", "other@example.com", "other@example.com", "other@example.com"
    ]
    assert records[2].grant_type == "urn:ietf:params:oauth:grant-type:saml2-bearer"
    assert records[3].url.startswith("https://test.salesforce.com/")


def test_error_is_the_apex_exception_and_is_remembered(
    key: SigningKey, mock: MockTokenEndpoint
) -> None:
    mock.respond_error("invalid_grant", APPROVAL)
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key))
        with pytest.raises(JWTBearerTokenExchangeException) as info:
            exchange.get_access_token()
        with pytest.raises(InvalidGrant):
            exchange.get_token()
        response = exchange.get_http_response()
    assert JWTBearerTokenExchangeException is TokenEndpointError
    message = str(info.value)
    assert message.startswith(
        'Error 400: {"error":"invalid_grant","error_description":"user hasn\'t approved this '
        'consumer"}'
    )
    assert "pre-authorized" in message  # the hint line
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert len(mock.requests) == 1


def test_answer_without_access_token_fails(key: SigningKey, mock: MockTokenEndpoint) -> None:
    mock.respond(MockAnswer.raw(200, '{"token":"abc","token_type":"Bearer"}'))
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key))
        with pytest.raises(ResponseFormatError, match="no access_token"):
            exchange.get_access_token()
        assert exchange.get_http_response().json() == {"token": "abc", "token_type": "Bearer"}
    assert len(mock.requests) == 1


def test_html_answer_fails_clearly(key: SigningKey, mock: MockTokenEndpoint) -> None:
    mock.respond_html(status=401)
    with mock.install(), pytest.raises(ResponseFormatError, match="HTML with status 401"):
        JWTBearerTokenExchange(ENDPOINT, new_jws(key)).get_access_token()


def test_server_errors_are_not_retried(key: SigningKey, mock: MockTokenEndpoint) -> None:
    mock.respond_error("server_error", status=503, times=3)
    with mock.install(), pytest.raises(ServerError):
        JWTBearerTokenExchange(ENDPOINT, new_jws(key)).get_access_token()
    assert len(mock.requests) == 1


def test_transport_failure_is_not_remembered_and_resigns(
    key: SigningKey, mock: MockTokenEndpoint
) -> None:
    mock.respond(MockAnswer.fail(httpx.ConnectError))
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key))
        with pytest.raises(TransportError):
            exchange.get_access_token()
        assert exchange.get_access_token() == "mock-access-token-1"
    first, second = mock.requests
    assert first.assertion_claims is not None and second.assertion_claims is not None
    assert first.assertion_claims["jti"] != second.assertion_claims["jti"]
    assert first.assertion_claims["sub"] == second.assertion_claims["sub"]


def test_timeout_becomes_transport_error(key: SigningKey) -> None:
    clock = FakeClock()
    slow = MockTokenEndpoint(sleep=clock.sleep)
    slow.respond_token(delay=60)
    with slow.install(), pytest.raises(TransportError):
        JWTBearerTokenExchange(ENDPOINT, new_jws(key), timeout=2.0).get_access_token()
    assert clock() == pytest.approx(1_700_000_002.0)


def test_clone_has_sent_nothing_and_signs_its_own_assertion(
    key: SigningKey, mock: MockTokenEndpoint
) -> None:
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key))
        exchange.get_access_token()
        copy = exchange.clone()
        assert copy.token_endpoint == ENDPOINT and copy.grant_type == JWT_BEARER_GRANT
        assert copy.jws is not exchange.jws
        assert copy.get_access_token() == "mock-access-token-2"
    first, second = mock.requests
    assert first.assertion_claims is not None and second.assertion_claims is not None
    assert first.assertion_claims["jti"] != second.assertion_claims["jti"]


def test_explicit_http_client_without_install(key: SigningKey, mock: MockTokenEndpoint) -> None:
    with httpx.Client(transport=mock) as http:
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key), http=http)
        assert exchange.get_access_token() == "mock-access-token-1"
        assert not http.is_closed  # a client passed in stays open


def test_key_store_name_and_verifying_mock() -> None:
    KeyStore().create("my-cert")
    verifying = KeyStore().get("my-cert").verifying_key()
    mock = MockTokenEndpoint(verify_with=verifying)
    with mock.install():
        good = JWTBearerTokenExchange(ENDPOINT, JWS(JWT(iss="c", sub="u", aud="a"), "my-cert"))
        assert good.get_access_token() == "mock-access-token-1"
        forged = JWTBearerTokenExchange(
            ENDPOINT, JWS(JWT(iss="c", sub="u", aud="a"), SigningKey.generate("RS256"))
        )
        with pytest.raises(InvalidGrant):
            forged.get_access_token()


def test_plain_http_is_refused_off_loopback(key: SigningKey, mock: MockTokenEndpoint) -> None:
    with mock.install(), pytest.raises(ConfigurationError, match="http"):
        JWTBearerTokenExchange("http://login.example.com/token", new_jws(key)).get_access_token()
    assert mock.requests == []


@pytest.mark.parametrize("bad", ["", "two words", 7])
def test_grant_type_is_checked(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        JWTBearerTokenExchange(grant_type=bad)  # type: ignore[arg-type]


def test_attributes_are_type_checked() -> None:
    exchange = JWTBearerTokenExchange()
    with pytest.raises(ConfigurationError):
        exchange.jws = "eyJ.a.b"  # type: ignore[assignment]
    with pytest.raises(ConfigurationError):
        exchange.token_endpoint = 42  # type: ignore[assignment]


def test_repr_hides_tokens_and_signatures(key: SigningKey, mock: MockTokenEndpoint) -> None:
    with mock.install():
        exchange = JWTBearerTokenExchange(ENDPOINT, new_jws(key))
        token = exchange.get_access_token()
    assert exchange.jws is not None
    signature = exchange.jws.compact_serialization().split(".")[2]
    assert token not in repr(exchange) and signature not in repr(exchange)


@pytest.mark.anyio
async def test_async_twin_shares_one_post(key: SigningKey, mock: MockTokenEndpoint) -> None:
    results: list[str] = []
    with mock.install():
        exchange = AsyncJWTBearerTokenExchange(ENDPOINT, new_jws(key))

        async def ask() -> None:
            results.append(await exchange.get_access_token())

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(ask)
        response = await exchange.get_http_response()
        token = await exchange.get_token()
        copy = exchange.clone()
        assert await copy.get_access_token() == "mock-access-token-2"
    assert results == ["mock-access-token-1"] * 10
    assert response.status_code == 200 and token.extra["instance_url"].startswith("https://")
    assert len(mock.requests) == 2


@pytest.mark.anyio
async def test_async_error_is_remembered(key: SigningKey, mock: MockTokenEndpoint) -> None:
    mock.respond_error("invalid_grant", APPROVAL)
    with mock.install():
        exchange = AsyncJWTBearerTokenExchange()
        exchange.token_endpoint = ENDPOINT
        exchange.jws = new_jws(key)
        for _ in range(2):
            with pytest.raises(InvalidGrant, match=r"^Error 400: "):
                await exchange.get_access_token()
        assert (await exchange.get_http_response()).status_code == 400
    assert len(mock.requests) == 1
