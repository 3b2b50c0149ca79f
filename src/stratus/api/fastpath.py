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
"""

from __future__ import annotations

import asyncio
import hashlib
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stratus.api.asgi import internal_error
from stratus.api.invoke import PREFIX, SUFFIX, InvokeEndpoint, InvokeHead, error_headers
from stratus.api.transport import CoalescingTransport
from stratus.auth.sigv4 import Pending
from stratus.errors import LambdaError
from stratus.invoke.types import InvokeResult

_PREFIX = PREFIX.encode()
_SUFFIX = SUFFIX.encode()
_STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()) for status in HTTPStatus}


def encode_response(status: int, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool) -> bytes:
    parts = [_STATUS_LINES[status]]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body)
    return b"".join(parts)


class _NoEvent:
    """uvicorn's on_body signals the cycle's event; the fast cycle reads the body when complete."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


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
        self.message_event = _NO_EVENT
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
        if transport.is_closing():
            return
        transport.write(encode_response(status, headers, body, self.keep_alive))
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()


class StratusHttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol plus the Invoke fast path (bind an endpoint with `bind`); uvicorn's own
    responses go through a CoalescingTransport, so each leaves in one write."""

    invoke_endpoint: InvokeEndpoint | None = None
    raw_transport: asyncio.Transport  # the socket's own transport (the fast path writes to it directly)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.raw_transport = transport
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))

    @classmethod
    def bind(cls, endpoint: InvokeEndpoint) -> type[StratusHttpProtocol]:
        return type("BoundStratusHttpProtocol", (cls,), {"invoke_endpoint": endpoint})

    def on_headers_complete(self) -> None:
        endpoint = self.invoke_endpoint
        parser = self.parser
        if (endpoint is not None and not self.expect_100_continue and parser.get_method() == b"POST"
                and parser.get_http_version() == "1.1" and (self.cycle is None or self.cycle.response_complete)):
            parsed = httptools.parse_url(self.url)
            path = parsed.path
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                # The fast cycle speaks the parts of uvicorn's RequestResponseCycle the protocol touches.
                self.cycle = FastInvokeCycle(self, endpoint, path, parsed.query, self.headers,  # type: ignore[assignment]
                                             parser.should_keep_alive())
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if isinstance(cycle, FastInvokeCycle):
            cycle.size += len(body)
            if cycle.digest is not None:
                cycle.digest.update(body)
            if cycle.head is not None and cycle.size <= cycle.head.body_limit:
                cycle.chunks.append(body)  # past the limit the rest is only counted: the answer is 413
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if isinstance(cycle, FastInvokeCycle):
            if not cycle.response_complete:
                cycle.more_body = False
                cycle.body_complete()
            return
        super().on_message_complete()
