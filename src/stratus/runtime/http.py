"""A minimal HTTP/1.1 server protocol on httptools for the per-environment Runtime API endpoint.

The Runtime API is the hot path of every invoke (one `/next` and one `/response` per call), so it is
served by this small keep-alive protocol rather than a full ASGI stack. Only what runtimes send is
supported: requests with Content-Length or chunked bodies, answered with Content-Length responses.
A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`, chunked, errors in trailers) may be
taken over at the end of its head by a `BodySink` that gets the body as it arrives instead of buffered.

Each endpoint (the environment's listeners together) has its own ConnectionTable with the limits of
stratus.http_limits (`configure` sets them at start): a function that attacks its own Runtime API with huge or
slow heads, stalled bodies, many connections or many large bodies is cut off by its own endpoint's limits, and
the work it can cause per chunk read is bounded by them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Protocol, cast

import httptools

from stratus.http_limits import BODY, BUSY, HEAD, IDLE, INFINITE, LINGER, LINGER_BYTES, NEW, ConnectionTable, HttpLimits

log = logging.getLogger("stratus.runtime")
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


# Runtimes send small heads; a runtime is one client, with a few extensions: 64 connections is plenty. A
# connection may sit idle while the function runs (between `/next` and `/response`), so the idle timeout is
# longer than any function timeout; a new connection may likewise wait for INIT before its first request.
# One large body (a response above 1 MB) at a time per endpoint is what a runtime ever sends; two are allowed.
RUNTIME_LIMITS = HttpLimits(max_connections=64, idle_timeout_s=960.0, first_request_timeout_s=960.0,
                            large_body_bytes=1024 * 1024, max_large_bodies=2)
_limits = RUNTIME_LIMITS
_tables: dict[int, ConnectionTable] = {}  # per endpoint, by the id of its handler (alive while it has connections)


def configure(limits: HttpLimits) -> None:
    """The limits of every Runtime API endpoint made from now on (the server sets them from its settings)."""
    global _limits
    _limits = limits


def _error(status: int, error_type: bytes, message: bytes) -> bytes:
    body = b'{"errorMessage":"%s","errorType":"%s"}\n' % (message, error_type)
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (status, _REASONS[status], len(body), body))


HEAD_TOO_LARGE = _error(431, b"RequestHeaderFieldsTooLarge", b"Request header fields too large")
TIMED_OUT = _error(408, b"RequestTimeout", b"Request timed out")
TOO_MANY_CONNECTIONS = _error(503, b"TooManyConnections", b"Too many connections to this Runtime API")
# A runtime pipelines at most a `/response` and the next `/next`; a read carrying more requests than this is a
# flood (thousands of tiny requests per read would hold the event loop): the connection is answered 429 and ends.
MAX_REQUESTS_PER_READ = 16
TOO_MANY_PIPELINED = _error(429, b"TooManyRequests", b"Too many pipelined requests")
TOO_MANY_LARGE_BODIES = b'{"errorMessage":"Too many large requests at once","errorType":"TooManyRequests"}\n'


RESPONSE_MODE = b"lambda-runtime-function-response-mode"
# Trailers of a sink-taken body are bounded like a head: what a connection sends beyond the body and the
# chunk framing (≤ CHUNK_FRAMING bytes per chunk) may not pass twice the head limit.
CHUNK_FRAMING = 32


class BodySink(Protocol):
    """Takes a request's body as it arrives (a streamed response), instead of the body being buffered.

    `data` gets each piece; `complete` the request once it ended (its trailers are then in `request.headers`,
    with the head's fields); `lost` is called instead when the connection ends first. The sink answers the
    request itself (`conn.send`), or refuses it mid-body (`conn.refuse`)."""

    def data(self, chunk: bytes) -> None: ...

    def complete(self, request: Request) -> None: ...

    def lost(self) -> None: ...


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that has too many fields."""


class _Stop(Exception):
    """Raised from a parser callback once the connection has been answered for good."""


class Request:
    __slots__ = ("method", "path", "headers", "body", "size", "too_large", "refused")

    def __init__(self) -> None:
        self.method = b""
        self.path = b""
        self.headers: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.size = 0  # bytes received, even when not buffered
        self.too_large = False
        self.refused = False  # a large body beyond the endpoint's slots: answered 429, not handled


def encode_response(status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = (),
                    content_type: bytes = b"application/json") -> bytes:
    """One HTTP/1.1 response as a single buffer (so it is one write)."""
    parts = [b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        status, _REASONS.get(status, b"Unknown"), content_type, len(body))]
    for name, value in headers:
        parts.append(name + b": " + value + b"\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


class HttpServerProtocol(asyncio.Protocol):
    """Parses requests and hands each complete one to `handle(protocol, request)`.

    `max_body` bounds what is buffered; a larger body is drained and flagged `too_large`. `table`: the
    endpoint's connections (default: one table per handler object, i.e. per environment).
    """

    def __init__(self, handle: Callable[[HttpServerProtocol, Request], None], max_body: int,
                 table: ConnectionTable | None = None,
                 on_stream: Callable[[HttpServerProtocol, Request], BodySink | None] | None = None) -> None:
        self._handle = handle
        # A head that announces a streamed response is offered to `on_stream`; a sink it returns takes the body.
        self._on_stream = on_stream
        self._sink: BodySink | None = None
        self._sink_raw = 0  # bytes read while a sink takes the body (framing and trailers included) ...
        self._sink_chunks = 0  # ... and its chunks: what passes body + framing is trailers, bounded
        self._max_body = max_body
        self._parser = httptools.HttpRequestParser(self)
        self._request = Request()  # the request being parsed (replaced at each message's begin)
        self._header_name = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        # Responses made while parsing are held and written once at the end of the chunk. When the
        # chunk also parked a request for later (a pipelined `/next` after `/response`), the held
        # responses wait and leave in the same write as that later answer: one syscall and one
        # wake-up of the peer instead of two.
        self._held: list[bytes] = []
        self._parsing = False
        self.parked = False
        # Limits (see stratus.http_limits): the head budget, header fields left, the phase and progress the
        # sweeper reads (it owns `seen` and `deadline`), requests not answered yet, requests in this read.
        self._table = table
        self._table_key: int | None = None
        limits = table.limits if table is not None else _limits
        self._max_head = self._head_left = limits.max_head_bytes
        self._max_headers = self._headers_left = limits.max_header_count
        self._large_body_bytes = limits.large_body_bytes
        self._in_head = True
        self._heads = 0
        self.phase = NEW
        self.progress = 0
        self.seen = -1
        self.deadline = INFINITE
        self._unanswered = 0
        self._read_requests = 0
        self._large = False
        self._linger_left = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        table = self._table
        if table is None:
            owner = getattr(self._handle, "__self__", self._handle)
            self._table_key = key = id(owner)  # the owner lives while this connection does: the id is its own
            table = _tables.get(key)
            if table is None:
                table = _tables[key] = ConnectionTable(_limits)
            self._table = table
        if not table.admit(self, asyncio.get_running_loop()):  # refused at once (no linger: fds are short)
            self._table = None
            self._head_left = -1
            self._held.append(TOO_MANY_CONNECTIONS)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.lost()
        table = self._table
        if table is not None:
            table.drop(self)
            if self._large:
                self._large = False
                table.release_large_body()
            if not table.connections and self._table_key is not None and _tables.get(self._table_key) is table:
                del _tables[self._table_key]
            self._table = None

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if self._in_head:
            n = len(data)
            if n > self._head_left:
                return self._over_head_budget(data)
            self._head_left -= n
        self._parsing = True
        self._read_requests = 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._parse_failed(error)
        finally:
            self._parsing = False
        if sink is not None and self._sink is sink:
            self._sink_raw += len(data)
            if self._sink_raw - self._request.size - CHUNK_FRAMING * self._sink_chunks > 2 * self._max_head:
                self._sink = None  # trailers (or chunk extensions) beyond any head's size
                sink.lost()
                self._refuse(HEAD_TOO_LARGE)
                return
        if self._held and not self.parked:
            self._flush()

    def _parse_failed(self, error: httptools.HttpParserError) -> None:
        if isinstance(error.__context__, _HeadTooLarge):
            self._refuse(HEAD_TOO_LARGE)
        elif not isinstance(error.__context__, _Stop):
            self._head_left, self._in_head = -1, True  # nothing more is parsed
            self.send(400, b'{"errorMessage":"Bad request","errorType":"BadRequest"}')
            self.close()

    def _over_head_budget(self, data: bytes) -> None:
        """This chunk passes the head limit: the parser gets only what the head may still use; a head still
        incomplete then is refused (431); the rest of the chunk is read as usual."""
        allowed = self._head_left
        if allowed < 0:  # refused: lingering (see _refuse), or closed
            self._linger_left -= len(data)
            if self._linger_left < 0 and self.transport is not None:
                self.transport.close()
            return
        heads = self._heads
        view = memoryview(data)
        self._in_head = False  # the allowed part is fed as is
        self.data_received(view[:allowed])  # type: ignore[arg-type]  # the parser reads any buffer
        if self.closed or self._head_left < 0:
            return
        if self._heads == heads:
            return self._refuse(HEAD_TOO_LARGE)
        self.data_received(view[allowed:])  # type: ignore[arg-type]

    def _refuse(self, response: bytes) -> None:
        """Answer with an error and stop reading requests; half-close and discard what still comes for a while
        (LINGER_S, LINGER_BYTES), so a client still sending reads the answer rather than a reset."""
        self._head_left, self._in_head = -1, True
        self.phase = LINGER
        self.progress += 1
        self._linger_left = LINGER_BYTES
        transport = self.transport
        if self.closed or transport is None:
            return
        self._held.append(response)
        self._flush()
        self.closed = True  # nothing more is written
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def expire(self) -> None:
        """Called by the sweeper past the deadline: a late request gets 408, an idle connection is closed."""
        if self.phase in (HEAD, BODY):
            self._refuse(TIMED_OUT)
            return
        self._head_left = -1
        self.deadline = INFINITE
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._request = Request()
        self._headers_left = self._max_headers
        self.phase = HEAD
        self.progress += 1

    def on_url(self, url: bytes) -> None:
        self._request.path += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._request.headers[name.lower()] = value
        self._headers_left -= 1
        if self._headers_left < 0:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._request.method = self._parser.get_method()
        self._heads += 1
        self._in_head = False
        self.phase = BODY
        self.progress += 1
        if self._on_stream is not None and RESPONSE_MODE in self._request.headers:
            sink = self._on_stream(self, self._request)
            if sink is not None:  # the body goes on as it comes, for as long as the function runs: no body timeout
                self._sink = sink
                self._sink_raw = self._sink_chunks = 0
                self.phase = BUSY

    def on_chunk_header(self) -> None:
        self._sink_chunks += 1

    def on_body(self, body: bytes) -> None:
        self.progress += 1
        request = self._request
        request.size += len(body)
        sink = self._sink
        if sink is not None:
            sink.data(body)
            if self._sink is None:  # refused mid-body (conn.refuse): nothing more of this connection is read
                raise _Stop
            return
        if request.too_large or request.refused:
            return
        if request.size > self._max_body:
            request.too_large = True
            request.body = bytearray()
            return
        if request.size > self._large_body_bytes and not self._large:
            if self._table is None or not self._table.acquire_large_body():
                request.refused = True
                request.body = bytearray()
                return
            self._large = True
        request.body += body

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_left = self._max_head
        self.phase = BUSY
        self.progress += 1
        self._unanswered += 1
        self._read_requests += 1
        if self._read_requests > MAX_REQUESTS_PER_READ:
            self._refuse(TOO_MANY_PIPELINED)
            raise _Stop
        request = self._request
        sink = self._sink
        if sink is not None:
            self._sink = None
            try:
                sink.complete(request)
            except Exception:  # a bug of ours: the invocation still ends (as a truncated response)
                log.exception("Runtime API streamed response failed for %s", request.path)
                self.send(500, b'{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}\n')
                sink.lost()
            return
        if self._large:
            self._large = False
            self._table.release_large_body()  # type: ignore[union-attr]
        if request.refused:
            self.send(429, TOO_MANY_LARGE_BODIES)
            return
        try:
            self._handle(self, request)
        except Exception:  # a bug of ours: say so in the log, answer as the RIE does
            log.exception("Runtime API handler failed for %s %s", request.method, request.path)
            self.send(500, b'{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}\n')

    # responses
    def send(self, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = (),
             content_type: bytes = b"application/json") -> None:
        """Answer the oldest unanswered request (held while parsing; see __init__)."""
        self.parked = False
        self._held.append(encode_response(status, body, headers, content_type))
        self._unanswered -= 1
        if self._unanswered <= 0 and self.phase == BUSY:
            self._unanswered = 0
            self.phase = IDLE
            self.progress += 1
        if not self._parsing:
            self._flush()

    def refuse(self, status: int, body: bytes) -> None:
        """Answer the request being read now with an error and read no more of this connection (a sink's
        streamed body over its limit): the peer reads the answer, what it still sends is discarded."""
        self._sink = None
        self._refuse(encode_response(status, body, [(b"Connection", b"close")]))

    def pause_reading(self) -> None:
        """Stop reading from the peer (its writes back up: flow control for a sink's body)."""
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def _flush(self) -> None:
        held, self._held = self._held, []
        if not self.closed and self.transport is not None:
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        if self._held:
            self._flush()
        if self.transport is not None and not self.closed:
            self.transport.close()
            self.closed = True
