"""What every token store shares: the store protocol, its errors, key hashing and sealing.

Stores hold whole :class:`~jwtbearer.token.Token` values, so what they write is as secret as an
access token. Shared stores therefore seal each entry with AES-GCM (NIST SP 800-38D) under a key
that never lives beside the data, and bind the ciphertext to the entry's key (as associated
data) so an entry copied under another key does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag

from ..._util import home as _util_home
from ..._util import identity_key, write_file
from ...errors import ConfigurationError, StoreError, StoreLockTimeout
from ...token import Token

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "StoreError",
    "StoreLockTimeout",
    "TokenStore",
    "store_key",
]

log = logging.getLogger("jwtbearer.stores")

#: Environment variable holding the cache encryption key (base64url of 16, 24 or 32 bytes).
KEY_ENV = "JWTBEARER_CACHE_KEY"
_KEY_FILE = "cache.key"
_SEALED = b"jb1:"  # version tag: AES-GCM, 12-byte nonce, hashed entry key as associated data
_PLAIN = b"jb0:"


def wait_for_lock(try_once: Callable[[], bool], limit: float, taken: str) -> None:
    """Call ``try_once`` until it takes the lock; raise :class:`StoreLockTimeout` after ``limit``.

    The pause between tries doubles from 5 ms to 50 ms: waiters notice a released lock quickly
    without hammering the database or Redis. ``taken`` says where the lock is, for the error.
    """
    deadline = time.monotonic() + limit
    pause = 0.005
    while not try_once():
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreLockTimeout(f"the refresh lock in {taken} stayed taken for {limit:g} s")
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)


def keep_renewed(renew: Callable[[], bool], *, every: float, limit: float,
                 where: str) -> threading.Event:
    """Renew a held lock in a daemon thread; set the returned event to stop.

    ``renew`` returns False once the lock is no longer ours (then renewal ends with a warning)
    and raises :class:`StoreError` when the store does not answer (then the next renewal may
    land; if none does, the lock expires by itself). Renewal ends after ``limit`` seconds too:
    waiters give up then anyway, and a holder that never leaves its ``with`` block (a
    cancelled task) cannot keep the lock for ever.
    """
    stop = threading.Event()
    until = time.monotonic() + limit

    def run() -> None:
        while not stop.wait(every) and time.monotonic() < until:
            try:
                if not renew():
                    if not stop.is_set():
                        log.warning(
                            "lost the refresh lock in %s before the refresh ended (it was not "
                            "renewed in time); another process may refresh too", where,
                        )
                    return
            except StoreError:
                continue

    threading.Thread(target=run, name="jwtbearer-lock-renewal", daemon=True).start()
    return stop


@runtime_checkable
class TokenStore(Protocol):
    """Where :class:`~jwtbearer.caching.CachedSource` keeps tokens between calls and processes.

    ``key`` is an opaque string (a :func:`store_key` or a source's ``cache_key``); stores hash it
    again before use, so even a careless key never reaches disk or the network as written.
    ``shared`` says whether other processes see the store, in which case ``lock(key)`` is a
    cross-process mutex held while one of them refreshes the token.
    """

    shared: bool

    def get(self, key: str) -> Token | None:
        """The stored token, or None when there is none (or it cannot be decrypted)."""
        ...

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``, replacing any earlier one, atomically."""
        ...

    def delete(self, key: str) -> None:
        """Forget the token under ``key``; no error when there is none."""
        ...

    def lock(self, key: str, *, wait: bool = True) -> AbstractContextManager[None]:
        """A mutex over ``key``; entering raises :class:`StoreLockTimeout` when it stays taken
        (at once when ``wait`` is False)."""
        ...


def store_key(
    *,
    token_endpoint: str,
    client_id: str | None,
    grant_type: str,
    subject: str | None = None,
    scope: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    resource: str | None = None,
    redirect_uri: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """A store key for the token these parameters obtain: a SHA-256 hex digest.

    It covers exactly what makes two tokens interchangeable (RFC 6749 §4.4, RFC 7523 §2.1:
    endpoint, client, grant, issuer and subject of the assertion, scope, audience, resource,
    extra form fields) and nothing secret, so the same key is derived on every host of a fleet
    and reveals nothing when listed. It is the ``cache_key`` of ``TokenClient.source(grant)``
    for the same parameters.
    """
    identity: dict[str, str | None] = {
        "grant_type": grant_type, "subject": subject, "scope": scope, "audience": audience,
        "issuer": issuer, "resource": resource, "redirect_uri": redirect_uri,
    }
    for name, value in sorted((extra or {}).items()):
        identity[f"extra.{name}"] = value
    return identity_key(token_endpoint, client_id, identity)


def hashed(key: str) -> str:
    """The form in which a key is written: a digest, whatever the caller passed in."""
    return hashlib.sha256(b"jwtbearer-store\0" + key.encode()).hexdigest()


def _decode_key(value: str | bytes, origin: str) -> bytes:
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ConfigurationError(
                f"{origin} is not base64url; create one with: python -c "
                "\"import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())\""
            ) from exc
    if len(raw) not in (16, 24, 32):
        raise ConfigurationError(
            f"{origin} must be 16, 24 or 32 bytes (AES-128/192/256), got {len(raw)} bytes"
        )
    return raw



def _key_file_key() -> bytes:
    """The machine's cache key, created once (mode 0600) under $JWTBEARER_HOME.

    Several processes may start at once: each writes a complete candidate file and links it into
    place (atomic, fails if the name exists), so every process ends up reading the same key.
    """
    home = _util_home()
    path = home / _KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file(path, base64.urlsafe_b64encode(os.urandom(32)) + b"\n", keep_existing=True)
    return _decode_key(path.read_text(), f"the cache key file {path}")


class Sealer:
    """Seals and opens stored tokens: AES-GCM, or plain JSON when asked for explicitly."""

    __slots__ = ("_aead",)

    def __init__(self, encryption_key: str | bytes | None, plaintext: bool) -> None:
        if plaintext and encryption_key is not None:
            raise ConfigurationError("pass either encryption_key= or plaintext=True, not both")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # with a shared store

        if plaintext:
            self._aead: AESGCM | None = None
        elif encryption_key is not None:
            self._aead = AESGCM(_decode_key(encryption_key, "encryption_key"))
        elif os.environ.get(KEY_ENV):
            self._aead = AESGCM(_decode_key(os.environ[KEY_ENV], f"${KEY_ENV}"))
        else:
            self._aead = AESGCM(_key_file_key())

    @property
    def encrypts(self) -> bool:
        """False only for a store created with ``plaintext=True``."""
        return self._aead is not None

    def seal(self, hkey: str, token: Token) -> bytes:
        """Serialise ``token`` for storage under the hashed key ``hkey``."""
        data = json.dumps(token.to_dict(), separators=(",", ":")).encode()
        if self._aead is None:
            return _PLAIN + data
        nonce = os.urandom(12)
        return _SEALED + nonce + self._aead.encrypt(nonce, data, hkey.encode())

    def open(self, hkey: str, blob: bytes, where: str) -> Token | None:
        """The token in ``blob``, or None (with a warning) when it cannot be read.

        An entry sealed under another key, or written in plaintext by a store that should
        encrypt, counts as a cache miss: the token endpoint stays the source of truth and the
        next refresh overwrites the entry. Refusing plaintext here stops a downgrade.
        """
        try:
            if blob.startswith(_SEALED) and self._aead is not None:
                nonce, sealed = blob[4:16], blob[16:]
                return Token.from_dict(json.loads(self._aead.decrypt(nonce, sealed, hkey.encode())))
            if blob.startswith(_PLAIN) and self._aead is None:
                return Token.from_dict(json.loads(blob[4:]))
        except InvalidTag:
            log.warning(
                "a cached token in %s does not decrypt with this encryption key (was the key "
                "changed?); treating it as a cache miss", where,
            )
            return None
        except (ValueError, KeyError, TypeError):
            log.warning("a cached token in %s is unreadable; treating it as a cache miss", where)
            return None
        mode = "plaintext" if blob.startswith(_PLAIN) else "encrypted"
        log.warning(
            "a cached token in %s is %s but this store is configured otherwise; treating it as "
            "a cache miss", where, mode,
        )
        return None
