"""Invoke (`POST /2015-03-31/functions/{FunctionName}/invocations`): raw ASGI, the hot path.

Kept free of routing frameworks and of payload re-encoding: the body is checked to be JSON and
handed to the environment as the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from urllib.parse import parse_qs, unquote

import msgspec

from stratus.api.asgi import internal_error, read_body, send_error, send_response
from stratus.api.validation import validate
from stratus.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaError,
    RequestTooLargeException,
)
from stratus.invoke.environment import Invocation
from stratus.observe.logs import tail_header

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"
_check_json = msgspec.json.Decoder(msgspec.Raw).decode
_INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def is_invoke(method: str, path: str) -> bool:
    return method == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX)


class InvokeEndpoint:
    """Parses an Invoke request, runs it through the Invoker, writes AWS's response."""

    def __init__(self, functions, invoker, settings):
        self.functions = functions
        self.invoker = invoker
        self.settings = settings
        self._known_names: set[str] = set()  # names whose model validation already passed

    async def __call__(self, scope, receive, send) -> None:
        request_id = str(uuid.uuid4())
        try:
            await self._invoke(scope, receive, send, request_id)
        except LambdaError as error:
            await send_error(send, error, request_id)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            await send_error(send, internal_error(exc), request_id)

    async def _invoke(self, scope, receive, send, request_id: str) -> None:
        reference = unquote(scope["path"][len(PREFIX):-len(SUFFIX)])
        headers = dict(scope["headers"])
        invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse").decode()
        log_type = headers.get(b"x-amz-log-type", b"None").decode()
        qualifier = None
        if scope["query_string"]:
            qualifier = (parse_qs(scope["query_string"].decode()).get("Qualifier") or [None])[0]
        if reference not in self._known_names or qualifier is not None or invocation_type not in _INVOCATION_TYPES \
                or log_type not in ("None", "Tail"):
            params = {"FunctionName": reference, "InvocationType": invocation_type, "LogType": log_type}
            if qualifier is not None:
                params["Qualifier"] = qualifier
            validate("Invoke", params)
            if len(self._known_names) < 100_000:
                self._known_names.add(reference)
        record, version = self.functions.resolve(reference, qualifier)

        limit = (self.settings.async_payload_max_bytes if invocation_type == "Event"
                 else self.settings.sync_payload_max_bytes)
        payload = await read_body(receive, limit, RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"))
        if payload:
            try:
                _check_json(payload)
            except msgspec.DecodeError as exc:
                raise InvalidRequestContentException(
                    f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
        else:
            payload = b"{}"

        if invocation_type == "DryRun":
            await send_response(send, 204, b"", [(b"x-amzn-requestid", request_id.encode())])
            return

        client_context = headers.get(b"x-amz-client-context")
        if client_context:
            try:
                client_context = base64.b64decode(client_context, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidParameterValueException("Client context must be a valid Base64-encoded JSON object.") \
                    from None
        spec = self.functions.environment_spec(record)
        invocation = Invocation(
            payload, self.functions.arns.function(record.name, qualifier), request_id=request_id,
            client_context=client_context or None, trace_id=headers.get(b"x-amzn-trace-id"),
            tenant_id=headers.get(b"x-amz-tenant-id"), want_log=(log_type == "Tail"),
        )

        if invocation_type == "Event":
            self.invoker.run_in_background(self._run_async(spec, invocation))
            await send_response(send, 202, b"", [(b"x-amzn-requestid", request_id.encode())])
            return

        outcome = await self.invoker.invoke(spec, invocation)
        response_headers = [
            (b"content-type", outcome.content_type),
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amz-executed-version", version.encode()),
        ]
        if outcome.function_error:
            response_headers.append((b"x-amz-function-error", outcome.function_error.encode()))
        if invocation.want_log:
            response_headers.append((b"x-amz-log-result", tail_header(outcome.log, self.settings.log_tail_bytes).encode()))
        await send_response(send, 200, outcome.payload, response_headers)

    async def _run_async(self, spec, invocation: Invocation) -> None:
        """Event invocations run after the 202 (durable queueing and retries come with the async issue)."""
        try:
            await self.invoker.invoke(spec, invocation)
        except LambdaError:
            pass
        except Exception as exc:  # noqa: BLE001
            internal_error(exc)
