"""Named credentials in a TOML file, turned into cached token sources.

The file is ``$JWTBEARER_PROFILES`` if set, else ``$JWTBEARER_HOME/profiles.toml``, else
``~/.config/jwtbearer/profiles.toml``. Each ``[profiles.NAME]`` table describes one way of getting
a token::

    [profiles.salesforce-prod]
    token_url = "https://login.salesforce.com/services/oauth2/token"
    grant = "jwt-bearer"                 # or "client-credentials"
    client_id = "3MVG9..."               # the assertion's iss (Salesforce: the consumer key)
    subject = "integration@example.com"  # the assertion's sub
    audience = "https://login.salesforce.com"
    key = "salesforce-prod"              # a key-store name, or a path to a key file

``issuer = "https://..."`` may replace ``token_url``: the token endpoint then comes from the
issuer's metadata (:func:`jwtbearer.discover`), and the issuer is the default ``aud``.

Secrets never sit in the file: ``client_secret`` (and ``key_password``) must be
``"env:VARIABLE"``, ``"file:/path/to/secret"`` or ``"keyring:SERVICE/NAME"`` (the OS keychain,
with the ``keyring`` extra); a literal value is refused with an error that
says how to move it out. ``jb.profile(name)`` returns a :class:`~jwtbearer.caching.CachedSource`
whose default store is the SQLite file ``$JWTBEARER_HOME/tokens.db``, so repeated command-line
calls reuse one token until shortly before it expires.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ._util import SECRET_FORMS, SECRET_REFERENCES, home, redact_url, resolve_secret
from .client.client_auth import (
    ClientAuth,
    ClientSecretBasic,
    ClientSecretJWT,
    ClientSecretPost,
    NoClientAuth,
    PrivateKeyJWT,
)
from .client.grants import ClientCredentials, JWTBearer
from .client.protocol import RetryPolicy
from .client.token_client import TokenClient
from .client.workload import check_client_assertion, workload_auth
from .errors import ConfigurationError
from .jose.assertion import JWT
from .jose.keys import SigningKey
from .jose.keystore import default_key_store, looks_like_key_file
from .jose.signer import Signer
from .lifecycle.caching import CachedSource
from .lifecycle.stores import MemoryStore, RedisStore, SQLiteStore, TokenStore
from .oauth import AUTH_METHODS, SECRET_AUTH_METHODS, default_assertion_audience
from .signers import is_signer_reference, signer_from_reference
from .token import Clock

__all__ = [
    "CLIENT_AUTH_METHODS",
    "GRANTS",
    "Profile",
    "load_profiles",
    "profile",
    "profiles_path",
]

#: Grants a profile can use (RFC 7523 §2.1 and RFC 6749 §4.4).
GRANTS = ("jwt-bearer", "client-credentials")
#: Client authentication methods, named as in the IANA OAuth registry (RFC 7591 §2).
CLIENT_AUTH_METHODS = AUTH_METHODS
_NEEDS_SECRET = SECRET_AUTH_METHODS
_COMMAND_LINE = "command line"


def _where(origin: str, name: str) -> str:
    return origin if origin == _COMMAND_LINE else f"{origin}: [profiles.{name}]"


def profiles_path() -> Path:
    """The profiles file: ``$JWTBEARER_PROFILES``, else ``$JWTBEARER_HOME/profiles.toml``, else
    ``~/.config/jwtbearer/profiles.toml``."""
    env = os.environ.get("JWTBEARER_PROFILES")
    return Path(env) if env else home() / "profiles.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One ``[profiles.NAME]`` table, checked. Secrets are kept as their ``env:``/``file:``
    references, never as values, so a Profile is safe to print."""

    name: str
    origin: str
    """Where the profile came from (the file path, or ``command line``)."""
    token_url: str | None = None
    """The token endpoint; or give ``issuer`` and it comes from the issuer's metadata."""
    issuer: str | None = None
    """The authorization server's issuer (RFC 8414): discovery finds the token endpoint, and
    the issuer is the assertion's default ``aud`` (draft-ietf-oauth-rfc7523bis)."""
    grant: str = "jwt-bearer"
    client_id: str | None = None
    subject: str | None = None
    audience: str | None = None
    """JWT bearer: the assertion's aud (default: the token URL; for any Salesforce host,
    https://login.salesforce.com, or https://test.salesforce.com for a sandbox). Client
    credentials: the ``audience`` request parameter (Auth0 style), sent only when set."""
    key: str | None = None
    key_password: str | None = None
    client_auth: str = "none"
    client_secret: str | None = None
    client_assertion: str | None = None
    """The platform's JWT as client assertion: ``"file:PATH"`` (a Kubernetes projected
    token), ``"azure"`` (Entra ID workload identity) or ``"github-actions[:AUDIENCE]"`` (the
    OIDC token's audience, default the token URL; Entra ID: ``api://AzureADTokenExchange``)."""
    scope: str | None = None
    lifetime: int = 300
    refresh_before: float = 60.0
    cache: str = "sqlite"
    allow_insecure_http: bool = False
    base_dir: Path | None = None
    """Relative ``key`` and ``file:`` paths are resolved from here (the file's folder)."""

    def __repr__(self) -> str:
        # A Redis or token URL may carry a password (redis://:PASSWORD@host): never shown.
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = redact_url(value) if isinstance(value, str) else value
            parts.append(f"{f.name}={shown!r}")
        return f"Profile({', '.join(parts)})"

    @classmethod
    def from_mapping(
        cls,
        name: str,
        table: Mapping[str, Any],
        *,
        origin: str = _COMMAND_LINE,
        base_dir: Path | None = None,
    ) -> Profile:
        """Check a profile table and build the Profile; errors name origin, profile and key."""
        where = _where(origin, name)
        known = {f.name for f in fields(cls)} - {"name", "origin", "base_dir"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown key(s) {', '.join(unknown)}; known keys: "
                f"{', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for key, value in table.items():
            values[key] = _check_type(where, key, value)
        if ("token_url" in values) == ("issuer" in values):
            raise ConfigurationError(f"{where}: token_url (or issuer) is required, one of them")
        grant = values.get("grant", "jwt-bearer")
        if grant not in GRANTS:
            raise ConfigurationError(f"{where}: grant must be one of {', '.join(GRANTS)}, "
                                     f"not {grant!r}")
        auth = values.get("client_auth") or _default_auth(grant, values)
        if auth not in CLIENT_AUTH_METHODS:
            raise ConfigurationError(f"{where}: client_auth must be one of "
                                     f"{', '.join(CLIENT_AUTH_METHODS)}, not {auth!r}")
        values["client_auth"] = auth
        for secret_key in ("client_secret", "key_password"):
            ref = values.get(secret_key)
            if ref is not None and not ref.startswith(SECRET_REFERENCES):
                raise ConfigurationError(
                    f"{where}: {secret_key} holds a literal value; secrets do not belong in the "
                    f"profiles file: give it as {SECRET_FORMS} instead"
                )
        if values.get("client_assertion") is not None:
            check_client_assertion(where, values["client_assertion"], auth)
            auth = "none"  # the assertion is the client authentication
        _check_requirements(where, grant, auth, values)
        if not str(values.get("cache", "sqlite")).startswith(("memory", "sqlite", "redis")):
            raise ConfigurationError(f'{where}: cache must be "memory", "sqlite", '
                                     f'"sqlite:PATH" or a redis:// URL, not '
                                     f'{redact_url(str(values["cache"]))!r}')
        lifetime = values.get("lifetime", 300)
        if lifetime <= 0 or lifetime > 3600:
            raise ConfigurationError(f"{where}: lifetime is seconds between 1 and 3600, not "
                                     f"{lifetime} (servers accept a few minutes)")
        return cls(name=name, origin=origin, base_dir=base_dir, **values)

    @property
    def where(self) -> str:
        """``origin: [profiles.NAME]``, for messages."""
        return _where(self.origin, self.name)

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path

    def resolve_secret(self, reference: str, what: str) -> str:
        """The value behind an ``env:VAR``, ``file:PATH`` or ``keyring:SERVICE/NAME`` reference."""
        try:
            return resolve_secret(reference, base_dir=self.base_dir)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.where}: {what} = {reference!r}: {exc}") from None

    def signing_key(self) -> SigningKey | Signer:
        """The profile's key: a key-store name, a key file (relative to the profiles file), a
        ``pkcs11:`` URI (PIN from ``key_password``) or a KMS key (``aws-kms:ID``, an ARN)."""
        if self.key is None:
            raise ConfigurationError(f"{self.where}: key is required for this profile")
        if is_signer_reference(self.key):
            pin = self.resolve_secret(self.key_password, "key_password") if self.key_password \
                else None
            return signer_from_reference(self.key, pin=pin)
        if not looks_like_key_file(self.key):
            return default_key_store().get(self.key)
        password = (
            self.resolve_secret(self.key_password, "key_password") if self.key_password else None
        )
        return SigningKey.from_file(self._path(self.key), password=password)

    def token_client(self, *, client_secret: str | None = None, clock: Clock | None = None,
                     timeout: float | None = None, retry: RetryPolicy | None = None
                     ) -> TokenClient:
        """A TokenClient for this profile; ``client_secret`` overrides the profile's reference
        (the command line passes a secret read from stdin this way)."""
        auth: ClientAuth
        client_id = self.client_id or ""
        if self.client_assertion is not None:
            auth = workload_auth(self.client_assertion, client_id=self.client_id,
                                 token_url=self.token_url or self.issuer or "",
                                 base_dir=self.base_dir)
        elif self.client_auth in _NEEDS_SECRET:
            secret = client_secret
            if secret is None:
                if self.client_secret is None:
                    raise ConfigurationError(
                        f"{self.where}: client_auth {self.client_auth} needs client_secret"
                    )
                secret = self.resolve_secret(self.client_secret, "client_secret")
            if self.client_auth == "client_secret_basic":
                auth = ClientSecretBasic(client_id, secret)
            elif self.client_auth == "client_secret_post":
                auth = ClientSecretPost(client_id, secret)
            else:
                auth = ClientSecretJWT(client_id, secret)
        elif self.client_auth == "private_key_jwt":
            auth = PrivateKeyJWT(client_id, self.signing_key())
        else:
            # Salesforce's JWT bearer grant identifies the client by the assertion's iss alone.
            auth = NoClientAuth(self.client_id if self.grant == "client-credentials" else None)
        if self.issuer is not None:
            return TokenClient.from_issuer(self.issuer, auth,
                                           allow_insecure_http=self.allow_insecure_http,
                                           clock=clock, retry=retry,
                                           timeout=10.0 if timeout is None else timeout)
        assert self.token_url is not None
        return TokenClient(
            self.token_url, auth=auth, allow_insecure_http=self.allow_insecure_http, clock=clock,
            retry=retry, timeout=10.0 if timeout is None else timeout,
        )

    def grant_object(self) -> JWTBearer | ClientCredentials:
        """The grant: ``JWTBearer`` with a claims template signed afresh per fetch, or
        ``ClientCredentials``."""
        if self.grant == "client-credentials":
            return ClientCredentials(scope=self.scope, audience=self.audience)
        jwt = JWT(
            iss=self.client_id,
            sub=self.subject,
            aud=self.audience or self.issuer or default_assertion_audience(self.token_url or ""),
            validity_length=self.lifetime,
        )
        return JWTBearer(jwt, key=self.signing_key(), scope=self.scope)

    def store(self) -> TokenStore:
        """The token store named by ``cache``."""
        if self.cache == "memory":
            return MemoryStore()
        if self.cache.startswith("redis"):
            return RedisStore(self.cache)
        _, _, target = self.cache.partition(":")
        return SQLiteStore(self._path(target) if target else home() / "tokens.db")

    def source(
        self,
        *,
        client_secret: str | None = None,
        store: TokenStore | None = None,
        clock: Clock | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> CachedSource:
        """A cached token source for this profile (store from ``cache`` unless given);
        ``timeout`` and ``retry`` go to its TokenClient."""
        client = self.token_client(client_secret=client_secret, clock=clock, timeout=timeout,
                                   retry=retry)
        return CachedSource(
            client.source(self.grant_object()),
            store=store if store is not None else self.store(),
            refresh_before=self.refresh_before,
            clock=clock,
        )


_TYPES: dict[str, type | tuple[type, ...]] = {
    "lifetime": int,
    "refresh_before": (int, float),
    "allow_insecure_http": bool,
}


def _check_type(where: str, key: str, value: Any) -> Any:
    expected = _TYPES.get(key, str)
    # bool is an int in Python; `lifetime = true` is still a mistake.
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
    if not ok:
        names = {int: "an integer", bool: "true or false", str: "a string"}
        wanted = names.get(expected, "a number") if isinstance(expected, type) else "a number"
        raise ConfigurationError(f"{where}: {key} must be {wanted}, not {value!r}")
    return value


def _default_auth(grant: str, values: Mapping[str, Any]) -> str:
    if grant == "jwt-bearer":
        return "none"
    if values.get("client_secret"):
        return "client_secret_basic"
    if values.get("key"):
        return "private_key_jwt"
    return "none"


def _check_requirements(where: str, grant: str, auth: str, values: Mapping[str, Any]) -> None:
    if grant == "jwt-bearer" and not values.get("key"):
        raise ConfigurationError(f"{where}: key is required for the jwt-bearer grant (a "
                                 "key-store name or a key file)")
    if grant == "jwt-bearer" and not values.get("client_id"):
        raise ConfigurationError(f"{where}: client_id is required (the assertion's iss)")
    if auth != "none" and not values.get("client_id"):
        raise ConfigurationError(f"{where}: client_id is required for client_auth {auth}")
    if auth in _NEEDS_SECRET and not values.get("client_secret"):
        raise ConfigurationError(f"{where}: client_auth {auth} needs client_secret (as "
                                 f"{SECRET_FORMS})")
    if auth == "private_key_jwt" and not values.get("key"):
        raise ConfigurationError(f"{where}: client_auth private_key_jwt needs key")


def load_profiles(path: str | os.PathLike[str] | None = None) -> dict[str, Profile]:
    """Every profile of the file (default :func:`profiles_path`), checked."""
    file = Path(path) if path is not None else profiles_path()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"no profiles file at {file}; create it with [profiles.NAME] tables (see "
            "`jwtbearer profiles --help`) or set JWTBEARER_PROFILES"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {file}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{file}: not valid TOML: {exc}") from None
    tables = data.get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigurationError(f"{file}: 'profiles' must be a table of [profiles.NAME]")
    result: dict[str, Profile] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"{file}: profiles.{name} must be a table")
        result[name] = Profile.from_mapping(
            name, table, origin=str(file), base_dir=file.resolve().parent
        )
    return result


_SOURCES: dict[tuple[str, str, float], CachedSource] = {}
_SOURCES_LOCK = threading.Lock()


def profile(name: str, *, path: str | os.PathLike[str] | None = None) -> CachedSource:
    """The cached token source of profile ``name`` (``jb.profile("salesforce-prod")``).

    Calls with the same file and name share one source (and so one token) while the file is
    unchanged.
    """
    file = Path(path) if path is not None else profiles_path()
    try:
        stamp = file.stat().st_mtime
    except OSError:
        stamp = 0.0
    cache_key = (str(file.resolve()), name, stamp)
    with _SOURCES_LOCK:
        cached = _SOURCES.get(cache_key)
    if cached is not None:
        return cached
    profiles = load_profiles(file)
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigurationError(f"{file}: no profile named {name!r} (known: {known})")
    source = profiles[name].source()
    with _SOURCES_LOCK:
        return _SOURCES.setdefault(cache_key, source)
