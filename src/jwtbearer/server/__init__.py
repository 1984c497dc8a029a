"""The reference token endpoint (extra: server)."""
