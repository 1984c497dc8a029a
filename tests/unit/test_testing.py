"""MockTokenEndpoint and FakeClock: the test doubles users get in ``jwtbearer.testing``."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from urllib.parse import quote_plus, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwtbearer import JWS, JWT, AsyncTokenClient, ConfigurationError, SigningKey, TokenClient
from jwtbearer.errors import JWSError
from jwtbearer.oauth import JWT_BEARER_GRANT
from jwtbearer.testing import FakeClock, MockAnswer, MockRequest, MockTokenEndpoint

URL = "https://login.example.com/services/oauth2/token"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ES256")


def assertion(key: SigningKey, *, sub: str = "alice", now: float | None = None) -> str:
    jwt = JWT(iss="client-1", sub=sub, aud=URL)
    return JWS(jwt, key, clock=(lambda: now) if now is not None else None).compact_serialization()


def post(mock: MockTokenEndpoint, form: dict[str, str], **kw: object) -> httpx.Response:
    with httpx.Client(transport=mock) as http:
        return http.post(URL, data=form, **kw)  # type: ignore[arg-type]


def test_default_answer_is_a_numbered_token() -> None:
    mock = MockTokenEndpoint()
    first = post(mock, {"grant_type": "client_credentials"})
    second = post(mock, {"grant_type": "client_credentials"})
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.json() == {
        "access_token": "mock-access-token-1", "token_type": "Bearer", "expires_in": 3600
    }
    assert second.json()["access_token"] == "mock-access-token-2"


def test_configured_token_fields_and_extra() -> None:
    mock = MockTokenEndpoint(access_token="00Dxx!AQ", expires_in=None, scope="api",
                             extra={"instance_url": "https://acme.my.salesforce.com"})
    body = post(mock, {"grant_type": JWT_BEARER_GRANT}).json()
    assert body == {"access_token": "00Dxx!AQ", "token_type": "Bearer", "scope": "api",
                    "instance_url": "https://acme.my.salesforce.com"}


def test_records_form_headers_and_decoded_assertion(key: SigningKey) -> None:
    mock = MockTokenEndpoint()
    token = assertion(key)
    post(mock, {"grant_type": JWT_BEARER_GRANT, "assertion": token},
         headers={"X-Trace": "t1"})
    (record,) = mock.requests
    assert record.method == "POST" and record.url == URL
    assert record.grant_type == JWT_BEARER_GRANT
    assert record.form["assertion"] == token
    assert record.headers["x-trace"] == "t1"
    assert record.assertion_claims is not None
    assert record.assertion_claims["sub"] == "alice"
    assert record.assertion_claims["aud"] == URL
    assert record.assertion_header == {"alg": "ES256", "typ": "JWT"}
    assert record.client_assertion_claims is None
    assert mock.last_request is record


def test_client_assertion_and_basic_credentials_are_decoded(key: SigningKey) -> None:
    mock = MockTokenEndpoint()
    secret = "s3:cr&t+/="
    basic = base64.b64encode(f"{quote_plus('id:1')}:{quote_plus(secret)}".encode()).decode()
    post(mock, {"grant_type": "client_credentials", "client_assertion": assertion(key)},
         headers={"Authorization": f"Basic {basic}"})
    record = mock.last_request
    assert record.basic_credentials == ("id:1", secret)
    assert record.client_id == "id:1"
    assert record.client_assertion_claims is not None
    assert record.client_assertion_claims["iss"] == "client-1"
    assert record.client_assertion_header is not None
    assert secret not in repr(record) and basic not in repr(record)
    assert record.client_assertion is not None
    assert record.client_assertion.split(".")[2] not in repr(record)


def test_malformed_assertion_raises_when_decoded() -> None:
    mock = MockTokenEndpoint()
    post(mock, {"grant_type": JWT_BEARER_GRANT, "assertion": "not-a-jwt"})
    with pytest.raises(JWSError):
        _ = mock.last_request.assertion_claims


def test_rfc_error_answer() -> None:
    mock = MockTokenEndpoint()
    mock.respond_error("invalid_grant", "user hasn't approved this consumer", status=400)
    response = post(mock, {"grant_type": JWT_BEARER_GRANT})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant", "error_description": "user hasn't approved this consumer"
    }
    assert post(mock, {}).status_code == 200  # queued answers are used once


def test_scripted_sequence_then_default() -> None:
    mock = MockTokenEndpoint()
    mock.script([
        MockAnswer.error("temporarily_unavailable", status=503, headers={"Retry-After": "2"}),
        MockAnswer.html(),
        MockAnswer.raw(200, "access_token=a&token_type=bearer",
                       content_type="application/x-www-form-urlencoded"),
        MockAnswer.token("fixed", expires_in=60),
    ])
    answers = [post(mock, {}) for _ in range(5)]
    assert [a.status_code for a in answers] == [503, 401, 200, 200, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[1].headers["content-type"].startswith("text/html")
    assert b"Whitelabel Error Page" in answers[1].content
    assert answers[2].text == "access_token=a&token_type=bearer"
    assert answers[3].json()["access_token"] == "fixed"
    assert answers[4].json()["access_token"] == "mock-access-token-1"


def test_times_and_sticky_answers() -> None:
    mock = MockTokenEndpoint()
    mock.respond_error("server_error", status=500, times=2)
    assert [post(mock, {}).status_code for _ in range(3)] == [500, 500, 200]
    mock.respond_error("invalid_client", status=401, times=None)
    assert [post(mock, {}).status_code for _ in range(3)] == [401, 401, 401]
    with pytest.raises(ConfigurationError):
        mock.respond_token(times=0)


def test_handler_runs_custom_logic_and_can_fall_through() -> None:
    def handler(request: MockRequest) -> MockAnswer | None:
        if request.form.get("scope") == "forbidden":
            return MockAnswer.error("invalid_scope", f"no {request.form['scope']}")
        return None

    mock = MockTokenEndpoint(handler=handler)
    assert post(mock, {"scope": "forbidden"}).json()["error"] == "invalid_scope"
    assert post(mock, {"scope": "api"}).status_code == 200


def test_non_post_is_refused() -> None:
    mock = MockTokenEndpoint()
    with httpx.Client(transport=mock) as http:
        assert http.get(URL).status_code == 405


def test_delays_use_the_injected_sleep_and_never_wait_by_default() -> None:
    clock = FakeClock(1000)
    mock = MockTokenEndpoint(sleep=clock.sleep)
    mock.respond_token(delay=2.5)
    assert post(mock, {}).status_code == 200
    assert clock() == 1002.5
    assert mock.delays == [2.5]
    quiet = MockTokenEndpoint()
    quiet.respond_token(delay=4.0)  # under httpx's default 5 s timeout; recorded, not slept
    assert post(quiet, {}).status_code == 200
    assert quiet.delays == [4.0]


def test_a_delay_past_the_read_timeout_is_a_read_timeout() -> None:
    clock = FakeClock(0)
    mock = MockTokenEndpoint(sleep=clock.sleep)
    mock.respond_token(delay=30)
    with httpx.Client(transport=mock, timeout=5.0) as http, pytest.raises(httpx.ReadTimeout):
        http.post(URL, data={})
    assert clock() == 5.0  # it waited the client's timeout, not the full delay


def test_connection_failure_answer() -> None:
    mock = MockTokenEndpoint()
    mock.respond(MockAnswer.fail(httpx.RemoteProtocolError))
    with pytest.raises(httpx.RemoteProtocolError):
        post(mock, {})
    assert len(mock.requests) == 1


def test_verify_with_accepts_good_and_refuses_bad_assertions(key: SigningKey) -> None:
    clock = FakeClock(1_700_000_000)
    mock = MockTokenEndpoint(verify_with=key.verifying_key(), clock=clock)
    good = post(mock, {"grant_type": JWT_BEARER_GRANT,
                       "assertion": assertion(key, now=clock())})
    assert good.status_code == 200
    other = SigningKey.generate("ES256")
    forged = post(mock, {"grant_type": JWT_BEARER_GRANT,
                         "assertion": assertion(other, now=clock())})
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_grant"
    clock.advance(301)
    expired = post(mock, {"grant_type": JWT_BEARER_GRANT,
                          "assertion": assertion(key, now=clock() - 301)})
    assert expired.json()["error"] == "invalid_grant"
    assert "expired" in expired.json()["error_description"]
    bad_client = post(mock, {"grant_type": "client_credentials",
                             "client_assertion": assertion(other, now=clock())})
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    assert len(mock.requests) == 4


def test_records_are_thread_safe() -> None:
    mock = MockTokenEndpoint()
    threads = [threading.Thread(target=post, args=(mock, {"n": str(i)})) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(int(r.form["n"]) for r in mock.requests) == list(range(40))
    tokens = {r.form["n"] for r in mock.requests}
    assert len(tokens) == 40
    mock.reset()
    assert mock.requests == []
    with pytest.raises(AssertionError):
        _ = mock.last_request


@pytest.mark.anyio
async def test_async_transport_records_and_awaits_async_sleep(key: SigningKey) -> None:
    clock = FakeClock(50)
    mock = MockTokenEndpoint(sleep=clock.async_sleep)
    mock.respond_error("invalid_grant", "expired", delay=3)
    async with httpx.AsyncClient(transport=mock) as http:
        refused = await http.post(URL, data={"assertion": assertion(key)})
        granted = await http.post(URL, data={"assertion": assertion(key)})
    assert refused.status_code == 400 and granted.status_code == 200
    assert clock() == 53
    assert [r.assertion_claims["sub"] for r in mock.requests if r.assertion_claims] == [
        "alice", "alice"
    ]


def test_fake_clock() -> None:
    clock = FakeClock(10)
    assert clock() == 10.0
    assert clock.advance(5) == 15.0
    clock.set(3)
    assert clock() == 3.0
    with pytest.raises(ConfigurationError):
        clock.advance(-1)


def test_respond_refuses_what_is_not_an_answer() -> None:
    with pytest.raises(ConfigurationError):
        MockTokenEndpoint().respond({"access_token": "x"})  # type: ignore[arg-type]


def test_module_imports_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import jwtbearer.testing as t\n"
        "assert not hasattr(t, 'token_endpoint'); print(t.MockTokenEndpoint.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MockTokenEndpoint"


def test_pytest_plugin_fixture_is_registered(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("jwtbearer")
    assert plugin is not None and hasattr(plugin, "token_endpoint")


def test_token_endpoint_fixture_mocks_clients_built_in_the_test(
    token_endpoint: MockTokenEndpoint, key: SigningKey
) -> None:
    token_endpoint.respond_token("tok-1", scope="api")
    with TokenClient(URL) as client:
        token = client.jwt_bearer(JWT(iss="client-1", sub="bob", aud=URL), key)
    assert token.access_token == "tok-1" and token.scope == "api"
    claims = token_endpoint.last_request.assertion_claims
    assert claims is not None and claims["sub"] == "bob"


def test_install_nests_and_restores() -> None:
    outer, inner = MockTokenEndpoint(access_token="outer"), MockTokenEndpoint(access_token="in")
    with outer.install():
        with inner.install(), TokenClient(URL) as client:
            assert client.client_credentials().access_token == "in"
        with TokenClient(URL) as client:
            assert client.client_credentials().access_token == "outer"
    assert len(outer.requests) == 1 and len(inner.requests) == 1
    from jwtbearer.client import transport as client_module

    previous = client_module.set_default_transports(None, None)
    assert previous == (None, None)  # nothing left installed


@pytest.mark.anyio
async def test_install_mocks_async_clients() -> None:
    mock = MockTokenEndpoint(access_token="async-tok")
    with mock.install():
        async with AsyncTokenClient(URL) as client:
            token = await client.client_credentials(scope="api")
    assert token.access_token == "async-tok"
    assert mock.last_request.form["scope"] == "api"


@given(client_id=st.text(min_size=1, max_size=40), secret=st.text(max_size=60))
def test_basic_credentials_undo_rfc6749_encoding(client_id: str, secret: str) -> None:
    # RFC 6749 §2.3.1: form-urlencode each part, join with ':', then Base64.
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    header = "Basic " + base64.b64encode(raw).decode()
    request = httpx.Request("POST", URL, headers={"Authorization": header})
    record = MockRequest.from_httpx(request, b"")
    assert record.basic_credentials == (client_id, secret)


@given(fields=st.lists(st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=30)),
                       max_size=6))
def test_form_fields_round_trip(fields: list[tuple[str, str]]) -> None:
    body = urlencode(fields).encode()
    request = httpx.Request("POST", URL, content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    record = MockRequest.from_httpx(request, body)
    assert list(record.fields) == fields
    assert dict(record.form) == dict(fields)


def test_non_form_bodies_have_no_fields() -> None:
    request = httpx.Request("POST", URL, json={"grant_type": "client_credentials"})
    record = MockRequest.from_httpx(request, request.read())
    assert record.fields == () and record.grant_type is None
    assert record.basic_credentials is None
