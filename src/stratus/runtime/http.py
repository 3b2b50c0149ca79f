"""A minimal HTTP/1.1 server protocol on httptools for the per-environment Runtime API endpoint.

The Runtime API is the hot path of every invoke (one `/next` and one `/response` per call), so it is
served by this small keep-alive protocol rather than a full ASGI stack. Only what runtimes send is
supported: requests with Content-Length or chunked bodies, answered with Content-Length responses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import cast

import httptools

log = logging.getLogger("stratus.runtime")
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class Request:
    __slots__ = ("method", "path", "headers", "body", "size", "too_large")

    def __init__(self) -> None:
        self.method = b""
        self.path = b""
        self.headers: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.size = 0  # bytes received, even when not buffered
        self.too_large = False


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

    `max_body` bounds what is buffered; a larger body is drained and flagged `too_large`.
    """

    def __init__(self, handle: Callable[[HttpServerProtocol, Request], None], max_body: int) -> None:
        self._handle = handle
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

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self._parsing = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.send(400, b'{"errorMessage":"Bad request","errorType":"BadRequest"}')
            self.close()
        finally:
            self._parsing = False
        if self._held and not self.parked:
            self._flush()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._request = Request()

    def on_url(self, url: bytes) -> None:
        self._request.path += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._request.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self._request.method = self._parser.get_method()

    def on_body(self, body: bytes) -> None:
        request = self._request
        request.size += len(body)
        if request.too_large:
            return
        if request.size > self._max_body:
            request.too_large = True
            request.body = bytearray()
            return
        request.body += body

    def on_message_complete(self) -> None:
        request = self._request
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
        if not self._parsing:
            self._flush()

    def _flush(self) -> None:
        held, self._held = self._held, []
        if not self.closed and self.transport is not None:
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        if self._held:
            self._flush()
        if self.transport is not None and not self.closed:
            self.transport.close()
