"""The server never imports client modules, and only app.py (and limits.py, lazily) needs the
`server` extra."""

from __future__ import annotations

import ast
from pathlib import Path

import jwtbearer.server

SERVER = Path(jwtbearer.server.__file__).parent
CLIENT_MODULES = {"client", "lifecycle", "profiles", "testing"}
EXTRA = {"starlette", "uvicorn", "httptools", "uvloop"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level >= 2 or module.startswith("jwtbearer."):
                found.add("jwtbearer." + module.removeprefix("jwtbearer.").split(".")[0])
            elif node.level == 0:
                found.add(module.split(".")[0])
    return found


def test_server_modules_never_import_client_modules() -> None:
    files = sorted(SERVER.glob("*.py"))
    assert {f.name for f in files} >= {"core.py", "app.py", "registry.py", "replay.py"}
    for path in files:
        used = imports(path)
        assert not {f"jwtbearer.{m}" for m in CLIENT_MODULES} & used, path.name
        if path.name == "limits.py":
            # uvicorn's protocol classes, imported only when a server is built: config.py
            # imports limits.py for its defaults, and must load without the extra.
            top = set()
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.Import | ast.ImportFrom):
                    top.update(imports_of(node))
            assert not EXTRA & top, "limits.py imports the server extra at module level"
        elif path.name != "app.py":
            assert not EXTRA & used, f"{path.name} imports the server extra"


def imports_of(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    return {(node.module or "").split(".")[0]} if node.level == 0 else set()
