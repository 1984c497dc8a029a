"""What every fuzz test shares: the example budget, the escape check, shared strategies.

``make test`` runs each fuzz test with a modest number of examples; ``make fuzz`` sets
``JWTBEARER_FUZZ_EXAMPLES`` (many examples each) and ``JWTBEARER_FUZZ_REPORT`` (where the
figures go). An *escape* is any exception that is not one of ours
(:class:`~jwtbearer.JWTBearerError`, or the server's internal ``Refusal`` where a test allows
it), a call that does not return within :data:`HANG_LIMIT` seconds, or one that allocates
more than :data:`MEMORY_LIMIT` bytes at its peak.
"""

from __future__ import annotations

import json
import os
import signal
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from jwtbearer import JWTBearerError

LONG_RUN = "JWTBEARER_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("JWTBEARER_FUZZ_EXAMPLES", "60"))
# Hard bounds on one call, not speed targets: a parser that loops or blows up trips them.
HANG_LIMIT = 20.0
MEMORY_LIMIT = 64 * 1024 * 1024

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not LONG_RUN,  # make test: the same examples every run; make fuzz: new ones
    suppress_health_check=list(HealthCheck),
)

#: Examples run per test (the fuzz report sums them).
CALLS: Counter[str] = Counter()
#: The largest peak allocation seen in one call, per test.
PEAKS: dict[str, int] = {}

_T = TypeVar("_T")


class Hang(Exception):
    """A call ran past :data:`HANG_LIMIT`."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"the call ran for over {HANG_LIMIT:g} s")


def survive(name: str, call: Callable[[], _T],
            allowed: tuple[type[BaseException], ...] = (JWTBearerError,)) -> _T | BaseException:
    """Run ``call``: its result, or the typed exception it raised. Anything else propagates
    (hypothesis then reports and shrinks the input); so do hangs and memory blow-ups."""
    CALLS[name] += 1
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_LIMIT)
    tracemalloc.start()
    try:
        try:
            result: _T | BaseException = call()
        except allowed as exc:
            text = str(exc)  # a typed error must also render
            assert isinstance(text, str) and len(text) < 20_000, "an error message runs away"
            result = exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    PEAKS[name] = max(PEAKS.get(name, 0), peak)
    assert peak < MEMORY_LIMIT, f"one call allocated {peak} bytes at its peak"
    return result


# JSON values, including the awkward ones: huge integers, NaN and infinities, deep nesting.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(), st.text(max_size=40), st.sampled_from(["", " ", "\x00", "3600", "1e309", "-1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=16,
)


def json_text(value: Any) -> str:
    """``value`` as JSON, NaN and infinities written as Python writes them (not RFC 8259)."""
    return json.dumps(value, allow_nan=True)


b64ish = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            max_size=120),
    st.text(max_size=40),
)
