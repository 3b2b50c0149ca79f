"""The CloudWatch Logs API on the Lambda port: AWS JSON 1.1, `POST /` with `X-Amz-Target: Logs_20140328.<Operation>`
(credential scope `logs`).

Requests are checked against botocore's `logs` model (InvalidParameterException with AWS's "N validation
errors detected" wording); errors go out as CloudWatch Logs sends them: HTTP 400 with
`{"__type": "<ErrorType>", "message": "..."}`. StartLiveTail answers an `application/vnd.amazon.eventstream`:
a `sessionStart` event, then a `sessionUpdate` event each second (the events of that second, or none).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from stratus.api import eventstream
from stratus.api.handlers import JSON11_CONTENT_TYPE, json11_error_response, read_limited
from stratus.api.validation import json11_checker
from stratus.errors import validation_message
from stratus.observe.logs_service import (
    GROUP_NOT_FOUND,
    InvalidParameterException,
    LogsError,
    LogsService,
    ResourceNotFoundException,
    SerializationException,
    ServiceUnavailableException,
    UnknownOperationException,
    group_name_of,
    pattern_matcher,
)

log = logging.getLogger("stratus.api")

TARGET_PREFIX = "Logs_20140328."
_BODY_MAX = 6 * 1024 * 1024  # PutLogEvents: 1 MB of events, with room for JSON escaping
LIVE_TAIL_MAX_EVENTS = 500  # per sessionUpdate (AWS: at most 500 events a second, then sampled)


_CHECKER = json11_checker("logs", SerializationException)


def request_target(target: str, body: bytes, region: str, account_id: str) -> tuple[str, str]:
    """(IAM action, resource ARN) of a CloudWatch Logs request, for the authorizer: `logs:<Operation>` on the
    log group (or log stream) it names, `*` when it names none."""
    operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else "*"
    try:
        params = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError:
        params = {}
    name = params.get("logGroupName") if isinstance(params, dict) else None
    if isinstance(params, dict) and not name and isinstance(params.get("logGroupIdentifier"), str):
        try:
            name = group_name_of(params["logGroupIdentifier"])
        except LogsError:
            name = None
    if not isinstance(name, str) or not name:
        return f"logs:{operation}", "*"
    resource = f"arn:aws:logs:{region}:{account_id}:log-group:{name}"
    stream = params.get("logStreamName")
    return f"logs:{operation}", resource + (f":log-stream:{stream}" if isinstance(stream, str) else ":*")


class LogsRoutes:
    """The operations `POST /` dispatches to for the `logs` service."""

    def __init__(self, service: LogsService, live_tail_max_s: float = 3 * 3600.0):
        self.service = service
        self.live_tail_max_s = live_tail_max_s
        self.operations = {
            "CreateLogGroup": service.create_log_group,
            "DescribeLogGroups": service.describe_log_groups,
            "DeleteLogGroup": service.delete_log_group,
            "PutRetentionPolicy": service.put_retention_policy,
            "DeleteRetentionPolicy": service.delete_retention_policy,
            "CreateLogStream": service.create_log_stream,
            "DescribeLogStreams": service.describe_log_streams,
            "DeleteLogStream": service.delete_log_stream,
            "GetLogEvents": service.get_log_events,
            "FilterLogEvents": service.filter_log_events,
            "PutLogEvents": service.put_log_events,
        }

    async def dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            target = request.headers.get("x-amz-target", "")
            operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
            if operation != "StartLiveTail" and operation not in self.operations:
                raise UnknownOperationException(
                    f"Unknown operation {target or '(no X-Amz-Target)'}: Stratus serves these CloudWatch Logs "
                    "operations: " + ", ".join(sorted([*self.operations, "StartLiveTail"])) + ".")
            params = await _json_body(request)
            problems = _CHECKER.problems(operation, params)
            if problems:
                raise InvalidParameterException(validation_message(problems))
            if operation == "StartLiveTail":
                return await self._start_live_tail(params, request_id)
            result = await self.operations[operation](params)
        except LogsError as error:
            return error_response(error, request_id)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            log.error("internal error in CloudWatch Logs", exc_info=exc)
            return error_response(ServiceUnavailableException(
                "An internal error occurred in Stratus; see the server log."), request_id)
        return Response(msgspec.json.encode(result), media_type=JSON11_CONTENT_TYPE,
                        headers={"x-amzn-RequestId": request_id})

    async def _start_live_tail(self, params: dict, request_id: str) -> Response:
        identifiers = params["logGroupIdentifiers"]
        names, prefixes = params.get("logStreamNames"), params.get("logStreamNamePrefixes")
        if names and prefixes:
            raise InvalidParameterException("Only one of logStreamNames or logStreamNamePrefixes can be provided.")
        if (names or prefixes) and len(identifiers) != 1:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefixes can only be used with a single log group.")
        groups = {}
        for identifier in identifiers:
            name = group_name_of(identifier)
            if await asyncio.to_thread(self.service.store.group, name) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            groups[name] = self.service.group_arn(name)
        matcher = pattern_matcher(params.get("logEventFilterPattern"))
        session = LiveTail(self.service, groups, names, prefixes, matcher, self.live_tail_max_s)
        start = {"requestId": request_id, "sessionId": str(uuid.uuid4()), "logGroupIdentifiers": identifiers}
        for member in ("logStreamNames", "logStreamNamePrefixes", "logEventFilterPattern"):
            if params.get(member) is not None:
                start[member] = params[member]
        return StreamingResponse(session.frames(start), media_type="application/vnd.amazon.eventstream",
                                 headers={"x-amzn-RequestId": request_id})


class LiveTail:
    """One StartLiveTail session: listens to the store's new events while its answer streams."""

    def __init__(self, service: LogsService, groups: dict[str, str], names: list[str] | None,
                 prefixes: list[str] | None, matcher: Any, max_s: float):
        self.store = service.store
        self.groups = groups  # name → ARN
        self.names = set(names) if names else None
        self.prefixes = tuple(prefixes) if prefixes else None
        self.matcher = matcher
        self.max_s = max_s
        self.queue: asyncio.Queue[dict] = asyncio.Queue()

    def _hear(self, group: str, stream: str, timestamp: int, message: str) -> None:
        arn = self.groups.get(group)
        if arn is None or (self.names is not None and stream not in self.names) or (
                self.prefixes is not None and not stream.startswith(self.prefixes)) or not self.matcher(message):
            return
        if self.queue.qsize() < 10 * LIVE_TAIL_MAX_EVENTS:  # a reader far behind: the newest are sampled out
            self.queue.put_nowait({"logStreamName": stream, "logGroupIdentifier": arn, "message": message,
                                   "timestamp": timestamp, "ingestionTime": timestamp})

    async def frames(self, start: dict) -> AsyncIterator[bytes]:
        self.store.listeners.add(self._hear)
        try:
            yield _event("initial-response", {})  # the JSON protocol's first event: the answer's other members
            yield _event("sessionStart", start)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_s
            while loop.time() < deadline:
                results, sampled = await self._next_batch(min(1.0, max(0.0, deadline - loop.time())))
                yield _event("sessionUpdate", {"sessionMetadata": {"sampled": sampled}, "sessionResults": results})
            yield eventstream.message(eventstream.headers(
                (":exception-type", "SessionTimeoutException"), (":content-type", "application/json"),
                (":message-type", "exception")), msgspec.json.encode({"message": "Session timed out."}))
        finally:
            self.store.listeners.discard(self._hear)

    async def _next_batch(self, wait_s: float) -> tuple[list[dict], bool]:
        """The events heard within `wait_s` (sent as soon as the first arrives, with those right behind it)."""
        try:
            first = await asyncio.wait_for(self.queue.get(), wait_s)
        except TimeoutError:
            return [], False
        await asyncio.sleep(0.02)  # the rest of the same output, usually a few milliseconds behind
        results = [first]
        while not self.queue.empty() and len(results) < LIVE_TAIL_MAX_EVENTS:
            results.append(self.queue.get_nowait())
        sampled = not self.queue.empty()
        while not self.queue.empty():
            self.queue.get_nowait()
        return results, sampled


def _event(event_type: str, body: dict) -> bytes:
    return eventstream.message(eventstream.event_headers(event_type, "application/json"), msgspec.json.encode(body))


async def _json_body(request: Request) -> dict[str, Any]:
    body = await read_limited(request, _BODY_MAX, lambda: InvalidParameterException("Request body too large."))
    if not body.strip():
        return {}
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise SerializationException("The request body must be a JSON object.")
    return document


def error_response(error: LogsError, request_id: str) -> Response:
    return json11_error_response(error.error_type, error.message, error.status, request_id)
