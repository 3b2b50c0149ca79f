"""The EventBridge API on the Lambda port: AWS JSON 1.1, `POST /` with `X-Amz-Target: AWSEvents.<Operation>`.

Requests are checked against botocore's `events` model (AWS's ValidationException wording, member
paths like `targets.1.member.id`); errors go out as EventBridge sends them: HTTP 400 (500 for
InternalException) with `{"__type": "<ErrorType>", "message": "..."}`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import EVENTS_BODY_MAX, JSON11_CONTENT_TYPE, json11_error_response, read_limited
from stratus.api.validation import json11_checker
from stratus.errors import validation_message
from stratus.events.eventbridge import (
    EventBridgeError,
    EventBridgeService,
    InternalException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)

log = logging.getLogger("stratus.api")

_PREFIX = "AWSEvents."


_CHECKER = json11_checker("events", SerializationException)


def validate(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every model constraint `params` breaks (SerializationException
    for a value of the wrong JSON type)."""
    problems = _CHECKER.problems(operation, params)
    if problems:
        raise ValidationException(validation_message(problems))


class EventBridgeRoutes:
    """The `POST /` route and the operations it dispatches to."""

    def __init__(self, service: EventBridgeService):
        self.service = service
        put_events = self._put_events
        self.operations = {
            "PutRule": service.put_rule,
            "DescribeRule": service.describe_rule,
            "ListRules": service.list_rules,
            "DeleteRule": service.delete_rule,
            "EnableRule": lambda params: service.set_rule_state(params, True),
            "DisableRule": lambda params: service.set_rule_state(params, False),
            "PutTargets": service.put_targets,
            "RemoveTargets": service.remove_targets,
            "ListTargetsByRule": service.list_targets_by_rule,
            "ListRuleNamesByTarget": service.list_rule_names_by_target,
            "PutEvents": put_events,
            "TestEventPattern": service.test_event_pattern,
            "CreateEventBus": service.create_event_bus,
            "DescribeEventBus": service.describe_event_bus,
            "ListEventBuses": service.list_event_buses,
            "DeleteEventBus": service.delete_event_bus,
        }

    def routes(self) -> list[Route]:
        return [Route("/", self.dispatch, methods=["POST"])]

    async def _put_events(self, params: dict) -> dict:
        entries = await self.service.put_events(params["Entries"])
        return {"FailedEntryCount": sum(1 for entry in entries if "ErrorCode" in entry), "Entries": entries}

    async def dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            result = await self._handle(request)
        except EventBridgeError as error:
            return _error_response(error, request_id)
        except RecursionError:  # JSON inside a member (EventPattern, Detail, Input...) nested past Python's limit
            log.warning("EventBridge request refused: JSON nested too deeply")
            return _error_response(ValidationException(
                "A JSON document in the request (event pattern, event, detail or input) is nested too deeply."),
                request_id)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            log.error("internal error in EventBridge", exc_info=exc)
            return _error_response(InternalException("An internal error occurred in Stratus; see the server log."),
                                   request_id)
        return Response(msgspec.json.encode(result), media_type=JSON11_CONTENT_TYPE,
                        headers={"x-amzn-RequestId": request_id})

    async def _handle(self, request: Request) -> Any:
        target = request.headers.get("x-amz-target", "")
        operation = target[len(_PREFIX):] if target.startswith(_PREFIX) else ""
        handler = self.operations.get(operation) if operation else None
        if handler is None:
            raise UnknownOperationException(
                f"Unknown operation {target or '(no X-Amz-Target)'}: Stratus serves these EventBridge operations: "
                + ", ".join(sorted(self.operations)) + ".")
        params = await _json_body(request)
        validate(operation, params)
        result = handler(params)
        if hasattr(result, "__await__"):
            result = await result
        return result


def _too_large() -> Exception:
    return ValidationException("Total size of the entries in the request is over the limit.")


async def _json_body(request: Request) -> dict[str, Any]:
    """The JSON 1.1 body: EventBridge's own wording for a body too large, not JSON, or not an object."""
    body = await read_limited(request, EVENTS_BODY_MAX, _too_large)
    if not body.strip():
        return {}
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested deeper than msgspec's limit
        raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise SerializationException("The request body must be a JSON object.")
    return document


def _error_response(error: EventBridgeError, request_id: str) -> Response:
    return json11_error_response(error.error_type, error.message, error.status, request_id)
