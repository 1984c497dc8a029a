"""Module attributes loaded on first use: how a package facade stays cheap to import.

``__getattr__, __dir__ = lazy(__name__, {"Name": ".module", ...}, globals())`` in a package's
``__init__`` makes ``package.Name`` import ``package.module`` the first time it is read (and
keep it as a plain attribute after that). The facade still lists every name in ``__all__``
and imports them under ``if TYPE_CHECKING:`` for type checkers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy"]


def lazy(
    package: str,
    homes: Mapping[str, str],
    namespace: dict[str, Any],
    submodules: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``homes`` maps a name to its module
    (relative to the package); ``submodules`` are reachable as attributes too."""
    modules = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is not None:
            value = getattr(importlib.import_module(home, package), name)
        elif name in modules:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
