"""Redaction by value: ``errors.redact(text, secrets)`` and what a request says it carries."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

import jwtbearer as jb
from jwtbearer.client.protocol import build_token_request, parse_token_response
from jwtbearer.errors import REDACTED, redact

URL = "https://as.example/token"


@given(st.text(min_size=4, max_size=40))
def test_every_echoed_form_of_a_secret_is_replaced(secret: str) -> None:
    forms = [secret, quote_plus(secret, safe=""), quote(secret, safe=""),
             json.dumps(secret)[1:-1], html.escape(secret)]
    if secret.isascii():
        forms += [secret.upper(), secret.lower()]
    for form in forms:
        text = redact(f"<{form}>", {secret})
        assert text.startswith(f"<{REDACTED}")
        assert secret.lower() not in text.lower().replace(REDACTED, "")


def test_short_values_and_no_secrets_leave_the_text_alone() -> None:
    assert redact("an ordinary message", {"an"}) == "an ordinary message"
    assert redact("an ordinary message") == "an ordinary message"


def test_a_basic_request_names_both_encodings_of_its_credential() -> None:
    secret = "p:a/s s+w%rd"
    request = build_token_request(URL, jb.ClientCredentials(),
                                  jb.ClientSecretBasic("my:id", secret), now=1_700_000_000)
    carried = request.secrets
    encoded = f"{quote_plus('my:id')}:{quote_plus(secret)}"
    assert {secret, quote_plus(secret), encoded, f"my:id:{secret}"} <= carried
    assert base64.b64encode(encoded.encode()).decode() in carried
    assert base64.b64encode(f"my:id:{secret}".encode()).decode() in carried
    assert "secrets" not in repr(request) and secret not in repr(request)


def test_an_assertion_gives_its_signature_and_an_hmac_secret_is_held() -> None:
    hs = "h" * 48
    request = build_token_request(URL, jb.ClientCredentials(), jb.ClientSecretJWT("c", hs),
                                  now=1_700_000_000)
    signature = request.form["client_assertion"].rpartition(".")[2]
    assert {hs, signature} <= request.secrets
    assert request.form["client_assertion"] not in request.secrets  # header and payload stay


def test_the_parser_redacts_the_given_secrets_and_the_answers_own_tokens() -> None:
    try:
        parse_token_response(401, {"content-type": "application/json"},
                             b'{"error":"invalid_client","error_description":"bad s3cr3t-v"}',
                             now=0, secrets={"s3cr3t-v"})
    except jb.InvalidClient as exc:
        assert exc.error_description == f"bad {REDACTED}"
        assert "s3cr3t-v" not in str(exc) + repr(exc) + exc.body
    try:
        parse_token_response(200, {}, b'{"access_token":"tok-abcdef","expires_in":"tok-abcdef"}',
                             now=0)
    except jb.ResponseFormatError as exc:
        assert "tok-abcdef" not in str(exc)
