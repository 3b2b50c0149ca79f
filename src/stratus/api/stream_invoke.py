"""InvokeWithResponseStream (`POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations`).

The request is checked as Invoke's is (signature, function, qualifier, payload, client context) and
authorized as `lambda:InvokeFunction`, as on AWS. The answer is `200` with `Content-Type:
application/vnd.amazon.eventstream` and `X-Amz-Executed-Version`, sent once the runtime starts its
streamed response (or, for a function that does not stream, once it answered): then one `PayloadChunk`
event per piece of the response as the runtime sends it, and one `InvokeComplete` event at the end
(`ErrorCode` / `ErrorDetails` when the function failed, mid-stream or not; `LogResult` with
`LogType: Tail`). Refusals known before the answer starts (throttles, unknown functions, bad input) are
ordinary AWS errors.

`InvocationType: DryRun` runs the function too: AWS does (the AWS SAM CLI's integration tests, run
against AWS, get the payload chunks of a DryRun `invoke_with_response_stream`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from urllib.parse import parse_qs, unquote

import msgspec
from starlette.types import Receive, Scope, Send

from stratus.api import eventstream
from stratus.api.asgi import internal_error, read_body, send_response
from stratus.api.invoke import InvokeEndpoint, InvokeHead, checked_client_context, checked_payload, error_headers
from stratus.api.validation import validate
from stratus.errors import LambdaError, RequestTooLargeException
from stratus.invoke.streaming import ResponseStream, StreamLimits, abandon_on_disconnect, completion_error
from stratus.observe.logs import tail_header

log = logging.getLogger("stratus.api")

PREFIX = "/2021-11-15/functions/"
SUFFIX = "/response-streaming-invocations"
EVENT_STREAM = b"application/vnd.amazon.eventstream"
_CHUNK_HEADERS = eventstream.event_headers("PayloadChunk", "application/octet-stream")
_COMPLETE_HEADERS = eventstream.event_headers("InvokeComplete", "application/json")


def is_stream_invoke(method: str, path: str) -> bool:
    return method == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX)


def payload_chunk(data: bytes) -> bytes:
    """A PayloadChunk event carrying `data`."""
    return eventstream.message(_CHUNK_HEADERS, data)


def invoke_complete(error: tuple[str, str] | None, log_result: str | None) -> bytes:
    """The InvokeComplete event."""
    body: dict[str, str] = {}
    if error is not None:
        body["ErrorCode"], body["ErrorDetails"] = error
    if log_result is not None:
        body["LogResult"] = log_result
    return eventstream.message(_COMPLETE_HEADERS, msgspec.json.encode(body))


class StreamInvokeEndpoint:
    """Serves InvokeWithResponseStream with the Invoke endpoint's checks and the InvokeService's streams."""

    def __init__(self, invoke: InvokeEndpoint):
        self.invoke = invoke
        settings = invoke.settings
        self.limits = StreamLimits(settings.stream_response_max_bytes, settings.stream_uncapped_bytes,
                                   settings.stream_bandwidth_bytes_per_s)

    def head(self, path: str, query: bytes, headers: dict[bytes, bytes]) -> InvokeHead:
        """Resolve the function and read the options (AWS's validation of this operation); raises LambdaError."""
        reference = unquote(path[len(PREFIX):-len(SUFFIX)])
        params = {"FunctionName": reference,
                  "InvocationType": headers.get(b"x-amz-invocation-type", b"RequestResponse").decode(),
                  "LogType": headers.get(b"x-amz-log-type", b"None").decode()}
        qualifiers = parse_qs(query.decode()).get("Qualifier") if query else None
        if qualifiers:
            params["Qualifier"] = qualifiers[0]
        validate("InvokeWithResponseStream", params)
        target = self.invoke.invoke_service.resolve(reference, params.get("Qualifier"))
        return InvokeHead(str(uuid.uuid4()), target, "RequestResponse", params["LogType"], headers,
                          self.invoke.settings.sync_payload_max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = ""
        try:
            headers = dict(scope["headers"])
            raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            invoke = self.invoke
            pending = invoke.authenticate(raw_path, scope["query_string"], headers)
            limit = invoke.settings.sync_payload_max_bytes
            payload = await read_body(receive, limit, RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeWithResponseStream operation"))
            principal = invoke.auth.finish(pending, hashlib.sha256(payload) if pending is not None else None)
            head = self.head(scope["path"], scope["query_string"], headers)
            request_id = head.request_id
            invoke.auth.authorize(principal, "lambda:InvokeFunction", head.target.invoked_arn)
            stream = invoke.invoke_service.invoke_stream(
                head.target, checked_payload(payload), request_id=request_id, limits=self.limits,
                client_context=checked_client_context(headers), trace_id=headers.get(b"x-amzn-trace-id"),
                tenant_id=headers.get(b"x-amz-tenant-id"), want_log=head.log_type == "Tail")
            await stream.started()
        except LambdaError as error:
            await send_response(send, error.status, error.body(), error_headers(error, request_id))
            return
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            internal = internal_error(exc)
            await send_response(send, internal.status, internal.body(), error_headers(internal, request_id))
            return
        await self._answer(head, stream, receive, send)

    async def _answer(self, head: InvokeHead, stream: ResponseStream, receive: Receive, send: Send) -> None:
        """The event stream, piece by piece as the runtime sends. A client that goes away abandons the stream
        (the function ends as usual); one that stops reading is dropped `stream_drain_timeout_s` after the
        function ended."""
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", EVENT_STREAM), (b"x-amzn-requestid", head.request_id.encode()),
            (b"x-amz-executed-version", head.target.executed_version.encode())]})
        watcher = asyncio.get_running_loop().create_task(abandon_on_disconnect(receive, stream))
        try:
            async with asyncio.timeout(None) as deadline:
                drain_s = self.invoke.settings.stream_drain_timeout_s
                stream.on_end(lambda: deadline.reschedule(asyncio.get_running_loop().time() + drain_s))
                await self._send_events(head, stream, send)
        except TimeoutError:
            log.info("InvokeWithResponseStream %s: the client stopped reading; its connection is dropped",
                     head.request_id)
        finally:
            watcher.cancel()

    async def _send_events(self, head: InvokeHead, stream: ResponseStream, send: Send) -> None:
        try:
            async for piece in stream:
                await send({"type": "http.response.body", "body": payload_chunk(piece), "more_body": True})
            outcome = stream.result.outcome if stream.result is not None else None
            error = completion_error(outcome)
        except Exception as exc:  # noqa: BLE001 - the answer has started: the error goes in InvokeComplete
            internal = internal_error(exc)
            outcome, error = None, (internal.error_type, internal.message)
        log_result = None
        if head.log_type == "Tail":
            log_result = tail_header(outcome.log if outcome is not None else b"", self.invoke.settings.log_tail_bytes)
        await send({"type": "http.response.body", "body": invoke_complete(error, log_result), "more_body": False})
