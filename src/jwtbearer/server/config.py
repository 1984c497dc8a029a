"""The reference server's TOML configuration, checked in full at start.

A bad file is refused before the server listens, with the file, the key and what is wrong
(:class:`ServerConfigError`). Relative paths are relative to the configuration file. Unknown
keys are refused too: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._util import home as _home
from .._util import write_file as _write_file
from ..errors import ConfigurationError, KeyLoadError
from ..jose.keys import SigningKey
from .limits import default_max_connections
from .registry import Client, ClientRegistry, ServerConfigError, parse_client

__all__ = ["ACCESS_TOKEN_ALGS", "PRESETS", "ServerConfig", "load_config", "parse_config"]

#: Algorithms the server signs access tokens with (RFC 9068 §2.1: never ``none``).
ACCESS_TOKEN_ALGS = ("EdDSA", "ES256", "RS256")

_INTS: dict[str, tuple[int, int, int]] = {  # key: (default, min, max)
    "access_token_lifetime": (3600, 1, 86_400),
    "leeway": (30, 0, 600),
    "max_assertion_lifetime": (3600, 1, 86_400),
    "max_assertion_size": (16 * 1024, 1024, 64 * 1024),
    "max_body_size": (64 * 1024, 1024, 1024 * 1024),
    "replay_max_entries": (1_000_000, 1, 100_000_000),
    # Connection limits (server/limits.py): seconds, and connections per process.
    "header_timeout": (10, 1, 3600),
    "body_timeout": (30, 1, 3600),
    "keep_alive_timeout": (5, 1, 3600),
    "max_connections": (default_max_connections(), 1, 1_000_000),
    "refresh_token_lifetime": (14 * 86_400, 60, 365 * 86_400),
    "replay_max_bytes": (256 * 1024 * 1024, 64 * 1024, 64 * 1024**3),
}
_BOOLS: dict[str, bool] = {"require_jti": True, "allow_audience_array": False,
                           "allow_missing_sub": False, "scope_from_assertion": False}
_STRINGS = frozenset(
    {"issuer", "signing_key", "access_token_alg", "access_token_audience", "replay",
     "error_detail", "instance_url", "state_dir", "preset", "token_path", "authorize_path",
     "test_user", "error_wording"}
)
_KNOWN = frozenset(_INTS) | frozenset(_BOOLS) | _STRINGS | {"clients", "assertion_audiences"}
#: Where the server listens and how it words errors when a provider is named; the issuer is
#: written ``{issuer}``. Keys the file sets explicitly win over the preset's.
PRESETS: dict[str, dict[str, Any]] = {
    "salesforce": {
        "token_path": "/services/oauth2/token",
        "authorize_path": "/services/oauth2/authorize",
        "assertion_audiences": ["https://login.salesforce.com", "https://test.salesforce.com"],
        "instance_url": "{issuer}",
        "require_jti": False,
        "error_wording": "salesforce",
    },
    "google": {
        "assertion_audiences": ["https://oauth2.googleapis.com/token"],
        "require_jti": False,
        "scope_from_assertion": True,
        "allow_missing_sub": True,
    },
}
# Paths the app serves itself; token_path and authorize_path may not take them.
_RESERVED_PATHS = frozenset({"/jwks", "/healthz", "/.well-known/oauth-authorization-server",
                             "/.well-known/openid-configuration"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything the token endpoint needs, resolved: keys loaded, secrets read, paths absolute.

    Defaults are the hardened choices documented in the README (server section): a single
    string ``aud`` (``allow_audience_array``), ``jti`` required, a 1 h cap on assertion lifetime,
    30 s leeway, 16 KiB assertions and 64 KiB bodies.
    """

    issuer: str
    clients: ClientRegistry
    signing_key: SigningKey
    access_token_lifetime: int = 3600
    access_token_audience: str | None = None
    leeway: int = 30
    max_assertion_lifetime: int = 3600
    max_assertion_size: int = 16 * 1024
    max_body_size: int = 64 * 1024
    replay: str = "memory"
    replay_max_entries: int = 1_000_000
    replay_max_bytes: int = 256 * 1024 * 1024
    require_jti: bool = True
    allow_audience_array: bool = False
    error_detail: str = "full"
    instance_url: str | None = None
    source: str = "<config>"
    header_timeout: int = 10
    body_timeout: int = 30
    keep_alive_timeout: int = 5
    max_connections: int = 0
    """0: the default of :class:`~jwtbearer.server.limits.ServerLimits` (512 per core)."""
    preset: str | None = None
    token_path: str = "/token"
    authorize_path: str = "/authorize"
    assertion_audiences: tuple[str, ...] = ()
    test_user: str | None = None
    refresh_token_lifetime: int = 14 * 86_400
    allow_missing_sub: bool = False
    scope_from_assertion: bool = False
    error_wording: str = "rfc6749"

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL: the issuer + ``token_path``."""
        return self.issuer + self.token_path

    @property
    def authorization_endpoint(self) -> str:
        """The authorization endpoint URL: the issuer + ``authorize_path``."""
        return self.issuer + self.authorize_path

    @property
    def jwks_uri(self) -> str:
        """Where the access-token verification keys are published."""
        return self.issuer + "/jwks"


def _check_url(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str):
        raise ServerConfigError(source, key, "must be a URL string like http://127.0.0.1:8000")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerConfigError(source, key, f"{value!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        # RFC 8414 §2: the issuer has no query or fragment component.
        raise ServerConfigError(source, key, "must have no query or fragment (RFC 8414 §2)")
    return value.rstrip("/")


def _default_state_dir() -> Path:
    return _home() / "server"


def _signing_key(data: Mapping[str, Any], base: Path, source: str, alg: str) -> SigningKey:
    if "signing_key" in data:
        path = base / data["signing_key"]
        try:
            key = SigningKey.from_file(path)
            if key.alg != alg:
                key = SigningKey.from_file(path, alg=alg)
        except (KeyLoadError, ConfigurationError) as exc:
            raise ServerConfigError(source, "signing_key", str(exc)) from None
        if key.is_symmetric:
            raise ServerConfigError(source, "signing_key", "must be a private key, not a secret")
        return key.with_kid(key.kid or key.thumbprint())
    state = base / data["state_dir"] if "state_dir" in data else _default_state_dir()
    path = state / f"signing-key.{alg}.pem"
    try:
        if path.exists():
            key = SigningKey.from_file(path, alg=alg)
        else:
            # Generated once and kept, so tokens stay verifiable across restarts.
            key = SigningKey.generate(alg)
            state.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Mode 0600 from creation, then renamed into place: never readable by others,
            # never half-written.
            _write_file(path, key.private_pem())
    except (KeyLoadError, ConfigurationError, OSError, ValueError) as exc:  # ValueError: NUL
        raise ServerConfigError(source, "state_dir", f"{path}: {exc}") from None
    return key.with_kid(key.thumbprint())


def _with_preset(data: Mapping[str, Any], issuer: str, source: str,
                 preset: str | None) -> Mapping[str, Any]:
    name = preset if preset is not None else data.get("preset")
    if name is None:
        return data
    if name not in PRESETS:
        raise ServerConfigError(source, "preset",
                                f"{name!r} is not a preset; known: {', '.join(sorted(PRESETS))}")
    filled: dict[str, Any] = {k: (v.replace("{issuer}", issuer) if isinstance(v, str) else v)
                              for k, v in PRESETS[name].items()}
    filled.update(data)
    filled["preset"] = name
    return filled


def _check_path(value: str, source: str, key: str) -> str:
    if (not value.startswith("/") or len(value) < 2 or any(c in value for c in "?#% \t")
            or value.endswith("/") or value in _RESERVED_PATHS):
        raise ServerConfigError(source, key, f"{value!r} must be an absolute path like /token, "
                                "without query, fragment or trailing slash, and not one of "
                                + ", ".join(sorted(_RESERVED_PATHS)))
    return value


def parse_config(
    data: Mapping[str, Any],
    *,
    base: Path,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    preset: str | None = None,
) -> ServerConfig:
    """Check a parsed TOML document and build the :class:`ServerConfig`.

    ``preset`` (the file's ``preset`` key when None) fills in the keys of :data:`PRESETS`
    that the file does not set itself."""
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        known = ", ".join(sorted(_KNOWN))
        raise ServerConfigError(source, unknown[0], f"unknown key; known: {known}")
    if "issuer" not in data:
        raise ServerConfigError(source, "issuer", 'required, e.g. issuer = "http://127.0.0.1:8000"')
    issuer = _check_url(data["issuer"], source, "issuer")
    data = _with_preset(data, issuer, source, preset)
    for key in _STRINGS:
        if key in data and not isinstance(data[key], str):
            raise ServerConfigError(source, key, "must be a string")
    ints: dict[str, int] = {}
    for key, (default, low, high) in _INTS.items():
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ServerConfigError(source, key, f"must be a whole number from {low} to {high}")
        ints[key] = value
    bools: dict[str, bool] = {}
    for key, default in _BOOLS.items():
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise ServerConfigError(source, key, "must be true or false")
        bools[key] = value
    alg = data.get("access_token_alg", "EdDSA")
    if alg not in ACCESS_TOKEN_ALGS:
        raise ServerConfigError(source, "access_token_alg", f"must be one of {ACCESS_TOKEN_ALGS}")
    replay = data.get("replay", "memory")
    if replay != "memory" and not replay.startswith(("redis://", "rediss://", "unix://")):
        raise ServerConfigError(source, "replay", 'must be "memory" or a redis:// URL')
    detail = data.get("error_detail", "full")
    if detail not in ("full", "minimal"):
        raise ServerConfigError(source, "error_detail", 'must be "full" or "minimal"')
    instance_url = data.get("instance_url")
    if instance_url is not None:
        instance_url = _check_url(instance_url, source, "instance_url")
    token_path = _check_path(data.get("token_path", "/token"), source, "token_path")
    authorize_path = _check_path(data.get("authorize_path", "/authorize"), source,
                                 "authorize_path")
    if token_path == authorize_path:
        raise ServerConfigError(source, "authorize_path", "must differ from token_path")
    audiences = data.get("assertion_audiences", [])
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        raise ServerConfigError(source, "assertion_audiences",
                                'must be a list of non-empty strings, e.g. '
                                '["https://login.salesforce.com"]')
    wording = data.get("error_wording", "rfc6749")
    if wording not in ("rfc6749", "salesforce"):
        raise ServerConfigError(source, "error_wording", 'must be "rfc6749" or "salesforce"')
    test_user = data.get("test_user")
    if test_user is not None and not test_user:
        raise ServerConfigError(source, "test_user", "must be a non-empty string")
    tables = data.get("clients", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ServerConfigError(source, "clients", "must be [[clients]] tables")
    clients: dict[str, Client] = {}
    for index, table in enumerate(tables):
        client = parse_client(table, index=index, base=base, source=source, environ=environ)
        if client.client_id in clients:
            raise ServerConfigError(
                source, f"clients[{index}].client_id", f"{client.client_id!r} is registered twice"
            )
        clients[client.client_id] = client
    return ServerConfig(
        issuer=issuer,
        clients=ClientRegistry(clients),
        signing_key=_signing_key(data, base, source, alg),
        access_token_audience=data.get("access_token_audience"),
        replay=replay,
        error_detail=detail,
        instance_url=instance_url,
        source=source,
        access_token_lifetime=ints["access_token_lifetime"],
        leeway=ints["leeway"],
        max_assertion_lifetime=ints["max_assertion_lifetime"],
        max_assertion_size=ints["max_assertion_size"],
        max_body_size=ints["max_body_size"],
        replay_max_entries=ints["replay_max_entries"],
        replay_max_bytes=ints["replay_max_bytes"],
        require_jti=bools["require_jti"],
        allow_audience_array=bools["allow_audience_array"],
        header_timeout=ints["header_timeout"],
        body_timeout=ints["body_timeout"],
        keep_alive_timeout=ints["keep_alive_timeout"],
        max_connections=ints["max_connections"],
        preset=data.get("preset"),
        token_path=token_path,
        authorize_path=authorize_path,
        assertion_audiences=tuple(dict.fromkeys(audiences)),
        test_user=test_user,
        refresh_token_lifetime=ints["refresh_token_lifetime"],
        allow_missing_sub=bools["allow_missing_sub"],
        scope_from_assertion=bools["scope_from_assertion"],
        error_wording=wording,
    )


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None,
    preset: str | None = None,
) -> ServerConfig:
    """Read and check the TOML file at ``path`` (relative paths in it are relative to it)."""
    p = Path(path)
    source = str(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        problem = f"cannot read it: {exc.strerror or exc}"
        raise ServerConfigError(source, "(file)", problem) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ServerConfigError(source, "(syntax)", f"not valid TOML: {exc}") from None
    return parse_config(data, base=p.resolve().parent, source=source, environ=environ,
                        preset=preset)
