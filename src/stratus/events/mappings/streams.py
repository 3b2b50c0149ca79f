"""The Kinesis and DynamoDB Streams poller: a reader per shard, in order, with durable checkpoints.

Each shard is read from its checkpoint (the last sequence number fully handled, a store document),
else from the mapping's StartingPosition. A chunk of up to BatchSize × ParallelizationFactor records
is split by partition key into ParallelizationFactor groups processed concurrently (each group in
order, so a key's records never overtake each other); the checkpoint moves past the chunk only when
every group is done. A failed batch is retried (MaximumRetryAttempts, MaximumRecordAgeInSeconds),
split in two on each error with BisectBatchOnFunctionError, retried from the first failed record
with ReportBatchItemFailures, and finally described to the OnFailure destination and skipped.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime
import logging
import time
import uuid
import zlib
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from stratus.events.mappings.base import Poller, PollerContext
from stratus.events.mappings.filters import json_or_text_b64
from stratus.events.mappings.sources import KINESIS, Source
from stratus.events.mappings.target import FunctionGone, Result, batch_item_failures
from stratus.shapes import EventSourceMappingRecord, StreamCheckpoint
from stratus.timestamps import iso_millis, iso_seconds

log = logging.getLogger("stratus.mappings.streams")

CHECKPOINT_KIND = "esm-checkpoint"
SHARD_REFRESH_S = 30.0  # new shards (resharding) are picked up this often
_LIMITS = {KINESIS: 10_000, "dynamodb": 1_000}  # GetRecords' Limit maximum per service
_encode = msgspec.json.encode
_decode_checkpoint = msgspec.json.Decoder(StreamCheckpoint).decode


class StreamPoller(Poller):
    """Reads every shard of one Kinesis stream or DynamoDB stream for one mapping."""

    def __init__(self, context: PollerContext, record: EventSourceMappingRecord, source: Source):
        super().__init__(context, record, source)
        self.kinesis = source.kind == KINESIS
        self.report_failures = "ReportBatchItemFailures" in (record.config.FunctionResponseTypes or [])
        on_failure = record.config.DestinationConfig.OnFailure if record.config.DestinationConfig else None
        self.on_failure = on_failure.Destination if on_failure is not None else None

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.context.aws.call(self.source.service, self.source.region, operation, **params)

    async def run(self) -> None:
        await self.wait_for_function()
        readers: dict[str, asyncio.Task] = {}
        try:
            while not self.stopping:
                for shard in await self._shards():
                    shard_id = shard["ShardId"]
                    if shard_id not in readers:
                        parent = readers.get(shard.get("ParentShardId") or "")
                        reader = ShardReader(self, shard_id)
                        readers[shard_id] = asyncio.get_running_loop().create_task(reader.run(after=parent))
                for task in readers.values():
                    error = task.exception() if task.done() and not task.cancelled() else None
                    if error is not None:
                        raise error  # polling restarts (after a back-off) from the checkpoints
                active = [task for task in readers.values() if not task.done()]
                if active:  # wake early when a reader fails
                    await asyncio.wait(active, timeout=SHARD_REFRESH_S, return_when=asyncio.FIRST_EXCEPTION)
                else:
                    await asyncio.sleep(SHARD_REFRESH_S)
        finally:
            for task in readers.values():
                task.cancel()
            await asyncio.gather(*readers.values(), return_exceptions=True)

    async def _shards(self) -> list[dict]:
        shards: list[dict] = []
        if self.kinesis:
            params = {"StreamName": self.source.name}
            while True:
                response = await self.call("list_shards", **params)
                shards += response.get("Shards") or []
                if not response.get("NextToken"):
                    return shards
                params = {"NextToken": response["NextToken"]}
        params = {"StreamArn": self.source.arn}
        while True:
            description = (await self.call("describe_stream", **params))["StreamDescription"]
            shards += description.get("Shards") or []
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            params = {"StreamArn": self.source.arn, "ExclusiveStartShardId": last}

    # ------------------------------------------------------------------ records as Lambda shapes them
    def event_record(self, shard_id: str, raw: dict, role: str | None) -> dict:
        if self.kinesis:
            return {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": raw["PartitionKey"],
                    "sequenceNumber": raw["SequenceNumber"],
                    "data": base64.b64encode(raw["Data"]).decode(),
                    "approximateArrivalTimestamp": round(_epoch(raw.get("ApproximateArrivalTimestamp")), 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{raw['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role,
                "awsRegion": self.source.region,
                "eventSourceARN": self.source.arn,
            }
        record = _plain(raw)
        record["eventSourceARN"] = self.source.arn
        return record

    def filter_view(self, record: dict) -> dict:
        """A record as filters see it: Kinesis `data` decoded (JSON object) and lifted to the top."""
        if self.kinesis:
            return {**record, **record["kinesis"], "data": json_or_text_b64(record["kinesis"]["data"])}
        return record

    @staticmethod
    def sequence(raw: dict) -> str:
        return raw["SequenceNumber"] if "SequenceNumber" in raw else raw["dynamodb"]["SequenceNumber"]

    def partition_key(self, raw: dict) -> str:
        if self.kinesis:
            return raw["PartitionKey"]
        return _encode(_plain(raw.get("dynamodb", {}).get("Keys") or {})).decode()

    def arrival(self, raw: dict) -> float:
        if self.kinesis:
            return _epoch(raw.get("ApproximateArrivalTimestamp"))
        return _epoch(raw.get("dynamodb", {}).get("ApproximateCreationDateTime"))


class ShardReader:
    """Reads and processes one shard; its checkpoint is the store document "<mapping UUID>:<shard id>"."""

    def __init__(self, poller: StreamPoller, shard_id: str):
        self.poller = poller
        self.config = poller.config
        self.shard_id = shard_id
        self.key = f"{poller.uuid}:{shard_id}"
        self.position: str | None = None  # last sequence number handled (checkpointed)
        self.iterator: str | None = None
        self.closed = False  # the shard has no more records (it was split or merged)
        self.pending: list[dict] = []

    async def run(self, after: asyncio.Task | None = None) -> None:
        if after is not None:  # a child shard waits until its parent is read to its end (per-key order)
            await asyncio.gather(after, return_exceptions=True)
        stored = await self.poller.context.store.get_document(CHECKPOINT_KIND, self.key)
        self.position = _decode_checkpoint(stored).sequence_number if stored else None
        while not self.poller.stopping:
            chunk = await self._next_chunk()
            if not chunk:
                if self.closed and not self.pending:
                    return
                continue
            await self._process_chunk(chunk)
            self.position = self.poller.sequence(chunk[-1])
            await self.poller.context.store.apply(
                puts=[(CHECKPOINT_KIND, self.key, _encode(StreamCheckpoint(sequence_number=self.position)))])

    # ------------------------------------------------------------------ reading
    async def _iterator(self) -> str | None:
        poller, source = self.poller, self.poller.source
        params: dict[str, Any] = {"ShardId": self.shard_id}
        params.update({"StreamName": source.name} if poller.kinesis else {"StreamArn": source.arn})
        if self.position is not None:
            params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            params["StartingSequenceNumber" if poller.kinesis else "SequenceNumber"] = self.position
        else:
            params["ShardIteratorType"] = self.config.StartingPosition
            if self.config.StartingPosition == "AT_TIMESTAMP":
                params["Timestamp"] = self.config.StartingPositionTimestamp
        return (await poller.call("get_shard_iterator", **params)).get("ShardIterator")

    async def _next_chunk(self) -> list[dict]:
        """Up to BatchSize × ParallelizationFactor records, within the batching window."""
        poller, config = self.poller, self.config
        want = poller.batch_size * (config.ParallelizationFactor or 1)
        window = config.MaximumBatchingWindowInSeconds or 0
        loop = asyncio.get_running_loop()
        records, self.pending = self.pending, []
        deadline: float | None = loop.time() + window if records else None
        while len(records) < want and not self.closed:
            if self.iterator is None:
                self.iterator = await self._iterator()
                if self.iterator is None:
                    self.closed = True
                    break
            try:
                response = await poller.call("get_records", ShardIterator=self.iterator,
                                             Limit=min(_LIMITS[poller.source.kind], want - len(records)))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                    raise
                self.iterator, records = None, []  # read again from the checkpoint
                continue
            self.iterator = response.get("NextShardIterator")
            if self.iterator is None:
                self.closed = True
            got = response.get("Records") or []
            records += got
            if records and deadline is None:
                deadline = loop.time() + window
            if records and deadline is not None and loop.time() >= deadline:
                break
            if not got:
                if records and deadline is not None:
                    await asyncio.sleep(max(0.0, min(deadline - loop.time(), poller.settings.esm_stream_poll_s)))
                elif not self.closed:
                    await asyncio.sleep(poller.settings.esm_stream_poll_s)
                    return []
        self.pending = records[want:]
        return records[:want]

    # ------------------------------------------------------------------ processing
    async def _process_chunk(self, chunk: list[dict]) -> None:
        poller = self.poller
        role = _role(poller)
        shaped = [(raw, poller.event_record(self.shard_id, raw, role)) for raw in chunk]
        if poller.accepts is not None:  # records a filter rejects are skipped (and checkpointed past)
            shaped = [(raw, record) for raw, record in shaped if poller.accepts(poller.filter_view(record))]
        factor = self.config.ParallelizationFactor or 1
        groups: list[list[tuple[dict, dict]]] = [[] for _ in range(factor)]
        for item in shaped:
            groups[zlib.crc32(poller.partition_key(item[0]).encode()) % factor].append(item)
        await asyncio.gather(*(self._process_group(group) for group in groups if group))

    async def _process_group(self, items: list[tuple[dict, dict]]) -> None:
        size = self.poller.batch_size
        for start in range(0, len(items), size):
            await self._process_batch(items[start:start + size])

    async def _process_batch(self, batch: list[tuple[dict, dict]]) -> None:
        """Invoke until the batch succeeds or is given up (retries exhausted, records too old)."""
        poller, config = self.poller, self.config
        max_retries = config.MaximumRetryAttempts if config.MaximumRetryAttempts is not None else -1
        max_age = config.MaximumRecordAgeInSeconds if config.MaximumRecordAgeInSeconds is not None else -1
        work = collections.deque([batch])
        while work:
            items = work.popleft()
            invokes = 0
            while items:
                if max_age != -1:
                    oldest_allowed = time.time() - max_age * poller.settings.esm_record_age_scale
                    expired = [item for item in items if poller.arrival(item[0]) < oldest_allowed]
                    if expired:
                        await self._give_up(expired, "RecordAgeExceeded", invokes, None)
                        items = [item for item in items if item not in expired]
                        continue
                payload = _encode({"Records": [record for _, record in items]})
                try:
                    result = await poller.target.invoke(payload)
                except FunctionGone:
                    await poller.wait_for_function()
                    continue
                invokes += 1
                if poller.report_failures:
                    failed = batch_item_failures(result, [poller.sequence(raw) for raw, _ in items])
                    if failed == []:
                        poller.report("OK")
                        break
                    if failed is not None:  # retry from the first failed record; those before it are done
                        first = [poller.sequence(raw) for raw, _ in items].index(failed[0])
                        items = items[first:]
                elif not result.failed:
                    poller.report("OK")
                    break
                else:
                    failed = None
                poller.report("PROBLEM: Function call failed")
                if failed is None and config.BisectBatchOnFunctionError and len(items) > 1:
                    half = len(items) // 2
                    work.appendleft(items[half:])
                    work.appendleft(items[:half])
                    break
                if max_retries != -1 and invokes > max_retries:
                    await self._give_up(items, "RetryAttemptsExhausted", invokes, result)
                    break
                await asyncio.sleep(poller.backoff(invokes))

    async def _give_up(self, items: list[tuple[dict, dict]], condition: str, invokes: int,
                       result: Result | None) -> None:
        """Skip these records: describe them to the OnFailure destination (AWS's record shape)."""
        poller = self.poller
        log.warning("event source mapping %s: skipping %d record(s) of %s (%s)", poller.uuid, len(items),
                    self.shard_id, condition)
        if not poller.on_failure:
            return
        raws = [raw for raw, _ in items]
        stamp = iso_millis if poller.kinesis else iso_seconds
        info = {
            "shardId": self.shard_id,
            "startSequenceNumber": poller.sequence(raws[0]),
            "endSequenceNumber": poller.sequence(raws[-1]),
            "approximateArrivalOfFirstRecord": stamp(poller.arrival(raws[0])),
            "approximateArrivalOfLastRecord": stamp(poller.arrival(raws[-1])),
            "batchSize": len(raws),
            "streamArn": poller.source.arn,
        }
        record: dict[str, Any] = {"requestContext": {
            "requestId": result.request_id if result is not None else str(uuid.uuid4()),
            "functionArn": poller.config.FunctionArn,
            "condition": condition,
            "approximateInvokeCount": invokes,
        }}
        if result is not None:
            record["responseContext"] = {"statusCode": 200, "executedVersion": result.executed_version,
                                         "functionError": result.outcome.function_error}
        record["version"] = "1.0"
        record["timestamp"] = iso_millis()
        record["KinesisBatchInfo" if poller.kinesis else "DDBStreamBatchInfo"] = info
        destinations = poller.context.destinations
        for attempt in range(3):
            if destinations is not None and await destinations.send(poller.on_failure, record):
                return
            if destinations is None:
                log.error("event source mapping %s: no destination sender for %s", poller.uuid, poller.on_failure)
                return
            await asyncio.sleep(poller.backoff(attempt + 1))
        log.error("event source mapping %s: the failure record for %s could not be delivered to %s",
                  poller.uuid, self.shard_id, poller.on_failure)


def _role(poller: StreamPoller) -> str | None:
    try:
        record, _, _ = poller.context.functions.route(poller.record.function_name, poller.record.qualifier)
    except Exception:  # noqa: BLE001 - the function may be gone; the invoke will say so
        return None
    return record.config.Role


def _epoch(value: datetime.datetime | float | str | None) -> float:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value or 0)


def _plain(value: Any) -> Any:
    """A GetRecords answer as JSON carries it (boto3 gave bytes and datetimes): base64, epoch seconds."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, set):
        return [_plain(item) for item in value]
    return value
