"""The ``jwtbearer`` command as users run it: the installed executable, in a subprocess.

``jb(...)`` runs one command and returns its exit status, stdout and stderr; ``start_server``
starts ``jwtbearer serve`` and waits for its listening line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

JWTBEARER = str(Path(sys.executable).parent / "jwtbearer")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def jb(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
       timeout: float = 60) -> Run:
    """Run ``jwtbearer ARGS`` and wait for it (bounded)."""
    proc = subprocess.run([JWTBEARER, *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=timeout,
                          check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[str]
    key_file: Path
    config: Path
    lines: list[str]

    def stop(self) -> str:
        """Stop the server; everything it printed on stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        _, err = self.proc.communicate(timeout=20)
        return "\n".join(self.lines) + "\n" + err


def start_server(config: Path, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``jwtbearer serve`` and wait (bounded) for its listening line."""
    proc = subprocess.Popen([JWTBEARER, "serve", "--config", str(config), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stderr is not None
    lines: list[str] = []
    for _ in range(200):  # the table, the settings, then the listening line
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("listening on "):
            return proc, lines
    proc.kill()
    raise AssertionError("serve did not start:\n" + "\n".join(lines) + proc.communicate()[1])


