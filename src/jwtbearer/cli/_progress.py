"""What ``token`` shows while it waits: a spinner on a terminal, request lines with -v.

Both read the client's own debug records (``jwtbearer_event`` = request, response, retry),
which carry the URL, the attempt, the status and the delay, never a header or a body, so
neither can print a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._common import err, escape

__all__ = ["progress"]


class _Watcher(logging.Handler):
    def __init__(self, *, verbose: bool, status: Any) -> None:
        super().__init__(logging.DEBUG)
        self.verbose = verbose
        self.status = status
        self.sent_at: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "jwtbearer_event", None)
        if event == "request":
            self.sent_at = time.monotonic()
            attempt, attempts = record.__dict__["attempt"], record.__dict__["attempts"]
            if self.verbose:
                err.print(f"> POST {escape(record.__dict__['url'])}  (attempt "
                          f"{attempt}/{attempts})", markup=True)
            if self.status is not None:
                self.status.update(f"attempt {attempt}/{attempts}: waiting for the server")
        elif event == "response":
            ms = 0.0 if self.sent_at is None else (time.monotonic() - self.sent_at) * 1000
            if self.verbose:
                err.print(f"< {record.__dict__['status']}  {record.__dict__['size']} bytes  "
                          f"{ms:.0f} ms")
        elif event == "retry":
            attempt, attempts = record.__dict__["attempt"], record.__dict__["attempts"]
            delay = record.__dict__["delay"]
            reason = record.__dict__["reason"]
            if self.verbose:
                err.print(f"  {escape(reason)}; retrying in {delay:.1f} s")
            if self.status is not None:
                self.status.update(f"attempt {attempt + 1}/{attempts}, next in {delay:.1f} s "
                                   f"(after {escape(reason)})")


@contextmanager
def progress(*, verbose: bool, spinner: bool) -> Iterator[None]:
    """Show request lines (``verbose``) and a spinner (``spinner``, only on a terminal) while
    the block runs."""
    if not verbose and not (spinner and err.is_terminal):
        yield
        return
    logger = logging.getLogger("jwtbearer")
    status = err.status("getting a token") if spinner and err.is_terminal else None
    watcher = _Watcher(verbose=verbose, status=status)
    old_level = logger.level
    logger.addHandler(watcher)
    logger.setLevel(logging.DEBUG)
    try:
        if status is not None:
            with status:
                yield
        else:
            yield
    finally:
        logger.removeHandler(watcher)
        logger.setLevel(old_level)
