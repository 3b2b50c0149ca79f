"""Response streaming: a caller takes an invocation's response as the runtime sends it.

A caller that can pass a response on as it comes (InvokeWithResponseStream, a Function URL in
`RESPONSE_STREAM` mode) invokes through `InvokeService.invoke_stream` and reads the `ResponseStream` it
gets back: `await stream.started()`, then `async for chunk in stream`, then `stream.result`. When the
runtime answers in streaming mode (`Lambda-Runtime-Function-Response-Mode: streaming`, a chunked body,
errors in trailers), each piece of its body reaches the caller as soon as it is read from the runtime
(invoke/runtime_handlers.py feeds the stream); a buffered answer arrives whole, as one piece, once the
invocation ends. A function error, mid-stream or not, is in `stream.result` at the end (`completion_error`).

Flow control runs both ways: a caller that reads slower than the function writes stops the reading of
the runtime's connection (its writes back up, as on AWS), and so does AWS's bandwidth cap (uncapped for
the first 6 MB, then 2 MB/s). A stream over its maximum size (200 MB, AWS's default) ends the response
with `Function.ResponseSizeTooLarge`. A caller that goes away `abandon()`s the stream: the function runs
to its end, its output is dropped, and the environment serves the next invocation as usual.

`read_http_prelude` reads the `application/vnd.awslambda.http-integration-response` prelude (status,
headers, cookies: JSON, then 8 NUL bytes) that `awslambda.HttpResponseStream.from` writes, for the
Function URL front door.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from stratus.invoke.types import InvokeResult, Outcome

if TYPE_CHECKING:
    from stratus.runtime.http import HttpServerProtocol

MB = 1024 * 1024
DEFAULT_CONTENT_TYPE = b"application/octet-stream"  # what a runtime that names none streams (AWS's Node runtime)
HTTP_INTEGRATION = b"application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\0" * 8
MAX_PRELUDE_BYTES = 64 * 1024
# What a stream holds for a slow reader before the runtime's connection stops being read, and resumes at.
HIGH_WATER = 1 * MB
LOW_WATER = 256 * 1024
MAX_PIECE = 256 * 1024  # pieces queued together are handed over joined, up to this size
_BACKLOG, _BANDWIDTH = 1, 2  # why the runtime's connection is not being read
# Errors of the platform keep their own code in InvokeComplete (the RIE's trailer types); a function's own
# errors (raised, posted to /error, sent as trailers, a crash) are "Unhandled", as Invoke's X-Amz-Function-Error.
PLATFORM_ERROR_CODES = frozenset({"Sandbox.Timedout", "Function.ResponseSizeTooLarge", "Runtime.TruncatedResponse"})


@dataclasses.dataclass(frozen=True, slots=True)
class StreamLimits:
    """AWS's limits for a streamed response (Settings: stream_response_max_bytes, stream_uncapped_bytes,
    stream_bandwidth_bytes_per_s; a bandwidth of 0 means no cap)."""

    max_bytes: int = 200 * MB
    uncapped_bytes: int = 6 * MB
    bandwidth_bytes_per_s: int = 2 * MB


class ResponseStream:
    """One invocation's response, piece by piece, as its runtime sends it; then its InvokeResult."""

    __slots__ = ("limits", "content_type", "streamed", "result", "_error", "_chunks", "_buffered", "_received",
                 "_ended", "_abandoned", "_waiter", "_conn", "_paused", "_capped_since", "_timer", "_loop",
                 "_on_end")

    def __init__(self, limits: StreamLimits | None = None):
        self.limits = limits or StreamLimits()
        self.content_type = DEFAULT_CONTENT_TYPE
        self.streamed = False  # the runtime answered in streaming mode (else the answer comes whole at the end)
        self.result: InvokeResult | None = None  # once ended without an exception
        self._error: BaseException | None = None  # what the invocation raised (a throttle after a cold start...)
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._received = 0
        self._ended = False
        self._abandoned = False
        self._waiter: asyncio.Future[None] | None = None
        self._conn: HttpServerProtocol | None = None  # the runtime's connection while its body streams
        self._paused = 0
        self._capped_since = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._on_end: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ the caller's side
    async def started(self) -> None:
        """Wait until the runtime starts streaming or the invocation ends (a buffered answer); raises what
        the invocation raised, if it did."""
        while not (self.streamed or self._ended):
            await self._wait()
        if self._error is not None:
            raise self._error

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        while not chunks:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            await self._wait()
        piece = chunks.popleft()
        if chunks and len(piece) < MAX_PIECE:
            parts = [piece]
            size = len(piece)
            while chunks and size + len(chunks[0]) <= MAX_PIECE:
                part = chunks.popleft()
                parts.append(part)
                size += len(part)
            piece = b"".join(parts)
        self._buffered -= len(piece)
        if self._paused & _BACKLOG and self._buffered <= LOW_WATER:
            self._resume(_BACKLOG)
        return piece

    def unread(self, data: bytes) -> None:
        """Put `data` back in front (what a reader took too much of, e.g. past a prelude)."""
        if data:
            self._chunks.appendleft(data)
            self._buffered += len(data)

    @property
    def ended(self) -> bool:
        return self._ended

    def on_end(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the invocation has ended (now if it has)."""
        if self._ended:
            callback()
        else:
            self._on_end.append(callback)

    def abandon(self) -> None:
        """The caller is gone: what the function still sends is dropped (and never holds the runtime up)."""
        self._abandoned = True
        self._chunks.clear()
        self._buffered = 0
        self._resume(_BACKLOG)

    async def _wait(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = self._loop.create_future()
        await waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------------ the invocation's side
    def follow(self, future: asyncio.Future[InvokeResult]) -> None:
        """End with the invocation: `future` is its InvokeResult (invoke/entry.py)."""
        future.add_done_callback(self._finished)

    def _finished(self, future: asyncio.Future[InvokeResult]) -> None:
        self.detach()
        if future.cancelled():
            self._error = asyncio.CancelledError()
        elif (error := future.exception()) is not None:
            self._error = error
        else:
            result = self.result = future.result()
            outcome = result.outcome
            if not self.streamed and outcome is not None and not outcome.function_error:
                self.content_type = outcome.content_type  # a buffered answer: one piece, whole
                if outcome.payload and not self._abandoned:
                    self._chunks.append(outcome.payload)
                    self._buffered += len(outcome.payload)
        self._ended = True
        self._wake()
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            callback()

    # ------------------------------------------------------------------ the runtime's side
    def begin(self, conn: HttpServerProtocol, content_type: bytes | None) -> None:
        """The runtime started a streamed answer on `conn` (its reading stops while the caller lags)."""
        self.streamed = True
        self.content_type = content_type or DEFAULT_CONTENT_TYPE
        self._conn = conn
        self._wake()

    def push(self, chunk: bytes) -> bool:
        """A piece of the streamed answer; False when it takes the stream past its maximum size (what fits
        is passed on, as AWS passes on the response up to its limit)."""
        limits = self.limits
        received = self._received + len(chunk)
        if received > limits.max_bytes:
            allowed = limits.max_bytes - self._received
            if allowed > 0:
                self.push(chunk[:allowed])
            self._received = received
            return False
        self._received = received
        if not self._abandoned and not self._ended:  # (ended: a timeout came first; what follows is late)
            self._chunks.append(chunk)
            self._buffered += len(chunk)
            if self._buffered > HIGH_WATER:
                self._pause(_BACKLOG)
            self._wake()
        rate = limits.bandwidth_bytes_per_s
        if rate and received > limits.uncapped_bytes:
            now = self._loop.time()
            if not self._capped_since:
                self._capped_since = now
            due = self._capped_since + (received - limits.uncapped_bytes) / rate
            if due - now > 0.005 and not self._paused & _BANDWIDTH:
                self._pause(_BANDWIDTH)
                self._timer = self._loop.call_later(due - now, self._resume, _BANDWIDTH)
        return True

    @property
    def received(self) -> int:
        """Bytes the runtime streamed so far."""
        return self._received

    def detach(self) -> None:
        """The streamed body ended (or its connection did): the connection is read again, and no longer ours."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._paused and self._conn is not None:
            self._conn.resume_reading()
        self._paused = 0
        self._conn = None

    def _pause(self, reason: int) -> None:
        if not self._paused and self._conn is not None:
            self._conn.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if reason == _BANDWIDTH:
            self._timer = None
        if not self._paused and self._conn is not None:
            self._conn.resume_reading()


async def abandon_on_disconnect(receive: Callable[[], Awaitable[Mapping[str, Any]]], stream: ResponseStream) -> None:
    """Run beside an HTTP answer that streams (ASGI `receive`): when the client goes, abandon the stream, so
    the function runs to its end with its output dropped and its environment serves the next invoke."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stream.abandon()
            return


def completion_error(outcome: Outcome | None) -> tuple[str, str] | None:
    """(ErrorCode, ErrorDetails) of InvokeComplete for an invocation that failed; None when it did not.

    A platform error keeps its type as the code (Sandbox.Timedout, Function.ResponseSizeTooLarge,
    Runtime.TruncatedResponse); the function's own errors are "Unhandled". The details are the error's
    message (its `errorMessage`), else its body as text."""
    if outcome is None or not outcome.function_error:
        return None
    error_type = outcome.error_type or ""
    code = error_type if error_type in PLATFORM_ERROR_CODES else "Unhandled"
    details = outcome.payload.decode("utf-8", "replace")
    try:
        body = msgspec.json.decode(outcome.payload)
    except (msgspec.DecodeError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("errorMessage"), str):
        details = body["errorMessage"]
    elif not details:
        details = error_type
    return code, details


@dataclasses.dataclass(frozen=True, slots=True)
class HttpPrelude:
    """What `HttpResponseStream.from(stream, prelude)` sent ahead of the body."""

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    cookies: list[str] = dataclasses.field(default_factory=list)


async def read_http_prelude(stream: ResponseStream) -> HttpPrelude | None:
    """For a stream of type `application/vnd.awslambda.http-integration-response`: its prelude (the JSON
    before the 8 NUL bytes), the body's first bytes put back into the stream. None when the stream ended
    before a complete prelude (look at `stream.result`), or the prelude is not a JSON object (or is over
    64 KB). A stream of another type has no prelude: status 200 and its Content-Type."""
    await stream.started()
    if stream.content_type.split(b";")[0].strip().lower() != HTTP_INTEGRATION:
        return HttpPrelude(headers={"content-type": stream.content_type.decode("latin-1")})
    seen = b""
    async for piece in stream:
        start = max(0, len(seen) - len(PRELUDE_DELIMITER) + 1)
        seen += piece
        end = seen.find(PRELUDE_DELIMITER, start)
        if end >= 0:
            stream.unread(seen[end + len(PRELUDE_DELIMITER):])
            return _parse_prelude(seen[:end])
        if len(seen) > MAX_PRELUDE_BYTES:
            return None
    return None


def _parse_prelude(raw: bytes) -> HttpPrelude | None:
    try:
        prelude = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(prelude, dict):
        return None
    status = prelude.get("statusCode", 200)
    headers = prelude.get("headers") or {}
    cookies = prelude.get("cookies") or []
    if not isinstance(status, int) or not isinstance(headers, dict) or not isinstance(cookies, list):
        return None
    return HttpPrelude(status, {str(k).lower(): str(v) for k, v in headers.items()}, [str(c) for c in cookies])
