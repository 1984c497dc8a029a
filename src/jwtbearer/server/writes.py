"""One ``send()`` per answer: uvicorn writes a response's head and its body in two
``transport.write`` calls, so a token answer left in two system calls and two TCP segments.

:class:`CoalescedWrites` is mixed in before uvicorn's HTTP protocol class (httptools or h11),
by :func:`jwtbearer.server.limits.limited_protocol`, which every way of running the app uses.
It gives the protocol a transport whose ``write`` holds a response head back until the next
write, which then sends both at once. Nothing is reordered and nothing is held for long: the
held bytes go out with the next write, before the transport closes, and when the response is
complete (a ``HEAD`` answer has no body write). Interim ``1xx`` heads (``100 Continue``) are
never held: the client waits for them before it sends the body.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CoalescedWrites", "HeldHeadTransport"]

_FINAL_HEAD = (b"HTTP/1.1 2", b"HTTP/1.1 3", b"HTTP/1.1 4", b"HTTP/1.1 5", b"HTTP/1.0 2",
               b"HTTP/1.0 3", b"HTTP/1.0 4", b"HTTP/1.0 5")


class HeldHeadTransport:
    """A transport that holds a final response head until the next write (or a flush)."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif type(data) is bytes and data.startswith(_FINAL_HEAD) and data.endswith(b"\r\n\r\n"):
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send what is held, if anything."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # Everything else (pause_reading, get_extra_info, is_closing, ...) is the transport's.
        return getattr(self._transport, name)


class CoalescedWrites:
    """Mixed in before a uvicorn HTTP protocol class: see the module docstring."""

    transport: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(HeldHeadTransport(transport))  # type: ignore[misc]

    def on_response_complete(self) -> None:
        transport = self.transport
        if isinstance(transport, HeldHeadTransport):
            transport.flush()
        super().on_response_complete()  # type: ignore[misc]

