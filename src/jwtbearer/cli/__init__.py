"""The ``jwtbearer`` command."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``jwtbearer`` command."""
    raise SystemExit("jwtbearer: the command line is being built")
