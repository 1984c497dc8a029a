"""Every command as a subprocess, human and --json output, success and failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clihelpers import Run, jb

ERROR_KEYS = {"kind", "status", "error", "error_description", "hint", "exit_code"}


def _error(run: Run, code: int) -> dict[str, object]:
    assert run.code == code, (run.out, run.err)
    doc = run.json()
    assert isinstance(doc, dict) and set(doc) == {"error"}
    error = doc["error"]
    assert isinstance(error, dict) and set(error) >= ERROR_KEYS
    assert error["exit_code"] == code
    return error


def test_keys_commands_human_and_json(tmp_path: Path) -> None:
    made = jb("keys", "create", "app", "--json")
    assert made.code == 0
    info = made.json()
    assert isinstance(info, dict) and info["alg"] == "RS256" and info["name"] == "app"
    assert "PRIVATE" not in made.out
    human = jb("keys", "create", "soon", "--days", "10")
    assert human.code == 0 and "Created key 'soon'" in human.out
    again = jb("keys", "create", "app")
    assert again.code == 3 and "pass --force" in again.err and "overwrite" not in again.err
    assert _error(jb("keys", "create", "app", "--json"), 3)["kind"] == "ConfigurationError"
    listed = jb("keys", "list")
    lines = listed.out.splitlines()
    assert lines[0].split() == ["NAME", "ALG", "KID", "CERTIFICATE", "UNTIL"]
    # Aligned: every row's ALG column starts where the header's does.
    column = lines[0].index("ALG")
    assert all(line[column:column + 5] == "RS256" for line in lines[1:])
    soon = next(line for line in lines if line.startswith("soon"))
    assert "expires in" in soon and "renew it" in soon
    assert "renew" not in next(line for line in lines if line.startswith("app"))
    as_json = jb("keys", "list", "--json").json()
    assert isinstance(as_json, list)
    assert [k["certificate"]["expires_soon"] for k in as_json] == [False, True]
    shown = jb("keys", "show", "app")
    assert shown.code == 0 and "thumbprint" in shown.out
    assert jb("keys", "show", "app", "--json").json()["name"] == "app"  # type: ignore[index]
    missing = jb("keys", "show", "nope")
    assert missing.code == 3 and "KeyStore(" not in missing.err
    assert "`jwtbearer keys create nope`" in missing.err
    assert _error(jb("keys", "show", "nope", "--json"), 3)["kind"] == "KeyLoadError"
    jwk = jb("keys", "jwk", "app", "--json").json()
    assert isinstance(jwk, dict) and jwk["keys"][0]["kty"] == "RSA"
    home = Path(os.environ["JWTBEARER_HOME"])
    imported = jb("keys", "import", "copy", str(home / "keys" / "app.key.pem"), "--json")
    assert imported.code == 0 and imported.json()["name"] == "copy"  # type: ignore[index]


def test_assert_inspect_and_explain(tmp_path: Path) -> None:
    assert jb("keys", "create", "k").code == 0
    signed = jb("assert", "--iss", "cid", "--sub", "u", "--aud", "https://login.salesforce.com",
                "--key", "k")
    assert signed.code == 0 and signed.out.count(".") == 2
    as_json = jb("assert", "--client-id", "cid", "--username", "u", "--audience",
                 "https://login.salesforce.com", "--key", "k", "--json").json()
    assert isinstance(as_json, dict) and as_json["claims"]["sub"] == "u"
    inspected = jb("inspect", "-", "--audience", "https://login.salesforce.com",
                   stdin=signed.out)
    assert (inspected.code == 0 and "Findings" in inspected.out) or "No findings" in inspected.out
    report = jb("inspect", signed.out.strip(), "--json").json()
    assert isinstance(report, dict) and report["kind"] == "assertion"
    bad_cert = tmp_path / "bad.pem"
    bad_cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    refused = jb("inspect", signed.out.strip(), "--cert", str(bad_cert))
    assert refused.code == 3
    assert "not an X.509 certificate" in refused.err and "ParseError" not in refused.err
    assert _error(jb("inspect", signed.out.strip(), "--cert", str(bad_cert), "--json"),
                  3)["kind"] == "KeyLoadError"
    not_jwt = jb("inspect", "hello", "--json")
    assert not_jwt.code == 1 and not_jwt.json()["is_jwt"] is False  # type: ignore[index]

    explained = jb("explain", 'Error 400: {"error":"invalid_scope","error_description":"x"}')
    assert explained.code == 0 and "A requested scope is unknown" in explained.out
    as_json = jb("explain", "--json", 'Error 400: {"error":"invalid_scope"}').json()
    assert isinstance(as_json, dict)
    assert as_json["status"] == 400 and as_json["error"] == "invalid_scope"
    assert as_json["recognised"] is True
    piped = jb("explain", "-", stdin="Authentication failed (code: invalid_grant): user "
               "hasn't approved this consumer\n")
    assert piped.code == 0 and "Salesforce" in piped.out
    page = tmp_path / "page.html"
    page.write_text("<html><title>Error</title><body><h1>Whitelabel Error Page</h1>(type="
                    "Unauthorized, status=401)</body></html>")
    from_file = jb("explain", f"@{page}")
    assert from_file.code == 0 and "client authentication was refused" in from_file.out
    unknown = jb("explain", "nothing to see here")
    assert unknown.code == 1 and "not an OAuth error response" in unknown.out
    listed = jb("explain", "--list", "--json").json()
    assert isinstance(listed, list) and len(listed) > 30


def test_profiles_add_show_list_check(tmp_path: Path) -> None:
    assert jb("keys", "create", "k").code == 0
    added = jb("profiles", "add", "sf", "--client-id", "cid", "--username", "u@example.com",
               "--key", "k", "--instance-url", "http://127.0.0.1:9")
    assert added.code == 0, added.err
    home = Path(os.environ["JWTBEARER_HOME"])
    text = (home / "profiles.toml").read_text()
    assert 'audience = "https://login.salesforce.com"' in text
    cc = jb("profiles", "add", "cc", "--grant", "client_credentials", "--token-url",
            "http://127.0.0.1:9/token", "--client-id", "c", "--client-secret-keyring",
            "jwtbearer-test/cc", "--auth", "client_secret_basic", "--json")
    assert cc.code == 0 and cc.json()["values"]["client_secret"] == (  # type: ignore[index]
        "keyring:jwtbearer-test/cc")
    dup = jb("profiles", "add", "cc", "--token-url", "http://127.0.0.1:9/t", "--client-id", "c",
             "--key", "k")
    assert dup.code == 3 and "--force" in dup.err
    assert jb("profiles", "add", "cc", "--token-url", "http://127.0.0.1:9/t", "--client-id",
              "c", "--key", "k", "--force").code == 0
    listed = jb("profiles", "list", "--json").json()
    assert isinstance(listed, list) and [p["profile"] for p in listed] == ["cc", "sf"]
    shown = jb("profiles", "show", "sf")
    lines = {line.split()[0]: line for line in shown.out.splitlines()[1:]}
    assert lines["client_id"].rstrip().endswith(str(home / "profiles.toml"))
    assert lines["lifetime"].rstrip().endswith("default")
    shown_json = jb("profiles", "show", "sf", "--json").json()
    assert isinstance(shown_json, dict)
    sources = {v["key"]: v["source"] for v in shown_json["values"]}
    assert sources["cache"] == "default" and sources["key"] == str(home / "profiles.toml")
    checked = jb("profiles", "check")
    assert checked.code == 1
    assert [line.split()[:2] for line in checked.out.splitlines()] == [
        ["cc", "error"], ["sf", "error"]]
    as_json = jb("profiles", "check", "--json").json()
    assert isinstance(as_json, list)
    assert [(r["profile"], r["ok"], r["error"]["kind"]) for r in as_json] == [
        ("cc", False, "TransportError"), ("sf", False, "TransportError")]


def test_a_keyring_reference_without_the_package_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "nokeyring"
    blocker.mkdir()
    (blocker / "keyring.py").write_text("raise ImportError('not installed')\n")
    profiles = tmp_path / "p.toml"
    profiles.write_text('[profiles.kr]\ntoken_url = "http://127.0.0.1:9/t"\ngrant = '
                        '"client-credentials"\nclient_id = "c"\nclient_auth = '
                        '"client_secret_post"\nclient_secret = "keyring:svc/c"\n')
    env = {"PYTHONPATH": str(blocker), "JWTBEARER_PROFILES": str(profiles)}
    got = jb("token", "-p", "kr", env=env)
    assert got.code == 3 and "pip install 'jwtbearer[keyring]'" in got.err
    error = _error(jb("token", "-p", "kr", "--json", env=env), 3)
    assert "jwtbearer[keyring]" in str(error["message"])


def test_a_keyring_reference_reads_the_os_keychain(tmp_path: Path) -> None:
    backend = tmp_path / "kb"
    backend.mkdir()
    (backend / "testkeyring.py").write_text(
        "from keyring.backend import KeyringBackend\n"
        "class Backend(KeyringBackend):\n"
        "    priority = 1\n"
        "    def get_password(self, service, username):\n"
        "        return 'kc-secret' if (service, username) == ('svc', 'c') else None\n"
        "    def set_password(self, service, username, password):\n"
        "        raise NotImplementedError\n"
        "    def delete_password(self, service, username):\n"
        "        raise NotImplementedError\n")
    profiles = tmp_path / "p.toml"
    profiles.write_text('[profiles.kr]\ntoken_url = "http://127.0.0.1:9/t"\ngrant = '
                        '"client-credentials"\nclient_id = "c"\nclient_auth = '
                        '"client_secret_post"\nclient_secret = "keyring:svc/c"\n'
                        '[profiles.none]\ntoken_url = "http://127.0.0.1:9/t"\ngrant = '
                        '"client-credentials"\nclient_id = "c"\nclient_auth = '
                        '"client_secret_post"\nclient_secret = "keyring:svc/other"\n')
    env = {"PYTHONPATH": str(backend), "PYTHON_KEYRING_BACKEND": "testkeyring.Backend",
           "JWTBEARER_PROFILES": str(profiles)}
    # The secret resolves, so the request is made (and the closed port refuses it).
    found = jb("token", "-p", "kr", "--retries", "0", env=env)
    assert found.code == 5 and "kc-secret" not in found.err + found.out
    missing = jb("token", "-p", "none", env=env)
    assert missing.code == 3 and "keyring set svc other" in missing.err


@pytest.mark.parametrize("argv", [
    ["token", "--token-url", "http://10.1.2.3/token", "--client-id", "c", "--key", "k",
     "--sub", "u"],
    ["keys", "create", "dup"],
    ["keys", "show", "missing"],
    ["assert", "--iss", "c", "--aud", "a", "--key", "enc.pem", "--x5t"],
    ["token", "--token-url", "http://127.0.0.1:9/t", "--client-id", "c", "--key", "enc.pem"],
])
def test_no_cli_message_speaks_python(argv: list[str], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from jwtbearer.cli._wording import PYTHON_WORDS
    assert jb("keys", "create", "k").code == 0
    assert jb("keys", "create", "dup").code == 0
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"))
    (tmp_path / "enc.pem").write_bytes(pem)
    got = jb(*[str(tmp_path / a) if a == "enc.pem" else a for a in argv])
    assert got.code != 0
    said = got.out + got.err
    assert said.startswith("error:") or "error:" in said
    for word in PYTHON_WORDS:
        assert word not in said, said


def test_the_cli_source_has_no_python_argument_in_a_message() -> None:
    """Every string literal in jwtbearer/cli (but the rewrite table itself) is free of Python
    call syntax, so no message can name an argument instead of a flag."""
    import ast

    import jwtbearer.cli
    from jwtbearer.cli._wording import PYTHON_WORDS
    folder = Path(jwtbearer.cli.__file__).parent
    offending = []
    for path in sorted(folder.glob("*.py")):
        if path.name == "_wording.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                offending += [f"{path.name}:{node.lineno}: {word}" for word in PYTHON_WORDS
                              if word in node.value]
    assert offending == []


def test_demo_and_serve_speak_json(tmp_path: Path) -> None:
    demo = jb("demo", "--json", timeout=120)
    assert demo.code == 0 and demo.json() == {"ok": True, "exit_code": 0}
    config = tmp_path / "bad.toml"
    config.write_text('issuer = "not a url"\n')
    refused = jb("serve", "--config", str(config), "--json")
    assert _error(refused, 3)["kind"] in ("ConfigurationError", "ServerConfigError")


def test_usage_errors_are_json_too() -> None:
    error = _error(jb("token", "--no-such-flag", "--json"), 2)
    assert error["kind"] == "UsageError" and "--no-such-flag" in str(error["message"])
