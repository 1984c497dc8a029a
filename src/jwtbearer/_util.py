"""One of each small helper: the home directory, the atomic private write, secret references
(``env:NAME`` / ``file:PATH`` / ``keyring:SERVICE/NAME``), store keys, and URLs with their
passwords redacted (Redis, proxy and token URLs in reprs, logs, errors and CLI output). Plain
names behind the packages that use them."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from .errors import REDACTED, ConfigurationError

__all__ = [
    "REDACTED",
    "SECRET_FORMS",
    "SECRET_REFERENCES",
    "home",
    "identity_key",
    "read_env",
    "read_keyring",
    "read_secret_file",
    "redact_url",
    "resolve_secret",
    "write_file",
]

#: The prefixes of a secret reference, and how each is written in a message.
SECRET_REFERENCES = ("env:", "file:", "keyring:")
SECRET_FORMS = '"env:VARIABLE", "file:/path" or "keyring:SERVICE/NAME"'


def identity_key(
    token_endpoint: str, client_id: str | None, identity: Mapping[str, str | None]
) -> str:
    """The store key of a token: SHA-256 over the endpoint, the client and what the grant asks
    for (its ``cache_identity()``), fields that are None left out. Nothing secret goes in."""
    import hashlib
    import json

    material: dict[str, str | None] = {"endpoint": token_endpoint, "client_id": client_id}
    material.update((name, value) for name, value in identity.items() if value is not None)
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def home() -> Path:
    """``$JWTBEARER_HOME``, else ``~/.config/jwtbearer``."""
    env = os.environ.get("JWTBEARER_HOME")
    return Path(env) if env else Path.home() / ".config" / "jwtbearer"


def write_file(path: Path, data: bytes, mode: int = 0o600, *, keep_existing: bool = False) -> None:
    """Write atomically: a temporary file with ``mode`` from its creation, then a rename.

    With ``keep_existing``, a file already at ``path`` wins: the new one is linked into place
    only if the name is free (atomic), so processes racing to create it all read the same one.
    """
    import secrets

    # A fresh name, created exclusively: never follows a planted symlink, never shared by two
    # writers.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed the mode given to open()
        if not keep_existing:
            os.replace(tmp, path)
            return
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.unlink(missing_ok=True)


def read_env(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of ``$name``; a :class:`ConfigurationError` when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise ConfigurationError(f"${name} is not set (or empty); export {name}=...")
    return value


def read_secret_file(path: Path) -> str:
    """A secret kept in a file: its text without the final newline, never empty."""
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL byte in the name
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigurationError(f"cannot read {path}: {reason}") from None
    if not value:
        raise ConfigurationError(f"{path} is empty")
    return value


def resolve_secret(
    reference: str, *, base_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The value behind ``env:NAME``, ``file:PATH`` (relative paths from ``base_dir``) or
    ``keyring:SERVICE/NAME`` (the OS keychain, with the ``keyring`` extra)."""
    kind, _, target = reference.partition(":")
    if kind == "keyring":
        return read_keyring(target)
    if kind == "env":
        return read_env(target, environ)
    if kind == "file":
        path = Path(target).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return read_secret_file(path)
    raise ConfigurationError(
        f'a secret is given as "env:NAME", "file:PATH" or "keyring:SERVICE/NAME", not {kind!r}')


def read_keyring(target: str) -> str:
    """The secret the OS keychain holds for ``SERVICE/NAME`` (the part after ``keyring:``)."""
    service, sep, name = target.partition("/")
    if not sep or not service or not name:
        raise ConfigurationError(
            f'a keyring reference is "keyring:SERVICE/NAME", not "keyring:{target}"')
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise ConfigurationError(
            "keyring: references need the keyring package: pip install 'jwtbearer[keyring]'"
        ) from None
    try:
        value = keyring.get_password(service, name)
    except keyring.errors.KeyringError as exc:
        raise ConfigurationError(
            f"the OS keychain could not be read for {service}/{name}: {type(exc).__name__}: "
            f"{exc}") from None
    if not value:
        raise ConfigurationError(
            f"the OS keychain holds no secret for service {service!r}, name {name!r}; store "
            f"it with `keyring set {service} {name}`")
    return value


# scheme://authority; the authority ends at the first "/", "?", "#" or white space.
_AUTHORITY = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/?#\s]*)")
# A query or fragment parameter whose name says it is a credential.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;#](?:[^=&;#\s]*(?:pass|pwd|secret|token|auth|key|sig|credential)[^=&;#\s]*)=)"
    r"[^&;#\s]*"
)


def _authority(match: re.Match[str]) -> str:
    scheme, authority = match.group(1), match.group(2)
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return match.group(0)
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}{user}{':' + REDACTED if colon else ''}@{host}"


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``[redacted]``.

    The user name and the host stay (they say which account and which server); the password
    after ``user:`` in the userinfo goes, and so does the value of any query parameter named
    like a credential (``password``, ``token``, ``secret``, ``key``, ``auth``, ``sig``...).
    Works on a bare URL or on a message that contains URLs; never raises.
    """
    if "://" not in text and "=" not in text:
        return text
    return _SECRET_PARAM.sub(rf"\g<1>{REDACTED}", _AUTHORITY.sub(_authority, text))

