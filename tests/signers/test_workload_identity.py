"""ClientAssertionFile and GitHubActionsOIDC: the platform's JWT as client assertion, sent to our
reference server on loopback, with a Kubernetes-style token rotation and a GitHub Actions token
service stand-in."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import jwtbearer as jb
from conftest import reference_server
from jwtbearer.client import ClientAuth
from jwtbearer.jose import new_jti, sign_compact
from jwtbearer.oauth import CLIENT_ASSERTION_TYPE
from jwtbearer.profiles import Profile
from jwtbearer.testing import MockTokenEndpoint

PLATFORM = jb.SigningKey.generate("RS256", kid="platform-1")  # the cluster's / GitHub's issuer


def platform_token(client_id: str, aud: str, *, lifetime: int = 600, **extra: Any) -> str:
    now = int(time.time())
    return sign_compact({"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
                            "exp": now + lifetime, "jti": new_jti(), **extra}, PLATFORM)


class ProjectedToken:
    """A Kubernetes-style projected volume: token -> ..data/token, ..data -> ..<timestamp>."""

    def __init__(self, root: Path) -> None:
        self.root, self.generation = root, 0
        root.mkdir(parents=True, exist_ok=True)
        (root / "token").symlink_to("..data/token")

    def write(self, token: str) -> None:
        self.generation += 1
        target = self.root / f"..2026_12_01_{self.generation:02d}"
        target.mkdir()
        (target / "token").write_text(token)
        link = self.root / "..data_tmp"
        link.symlink_to(target.name)
        os.replace(link, self.root / "..data")  # the atomic swap the kubelet does

    @property
    def path(self) -> Path:
        return self.root / "token"


def test_the_file_jwt_is_sent_and_a_rotation_is_picked_up(tmp_path: Path) -> None:
    with reference_server(tmp_path / "server", {"k8s-svc": PLATFORM.public_jwk()}) as (_, url):
        volume = ProjectedToken(tmp_path / "volume")
        first = platform_token("k8s-svc", url)
        volume.write(first)
        auth = jb.ClientAssertionFile(volume.path, client_id="k8s-svc")
        assert auth.apply(url, now=time.time())[1]["client_assertion"] == first
        client = jb.TokenClient(url, auth=auth)
        assert client.client_credentials(scope="api:read").access_token
        # The server remembers the jti: sending the same file again is a replay, refused.
        with pytest.raises(jb.InvalidClient):
            client.client_credentials(scope="api:read")
        second = platform_token("k8s-svc", url)
        volume.write(second)  # the kubelet rotates the token
        _, form = auth.apply(url, now=time.time())
        assert form == {"client_assertion_type": CLIENT_ASSERTION_TYPE,
                        "client_assertion": second, "client_id": "k8s-svc"}
        assert client.client_credentials(scope="api:read").access_token


def test_a_same_size_rewrite_in_place_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "token"
    one, two = platform_token("c", "a", jti="a" * 22), platform_token("c", "a", jti="b" * 22)
    assert len(one) == len(two)
    path.write_text(one)
    auth = jb.ClientAssertionFile(path)
    assert auth.assertion(now=time.time()) == one
    path.write_text(two)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime, as a write gives
    assert auth.assertion(now=time.time()) == two
    assert "client_id" not in auth.apply("https://as", now=time.time())[1]


def test_an_expired_jwt_raises_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(platform_token("c", "https://as", lifetime=-30))
    auth = jb.ClientAssertionFile(path, client_id="c")
    with pytest.raises(jb.KeyLoadError, match="expired"):
        auth.apply("https://as", now=time.time())
    with MockTokenEndpoint().install() as mock:
        with pytest.raises(jb.KeyLoadError, match="expired"):
            jb.TokenClient("https://as.example/token", auth=auth).client_credentials()
        assert mock.requests == []


def test_unreadable_empty_and_not_a_jwt(tmp_path: Path) -> None:
    with pytest.raises(jb.KeyLoadError, match="cannot read the client assertion file"):
        jb.ClientAssertionFile(tmp_path / "missing").assertion(now=time.time())
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(jb.KeyLoadError, match="is empty"):
        jb.ClientAssertionFile(tmp_path / "empty").assertion(now=time.time())
    (tmp_path / "junk").write_text("not a token")
    with pytest.raises(jb.KeyLoadError, match="does not hold a JWT"):
        jb.ClientAssertionFile(tmp_path / "junk").assertion(now=time.time())


def test_from_env_reads_the_azure_variables(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    monkeypatch.delenv("AZURE_CLIENT_ID", raising=False)
    with pytest.raises(jb.ConfigurationError, match=r"\$AZURE_FEDERATED_TOKEN_FILE is not set"):
        jb.ClientAssertionFile.from_env()
    (tmp_path / "azure-identity-token").write_text(platform_token("app", "x"))
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(tmp_path / "azure-identity-token"))
    with pytest.raises(jb.ConfigurationError, match=r"\$AZURE_CLIENT_ID is not set"):
        jb.ClientAssertionFile.from_env()
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-app")
    auth = jb.ClientAssertionFile.from_env()
    assert auth.client_id == "00000000-app" and auth.path.name == "azure-identity-token"
    assert isinstance(auth, ClientAuth)


class RunnerTokenService:
    """Stands in for the Actions runtime: checks the bearer token, answers {"value": JWT}."""

    def __init__(self, client_id: str) -> None:
        self.request_token = "runtime-" + new_jti()
        self.seen: list[dict[str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                service.seen.append({"query": query,
                                     "authorization": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"bearer {service.request_token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                audience = query.get("audience", [""])[0]
                body = json.dumps({"count": 1, "value": platform_token(
                    client_id, audience, repository="octo/repo")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = (f"http://127.0.0.1:{self.server.server_address[1]}"
                    "/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken?api-version=2.0")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunnerTokenService]:
    service = RunnerTokenService("gh-deployer")
    thread = threading.Thread(target=service.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", service.url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", service.request_token)
    yield service
    service.server.shutdown()
    service.server.server_close()
    thread.join(timeout=5)


def test_github_actions_token_is_fetched_and_accepted(runner: RunnerTokenService,
                                                      tmp_path: Path) -> None:
    with reference_server(tmp_path, {"gh-deployer": PLATFORM.public_jwk()}) as (_, url):
        auth = jb.GitHubActionsOIDC(audience=url, client_id="gh-deployer")
        client = jb.TokenClient(url, auth=auth)
        assert client.client_credentials(scope="api:read").access_token
        assert client.client_credentials(scope="api:read").access_token  # a fresh token each
    assert len(runner.seen) == 2
    assert runner.seen[0]["query"] == {"api-version": ["2.0"], "audience": [url]}
    assert runner.seen[0]["authorization"] == f"bearer {runner.request_token}"
    assert runner.request_token not in repr(auth)


def test_github_actions_errors(runner: RunnerTokenService,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    auth = jb.GitHubActionsOIDC(audience="api://AzureADTokenExchange")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong")
    with pytest.raises(jb.KeyLoadError, match="answered 401") as error:
        auth.assertion(now=time.time())
    assert "wrong" not in str(error.value)
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    with pytest.raises(jb.ConfigurationError, match=r"\$ACTIONS_ID_TOKEN_REQUEST_TOKEN is not"):
        auth.assertion(now=time.time())
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL")
    with pytest.raises(jb.ConfigurationError, match=r"\$ACTIONS_ID_TOKEN_REQUEST_URL is not"):
        auth.assertion(now=time.time())
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://example.com/idtoken")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t")
    with pytest.raises(jb.ConfigurationError, match="https"):
        auth.assertion(now=time.time())


def test_profiles_use_workload_identity(runner: RunnerTokenService, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    clients = {"k8s-svc": PLATFORM.public_jwk(), "gh-deployer": PLATFORM.public_jwk()}
    with reference_server(tmp_path / "server", clients) as (_, url):
        (tmp_path / "token").write_text(platform_token("k8s-svc", url))
        profiles = tmp_path / "profiles.toml"
        profiles.write_text(f"""
[profiles.k8s]
token_url = "{url}"
grant = "client-credentials"
client_id = "k8s-svc"
client_assertion = "file:token"
scope = "api:read"
cache = "memory"
allow_insecure_http = true

[profiles.gh]
token_url = "{url}"
grant = "client-credentials"
client_id = "gh-deployer"
client_assertion = "github-actions"
scope = "api:read"
cache = "memory"
allow_insecure_http = true
""")
        assert jb.profile("k8s", path=profiles).token().access_token
        assert jb.profile("gh", path=profiles).token().access_token
    assert runner.seen[0]["query"]["audience"] == [url]  # default: the token URL


def test_profile_client_assertion_is_checked(tmp_path: Path) -> None:
    base = {"token_url": "https://as.example/token", "grant": "client-credentials",
            "client_id": "c"}
    with pytest.raises(jb.ConfigurationError, match="client_assertion must be"):
        Profile.from_mapping("p", {**base, "client_assertion": "k8s"})
    with pytest.raises(jb.ConfigurationError, match="drop client_auth client_secret_basic"):
        Profile.from_mapping("p", {**base, "client_assertion": "azure",
                                      "client_auth": "client_secret_basic",
                                      "client_secret": "env:X"})
    made = Profile.from_mapping("p", {**base, "client_assertion": "github-actions:api://Az"})
    auth = made.token_client().auth
    assert isinstance(auth, jb.GitHubActionsOIDC) and auth.audience == "api://Az"
