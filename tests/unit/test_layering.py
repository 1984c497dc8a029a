"""The layers of DESIGN.md, pinned: which part of ``jwtbearer`` may import which, and no cycles.

A *part* is a root module (``errors``, ``token``) or a top-level package (``jose``, ``client``).
Each row of ``MAY_IMPORT`` lists what a part may import besides itself; a part missing from the
table fails the test, so a new package must say where it sits. Imports inside functions count
(they are how the CLI and ``testing`` stay light, not a way around the layers); imports under
``if TYPE_CHECKING:`` count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import jwtbearer

SRC = Path(jwtbearer.__file__).parent

#: The shared vocabulary and plumbing every layer may use.
ROOT = {"errors", "token", "oauth", "_util", "_flow", "_lazy", "_hints"}

MAY_IMPORT: dict[str, set[str]] = {
    "errors": {"_hints"},
    "_hints": set(),
    "oauth": set(),
    "_lazy": set(),
    "_flow": set(),
    "token": {"errors", "oauth"},
    "_util": {"errors"},
    # Keys, JWS, the key store and the assertion builders.
    "jose": ROOT,
    # Client authentication, grants, protocol, drivers, exchange.
    "client": ROOT | {"jose"},
    # Caching, stores, httpauth: any token source, so never the client.
    "lifecycle": ROOT,
    "diagnose": ROOT | {"jose"},
    # PKCS#11, KMS and callable signers: keys that never leave their device.
    "signers": ROOT | {"jose"},
    # The reference token endpoint never imports the client side.
    "server": ROOT | {"jose"},
    "profiles": ROOT | {"jose", "client", "lifecycle", "signers"},
    "testing": ROOT | {"jose", "client", "_mock"},
    "_mock": ROOT | {"jose"},
    "cli": ROOT | {"jose", "client", "lifecycle", "diagnose", "profiles", "server", "demo",
                   "validation", "signers"},
    "demo": ROOT | {"jose", "client", "server"},
    # The facade re-exports every layer (lazily) but the server, the CLI and the test helpers.
    "__init__": ROOT | {"jose", "client", "lifecycle", "diagnose", "profiles", "validation",
                 "signers"},
    # Resource-server validation of access tokens (RFC 9068): keys from the issuer's metadata
    # and JWKS, fetched under the client's transport rules (client.discovery, client.fetch).
    "validation": ROOT | {"jose", "client"},
    # ASGI / WSGI middleware for resource servers, over validation.
    "integrations": ROOT | {"jose", "validation", "lifecycle"},
}

#: Modules inside a part held to a narrower row (module path prefix -> what it may import).
#: RFC 8414 discovery (``client/discovery``) and workload-identity client authentication
#: (``client/workload*``) inherit the client's row; a row here would narrow one of them.
NARROWER: dict[str, set[str]] = {
    # The sans-I/O protocol never reaches the flow drivers: sync and async share it as is.
    "client/protocol": ROOT - {"_flow"} | {"jose", "client"},
    "client/response": ROOT - {"_flow"},
}


def _part(rel: Path) -> str:
    first = rel.parts[0]
    return first.removesuffix(".py")


def _module_name(rel: Path) -> list[str]:
    parts = list(rel.with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line, module path inside jwtbearer) for every import of a jwtbearer module."""
    rel = path.relative_to(SRC)
    package = list(rel.parent.parts) if rel.parts else []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                if node.module is None:  # from . import x: x is a module or a name
                    for alias in node.names:
                        yield node.lineno, [*target, alias.name]
                    continue
                yield node.lineno, target
            elif node.module and node.module.split(".")[0] == "jwtbearer":
                yield node.lineno, node.module.split(".")[1:]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jwtbearer":
                    yield node.lineno, alias.name.split(".")[1:]


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_the_layers_below(path: Path) -> None:
    rel = path.relative_to(SRC)
    part = "__init__" if rel == Path("__init__.py") else _part(rel)
    assert part in MAY_IMPORT, f"{rel}: add a row for {part!r} to MAY_IMPORT"
    allowed = MAY_IMPORT[part]
    for prefix, narrower in NARROWER.items():
        if rel.with_suffix("").as_posix().startswith(prefix):
            allowed = narrower
    for line, target in _imported(path):
        if not target:
            continue  # "from . import x" at the root names a root module, checked via x
        used = target[0]
        if used == part:
            continue
        assert used in allowed, f"{rel}:{line} imports jwtbearer.{'.'.join(target)}"


def _module_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports at import time (module level, outside functions)."""
    names = {".".join(_module_name(p.relative_to(SRC))) for p in _sources()}
    graph: dict[str, set[str]] = {}
    for path in _sources():
        rel = path.relative_to(SRC)
        me = ".".join(_module_name(rel))
        package = list(rel.parent.parts)
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.If):  # if TYPE_CHECKING: ... never runs
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
                candidates = [f"{target}.{a.name}".strip(".") for a in node.names] + [target]
                edges.update(c for c in candidates if c in names and c != me)
        graph[me] = edges
    return graph


def test_no_import_cycles_between_modules() -> None:
    graph = _module_graph()
    # A package importing its own submodules (its facade) is not a cycle; a submodule importing
    # its package facade back would be, and is caught because the facade's edges lead back.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_table_knows_every_part() -> None:
    parts = {_part(p.relative_to(SRC)) for p in _sources()} - {"__init__", "py"}
    assert parts <= set(MAY_IMPORT), parts - set(MAY_IMPORT)
