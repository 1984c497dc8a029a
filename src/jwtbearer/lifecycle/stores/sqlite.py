"""SQLiteStore: one token file shared by the processes of one machine."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import ConfigurationError
from ...token import Clock, Token, system_clock
from ._base import Sealer, StoreError, hashed, keep_renewed, log, wait_for_lock

__all__ = ["SQLiteStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
    "expires_at REAL)",
    "CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "expires REAL NOT NULL)",
)
# Tokens that expired this long ago are pruned on the next write.
_PRUNE_AFTER = 3600.0


class SQLiteStore:
    """Tokens in a SQLite file, sealed with AES-GCM, with a cross-process refresh lock.

    - Writes are transactions in WAL mode, so a process killed in the middle of one (even with
      SIGKILL) leaves the last committed token readable.
    - The file and its ``-wal``/``-shm`` companions are created with mode 0600.
    - The encryption key comes from ``encryption_key=`` (bytes, or base64url text), else
      ``$JWTBEARER_CACHE_KEY``, else a random key created once in ``$JWTBEARER_HOME/cache.key``
      (mode 0600), never beside the database: a copied database alone reveals nothing.
      ``plaintext=True`` stores JSON as is.
    - ``lock(key)`` is a lock row with an owner and an expiry, renewed by its holder every
      ``0.3 * lock_ttl`` while it refreshes (so a slow refresh with retries keeps it): a process
      that dies while holding it (SIGKILL, power loss) blocks the others for at most
      ``lock_ttl`` seconds. Waiting gives up after ``lock_timeout`` seconds (default
      ``lock_ttl + 5``) with :class:`~jwtbearer.stores.StoreLockTimeout`.
    - An entry that does not decrypt (a changed key) is a cache miss with a logged warning, and
      the next refresh overwrites it.
    """

    shared = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encryption_key: str | bytes | None = None,
        plaintext: bool = False,
        lock_ttl: float = 30.0,
        lock_timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if lock_ttl <= 0:
            raise ConfigurationError(f"lock_ttl must be positive seconds, got {lock_ttl!r}")
        self.path = Path(path)
        self.lock_ttl = float(lock_ttl)
        self.lock_timeout = self.lock_ttl + 5.0 if lock_timeout is None else float(lock_timeout)
        self._clock = clock or system_clock
        self._sealer = Sealer(encryption_key, plaintext)
        self._create()

    def _create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create the file ourselves so it is 0600 from its first byte; SQLite gives the
            # journal, -wal and -shm files the database file's mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                log.warning("tightening %s from mode %o to 0600", self.path, mode)
                os.chmod(self.path, 0o600)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                for statement in _SCHEMA:
                    conn.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the token store {self.path}: {exc}") from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: safe across threads, forks and asyncio worker threads,
        # and cheap next to the token request it saves.
        conn = sqlite3.connect(self.path, timeout=max(self.lock_timeout, 5.0),
                               isolation_level=None, check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    def _error(self, action: str, exc: Exception) -> StoreError:
        return StoreError(f"cannot {action} the token store {self.path}: {exc}")

    def get(self, key: str) -> Token | None:
        """The token stored under ``key``, or None (also when it does not decrypt)."""
        hkey = hashed(key)
        try:
            with self._connect() as conn:
                row = conn.execute("SELECT value FROM tokens WHERE key = ?", (hkey,)).fetchone()
        except sqlite3.Error as exc:
            raise self._error("read", exc) from exc
        return None if row is None else self._sealer.open(hkey, bytes(row[0]), str(self.path))

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key`` in one transaction; prune long-expired entries."""
        hkey = hashed(key)
        blob = self._sealer.seal(hkey, token)
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT INTO tokens (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key)"
                    " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                    (hkey, blob, token.expires_at),
                )
                conn.execute(
                    "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < ?",
                    (self._clock() - _PRUNE_AFTER,),
                )
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error("write", exc) from exc

    def delete(self, key: str) -> None:
        """Forget the token under ``key``."""
        try:
            with self._connect() as conn:
                conn.execute("DELETE FROM tokens WHERE key = ?", (hashed(key),))
        except sqlite3.Error as exc:
            raise self._error("write", exc) from exc

    def _try_lock(self, hkey: str, owner: str) -> bool:
        now = self._clock()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM locks WHERE key = ? AND expires <= ?", (hkey, now))
            cur = conn.execute(
                "INSERT OR IGNORE INTO locks (key, owner, expires) VALUES (?, ?, ?)",
                (hkey, owner, now + self.lock_ttl),
            )
            conn.execute("COMMIT")
            return cur.rowcount == 1

    def _renew(self, hkey: str, owner: str) -> bool:
        try:
            with self._connect() as conn:
                cur = conn.execute("UPDATE locks SET expires = ? WHERE key = ? AND owner = ?",
                                   (self._clock() + self.lock_ttl, hkey, owner))
                return cur.rowcount == 1
        except sqlite3.Error as exc:
            raise self._error("lock", exc) from exc

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[None]:
        """Hold the refresh lock for ``key`` across processes (see the class docstring)."""
        hkey, owner = hashed(key), secrets.token_hex(16)
        limit = self.lock_timeout if wait else 0.0
        try:
            wait_for_lock(
                lambda: self._try_lock(hkey, owner),
                limit,
                f"{self.path} (another process is refreshing, or died holding it: it expires "
                f"after lock_ttl={self.lock_ttl:g} s)",
            )
        except sqlite3.Error as exc:
            raise self._error("lock", exc) from exc
        stop = keep_renewed(lambda: self._renew(hkey, owner), every=self.lock_ttl * 0.3,
                            limit=self.lock_timeout, where=str(self.path))
        try:
            yield
        finally:
            stop.set()
            try:
                with self._connect() as conn:
                    conn.execute("DELETE FROM locks WHERE key = ? AND owner = ?", (hkey, owner))
            except sqlite3.Error as exc:
                # The row expires by itself after lock_ttl; say so rather than mask an error.
                log.warning("could not release the refresh lock in %s: %s", self.path, exc)

    def __repr__(self) -> str:
        sealed = "AES-GCM" if self._sealer.encrypts else "plaintext"
        return f"SQLiteStore({str(self.path)!r}, {sealed}, lock_ttl={self.lock_ttl:g})"
