"""The SQS poller: long-poll the queue, invoke with AWS's event, delete only what succeeded.

A batch is gathered with ReceiveMessage (at most 10 a call) until BatchSize messages or the
MaximumBatchingWindowInSeconds after the first one. On success every message is deleted; with
`ReportBatchItemFailures` all but those the function names; on a function error none, so they come
back after the queue's visibility timeout and its own redrive policy moves poison messages to its
dead-letter queue. Messages FilterCriteria rejects are deleted without an invoke (AWS's rule).
ScalingConfig.MaximumConcurrency caps the batches in flight.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import msgspec

from stratus.events.mappings.base import Poller, PollerContext
from stratus.events.mappings.filters import json_or_text
from stratus.events.mappings.sources import Source
from stratus.events.mappings.target import FunctionGone, batch_item_failures
from stratus.shapes import EventSourceMappingRecord

log = logging.getLogger("stratus.mappings.sqs")

_RECEIVE_MAX = 10  # SQS returns at most 10 messages a call
_RECEIVERS_MAX = 5  # concurrent ReceiveMessage loops per mapping
_PAYLOAD_SOFT_LIMIT = 4 * 1024 * 1024  # stop gathering well before the 6 MB invoke payload limit
_FIRST_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
_encode = msgspec.json.encode


class SqsPoller(Poller):
    """Polls one SQS queue for one mapping."""

    def __init__(self, context: PollerContext, record: EventSourceMappingRecord, source: Source):
        super().__init__(context, record, source)
        config = record.config
        limit = config.ScalingConfig.MaximumConcurrency if config.ScalingConfig and \
            config.ScalingConfig.MaximumConcurrency else self.settings.esm_sqs_max_concurrency
        self.slots = asyncio.Semaphore(limit)
        self.receivers = min(limit, _RECEIVERS_MAX)
        self.report_failures = "ReportBatchItemFailures" in (config.FunctionResponseTypes or [])
        self.queue_url: str | None = None

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.context.aws.call("sqs", self.source.region, operation, **params)

    async def run(self) -> None:
        await self.wait_for_function()
        response = await self._call("get_queue_url", QueueName=self.source.name)
        self.queue_url = response["QueueUrl"]
        await asyncio.gather(*(self._receive_loop() for _ in range(self.receivers)))

    async def _receive_loop(self) -> None:
        while not self.stopping:
            await self.wait_for_function()
            await self.slots.acquire()
            try:
                messages = await self._gather()
            except BaseException:
                self.slots.release()
                raise
            if not messages:
                self.slots.release()
                continue
            task = self.spawn(self._process(messages))
            task.add_done_callback(lambda _: self.slots.release())

    async def _gather(self) -> list[dict]:
        """One batch: long-poll for the first message, then fill up within the batching window."""
        config = self.config
        batch_size = self.batch_size
        window = config.MaximumBatchingWindowInSeconds or 0
        loop = asyncio.get_running_loop()
        messages: list[dict] = []
        size = 0
        deadline = None
        while len(messages) < batch_size and size < _PAYLOAD_SOFT_LIMIT:
            if deadline is None:
                wait = self.settings.esm_sqs_wait_s
            else:
                left = deadline - loop.time()
                if left <= 0:
                    break
                wait = min(self.settings.esm_sqs_wait_s, int(left))
            response = await self.context.calls.run(
                self._receive, QueueUrl=self.queue_url, WaitTimeSeconds=wait, AttributeNames=["All"],
                MaxNumberOfMessages=min(_RECEIVE_MAX, batch_size - len(messages)), MessageAttributeNames=["All"])
            received = response.get("Messages") or []
            messages += received
            size += sum(len(message.get("Body", "")) for message in received)
            if deadline is None:
                if not received or window == 0:
                    break
                deadline = loop.time() + window
            elif not received and wait == 0:
                await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
        return messages

    def _receive(self, **params: Any) -> dict[str, Any]:
        """ReceiveMessage (on a worker thread). A long poll that returns after the poller stopped (the
        mapping was disabled, updated or deleted) hands its messages straight back to the queue."""
        client = self.context.aws.client("sqs", self.source.region)
        response = client.receive_message(**params)
        messages = response.get("Messages") or []
        if self.stopping and messages:
            client.change_message_visibility_batch(QueueUrl=params["QueueUrl"], Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, message in enumerate(messages)])
            return {}
        return response

    async def _process(self, messages: list[dict]) -> None:
        records = [self._record(message) for message in messages]
        if self.accepts is not None:
            kept = [record for record in records if self.accepts(_for_filter(record))]
            dropped = [record for record in records if record not in kept]
            if dropped:  # AWS deletes the messages a filter rejects
                await self._delete(dropped)
            records = kept
            if not records:
                return
        records = self._unless_recursive(records)
        if not records:
            return
        # The batch continues the trace of its first message that has one (AWSTraceHeader); else a new one.
        trace = next((record["attributes"]["AWSTraceHeader"].encode() for record in records
                      if record["attributes"].get("AWSTraceHeader")), None)
        payload = _encode({"Records": records})
        try:
            result = await self.target.invoke(payload, trace)
        except FunctionGone:
            return  # the messages come back after their visibility timeout
        if self.report_failures:
            failed_ids = batch_item_failures(result, [record["messageId"] for record in records])
            failed = set(record["messageId"] for record in records) if failed_ids is None else set(failed_ids)
        else:
            failed = set(record["messageId"] for record in records) if result.failed else set()
        if failed:
            log.info("event source mapping %s: %d of %d messages failed (request %s)", self.uuid, len(failed),
                     len(records), result.request_id)
        await self._delete([record for record in records if record["messageId"] not in failed])

    def _unless_recursive(self, records: list[dict]) -> list[dict]:
        """Recursive loop detection: messages whose chain (AWSTraceHeader's Lineage) reached the limit are not
        delivered while the function's RecursiveLoop is Terminate; they stay on the queue (back after the
        visibility timeout; the queue's redrive policy moves them to its dead-letter queue)."""
        guard = self.context.recursion
        if guard is None:
            return records
        name = self.record.function_name
        kept = [record for record in records
                if not guard.stops(name, (record["attributes"].get("AWSTraceHeader") or "").encode() or None)]
        if len(kept) < len(records):
            log.warning("event source mapping %s: %d messages not delivered to %s: recursive loop detected (set "
                        "RecursiveLoop to Allow with PutFunctionRecursionConfig if the loop is intended)",
                        self.uuid, len(records) - len(kept), name)
        return kept

    async def _delete(self, records: list[dict]) -> None:
        for start in range(0, len(records), _RECEIVE_MAX):
            chunk = records[start:start + _RECEIVE_MAX]
            entries = [{"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                       for index, record in enumerate(chunk)]
            try:
                response = await self._call("delete_message_batch", QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # noqa: BLE001 - undeleted messages come back: processed twice, never lost
                log.warning("event source mapping %s: DeleteMessageBatch failed: %s", self.uuid, exc)
                continue
            for failure in response.get("Failed") or []:
                log.warning("event source mapping %s: message not deleted: %s", self.uuid, failure.get("Message"))

    def _record(self, message: dict) -> dict:
        """A message as Lambda's SQS event carries it."""
        attributes = message.get("Attributes") or {}
        ordered = {name: attributes[name] for name in _FIRST_ATTRIBUTES if name in attributes}
        ordered.update((name, value) for name, value in attributes.items() if name not in ordered)
        message_attributes = {}
        for name, attribute in (message.get("MessageAttributes") or {}).items():
            entry = {}
            if "StringValue" in attribute:
                entry["stringValue"] = attribute["StringValue"]
            if "BinaryValue" in attribute:
                entry["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode()
            entry["stringListValues"] = list(attribute.get("StringListValues") or [])
            entry["binaryListValues"] = [base64.b64encode(value).decode()
                                         for value in attribute.get("BinaryListValues") or []]
            entry["dataType"] = attribute.get("DataType")
            message_attributes[name] = entry
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": ordered,
            "messageAttributes": message_attributes,
            "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.arn,
            "awsRegion": self.source.region,
        }


def _for_filter(record: dict) -> dict:
    """The record as filters see it: a JSON body as its object (AWS's rule)."""
    return dict(record, body=json_or_text(record["body"]))
