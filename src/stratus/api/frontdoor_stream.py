"""The fast path's writer for a streamed Function URL answer (frontdoor/url_stream.py's StreamedHttpResponse).

The head leaves at once; then each piece of the response, as the runtime sends it, is one HTTP/1.1 chunk.
While the client's socket is full the writer waits (uvicorn's flow control), so a slow reader holds the
function back as on AWS (the stream stops reading the runtime). The last chunk is written only if the
invocation succeeded; otherwise the connection closes after what was sent, and the client sees a truncated
body. A client that goes away abandons the stream (uvicorn sets the cycle's `message_event`): the function
runs to its end, its output dropped, and its environment serves the next invoke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratus.api.transport import STATUS_LINES
from stratus.frontdoor.payloads import Headers
from stratus.frontdoor.url_stream import StreamedHttpResponse
from stratus.invoke.streaming import ResponseStream

if TYPE_CHECKING:
    from stratus.api.frontdoor_cycle import FrontDoorCycle

_LAST_CHUNK = b"0\r\n\r\n"
_writers: set[asyncio.Task[None]] = set()


class _OnDisconnect:
    """Stands in for the cycle's message event: uvicorn sets it when the connection is lost."""

    __slots__ = ("cycle", "stream")

    def __init__(self, cycle: FrontDoorCycle, stream: ResponseStream):
        self.cycle = cycle
        self.stream = stream

    def set(self) -> None:
        if self.cycle.disconnected:
            self.stream.abandon()


def start(cycle: FrontDoorCycle, response: StreamedHttpResponse) -> None:
    """Write `response` on the cycle's connection, in a task of its own."""
    task = asyncio.get_running_loop().create_task(_write(cycle, response))
    _writers.add(task)
    task.add_done_callback(_writers.discard)


def encode_head(status: int, headers: Headers, keep_alive: bool) -> bytes:
    parts = [STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"transfer-encoding: chunked\r\n\r\n")
    return b"".join(parts)


async def _write(cycle: FrontDoorCycle, response: StreamedHttpResponse) -> None:
    protocol = cycle.protocol
    transport = protocol.raw_transport
    stream = response.stream
    cycle.message_event = _OnDisconnect(cycle, stream)  # type: ignore[assignment]
    if transport.is_closing() or cycle.disconnected:
        cycle.response_complete = True
        stream.abandon()
        return
    transport.write(encode_head(response.status, response.headers, cycle.keep_alive))
    if cycle.method == "HEAD":
        stream.abandon()
        _complete(cycle)
        return
    flow = protocol.flow
    why = ""
    detach: Callable[[], None] = lambda: None  # noqa: E731
    try:
        async with asyncio.timeout(None) as deadline:
            detach = response.on_end(deadline)
            if response.first:
                transport.write(b"%x\r\n%b\r\n" % (len(response.first), response.first))
            async for piece in stream:
                if cycle.disconnected or transport.is_closing():
                    break
                transport.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                if flow.write_paused:
                    await flow.drain()
            else:
                why = "the function failed mid-stream" if response.failed() else ""
    except TimeoutError:
        why = "the client stopped reading"
    except Exception:  # noqa: BLE001 - the invocation failed after the head left
        why = "the invocation failed"
    finally:
        detach()
    cycle.response_complete = True
    if cycle.disconnected or transport.is_closing():
        stream.abandon()
        return
    if why:
        response.cut(why)
        transport.close()  # no last chunk: the client knows the body is incomplete
        return
    transport.write(_LAST_CHUNK)
    _complete(cycle)


def _complete(cycle: FrontDoorCycle) -> None:
    cycle.response_complete = True
    if not cycle.keep_alive:
        cycle.protocol.raw_transport.close()
    cycle.protocol.on_response_complete()
