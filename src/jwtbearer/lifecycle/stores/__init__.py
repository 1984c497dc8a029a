"""Token stores for :class:`~jwtbearer.caching.CachedSource`.

``MemoryStore`` (the default) keeps tokens in the process; ``SQLiteStore`` shares them between
the processes of one machine; ``RedisStore`` (extra ``redis``) between the hosts of a fleet.
The shared stores encrypt tokens at rest and hold a lock so one process refreshes at a time.
"""

from typing import TYPE_CHECKING

from ..._lazy import lazy
from ._base import StoreError, StoreLockTimeout, TokenStore, store_key
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore
    from .sqlite import SQLiteStore

__all__ = [
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "StoreError",
    "StoreLockTimeout",
    "TokenStore",
    "store_key",
]


__getattr__, __dir__ = lazy(
    __name__, {"RedisStore": ".redis", "SQLiteStore": ".sqlite"}, globals(), ("redis", "sqlite")
)
