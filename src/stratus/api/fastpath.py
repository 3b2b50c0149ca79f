"""The front door's HTTP protocol: uvicorn's httptools protocol, with Invoke served without ASGI.

Why: a warm invoke is three HTTP messages through this process (the call, the runtime's `/next`
answer, its `/response`), and uvicorn's per-request machinery (scope dict, a task, message dicts,
two writes per response) costs as much as the rest of the invoke together. Here an Invoke request
is parsed by uvicorn's parser callbacks as usual, but handled by a small cycle object: the
function is resolved when the head is complete, the body is checked when it is complete, a warm
environment takes the invocation synchronously, and the answer leaves in one write. Everything
else (and any Invoke the fast path does not take: HTTP/1.0, `Expect: 100-continue`, a pipelined
request behind another) goes through uvicorn and the ASGI app unchanged.

The cycle object speaks the parts of uvicorn's RequestResponseCycle that the protocol touches
(`response_complete`, `keep_alive`, `message_event`, `disconnected`), so uvicorn's pipelining, keep-alive
and graceful shutdown logic keep working around it. uvicorn is pinned in pyproject.toml for this.

The protocol also enforces the limits of stratus.http_limits on every request, fast path or not: head bytes
counted before parsing (431), header fields (431), the connection's phase and progress, from which the
sweeper's deadlines follow (408 / close; they replace uvicorn's per-request keep-alive timer), the connection
limit (503 at once) and large-body slots (429).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import cast
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stratus.api.asgi import internal_error
from stratus.api.frontdoor_cycle import FrontDoorCycle
from stratus.api.invoke import PREFIX, SUFFIX, InvokeEndpoint, InvokeHead, error_headers
from stratus.api.transport import NO_EVENT, STATUS_LINES, CoalescingTransport, encode_response
from stratus.auth.sigv4 import Pending
from stratus.errors import LambdaError
from stratus.frontdoor.door import FrontDoor
from stratus.http_limits import BODY, BUSY, HEAD, IDLE, INFINITE, LINGER, LINGER_BYTES, NEW, ConnectionTable, HttpLimits
from stratus.invoke.types import InvokeResult

_PREFIX = PREFIX.encode()
_SUFFIX = SUFFIX.encode()


def _error(status: int, error_type: bytes, message: bytes, fault: bytes = b"User", key: bytes = b"Message") -> bytes:
    """A ready-made AWS-shaped error that closes the connection."""
    body = b'{"Type":"%s","%s":"%s"}' % (fault, key, message)
    return (STATUS_LINES[status] + b"x-amzn-errortype: %s\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (error_type, len(body), body))


HEAD_TOO_LARGE = _error(431, b"RequestHeaderFieldsTooLargeException", b"Request header fields too large")
TIMED_OUT = _error(408, b"RequestTimeoutException", b"Request timed out")
TOO_MANY_CONNECTIONS = _error(503, b"ServiceException", b"Too many connections, retry later", b"Server")
TOO_MANY_UPLOADS = _error(  # as AWS's throttling answers: lower-case "message" and a Reason
    429, b"TooManyRequestsException",
    b'Too many large requests at once, retry later","Reason":"CallerRateLimitExceeded', key=b"message")


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that has too many fields."""


class _Stop(Exception):
    """Raised from a parser callback once the connection has been answered for good: nothing more is parsed."""




class FastInvokeCycle:
    """One Invoke request on the fast path, from head to the single write of its answer."""

    __slots__ = ("protocol", "endpoint", "head", "error", "chunks", "size", "keep_alive",
                 "response_complete", "message_event", "more_body", "disconnected", "pending", "digest")

    def __init__(self, protocol: StratusHttpProtocol, endpoint: InvokeEndpoint, raw_path: bytes, query: bytes,
                 headers: list[tuple[bytes, bytes]], keep_alive: bool):
        self.protocol = protocol
        self.endpoint = endpoint
        self.keep_alive = keep_alive
        self.response_complete = False
        self.message_event = NO_EVENT
        self.more_body = True
        self.disconnected = False  # set by uvicorn when the client goes away mid-invoke
        self.chunks: list[bytes] = []  # the body, joined once when complete
        self.size = 0
        self.head: InvokeHead | None = None
        self.error: LambdaError | None = None
        self.pending: Pending | None = None  # the signature, checked up to the payload hash
        self.digest = None  # the body's running SHA-256 while the signature waits for it
        path = raw_path.decode("ascii")
        header_map = dict(headers)
        try:
            self.pending = endpoint.authenticate(path, query or b"", header_map)  # before the function is looked up
            if self.pending is not None and self.pending.needs_body_hash:
                self.digest = hashlib.sha256()
            self.head = endpoint.head(unquote(path) if "%" in path else path, query or b"", header_map)
        except LambdaError as error:
            self.error = error
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            self.error = internal_error(exc)

    def body_complete(self) -> None:
        head = self.head
        if self.pending is not None:  # the signature first: nothing else is answered or run before it checks out
            try:
                self.endpoint.verify(self.pending, self.digest, head)
            except LambdaError as error:
                return self.respond_error(error)
        if self.error is not None:
            return self.respond_error(self.error)
        assert head is not None  # the head either parsed or set `error`
        if self.size > head.body_limit:
            return self.respond_error(head.too_large())
        body, self.chunks = b"".join(self.chunks), []
        try:
            started = self.endpoint.start(head, body)
        except LambdaError as error:
            return self.respond_error(error)
        except Exception as exc:  # noqa: BLE001
            return self.respond_error(internal_error(exc))
        started.add_done_callback(self._result_ready)

    def _result_ready(self, future: asyncio.Future[InvokeResult]) -> None:
        head = self.head
        assert head is not None  # started only once the head parsed
        try:
            status, headers, body = self.endpoint.response(head, future.result())
        except LambdaError as error:
            return self.respond_error(error)
        except Exception as exc:  # noqa: BLE001
            return self.respond_error(internal_error(exc))
        self.respond(status, headers, body)

    def respond_error(self, error: LambdaError) -> None:
        request_id = self.head.request_id if self.head is not None else ""
        self.respond(error.status, error_headers(error, request_id), error.body())

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        protocol = self.protocol
        self.response_complete = True
        transport = protocol.raw_transport
        if transport.is_closing() or self.disconnected:
            return
        transport.write(encode_response(status, headers, body, self.keep_alive))
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()


class _RefusedCycle:
    """A request refused at its head (too many large uploads): the answer has left; the body is discarded."""

    __slots__ = ("keep_alive", "response_complete", "message_event", "more_body", "disconnected")

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = True
        self.message_event = NO_EVENT
        self.more_body = True
        self.disconnected = False


class StratusHttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol plus the Invoke fast path (bind an endpoint with `bind`) and the limits of
    stratus.http_limits; uvicorn's own responses go through a CoalescingTransport, so each leaves in one write.

    uvicorn's keep-alive timer (created and cancelled per request) is replaced by the table's sweeper."""

    invoke_endpoint: InvokeEndpoint | None = None
    frontdoor: FrontDoor | None = None
    table: ConnectionTable = ConnectionTable(HttpLimits())
    raw_transport: asyncio.Transport  # the socket's own transport (the fast path writes to it directly)
    # For the table's sweeper (see stratus.http_limits): the protocol sets `phase` and bumps `progress`.
    phase = NEW
    progress = 0
    seen = -1
    deadline = INFINITE
    _in_head = True  # the next bytes belong to a head (counted against the head budget)
    _head_left = 0
    _max_head = 0
    _max_headers = 0
    _linger_left = 0
    _heads = 0  # heads completed on this connection
    _large: object = None  # the cycle holding a large-body slot

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.raw_transport = transport
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))
        limits = self.table.limits
        self._max_head = self._head_left = limits.max_head_bytes
        self._max_headers = limits.max_header_count
        if not self.table.admit(self, self.loop):  # refused at once (no linger: the fd is what is short)
            self._head_left = -1
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.table.drop(self)
        if self._large is not None:
            self._large = None
            self.table.release_large_body()
        super().connection_lost(exc)

    @classmethod
    def bind(cls, endpoint: InvokeEndpoint, limits: HttpLimits | None = None,
             frontdoor: FrontDoor | None = None) -> type[StratusHttpProtocol]:
        table = ConnectionTable(limits or HttpLimits())
        return type("BoundStratusHttpProtocol", (cls,), {"invoke_endpoint": endpoint, "table": table,
                                                          "frontdoor": frontdoor})

    # reading
    def data_received(self, data: bytes) -> None:
        if self._in_head:
            n = len(data)
            if n > self._head_left:
                return self._over_head_budget(data)
            self._head_left -= n
        self._feed(data)

    def _feed(self, data: bytes | memoryview) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self._refuse(HEAD_TOO_LARGE)
            elif not isinstance(error.__context__, _Stop):
                self._head_left, self._in_head = -1, True  # nothing more is parsed
                self.send_400_response("Invalid HTTP request received.")

    def _over_head_budget(self, data: bytes) -> None:
        """The head so far and this chunk pass the head limit: the parser gets only what the head may still use;
        if the head is not complete by then, 431. The rest of the chunk (a body, a pipelined request) is read
        as usual."""
        allowed = self._head_left
        if allowed < 0:  # refused: lingering (see _refuse), or closed
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.raw_transport.close()
            return
        heads = self._heads
        view = memoryview(data)
        self._feed(view[:allowed])
        if self.raw_transport.is_closing():
            return
        if self._heads == heads:
            return self._refuse(HEAD_TOO_LARGE)
        self.data_received(view[allowed:])  # type: ignore[arg-type]  # the parser reads any buffer

    def _refuse(self, response: bytes) -> None:
        """Answer with an error and stop reading requests; half-close and discard what still comes for a while
        (LINGER_S, LINGER_BYTES), so a client still sending reads the answer rather than a reset."""
        self._head_left, self._in_head = -1, True
        self.phase = LINGER
        self.progress += 1
        self._linger_left = LINGER_BYTES
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # a request in progress: its app sees a disconnect
            cycle.disconnected = True
            cycle.message_event.set()
        transport = self.raw_transport
        if transport.is_closing():
            return
        transport.write(response)
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def expire(self) -> None:
        """Called by the sweeper past the deadline: a request that is late gets 408, an idle connection goes."""
        if self.phase == LINGER:
            self.deadline = INFINITE
            self.raw_transport.close()
        elif self.phase in (HEAD, BODY):
            self._refuse(TIMED_OUT)
        else:
            self._head_left = -1
            self.deadline = INFINITE
            self.raw_transport.close()

    # parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_names: list[bytes] = []  # as the client cased them (REST API events keep the case)
        self.scope["stratus.header_names"] = self.header_names  # type: ignore[typeddict-unknown-key]
        self.phase = HEAD
        self.progress += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_names.append(name)
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        headers = self.headers
        headers.append((name, value))
        if len(headers) > self._max_headers:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._heads += 1
        self._in_head = False
        self.phase = BODY
        self.progress += 1
        endpoint = self.invoke_endpoint
        parser = self.parser
        if self.frontdoor is not None and self._front_door_cycle():
            return
        if (endpoint is not None and not self.expect_100_continue and parser.get_method() == b"POST"
                and parser.get_http_version() == "1.1" and (self.cycle is None or self.cycle.response_complete)):
            parsed = httptools.parse_url(self.url)
            path = parsed.path
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                # The fast cycle speaks the parts of uvicorn's RequestResponseCycle the protocol touches.
                self.cycle = FastInvokeCycle(self, endpoint, path, parsed.query, self.headers,  # type: ignore[assignment]
                                             parser.should_keep_alive())
                return
        large = self._large_body()
        if large and (self._large is not None or not self.table.acquire_large_body()):
            return self._refuse_upload()  # one slot per connection at most, and only while the table has one
        super().on_headers_complete()
        if large:
            self._large = self.cycle

    def _front_door_cycle(self) -> bool:
        """Take a Function URL or API request (by Host or path) on the fast path. True when it was taken; a
        front-door request the fast path cannot take goes to uvicorn, whose ASGI app sends it to the door."""
        frontdoor = self.frontdoor
        assert frontdoor is not None
        host = None
        for name, value in self.headers:
            if name == b"host":
                host = value
                break
        if not ((host is not None and b".localhost" in host) or self.url.startswith(b"/_stratus/")):
            return False  # the common case (Invoke, the control API): no URL parsing here
        parsed = httptools.parse_url(self.url)
        raw_path = parsed.path.decode("latin-1")
        match = frontdoor.match(host, raw_path)
        if match is None:
            return False
        parser = self.parser
        if self.expect_100_continue or parser.get_http_version() != "1.1" or self._large_body() or not (
                self.cycle is None or self.cycle.response_complete):
            return False  # uvicorn's path (ASGI) serves it: 100-continue, HTTP/1.0, large bodies, pipelining
        self.cycle = FrontDoorCycle(self, frontdoor, match, parser.get_method().decode("latin-1"),  # type: ignore[assignment]
                                    raw_path, parsed.query or b"", self.headers, parser.should_keep_alive(),
                                    self.header_names)
        return True

    def _large_body(self) -> bool:
        """Whether the request's body is large (or of unknown size): it then needs one of the table's slots."""
        for name, value in self.headers:
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.table.limits.large_body_bytes
            if name == b"transfer-encoding":
                return True
        return False

    def _refuse_upload(self) -> None:
        """429 at once. On a keep-alive connection the body is then read and discarded and the connection
        stays usable; otherwise (or when the client waits for `100 Continue` and will not send the body)
        the connection ends after the answer."""
        parser = self.parser
        if parser.should_keep_alive() and parser.get_http_version() == "1.1" and not self.expect_100_continue:
            self.cycle = _RefusedCycle(True)  # type: ignore[assignment]
            self.raw_transport.write(TOO_MANY_UPLOADS.replace(b"connection: close\r\n", b""))
            self.on_response_complete()
            return
        self._refuse(TOO_MANY_UPLOADS)
        raise _Stop

    def on_body(self, body: bytes) -> None:
        self.progress += 1
        cycle = self.cycle
        if isinstance(cycle, FastInvokeCycle):
            cycle.size += len(body)
            if cycle.digest is not None:
                cycle.digest.update(body)
            if cycle.head is not None and cycle.size <= cycle.head.body_limit:
                cycle.chunks.append(body)  # past the limit the rest is only counted: the answer is 413
            return
        if isinstance(cycle, FrontDoorCycle):
            cycle.size += len(body)
            if cycle.size <= cycle.match.door.body_limit:
                cycle.chunks.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_left = self._max_head
        self.progress += 1
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.phase = IDLE
            if cycle is not None and not cycle.keep_alive:
                self.raw_transport.close()
            return
        self.phase = BUSY
        if isinstance(cycle, FastInvokeCycle | FrontDoorCycle):
            cycle.more_body = False
            cycle.body_complete()
            return
        super().on_message_complete()

    # responses
    def on_response_complete(self) -> None:
        """uvicorn's, without its keep-alive timer: the sweeper does that job."""
        self.server_state.total_requests += 1
        large = self._large
        if large is not None and getattr(large, "response_complete", True):
            self._large = None
            self.table.release_large_body()
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self.phase == BUSY:
            self.phase = IDLE
            self.progress += 1
