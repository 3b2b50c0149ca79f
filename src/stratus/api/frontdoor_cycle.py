"""The fast path's cycle for Function URL and API requests (see api/fastpath.py): the body is collected, then
`FrontDoor.handle` answers and the answer leaves in one write, as Invoke's does (a streamed Function URL
answer leaves chunk by chunk: api/frontdoor_stream.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from stratus.api import frontdoor_stream
from stratus.api.asgi import internal_error
from stratus.api.transport import NO_EVENT, encode_response
from stratus.frontdoor.door import FrontDoor, Match
from stratus.frontdoor.payloads import HttpRequest, HttpResponse
from stratus.frontdoor.url_stream import StreamedHttpResponse

if TYPE_CHECKING:
    from stratus.api.fastpath import StratusHttpProtocol


class FrontDoorCycle:
    """One Function URL or API request on the fast path: the body is collected (past the door's limit only
    counted), then `FrontDoor.handle` answers and the answer leaves in one write, as for Invoke."""

    __slots__ = ("protocol", "frontdoor", "match", "method", "raw_path", "query", "headers", "chunks", "size",
                 "keep_alive", "response_complete", "message_event", "more_body", "disconnected", "names")

    def __init__(self, protocol: StratusHttpProtocol, frontdoor: FrontDoor, match: Match, method: str, raw_path: str,
                 query: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool, names: list[bytes] | None = None):
        self.protocol = protocol
        self.frontdoor = frontdoor
        self.match = match
        self.method = method
        self.raw_path = raw_path
        self.query = query
        self.headers = headers
        self.chunks: list[bytes] = []
        self.size = 0
        self.keep_alive = keep_alive
        self.response_complete = False
        self.message_event = NO_EVENT
        self.more_body = True
        self.disconnected = False
        self.names = names

    def body_complete(self) -> None:
        door = self.match.door
        if self.size > door.body_limit:
            return self.respond(door.too_large())
        peer = self.protocol.raw_transport.get_extra_info("peername")
        request = HttpRequest(self.method, self.raw_path, self.query.decode("latin-1"), self.headers,
                              b"".join(self.chunks), peer[0] if peer else "", names=self.names)
        self.chunks = []
        try:
            answer = self.frontdoor.handle(self.match, request)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            error = internal_error(exc)
            return self.respond(HttpResponse(error.status, error.headers(), error.body()))
        answer.add_done_callback(self._answered)

    def _answered(self, future: asyncio.Future[HttpResponse]) -> None:
        try:
            response = future.result()
        except Exception as exc:  # noqa: BLE001
            error = internal_error(exc)
            response = HttpResponse(error.status, error.headers(), error.body())
        self.respond(response)

    def respond(self, response: HttpResponse) -> None:
        if isinstance(response, StreamedHttpResponse):  # a Function URL in RESPONSE_STREAM mode: chunk by chunk
            return frontdoor_stream.start(self, response)
        protocol = self.protocol
        self.response_complete = True
        transport = protocol.raw_transport
        if transport.is_closing() or self.disconnected:
            return
        body = response.body
        data = encode_response(response.status, response.headers, body, self.keep_alive)
        if self.method == "HEAD" and body:
            data = data[:-len(body)]
        transport.write(data)
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()
