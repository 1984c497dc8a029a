"""A token's life after the endpoint: reuse until shortly before expiry with one refresh per
expiry (``caching``), where it is kept (``stores``: process, machine, fleet), and how it is
attached to requests (``httpauth``).

Layer: imports only the root modules (``errors``, ``token``, ``_util``): any token source can be
cached, so nothing here knows the client.
"""

from __future__ import annotations

from .caching import AsyncCachedSource, CachedSource
from .httpauth import BearerAuth
from .stores import MemoryStore, RedisStore, SQLiteStore, TokenStore, store_key

__all__ = [
    "AsyncCachedSource",
    "BearerAuth",
    "CachedSource",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "TokenStore",
    "store_key",
]
