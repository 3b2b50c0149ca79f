"""Destinations: where async invocation records (and event source mapping failures) go.

A destination is an ARN: another Stratus function (the record is invoked asynchronously, through the
durable queue: the `Enqueue` given at construction), an EventBridge bus (Stratus's own EventBridge when
given its `PutEvents`, else an `events` endpoint from `service_endpoints`), an SQS queue or an SNS topic
(boto3 against the endpoint `service_endpoints` maps the service to). AWS calls happen in a small thread
pool, never on the event loop. A delivery that fails is logged with the reason and reported as False;
nothing here raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from stratus.config import Settings
from stratus.events.ports import Enqueue, PutEvents
from stratus.service_clients import ServiceClients

log = logging.getLogger("stratus.destinations")

_SUCCESS_DETAIL_TYPE = "Lambda Function Invocation Result - Success"
_FAILURE_DETAIL_TYPE = "Lambda Function Invocation Result - Failure"

T = TypeVar("T")


class DestinationError(Exception):
    """A destination that cannot be reached or refused the record (the message says why)."""


class Destinations:
    """Delivers records to destination ARNs; `send` for destination records, `dead_letter` for DLQs."""

    def __init__(self, settings: Settings, enqueue: Enqueue, put_events: PutEvents | None = None):
        self.settings = settings
        self.enqueue = enqueue  # function destinations
        self.put_events = put_events  # event bus destinations (None: the `events` service endpoint)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="destinations")
        self._clients = ServiceClients(settings)
        self._queue_urls: dict[str, str] = {}

    async def send(self, target_arn: str, record: dict[str, Any], trace: bytes | None = None) -> bool:
        """Deliver a record (AWS's destination record, or an event source mapping's failure record) to
        `target_arn`; True once the target accepted it. Failures are logged, never raised.

        `trace`: the X-Amzn-Trace-Id of the event the record is about; the record continues that trace (a
        function destination runs in it; an SQS message carries it as its AWSTraceHeader; an event bus
        entry as its TraceHeader)."""
        try:
            service = _service(target_arn)
            body = msgspec.json.encode(record)
            if service == "lambda":
                await self.enqueue(target_arn, body, trace=trace)
            elif service == "events":
                await self._put_event(target_arn, record, body, trace)
            elif service == "sqs":
                await self._call(self._sqs_send, target_arn, body.decode(), None, trace)
            elif service == "sns":
                await self._call(self._sns_publish, target_arn, body.decode(), None)
            else:
                raise DestinationError(f"unsupported destination service {service!r}")
        except Exception as exc:  # noqa: BLE001 - a destination's failure must never stop its caller
            _log_failure("destination", target_arn, exc)
            return False
        return True

    async def dead_letter(self, target_arn: str, payload: bytes, request_id: str, error_message: str,
                          trace: bytes | None = None) -> bool:
        """Send an event that failed for good to a function's dead-letter queue or topic, as Lambda does:
        the event itself as the message, with RequestID, ErrorCode and ErrorMessage attributes (and, on
        SQS, the event's trace as the AWSTraceHeader)."""
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": error_message or "Unknown error"},
        }
        try:
            service = _service(target_arn)
            body = payload.decode("utf-8", "replace")
            if service == "sqs":
                await self._call(self._sqs_send, target_arn, body, attributes, trace)
            elif service == "sns":
                await self._call(self._sns_publish, target_arn, body, attributes)
            else:
                raise DestinationError("a dead-letter target must be an SQS queue or an SNS topic")
        except Exception as exc:  # noqa: BLE001
            _log_failure("dead-letter queue", target_arn, exc)
            return False
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ targets
    async def _put_event(self, bus_arn: str, record: dict[str, Any], body: bytes, trace: bytes | None) -> None:
        condition = (record.get("requestContext") or {}).get("condition")
        function_arn = (record.get("requestContext") or {}).get("functionArn")
        entry = {
            "Source": "lambda",
            "DetailType": _SUCCESS_DETAIL_TYPE if condition == "Success" else _FAILURE_DETAIL_TYPE,
            "Detail": body.decode(),
            "EventBusName": bus_arn,
            "Resources": [arn for arn in (bus_arn, function_arn) if arn],
        }
        if trace:
            entry["TraceHeader"] = trace.decode("ascii", "replace")
        failed: Any
        if self.put_events is not None:  # the result entries
            entries = await self.put_events([entry])
            failed = [item for item in entries or [] if isinstance(item, dict) and item.get("ErrorCode")]
        else:  # PutEvents' answer (boto3)
            answer = await self._call(lambda: self._client("events", bus_arn).put_events(Entries=[entry]))
            failed = answer.get("FailedEntryCount") and answer.get("Entries")
        if failed:
            raise DestinationError(f"the event bus refused the record: {failed}")

    def _sqs_send(self, queue_arn: str, body: str, attributes: dict[str, Any] | None,
                  trace: bytes | None = None) -> None:
        client = self._client("sqs", queue_arn)
        url = self._queue_urls.get(queue_arn)
        if url is None:
            parts = queue_arn.split(":")
            url = client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            self._queue_urls[queue_arn] = url
        kwargs: dict[str, Any] = {"MessageAttributes": attributes} if attributes else {}
        if trace:
            kwargs["MessageSystemAttributes"] = {
                "AWSTraceHeader": {"DataType": "String", "StringValue": trace.decode("ascii", "replace")}}
        client.send_message(QueueUrl=url, MessageBody=body, **kwargs)

    def _sns_publish(self, topic_arn: str, body: str, attributes: dict[str, Any] | None) -> None:
        kwargs = {"MessageAttributes": attributes} if attributes else {}
        self._client("sns", topic_arn).publish(TopicArn=topic_arn, Message=body, **kwargs)

    # ------------------------------------------------------------------ internals
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _client(self, service: str, arn: str) -> Any:
        """A boto3 client for `service` at its configured endpoint, in the ARN's region (made once)."""
        if not self._clients.endpoint(service):
            raise DestinationError(
                f"no endpoint is configured for {service}: set STRATUS_SERVICE_ENDPOINTS (e.g. '{service}=http://host:port')")
        return self._clients.client(service, arn.split(":")[3] or self.settings.region)


def _service(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise DestinationError("not an ARN")
    return parts[2]


def _log_failure(kind: str, arn: str, exc: Exception) -> None:
    reason = str(exc) if isinstance(exc, DestinationError) else f"{type(exc).__name__}: {exc}"
    log.error("could not deliver to the %s %s: %s", kind, arn, reason)
