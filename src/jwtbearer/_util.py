"""Where jwtbearer keeps its files, and how it writes a key file without exposing it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__: list[str] = []


def _home() -> Path:
    """``$JWTBEARER_HOME``, else ``~/.config/jwtbearer``."""
    env = os.environ.get("JWTBEARER_HOME")
    return Path(env) if env else Path.home() / ".config" / "jwtbearer"


def _write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write atomically: a temporary file with ``mode`` from its creation, then a rename."""
    # A fresh name, created exclusively: never follows a planted symlink, never shared by two
    # writers.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed the mode given to open()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
