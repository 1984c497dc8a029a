"""The fuzz suite's report: examples run, time taken, escapes (``make fuzz`` writes it)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from fuzzkit import CALLS, EXAMPLES, PEAKS

_STARTED = time.monotonic()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CALLS:
        return
    failed = [r.nodeid for r in terminalreporter.stats.get("failed", [])
              if "tests/fuzz/" in r.nodeid]
    figures = {
        "examples_per_test": EXAMPLES,
        "calls": sum(CALLS.values()),
        "targets": len(CALLS),
        "minutes": round((time.monotonic() - _STARTED) / 60, 2),
        "escapes": len(failed),
        "escaped_in": failed,
        "peak_bytes_per_call": max(PEAKS.values(), default=0),
        "calls_by_target": dict(sorted(CALLS.items())),
    }
    terminalreporter.write_sep("-", "fuzz figures")
    terminalreporter.write_line(json.dumps(figures, indent=1))
    report = os.environ.get("JWTBEARER_FUZZ_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=1)
