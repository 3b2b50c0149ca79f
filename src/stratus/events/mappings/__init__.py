"""Event source mapping pollers: one per enabled mapping, inside the server, on its event loop.

    base.py      what every poller shares: PollerContext (the services it uses), start and stop
    sources.py   ARNs of SQS queues, Kinesis streams, DynamoDB streams, Amazon MQ brokers; boto3 off the loop
    target.py    the mapping's function, invoked through the normal synchronous path
    filters.py   FilterCriteria (EventBridge patterns)
    sqs.py       SQS: long polling, delete after success, ReportBatchItemFailures
    streams.py   Kinesis and DynamoDB Streams: a reader per shard, checkpoints, retries, bisect, OnFailure
    rabbitmq.py  Amazon MQ (RabbitMQ) via aio-pika: ack after success

The control service (control/event_source_mappings.py) decides; the runner starts and stops pollers and
keeps what they last reported (each mapping's LastProcessingResult), which the control service reads.
"""

from __future__ import annotations

import asyncio
import logging

from stratus.config import Settings
from stratus.events.mappings.base import FailureDestination, Poller, PollerContext
from stratus.events.mappings.sources import DYNAMODB, KINESIS, MQ, SQS, AwsClients, BlockingCalls, parse_source
from stratus.events.mappings.target import MappingFunctions
from stratus.events.ports import RecursionGuard
from stratus.invoke.entry import InvokeService
from stratus.shapes import EventSourceMappingRecord
from stratus.store.base import Store

log = logging.getLogger("stratus.mappings")


class MappingRunner:
    """Starts and stops the pollers of enabled mappings; keeps each mapping's last processing result."""

    def __init__(self, settings: Settings, functions: MappingFunctions, invoke_service: InvokeService, store: Store,
                 destinations: FailureDestination | None = None, recursion: RecursionGuard | None = None):
        self.settings = settings
        self.calls = BlockingCalls()
        self.aws = AwsClients(settings, self.calls)
        self.context = PollerContext(settings, self.aws, self.calls, functions, invoke_service, store, destinations,
                                     self._report, recursion)
        self.pollers: dict[str, Poller] = {}
        self.results: dict[str, str] = {}  # UUID → LastProcessingResult its poller reported last

    def _report(self, mapping_id: str, result: str) -> None:
        self.results[mapping_id] = result

    def forget(self, mapping_id: str) -> None:
        """Drop what a deleted mapping's poller reported."""
        self.results.pop(mapping_id, None)

    def start(self, record: EventSourceMappingRecord) -> None:
        """Start polling for an enabled mapping."""
        from stratus.events.mappings.rabbitmq import RabbitMQPoller
        from stratus.events.mappings.sqs import SqsPoller
        from stratus.events.mappings.streams import StreamPoller

        source = parse_source(record.config.EventSourceArn or "")
        assert source is not None and record.config.UUID is not None  # the control service stored a valid mapping
        kinds: dict[str, type[Poller]] = {SQS: SqsPoller, KINESIS: StreamPoller, DYNAMODB: StreamPoller,
                                          MQ: RabbitMQPoller}
        poller = kinds[source.kind](self.context, record, source)
        self.pollers[record.config.UUID] = poller
        poller.start()

    async def stop(self, mapping_id: str, grace_s: float | None = None) -> None:
        """Stop a mapping's poller (if it has one) and wait until it has stopped."""
        poller = self.pollers.pop(mapping_id, None)
        if poller is not None:
            await poller.stop(self.settings.graceful_shutdown_s if grace_s is None else grace_s)

    async def close(self) -> None:
        """Stop every poller (server shutdown): batches in flight get the graceful shutdown time."""
        await asyncio.gather(*(self.stop(mapping_id) for mapping_id in list(self.pollers)), return_exceptions=True)
