"""A token's life after the endpoint: reuse until shortly before expiry with one refresh per
expiry (``caching``), where it is kept (``stores``: process, machine, fleet), and how it is
attached to requests (``httpauth``).

Layer: imports only the root modules (``errors``, ``token``, ``_util``): any token source can be
cached, so nothing here knows the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from .caching import AsyncCachedSource, CachedSource
    from .httpauth import BearerAuth
    from .stores import MemoryStore, RedisStore, SQLiteStore, TokenStore, store_key

# Each name loads its module on first use: a process that only caches in memory never loads
# sqlite3 or the redis client.
__getattr__, __dir__ = lazy(__name__, {
    "AsyncCachedSource": ".caching",
    "CachedSource": ".caching",
    "BearerAuth": ".httpauth",
    "MemoryStore": ".stores.memory",
    "RedisStore": ".stores.redis",
    "SQLiteStore": ".stores.sqlite",
    "TokenStore": ".stores._base",
    "store_key": ".stores._base",
}, globals(), ("caching", "httpauth", "stores"))

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
