"""Write-combining for uvicorn's HTTP protocol.

uvicorn writes a response's head and body with two transport writes; on loopback each write is a
syscall that also runs the receiver's TCP path, so two writes cost nearly twice one. Writes made
within one event-loop step are joined and written once, right after the step.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()) for status in HTTPStatus}


def encode_response(status: int, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool) -> bytes:
    parts = [STATUS_LINES[status]]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body)
    return b"".join(parts)


class NoEvent:
    """uvicorn's on_body signals the cycle's event; the fast cycle reads the body when complete."""

    __slots__ = ()

    def set(self) -> None:
        pass


NO_EVENT = NoEvent()


class CoalescingTransport:
    """Wraps an asyncio transport; `write` calls in one loop step become one write."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the wrapped transport's
        return getattr(self._transport, name)
