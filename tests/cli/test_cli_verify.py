"""``jwtbearer verify``, ``keys create --pkcs11-module`` and ``serve --workers`` as users run
them (subprocesses): the same ``--json`` documents and messages as every other command."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from clihelpers import Server, jb


def _b64(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


#: Well formed, signed by nobody: good enough to reach the key lookup.
SHAPED = (f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}."
          f"{_b64({'iss': 'https://idp.example', 'aud': 'https://api.example', 'exp': 4102444800})}"
          ".c2ln")


def _token(server: Server) -> str:
    got = jb("token", "--client-id", "3MVG9cli", "--username", "alice@example.com",
             "--jwt-key-file", str(server.key_file), "--instance-url", server.url,
             "--show-token")
    assert got.code == 0, got.err
    return got.out.strip()


def test_verify_an_issued_token_human_and_json(sf_server: Server) -> None:
    token = _token(sf_server)
    jwks = f"{sf_server.url}/jwks"
    human = jb("verify", token, "--issuer", sf_server.url, "--jwks", jwks)
    assert human.code == 0, human.out + human.err
    assert human.out.startswith("valid") and token not in human.out
    doc = jb("verify", token, "--issuer", sf_server.url, "--jwks", jwks, "--json").json()
    assert isinstance(doc, dict) and doc["valid"] is True and doc["reason"] is None
    assert doc["claims"]["iss"] == sf_server.url
    wrong = jb("verify", token, "--issuer", sf_server.url, "--jwks", jwks, "--audience",
               "https://other.example", "--json")
    assert wrong.code == 1
    bad = wrong.json()
    assert isinstance(bad, dict) and bad["valid"] is False and "aud" in bad["reason"]
    said = jb("verify", token, "--issuer", sf_server.url, "--jwks", jwks, "--audience",
              "https://other.example")
    assert said.code == 1 and said.out.startswith("invalid")


def test_verify_failures_are_the_common_error_document(tmp_path: Path) -> None:
    gone = jb("verify", SHAPED, "--issuer", "https://idp.example", "--jwks",
              "http://127.0.0.1:9/jwks", "--json")
    assert gone.code == 5, gone.out + gone.err
    doc = gone.json()
    assert isinstance(doc, dict) and doc["error"]["kind"] == "TransportError"
    assert doc["error"]["exit_code"] == 5 and gone.err == ""
    missing = jb("verify", SHAPED, "--issuer", "https://idp.example", "--jwks",
                 str(tmp_path / "none.json"), "--json")
    assert missing.code == 3
    error = missing.json()["error"]  # type: ignore[index]
    assert "none.json" in error["message"]
    no_issuer = jb("verify", "a.b.c", "--json")
    assert no_issuer.code == 3
    message = no_issuer.json()["error"]["message"]  # type: ignore[index]
    assert message.startswith("give --issuer")
    human = jb("verify", "a.b.c")
    assert human.code == 3 and human.err.startswith("error: give --issuer")


def test_keys_create_on_a_missing_pkcs11_module_is_a_json_error(tmp_path: Path) -> None:
    module = tmp_path / "no-such-module.so"
    got = jb("keys", "create", "hsm-app", "--pkcs11-module", str(module), "--token-label",
             "jwtbearer", "--json", env={"JWTBEARER_PKCS11_PIN": "1234"})
    assert got.code == 3, got.out + got.err
    doc = got.json()
    assert isinstance(doc, dict)
    error = doc["error"]
    assert error["exit_code"] == 3 and error["kind"]
    assert "pkcs11_module" not in error["message"] and "token_label" not in error["message"]
    assert "1234" not in got.out + got.err
    half = jb("keys", "create", "hsm-app", "--pkcs11-module", str(module), "--json")
    assert half.code == 3
    message = half.json()["error"]["message"]  # type: ignore[index]
    assert "--token-label" in message and "token_label" not in message


def test_workers_on_a_port_in_use_get_the_same_message(sf_server: Server, tmp_path: Path
                                                      ) -> None:
    config = tmp_path / "workers.toml"
    config.write_text('replay = "redis://127.0.0.1:6379/15"\n' + sf_server.config.read_text())
    again = jb("serve", "--config", str(config), "--preset", "salesforce", "--workers", "2")
    assert again.code == 3, again.err
    assert (f"error: cannot listen on 127.0.0.1:{sf_server.port}: address already in use"
            in again.err)
    assert "Errno" not in again.err
    as_json = jb("serve", "--config", str(config), "--preset", "salesforce", "--workers", "2",
                 "--json")
    assert as_json.code == 3
    assert "address already in use" in as_json.json()["error"]["message"]  # type: ignore[index]
