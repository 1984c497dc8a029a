"""Token stores for CachedSource."""

__all__: list[str] = []
