"""Connection limits for the reference server: slow, idle and too many clients are cut off.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but gives a client all the
time it wants to send a request: 150 connections dripping their headers a byte a second stay
open forever. These protocol classes (one per uvicorn HTTP stack: httptools and h11) add:

- a **head deadline**: the whole request head (request line and headers) must arrive within
  ``header_timeout`` seconds of the connection opening or of the request's first byte, else
  the server answers ``408 Request Timeout`` and closes the connection;
- a **body deadline**: the body must arrive within ``body_timeout`` seconds of the head, else
  the connection is closed (the application sees a disconnect);
- a **connection cap**: a connection beyond ``max_connections`` gets ``503`` with
  ``Retry-After`` and is closed at once, before it costs a parser or a task;
- the idle keep-alive timeout is uvicorn's own, set from ``keep_alive_timeout``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["ServerLimits", "default_max_connections", "limited_protocol"]



def _plain(status: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n" + extra
            + b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)


_408 = _plain(b"408 Request Timeout", b"the request head did not arrive in time\n")
_503 = _plain(b"503 Service Unavailable", b"too many connections; retry shortly\n",
              b"retry-after: 1\r\n")


def default_max_connections() -> int:
    # 512 per core: far above what the cores can serve at once (a request takes ~0.2 ms of CPU),
    # far below what exhausts memory or file descriptors. 1,024 on 2 cores.
    return 512 * max(1, min(os.cpu_count() or 2, 64))


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """How long a client may take, and how many may be connected at once (seconds, count)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 0
    """0 means the default: 512 per CPU core (1,024 on 2 cores)."""

    def __post_init__(self) -> None:
        if self.max_connections == 0:
            object.__setattr__(self, "max_connections", default_max_connections())
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 3600):
                raise ValueError(f"{name} must be more than 0 and at most 3600 seconds")
        if not 1 <= self.max_connections <= 1_000_000:
            raise ValueError("max_connections must be from 1 to 1000000")

    @classmethod
    def from_settings(cls, settings: Any) -> ServerLimits:
        """The limits a :class:`~jwtbearer.server.config.ServerConfig` names (defaults else)."""
        default = cls()
        return cls(
            header_timeout=getattr(settings, "header_timeout", default.header_timeout),
            body_timeout=getattr(settings, "body_timeout", default.body_timeout),
            keep_alive_timeout=getattr(settings, "keep_alive_timeout", default.keep_alive_timeout),
            max_connections=getattr(settings, "max_connections", 0) or 0,
        )

    def uvicorn_options(self, *, pure_python: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.Config``: the protocol class and the keep-alive."""
        return {"http": limited_protocol(self, pure_python=pure_python),
                "timeout_keep_alive": self.keep_alive_timeout}


class _Deadlines:
    """The timer logic both stacks share; mixed in before uvicorn's protocol class."""

    limits: ServerLimits
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    _phase: str | None = None
    _timer: asyncio.TimerHandle | None = None

    def _arm(self, phase: str) -> None:
        self._disarm()
        seconds = self.limits.header_timeout if phase == "head" else self.limits.body_timeout
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if phase == "head":
            self.transport.write(_408)
        self.transport.close()

    # Both stacks: count the connection (uvicorn does), refuse it over the cap, arm the head
    # deadline; stop the timer when the connection goes.
    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._admit()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _admit(self) -> bool:
        """Refuse a connection over the cap (it is already counted in ``connections``)."""
        if len(self.connections) > self.limits.max_connections:
            self.transport.write(_503)
            self.transport.close()
            return False
        self._arm("head")
        return True


def limited_protocol(limits: ServerLimits, *, pure_python: bool = False) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (httptools, or h11 when ``pure_python`` or when httptools
    is missing) with the deadlines and the cap of ``limits``."""
    if not pure_python:
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:
            pass
        else:
            return type("LimitedHttpToolsProtocol", (_HttpToolsLimits, HttpToolsProtocol),
                        {"limits": limits})
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    states = {"_idle": h11.IDLE, "_body": h11.SEND_BODY}
    return type("LimitedH11Protocol", (_H11Limits, H11Protocol), {"limits": limits, **states})


class _HttpToolsLimits(_Deadlines):
    """httptools calls back at each step of a message: begin, headers complete, complete."""

    def on_message_begin(self) -> None:
        super().on_message_begin()  # type: ignore[misc]
        if self._phase is None:
            self._arm("head")  # the first byte of a request after an idle keep-alive spell

    def on_headers_complete(self) -> None:
        self._arm("body")
        super().on_headers_complete()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()  # type: ignore[misc]


class _H11Limits(_Deadlines):
    """h11 has no callbacks: after each chunk of data, look at the client's side of the state."""

    conn: Any
    _idle: Any  # h11.IDLE and h11.SEND_BODY, set by limited_protocol
    _body: Any

    def data_received(self, data: bytes) -> None:
        if self._phase is None and self.conn.their_state is self._idle:
            self._arm("head")  # the first byte of a new request head
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is self._body:
            if self._phase != "body":
                self._arm("body")
        elif state is not self._idle:
            self._disarm()  # the whole request is in; the application answers
