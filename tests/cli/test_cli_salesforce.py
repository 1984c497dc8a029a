"""``jwtbearer token`` with the Salesforce CLI's flags against ``jwtbearer serve --preset
salesforce``, both as subprocesses: the command a Salesforce user types works unchanged."""

from __future__ import annotations

from clihelpers import Server, jb


def test_sf_flags_get_a_token_from_serve_preset_salesforce(sf_server: Server) -> None:
    got = jb("token", "--client-id", "3MVG9cli", "--username", "alice@example.com",
             "--jwt-key-file", str(sf_server.key_file), "--instance-url", sf_server.url)
    assert got.code == 0, got.err
    assert "Got an access token" in got.out
    assert f"instance_url {sf_server.url}" in " ".join(got.out.split())
    as_json = jb("token", "--client-id", "3MVG9cli", "--username", "alice@example.com",
                 "--jwt-key-file", str(sf_server.key_file), "--instance-url", sf_server.url,
                 "--json")
    assert as_json.code == 0
    doc = as_json.json()
    assert isinstance(doc, dict) and doc["token_type"] == "Bearer"
    assert doc["extra"]["instance_url"] == sf_server.url
    assert "access_token" not in doc  # only with --show-token
    log = sf_server.stop()
    # One line per request: client id, grant, status; never the assertion or the token.
    assert "client=3MVG9cli  grant=jwt-bearer  200" in log
    assert "eyJ" not in log


def test_an_unknown_user_is_a_json_error_with_the_library_names(sf_server: Server) -> None:
    got = jb("token", "--client-id", "3MVG9cli", "--username", "mallory@example.com",
             "--jwt-key-file", str(sf_server.key_file), "--instance-url", sf_server.url,
             "--json")
    assert got.code == 4
    doc = got.json()
    assert isinstance(doc, dict)
    error = doc["error"]
    assert set(error) >= {"kind", "status", "error", "error_description", "hint", "exit_code"}
    assert error["kind"] == "InvalidGrant" and error["status"] == 400
    assert error["error"] == "invalid_grant" and error["exit_code"] == 4
    assert error["hint"] and "Admin approved users" in error["hint"]
    human = jb("token", "--client-id", "3MVG9cli", "--username", "mallory@example.com",
               "--jwt-key-file", str(sf_server.key_file), "--instance-url", sf_server.url)
    assert human.code == 4 and human.out == ""
    assert human.err.startswith("error: Error 400:")
    # What we print, explain reads back.
    explained = jb("explain", human.err)
    assert explained.code == 0, explained.out
    assert "Salesforce" in explained.out


def test_a_second_server_on_the_port_gets_our_message(sf_server: Server) -> None:
    again = jb("serve", "--config", str(sf_server.config), "--preset", "salesforce")
    assert again.code == 3
    assert (f"error: cannot listen on 127.0.0.1:{sf_server.port}: address already in use"
            in again.err)
    assert "Errno" not in again.err


def test_inspect_an_issued_access_token_against_the_servers_jwks_url(sf_server: Server
                                                                     ) -> None:
    got = jb("token", "--client-id", "3MVG9cli", "--username", "alice@example.com",
             "--jwt-key-file", str(sf_server.key_file), "--instance-url", sf_server.url,
             "--show-token")
    assert got.code == 0, got.err
    token = got.out.strip()
    assert token.count(".") == 2  # the reference server issues JWT access tokens (RFC 9068)
    inspected = jb("inspect", token, "--jwks", f"{sf_server.url}/jwks")
    assert inspected.code == 0, inspected.out
    assert "Signature verified" in inspected.out and "An access token" in inspected.out
    report = jb("inspect", token, "--jwks", f"{sf_server.url}/jwks", "--json").json()
    assert isinstance(report, dict) and report["verified"] is True
    gone = jb("inspect", token, "--jwks", "http://127.0.0.1:9/jwks", "--json")
    assert gone.code == 5 and gone.json()["error"]["kind"] == "TransportError"  # type: ignore[index]


def test_profiles_add_then_check_gets_a_token(sf_server: Server) -> None:
    added = jb("profiles", "add", "local", "--client-id", "3MVG9cli", "--username",
               "alice@example.com", "--jwt-key-file", str(sf_server.key_file),
               "--instance-url", sf_server.url)
    assert added.code == 0, added.err
    checked = jb("profiles", "check", "local")
    assert checked.code == 0, checked.out
    assert checked.out.split()[:4] == ["local", "ok", "Bearer", "token,"]
    as_json = jb("profiles", "check", "--json").json()
    assert isinstance(as_json, list) and len(as_json) == 1
    result = as_json[0]
    assert result["profile"] == "local" and result["ok"] is True
    assert result["token"]["extra"]["instance_url"] == sf_server.url
    assert "access_token" not in result["token"]
    token = jb("token", "-p", "local", "--json").json()
    assert isinstance(token, dict) and token["token_type"] == "Bearer"
