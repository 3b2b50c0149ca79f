"""Invoke (`POST /2015-03-31/functions/{FunctionName}/invocations`): the hot path.

The request is checked in two steps — its head (function, qualifier, invocation type), then its
body (size, JSON) — and answered as AWS answers. The same steps serve two front doors: the raw
protocol fast path (api/fastpath.py, no ASGI, no task per request) and plain ASGI (used when the
fast path does not apply). The payload is never re-encoded: the environment gets the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from urllib.parse import parse_qs, unquote

import msgspec

from stratus.api.asgi import internal_error, read_body, send_response
from stratus.api.validation import validate
from stratus.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaError,
    RequestTooLargeException,
)
from stratus.invoke.environment import EnvironmentSpec, Invocation, Outcome
from stratus.observe.logs import tail_header

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"
_check_json = msgspec.json.Decoder(msgspec.Raw).decode
_INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def is_invoke(method: str, path: str) -> bool:
    return method == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX)


class InvokeHead:
    """What the request line and headers of an Invoke say."""

    __slots__ = ("request_id", "record", "version", "qualifier", "invocation_type", "log_type", "headers",
                 "body_limit")

    def __init__(self, request_id, record, version, qualifier, invocation_type, log_type, headers, body_limit):
        self.request_id = request_id
        self.record = record
        self.version = version
        self.qualifier = qualifier
        self.invocation_type = invocation_type
        self.log_type = log_type
        self.headers = headers
        self.body_limit = body_limit

    def too_large(self) -> RequestTooLargeException:
        return RequestTooLargeException(
            f"Request must be smaller than {self.body_limit} bytes for the InvokeFunction operation")


class InvokeEndpoint:
    """Parses an Invoke request, runs it through the Invoker, produces AWS's response."""

    def __init__(self, functions, invoker, settings, async_invocations=None):
        self.functions = functions
        self.invoker = invoker
        self.settings = settings
        self.async_invocations = async_invocations  # events/async_queue.py: the durable queue of Event invokes
        self._known_names: set[tuple[str, str | None]] = set()  # (reference, qualifier) pairs the model accepted

    # ------------------------------------------------------------------ the steps
    def head(self, raw_path: str, query: bytes, headers: dict[bytes, bytes]) -> InvokeHead:
        """Resolve the function and read the invocation options; raises LambdaError."""
        request_id = str(uuid.uuid4())
        reference = unquote(raw_path[len(PREFIX):-len(SUFFIX)])
        invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse").decode()
        log_type = headers.get(b"x-amz-log-type", b"None").decode()
        qualifier = (parse_qs(query.decode()).get("Qualifier") or [None])[0] if query else None
        if (reference, qualifier) not in self._known_names or invocation_type not in _INVOCATION_TYPES \
                or log_type not in ("None", "Tail"):
            params = {"FunctionName": reference, "InvocationType": invocation_type, "LogType": log_type}
            if qualifier is not None:
                params["Qualifier"] = qualifier
            validate("Invoke", params)
            if len(self._known_names) < 100_000:
                self._known_names.add((reference, qualifier))
        record, version, qualifier = self.functions.route(reference, qualifier)
        limit = (self.settings.async_payload_max_bytes if invocation_type == "Event"
                 else self.settings.sync_payload_max_bytes)
        return InvokeHead(request_id, record, version, qualifier, invocation_type, log_type, headers, limit)

    def invocation(self, head: InvokeHead, payload: bytes) -> tuple[EnvironmentSpec, Invocation]:
        """Check the payload and build the Invocation; raises LambdaError."""
        if payload:
            try:
                _check_json(payload)
            except msgspec.DecodeError as exc:
                raise InvalidRequestContentException(
                    f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
        else:
            payload = b"{}"
        headers = head.headers
        client_context = headers.get(b"x-amz-client-context")
        if client_context:
            try:
                client_context = base64.b64decode(client_context, validate=True)
                if not client_context.lstrip().startswith(b"{"):
                    raise ValueError("not an object")
                _check_json(client_context)
            except (binascii.Error, ValueError, msgspec.DecodeError):
                raise InvalidParameterValueException(
                    "Client context must be a valid Base64-encoded JSON object.") from None
        record = head.record
        invocation = Invocation(
            payload, self.functions.arns.function(record.name, head.qualifier), request_id=head.request_id,
            client_context=client_context or None, trace_id=headers.get(b"x-amzn-trace-id"),
            tenant_id=headers.get(b"x-amz-tenant-id"), want_log=(head.log_type == "Tail"),
        )
        return self.functions.environment_spec(record), invocation

    def start(self, head: InvokeHead, payload: bytes):
        """Run the invoke: (status, headers) for an immediate answer, or a future of the Outcome (or, for
        an Event invoke, of the (202, headers) answer, resolved once the event is durably stored)."""
        spec, invocation = self.invocation(head, payload)
        if head.invocation_type == "DryRun":
            return 204, [(b"x-amzn-requestid", head.request_id.encode())]
        if head.invocation_type == "Event":
            accepted = (202, [(b"x-amzn-requestid", head.request_id.encode())])
            return self.async_invocations.accept(head.record.name, head.qualifier, invocation.payload,
                                                 head.request_id, accepted)
        return self.invoker.submit(spec, invocation)

    def outcome_response(self, head: InvokeHead, outcome: Outcome) -> tuple[list[tuple[bytes, bytes]], bytes]:
        headers = [
            (b"content-type", outcome.content_type),
            (b"x-amzn-requestid", head.request_id.encode()),
            (b"x-amz-executed-version", head.version.encode()),
        ]
        if outcome.function_error:
            headers.append((b"x-amz-function-error", outcome.function_error.encode()))
        if head.log_type == "Tail":
            headers.append((b"x-amz-log-result", tail_header(outcome.log, self.settings.log_tail_bytes).encode()))
        return headers, outcome.payload

    # ------------------------------------------------------------------ ASGI front door
    async def __call__(self, scope, receive, send) -> None:
        request_id = ""
        try:
            head = self.head(scope["path"], scope["query_string"], dict(scope["headers"]))
            request_id = head.request_id
            payload = await read_body(receive, head.body_limit, head.too_large())
            started = self.start(head, payload)
            if isinstance(started, tuple):
                await send_response(send, started[0], b"", started[1])
                return
            outcome = await started
            if isinstance(outcome, tuple):  # an Event invoke, now stored
                await send_response(send, outcome[0], b"", outcome[1])
                return
            headers, body = self.outcome_response(head, outcome)
            await send_response(send, 200, body, headers)
        except LambdaError as error:
            await send_response(send, error.status, error.body(), error_headers(error, request_id))
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            error = internal_error(exc)
            await send_response(send, error.status, error.body(), error_headers(error, request_id))


def error_headers(error: LambdaError, request_id: str) -> list[tuple[bytes, bytes]]:
    headers = error.headers()
    headers.append((b"x-amzn-requestid", (request_id or str(uuid.uuid4())).encode()))
    return headers
