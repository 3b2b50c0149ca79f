"""What a finished asynchronous invocation delivers: AWS's invocation record (OnSuccess / OnFailure
destinations) and the DLQ message's error text."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from stratus.store.queue import QueuedEvent
from stratus.timestamps import iso_millis

_decode = msgspec.json.decode


def invocation_record(event: QueuedEvent, condition: str, function_arn: str, version: str) -> dict[str, Any]:
    """AWS's asynchronous invocation record for `event`, finished with `condition`."""
    document: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_millis(time.time()),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": json_or_text(event.payload),
    }
    if event.last is not None:
        status, function_error, payload = event.last
        context: dict[str, Any] = {"statusCode": status, "executedVersion": version}
        if function_error:
            context["functionError"] = function_error
        document["responseContext"] = context
        document["responsePayload"] = json_or_text(payload)
    return document


def json_or_text(payload: bytes | None) -> Any:
    """A payload as JSON when it is JSON, else as text (None stays None)."""
    if payload is None:
        return None
    try:
        return _decode(payload)
    except msgspec.DecodeError:
        return payload.decode("utf-8", "replace")


def error_message(last: tuple[int, str | None, bytes] | None) -> str:
    """The errorMessage of the last failure (the DLQ message's ErrorMessage attribute)."""
    if last is None:
        return "Event age exceeded before the function ran"
    document = json_or_text(last[2])
    if isinstance(document, dict):
        return str(document.get("errorMessage") or document.get("Message") or document.get("errorType") or "")
    return str(document)
