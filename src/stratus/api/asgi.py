"""Small raw-ASGI helpers shared by the API surfaces."""

from __future__ import annotations

import logging

from starlette.types import Receive, Send

from stratus.errors import LambdaError, RequestEntityTooLargeException, ServiceException

log = logging.getLogger("stratus.api")


async def read_body(receive: Receive, limit: int, too_large: LambdaError | None = None) -> bytes:
    """The whole request body; `too_large` (or RequestEntityTooLargeException) past `limit` bytes."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body = message.get("body", b"")
        if body:
            size += len(body)
            if size > limit:
                raise too_large or RequestEntityTooLargeException(f"Request must be smaller than {limit} bytes")
            chunks.append(body)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_response(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def internal_error(exc: BaseException) -> LambdaError:
    """Log an unexpected failure with its traceback; give the caller AWS's ServiceException only."""
    log.error("internal error", exc_info=exc)
    return ServiceException("An internal error occurred in Stratus; see the server log.")
