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

from .._files import _home, _write_file
from ..errors import ConfigurationError, KeyLoadError
from ..keys import SigningKey
from .limits import default_max_connections
from .registry import Client, ClientRegistry, ServerConfigError, parse_client

__all__ = ["ACCESS_TOKEN_ALGS", "ServerConfig", "load_config", "parse_config"]

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
}
_BOOLS: dict[str, bool] = {"require_jti": True, "allow_audience_array": False}
_STRINGS = frozenset(
    {"issuer", "signing_key", "access_token_alg", "access_token_audience", "replay",
     "error_detail", "instance_url", "state_dir"}
)
_KNOWN = frozenset(_INTS) | frozenset(_BOOLS) | _STRINGS | {"clients"}


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

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL: the issuer + ``/token``."""
        return self.issuer + "/token"

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


def parse_config(
    data: Mapping[str, Any],
    *,
    base: Path,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """Check a parsed TOML document and build the :class:`ServerConfig`."""
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        known = ", ".join(sorted(_KNOWN))
        raise ServerConfigError(source, unknown[0], f"unknown key; known: {known}")
    if "issuer" not in data:
        raise ServerConfigError(source, "issuer", 'required, e.g. issuer = "http://127.0.0.1:8000"')
    issuer = _check_url(data["issuer"], source, "issuer")
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
        require_jti=bools["require_jti"],
        allow_audience_array=bools["allow_audience_array"],
        header_timeout=ints["header_timeout"],
        body_timeout=ints["body_timeout"],
        keep_alive_timeout=ints["keep_alive_timeout"],
        max_connections=ints["max_connections"],
    )


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
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
    return parse_config(data, base=p.resolve().parent, source=source, environ=environ)
