"""The reference token endpoint (RFC 7523, RFC 6749 §4.4, RFC 9068 access tokens).

``core`` is pure and needs nothing beyond jwtbearer's own dependencies; ``app`` is a plain ASGI
app, and running it needs uvicorn, the ``server`` extra: ``pip install 'jwtbearer[server]'``.
"""

from .config import ServerConfig, load_config, parse_config
from .core import Response, TokenEndpoint
from .registry import Client, ClientRegistry, ServerConfigError
from .replay import MemoryReplayCache, RedisReplayCache, ReplayCache

__all__ = [
    "Client",
    "ClientRegistry",
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "Response",
    "ServerConfig",
    "ServerConfigError",
    "TokenEndpoint",
    "load_config",
    "parse_config",
]
