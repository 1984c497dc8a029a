"""Basic credentials that passed once are recognised by their exact header value; every other
value (a wrong secret, another encoding, a client_id that disagrees) still gets the full
check and its refusal, and the remembered set stays bounded."""

from __future__ import annotations

import base64
from pathlib import Path

from jwtbearer.server.config import parse_config
from jwtbearer.server.core import TokenEndpoint

SECRET = "a-secret-of-some-length-0123456789"
FORM = {"content-type": "application/x-www-form-urlencoded"}
BODY = b"grant_type=client_credentials"


def endpoint(tmp_path: Path) -> TokenEndpoint:
    return TokenEndpoint(parse_config({
        "issuer": "http://127.0.0.1:9", "state_dir": "s",
        "clients": [{"client_id": "svc", "token_endpoint_auth_method": "client_secret_basic",
                     "client_secret": SECRET, "grant_types": ["client_credentials"]}]},
        base=tmp_path))


def basic(user: str, secret: str) -> dict[str, str]:
    return {**FORM, "authorization": "Basic " + base64.b64encode(
        f"{user}:{secret}".encode()).decode()}


def test_remembered_only_for_the_exact_value_that_passed(tmp_path: Path) -> None:
    ep = endpoint(tmp_path)
    good = basic("svc", SECRET)
    for _ in range(3):
        assert ep.token(BODY, good).status == 200
    wrong = ep.token(BODY, basic("svc", SECRET[:-1] + "X"))
    assert (wrong.status, wrong.body["error"]) == (401, "invalid_client")
    mismatch = ep.token(BODY + b"&client_id=other", good)
    assert mismatch.status == 401
    assert "differs from the Basic user" in mismatch.body["error_description"]
    # A refused value is never remembered: it fails every time.
    assert ep.token(BODY, basic("svc", "nope")).status == 401
    assert ep.token(BODY, basic("svc", "nope")).status == 401


def test_the_remembered_set_is_bounded(tmp_path: Path) -> None:
    ep = endpoint(tmp_path)
    # Equivalent headers (whitespace after the scheme) each pass and are each remembered.
    for spaces in range(300):
        header = {**FORM, "authorization": "Basic " + " " * spaces + base64.b64encode(
            f"svc:{SECRET}".encode()).decode()}
        assert ep.token(BODY, header).status == 200
    assert len(ep._auth._basic_passed) <= 256
