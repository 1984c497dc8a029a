"""One core per loop: a generator yields I/O steps, a driver performs them.

The request/retry loop, the cache refresh and the Apex exchange are each written once, as a
generator that yields what it needs done ("send this request", "sleep this long", "read the
store") and receives the result, or the exception, back (the shape of httpx's
``Auth.auth_flow``). :func:`run` performs the steps with blocking calls, :func:`arun` awaits
them; each caller passes the few lines that do its I/O. :class:`Deadline` is the one bound on a
request, checked the same way by both.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Deadline", "DeadlineExceeded", "Flow", "arun", "run"]

_S = TypeVar("_S")
_R = TypeVar("_R")

#: A core: yields steps of type S, receives their results, returns R.
Flow = Generator[_S, Any, _R]


def run(flow: Flow[_S, _R], perform: Callable[[_S], Any]) -> _R:
    """Drive ``flow`` to its end with blocking I/O; a step's exception is thrown into it."""
    value: Any = None
    error: Exception | None = None
    with _closing(flow):
        while True:
            try:
                step = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                value = perform(step)
            except Exception as exc:
                error = exc


async def arun(flow: Flow[_S, _R], perform: Callable[[_S], Awaitable[Any]]) -> _R:
    """Drive ``flow`` to its end, awaiting each step; the async twin of :func:`run`."""
    value: Any = None
    error: Exception | None = None
    with _closing(flow):
        while True:
            try:
                step = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                value = await perform(step)
            except Exception as exc:
                error = exc


class _closing:
    """Close the generator on the way out, so a cancellation runs its ``finally`` blocks."""

    __slots__ = ("_flow",)

    def __init__(self, flow: Flow[Any, Any]) -> None:
        self._flow = flow

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._flow.close()


class DeadlineExceeded(Exception):
    """The whole-request deadline passed."""


class Deadline:
    """``seconds`` from now on the monotonic clock: one bound for connect, send and the body.

    The sync driver arms a watchdog for :meth:`remaining` (it shuts the socket, since a blocked
    read cannot be cancelled), the async driver a cancel scope of the same length; both call
    :meth:`check` between body chunks and read :attr:`fired` to word the error.
    """

    __slots__ = ("_at", "fired", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self.fired = False

    def remaining(self) -> float:
        return max(self._at - time.monotonic(), 0.0)

    def check(self) -> None:
        if time.monotonic() > self._at:
            self.fired = True
            raise DeadlineExceeded
