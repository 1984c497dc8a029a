"""Retry decisions (RetryPolicy) and the clients' retry loop, with injected sleep and jitter."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

import jwtbearer as jb
from jwtbearer.client.protocol import RetryPolicy
from jwtbearer.errors import RateLimited, ServerError, TemporarilyUnavailable, UnexpectedRedirect

ENDPOINT = "https://auth.example.com/oauth2/token"
NOW = 1_800_000_000.0
MODES = ["sync", "async"]


def half() -> float:
    return 0.5


# -- the pure decision --------------------------------------------------------------------------


def test_backoff_is_exponential_full_jitter_and_capped() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=4.0, jitter=half)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    top = RetryPolicy(attempts=10, base_delay=0.5, max_delay=4.0, jitter=lambda: 0.999)
    assert all(top.backoff(n) < 4.0 for n in range(1, 80))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(status: int) -> None:
    policy = RetryPolicy(jitter=half)
    assert policy.delay_for(1, status=status, now=NOW) == 0.25
    assert policy.delay_for(2, status=status, now=NOW) == 0.5
    assert policy.delay_for(3, status=status, now=NOW) is None  # 3 attempts made: give up


def test_429_honours_retry_after_seconds_and_dates() -> None:
    policy = RetryPolicy(jitter=half)
    assert policy.delay_for(1, status=429, retry_after="2", now=NOW) == 2.0
    date = email.utils.formatdate(NOW + 12, usegmt=True)
    assert policy.delay_for(1, status=429, retry_after=date, now=NOW) == 12.0
    assert policy.delay_for(1, status=429, now=NOW) == 0.25  # no Retry-After: backoff


def test_retry_after_beyond_the_cap_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=30)
    assert policy.delay_for(1, status=429, retry_after="31", now=NOW) is None
    assert policy.delay_for(1, status=429, retry_after="30", now=NOW) == 30.0


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "invalid_request",
                                   "unauthorized_client", "invalid_scope"])
def test_rfc_6749_errors_are_never_retried(error: str) -> None:
    exc = jb.errors.error_class_for(400, error)(400, error=error)
    assert RetryPolicy().delay_for(1, exception=exc, now=NOW) is None


def test_server_error_codes_and_transport_errors_are_retried() -> None:
    policy = RetryPolicy(jitter=half)
    in_200 = TemporarilyUnavailable(200, error="temporarily_unavailable")
    assert policy.delay_for(1, exception=in_200, now=NOW) == 0.25
    assert policy.delay_for(1, exception=jb.TransportError("reset"), now=NOW) == 0.25
    rate = RateLimited(429, retry_after=3.0)
    assert policy.delay_for(1, exception=rate, now=NOW) == 3.0
    html_503 = jb.ResponseFormatError("maintenance page", status=503)
    assert policy.delay_for(1, exception=html_503, now=NOW) == 0.25


def test_broken_success_answers_and_redirects_are_not_retried() -> None:
    policy = RetryPolicy()
    assert policy.delay_for(1, exception=jb.ResponseFormatError("no token"), now=NOW) is None
    redirect = UnexpectedRedirect("302", status=302)
    assert policy.delay_for(1, exception=redirect, now=NOW) is None


def test_none_and_single_attempt_disable_retries() -> None:
    assert RetryPolicy.none().delay_for(1, status=503, now=NOW) is None
    assert RetryPolicy(attempts=1).delay_for(1, status=503, now=NOW) is None


@pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"attempts": 1.5}, {"base_delay": -1},
                                    {"max_retry_after": float("inf")}])
def test_bad_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(jb.ConfigurationError):
        RetryPolicy(**kwargs)


# -- the clients' loop --------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def run(mode: str, handler: Handler, call: Callable[[Any], Any], *,
        auth: jb.client.ClientAuth | None = None, retry: RetryPolicy | None = None
        ) -> tuple[Any, list[float]]:
    """Call ``call(client)`` on a sync or async client over a mock transport; record sleeps."""
    slept: list[float] = []
    transport = httpx.MockTransport(handler)
    policy = retry or RetryPolicy(jitter=half)
    if mode == "sync":
        with httpx.Client(transport=transport) as http:
            client = jb.TokenClient(ENDPOINT, auth or jb.NoClientAuth(), http=http, retry=policy,
                                    clock=lambda: NOW, sleep=slept.append)
            return call(client), slept

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> Any:
        async with httpx.AsyncClient(transport=transport) as http:
            client = jb.AsyncTokenClient(ENDPOINT, auth or jb.NoClientAuth(), http=http,
                                         retry=policy, clock=lambda: NOW, sleep=sleep)
            return await call(client)

    return anyio.run(main), slept


Answer = tuple[int, dict[str, Any], dict[str, str]]


def script(*answers: Answer | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler playing ``answers`` in order (the last one repeats); it records requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer
        return httpx.Response(status, json=body, headers=headers)

    return handler, seen


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    return status, body, headers or {}


OK = _json(200, {"access_token": "at-ok", "expires_in": 60})


@pytest.mark.parametrize("mode", MODES)
def test_429_with_retry_after_2_waits_2_seconds(mode: str) -> None:
    handler, seen = script(_json(429, {"error": "slow_down"}, {"Retry-After": "2"}), OK)
    token, slept = run(mode, handler, lambda c: c.client_credentials())
    assert token.access_token == "at-ok"
    assert slept == [2.0] and len(seen) == 2


@pytest.mark.parametrize("mode", MODES)
def test_invalid_grant_is_not_retried(mode: str) -> None:
    handler, seen = script(_json(400, {"error": "invalid_grant"}))
    with pytest.raises(jb.InvalidGrant):
        run(mode, handler, lambda c: c.client_credentials())
    assert len(seen) == 1


@pytest.mark.parametrize("mode", MODES)
def test_503_then_success_signs_a_new_assertion_each_time(mode: str) -> None:
    key = jb.SigningKey.generate("ES256")
    handler, seen = script(_json(503, {"error": "server_error"}), OK)
    token, slept = run(
        mode, handler,
        lambda c: c.jwt_bearer(jb.JWT(iss="app", sub="alice"), key),
        auth=jb.PrivateKeyJWT("app", jb.SigningKey.generate("ES256")),
    )
    assert token.access_token == "at-ok" and slept == [0.25] and len(seen) == 2
    forms = [dict(httpx.QueryParams(r.content.decode())) for r in seen]
    for field in ("assertion", "client_assertion"):
        jtis = {jb.jose.unverified_claims(form[field])["jti"] for form in forms}
        assert len(jtis) == 2, field
        assert forms[0][field] != forms[1][field]


@pytest.mark.parametrize("mode", MODES)
def test_gives_up_after_the_attempts_and_raises_the_last_error(mode: str) -> None:
    handler, seen = script(_json(502, {}))
    with pytest.raises(ServerError) as info:
        run(mode, handler, lambda c: c.client_credentials())
    assert len(seen) == 3 and info.value.status == 502


@pytest.mark.parametrize("mode", MODES)
def test_long_retry_after_becomes_a_rate_limited_error_saying_when(mode: str) -> None:
    handler, seen = script(_json(429, {}, {"Retry-After": "120"}))
    with pytest.raises(RateLimited) as info:
        run(mode, handler, lambda c: c.client_credentials())
    assert len(seen) == 1
    assert info.value.retry_after == 120
    assert "retry after 120 s" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_connection_errors_are_retried_then_succeed(mode: str) -> None:
    handler, seen = script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), OK)
    token, slept = run(mode, handler, lambda c: c.client_credentials())
    assert token.access_token == "at-ok"
    assert slept == [0.25, 0.5] and len(seen) == 3


@pytest.mark.parametrize("mode", MODES)
def test_retry_none_sends_once(mode: str) -> None:
    handler, seen = script(_json(503, {}))
    with pytest.raises(ServerError):
        run(mode, handler, lambda c: c.client_credentials(), retry=RetryPolicy.none())
    assert len(seen) == 1


def test_retries_are_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = script(_json(503, {}), OK)
    caplog.set_level("DEBUG", logger="jwtbearer")
    run("sync", handler, lambda c: c.client_credentials(),
        auth=jb.ClientSecretPost("app", "pw-never-logged"))
    text = caplog.text
    assert "retrying token request to auth.example.com in 0.25 s" in text
    assert "status 503" in text and "attempt 2 of 3" in text
    assert "pw-never-logged" not in text and "at-ok" not in text
