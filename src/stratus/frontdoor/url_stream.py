"""Function URLs in `InvokeMode RESPONSE_STREAM`: the function's response goes to the HTTP client as it comes,
as chunked HTTP/1.1.

The request invokes through `InvokeService.invoke_stream`. What the client gets (AWS's behaviour; sources in
docs/design-notes.md, "Streaming Function URLs"):
- a stream of type `application/vnd.awslambda.http-integration-response` (Node's
  `awslambda.HttpResponseStream.from`): its JSON prelude gives the status, headers and cookies (one
  Set-Cookie each); the bytes after its 8 NUL bytes are the body. The head leaves once the prelude is read;
- any other answer (a stream without the prelude, or a function that does not stream): 200 with the
  runtime's Content-Type, the bytes as the runtime sent them, unread (a buffered `{"statusCode": ...}` result
  is not interpreted: the body is that JSON). The head leaves with the first byte, or at the end;
- an error known before the head leaves (the function failed, timed out, sent a prelude that is not one):
  502 as in BUFFERED mode; throttled: 429;
- an error after the head left (a function error mid-stream, a timeout, the size limit): the body ends
  without its last chunk and the connection closes, so the client sees a truncated response.
The URL's CORS headers are added to the head as in BUFFERED mode, with `x-amzn-requestid`.

`StreamedHttpResponse` is an `HttpResponse` (so the front doors' futures keep their type) that carries the stream;
`send_asgi` writes it through ASGI, api/frontdoor_stream.py on the fast path.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from starlette.types import Receive, Send

from stratus.errors import TooManyRequestsException
from stratus.frontdoor.cors import CorsRules, decorate
from stratus.frontdoor.payloads import Headers, HttpRequest, HttpResponse
from stratus.invoke.streaming import (
    HTTP_INTEGRATION,
    HttpPrelude,
    ResponseStream,
    abandon_on_disconnect,
    completion_error,
    read_http_prelude,
)

log = logging.getLogger("stratus.frontdoor")

# Not passed on from a prelude: the framing is Stratus's (chunked), and hop-by-hop headers are not the function's.
_NOT_PASSED = frozenset(("content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
                         "proxy-connection", "trailer", "te"))
# What may not be in a header name (not an HTTP token) or value (control characters but tab), as uvicorn checks.
_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


class StreamedHttpResponse(HttpResponse):
    """A streamed answer: status and headers are known; the body is `first` and then the stream's pieces."""

    __slots__ = ("stream", "first", "request_id", "drain_timeout_s")

    def __init__(self, status: int, headers: Headers, stream: ResponseStream, first: bytes, request_id: str,
                 drain_timeout_s: float):
        super().__init__(status, headers, b"")
        self.stream = stream
        self.first = first
        self.request_id = request_id
        self.drain_timeout_s = drain_timeout_s

    def failed(self) -> bool:
        """Whether the invocation failed (once the stream has ended): the body must end truncated."""
        result = self.stream.result
        return result is None or completion_error(result.outcome) is not None

    def on_end(self, deadline: asyncio.Timeout) -> Callable[[], None]:
        """Bound the writing of what is left once the invocation ended (a client that stopped reading):
        reschedules `deadline` then; the returned callable detaches it (call it when the writing is over)."""
        active = True

        def ended() -> None:
            if active:
                deadline.reschedule(asyncio.get_running_loop().time() + self.drain_timeout_s)

        def detach() -> None:
            nonlocal active
            active = False

        self.stream.on_end(ended)
        return detach

    def cut(self, why: str) -> None:
        """The body will not be completed: what the function still sends is dropped."""
        self.stream.abandon()
        log.info("Function URL request %s: %s; the response is cut off", self.request_id, why)


async def open_stream(stream: ResponseStream, request_id: str, request: HttpRequest, rules: CorsRules | None,
                      drain_timeout_s: float, refusal: Callable[[str, bool], HttpResponse]) -> HttpResponse:
    """The answer to send for a streaming invocation: a StreamedHttpResponse once its head is known, or the
    refusal (`refusal(request_id, throttled)`: 429 or 502) for an error known before anything was sent."""
    try:
        prelude = await read_http_prelude(stream)
    except TooManyRequestsException:
        return refusal(request_id, True)
    except Exception:  # noqa: BLE001 - the invocation failed before its answer started: the client sees a 502
        return refusal(request_id, False)
    first = b""
    if prelude is not None and not _is_integration(stream):
        try:  # the head leaves with the first byte: an error before it is still a 502
            first = await anext(stream, b"")
        except Exception:  # noqa: BLE001
            return refusal(request_id, False)
    if prelude is None or (stream.ended and (stream.result is None or completion_error(stream.result.outcome))):
        stream.abandon()
        return refusal(request_id, False)
    headers = _head(prelude, request_id)
    if headers is None:
        stream.abandon()
        return refusal(request_id, False)
    response = StreamedHttpResponse(prelude.status, headers, stream, first, request_id, drain_timeout_s)
    if rules is not None:
        decorate(rules, request, response)
    return response


def _is_integration(stream: ResponseStream) -> bool:
    return stream.content_type.split(b";")[0].strip().lower() == HTTP_INTEGRATION


def _head(prelude: HttpPrelude, request_id: str) -> Headers | None:
    """The response headers from the prelude (None when it cannot be sent: a status outside 100-599, a header
    name that is not an HTTP token, a value with control characters); characters beyond latin-1 become '?'."""
    if not 100 <= prelude.status <= 599:
        return None
    headers: Headers = [(name.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
                        for name, value in prelude.headers.items() if name not in _NOT_PASSED]
    headers += [(b"set-cookie", cookie.encode("latin-1", "replace")) for cookie in prelude.cookies]
    if any(not name or _BAD_NAME.search(name) or _BAD_VALUE.search(value) for name, value in headers):
        return None
    headers.append((b"x-amzn-requestid", request_id.encode()))
    return headers


async def send_asgi(response: StreamedHttpResponse, receive: Receive, send: Send, method: str) -> None:
    """Write a streamed answer through ASGI (the fast path's fallback: HTTP/1.0, `Expect: 100-continue`, large
    request bodies, pipelining). uvicorn frames it chunked. A failure after the head returns without completing
    the response: uvicorn then closes the connection (and logs that the response was not completed)."""
    stream = response.stream
    await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
    if method == "HEAD":
        stream.abandon()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    watcher = asyncio.get_running_loop().create_task(abandon_on_disconnect(receive, stream))
    detach: Callable[[], None] = lambda: None  # noqa: E731
    try:
        async with asyncio.timeout(None) as deadline:
            detach = response.on_end(deadline)
            if response.first:
                await send({"type": "http.response.body", "body": response.first, "more_body": True})
            async for piece in stream:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
    except TimeoutError:
        response.cut("the client stopped reading")
        return
    except Exception:  # noqa: BLE001 - the invocation failed after the head left
        response.cut("the invocation failed")
        return
    finally:
        detach()
        watcher.cancel()
    if response.failed():
        response.cut("the function failed mid-stream")
        return
    await send({"type": "http.response.body", "body": b"", "more_body": False})
