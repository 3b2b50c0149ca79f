"""Invoke (`POST /2015-03-31/functions/{FunctionName}/invocations`): the hot path.

The request is checked in two steps — its head (function, qualifier, invocation type), then its
body (size, JSON) — and answered as AWS answers. The same steps serve two front doors: the raw
protocol fast path (api/fastpath.py, no ASGI, no task per request) and plain ASGI (used when the
fast path does not apply). The payload is never re-encoded: the environment gets the same bytes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import uuid
from typing import Any, cast
from urllib.parse import parse_qs, unquote

import msgspec

from stratus.api.asgi import internal_error, read_body, send_response
from stratus.api.origins import WebOrigins
from stratus.api.validation import validate
from stratus.auth.gate import Authenticator
from stratus.auth.principal import Principal
from stratus.auth.sigv4 import Pending
from stratus.config import Settings
from stratus.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaError,
    RequestTooLargeException,
)
from stratus.invoke.entry import InvokeService
from stratus.invoke.types import InvocationType, InvokeResult, Target
from stratus.observe.logs import tail_header

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"
_check_json = msgspec.json.Decoder(msgspec.Raw).decode
_INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def is_invoke(method: str, path: str) -> bool:
    return method == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX)


class InvokeHead:
    """What the request line and headers of an Invoke say."""

    __slots__ = ("request_id", "target", "invocation_type", "log_type", "headers", "body_limit")

    def __init__(self, request_id: str, target: Target, invocation_type: InvocationType, log_type: str,
                 headers: dict[bytes, bytes], body_limit: int):
        self.request_id = request_id
        self.target = target
        self.invocation_type = invocation_type
        self.log_type = log_type
        self.headers = headers
        self.body_limit = body_limit

    def too_large(self) -> RequestTooLargeException:
        return RequestTooLargeException(
            f"Request must be smaller than {self.body_limit} bytes for the InvokeFunction operation")


class InvokeEndpoint:
    """Parses an Invoke request, runs it through the InvokeService, produces AWS's response."""

    def __init__(self, invoke_service: InvokeService, settings: Settings, auth: Authenticator | None = None):
        self.invoke_service = invoke_service
        self.settings = settings
        self.origins = WebOrigins(settings)  # the Host / Origin check, before anything is resolved or run
        self.auth = auth or Authenticator(None, settings.region)
        self._known_names: set[tuple[str, str | None]] = set()  # (reference, qualifier) pairs the model accepted

    # ------------------------------------------------------------------ the steps
    def authenticate(self, raw_path: str, query: bytes, headers: dict[bytes, bytes]) -> Pending | None:
        """Step 0, before anything about the function is looked up: the web-origin check (a foreign page is
        refused as such), then the signature's head (raises AuthError)."""
        self.origins.check(headers)
        return self.auth.begin("POST", raw_path, query.decode("latin-1"), headers)

    def verify(self, pending: Pending | None, digest: Any, head: InvokeHead | None) -> Principal:
        """The signature's end, once the body is complete (`digest` its running SHA-256); then the
        authorization hook. Nothing runs before this passes."""
        principal = self.auth.finish(pending, digest)
        if head is not None:
            self.auth.authorize(principal, "lambda:InvokeFunction", head.target.invoked_arn)
        return principal

    def head(self, raw_path: str, query: bytes, headers: dict[bytes, bytes]) -> InvokeHead:
        """Resolve the function and read the invocation options; raises LambdaError."""
        request_id = str(uuid.uuid4())
        reference = unquote(raw_path[len(PREFIX):-len(SUFFIX)])
        invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse").decode()
        log_type = headers.get(b"x-amz-log-type", b"None").decode()
        qualifiers = parse_qs(query.decode()).get("Qualifier") if query else None
        qualifier = qualifiers[0] if qualifiers else None
        if (reference, qualifier) not in self._known_names or invocation_type not in _INVOCATION_TYPES \
                or log_type not in ("None", "Tail"):
            params = {"FunctionName": reference, "InvocationType": invocation_type, "LogType": log_type}
            if qualifier is not None:
                params["Qualifier"] = qualifier
            validate("Invoke", params)
            if len(self._known_names) < 100_000:
                self._known_names.add((reference, qualifier))
        target = self.invoke_service.resolve(reference, qualifier)
        limit = (self.settings.async_payload_max_bytes if invocation_type == "Event"
                 else self.settings.sync_payload_max_bytes)
        return InvokeHead(request_id, target, cast(InvocationType, invocation_type), log_type, headers, limit)

    def start(self, head: InvokeHead, payload: bytes) -> asyncio.Future[InvokeResult]:
        """Check the payload and run the invoke; the future resolves to its InvokeResult. Raises LambdaError."""
        payload = checked_payload(payload)
        headers = head.headers
        client_context = checked_client_context(headers)
        return self.invoke_service.invoke(
            head.target, payload, invocation_type=head.invocation_type, request_id=head.request_id,
            client_context=client_context, trace_id=headers.get(b"x-amzn-trace-id"),
            tenant_id=headers.get(b"x-amz-tenant-id"), want_log=(head.log_type == "Tail"))

    def response(self, head: InvokeHead, result: InvokeResult) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """AWS's answer to an invoke: (status, headers, body)."""
        outcome = result.outcome
        if outcome is None:  # 202 (queued) or 204 (dry run)
            return result.status, [(b"x-amzn-requestid", head.request_id.encode())], b""
        headers = [
            (b"content-type", outcome.content_type),
            (b"x-amzn-requestid", head.request_id.encode()),
            (b"x-amz-executed-version", result.executed_version.encode()),
        ]
        if outcome.function_error:
            headers.append((b"x-amz-function-error", outcome.function_error.encode()))
        if head.log_type == "Tail":
            headers.append((b"x-amz-log-result", tail_header(outcome.log, self.settings.log_tail_bytes).encode()))
        return 200, headers, outcome.payload

    # ------------------------------------------------------------------ ASGI front door
    async def __call__(self, scope, receive, send) -> None:
        request_id = ""
        try:
            request_headers = dict(scope["headers"])
            raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            pending = self.authenticate(raw_path, scope["query_string"], request_headers)
            principal = None
            if pending is not None:  # the body is verified before the function is even looked up
                limit = max(self.settings.sync_payload_max_bytes, self.settings.async_payload_max_bytes)
                payload = await read_body(receive, limit, RequestTooLargeException(
                    f"Request must be smaller than {limit} bytes for the InvokeFunction operation"))
                principal = self.auth.finish(pending, hashlib.sha256(payload))
            head = self.head(scope["path"], scope["query_string"], request_headers)
            request_id = head.request_id
            if principal is None:
                payload = await read_body(receive, head.body_limit, head.too_large())
                principal = self.auth.finish(None, None)
            elif len(payload) > head.body_limit:
                raise head.too_large()
            self.auth.authorize(principal, "lambda:InvokeFunction", head.target.invoked_arn)
            status, headers, body = self.response(head, await self.start(head, payload))
            await send_response(send, status, body, headers)
        except LambdaError as error:
            await send_response(send, error.status, error.body(), error_headers(error, request_id))
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            internal = internal_error(exc)
            await send_response(send, internal.status, internal.body(), error_headers(internal, request_id))


def checked_payload(payload: bytes) -> bytes:
    """An invoke's payload once it is known to be JSON (`{}` for none); InvalidRequestContentException if not."""
    if not payload:
        return b"{}"
    try:
        _check_json(payload)
    except msgspec.DecodeError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
    except RecursionError:  # deeper than msgspec's nesting limit
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: "
            "the JSON document is nested too deeply.") from None
    return payload


def checked_client_context(headers: dict[bytes, bytes]) -> bytes | None:
    """X-Amz-Client-Context decoded (a base64 JSON object); InvalidParameterValueException if it is not one."""
    client_context = headers.get(b"x-amz-client-context")
    if not client_context:
        return None
    try:
        client_context = base64.b64decode(client_context, validate=True)
        if not client_context.lstrip().startswith(b"{"):
            raise ValueError("not an object")
        _check_json(client_context)
    except (binascii.Error, ValueError, msgspec.DecodeError, RecursionError):
        raise InvalidParameterValueException("Client context must be a valid Base64-encoded JSON object.") from None
    return client_context or None


def error_headers(error: LambdaError, request_id: str) -> list[tuple[bytes, bytes]]:
    headers = error.headers()
    headers.append((b"x-amzn-requestid", (request_id or str(uuid.uuid4())).encode()))
    return headers
