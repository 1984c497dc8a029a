"""MemoryStore: tokens kept in this process only (the default store)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ...token import Token
from ._base import StoreLockTimeout

__all__ = ["MemoryStore"]


class MemoryStore:
    """A dict of tokens guarded by a lock; nothing leaves the process, nothing is encrypted.

    Several :class:`~jwtbearer.caching.CachedSource` objects built for the same credentials can
    share one instance and so share the token.
    """

    shared = False

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> Token | None:
        """The token stored under ``key``, or None."""
        return self._tokens.get(key)

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``."""
        self._tokens[key] = token

    def delete(self, key: str) -> None:
        """Forget the token under ``key``."""
        self._tokens.pop(key, None)

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[None]:
        """A per-key thread lock (other processes never see this store)."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=wait):
            raise StoreLockTimeout("the refresh lock is taken by another thread")
        try:
            yield
        finally:
            lock.release()

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._tokens)} tokens>)"
