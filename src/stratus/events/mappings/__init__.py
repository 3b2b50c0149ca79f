"""Event source mapping pollers: one per enabled mapping, inside the server, on its event loop.

    sources.py   ARNs of SQS queues, Kinesis streams, DynamoDB streams, Amazon MQ brokers; boto3 off the loop
    target.py    the mapping's function, invoked through the normal synchronous path
    filters.py   FilterCriteria (EventBridge patterns)
    sqs.py       SQS: long polling, delete after success, ReportBatchItemFailures
    streams.py   Kinesis and DynamoDB Streams: a reader per shard, checkpoints, retries, bisect, OnFailure
    rabbitmq.py  Amazon MQ (RabbitMQ) via aio-pika: ack after success

The control service (control/event_source_mappings.py) decides; the runner starts and stops pollers.
"""

from __future__ import annotations

import asyncio
import logging

from stratus.events.mappings.sources import DYNAMODB, KINESIS, MQ, SQS, AwsClients, BlockingCalls, parse_source
from stratus.shapes import EventSourceMappingRecord

log = logging.getLogger("stratus.mappings")


class MappingRunner:
    """Starts and stops the pollers of enabled mappings."""

    def __init__(self, settings, functions, invoke_service, store, destinations=None):
        self.settings = settings
        self.functions = functions
        self.invoke_service = invoke_service
        self.store = store
        self.destinations = destinations  # events/destinations.Destinations: OnFailure records of streams
        self.calls = BlockingCalls()
        self.aws = AwsClients(settings, self.calls)
        self.pollers: dict[str, object] = {}
        self.on_result = lambda mapping_id, result: None  # the control service listens (LastProcessingResult)

    def start(self, record: EventSourceMappingRecord) -> None:
        """Start polling for an enabled mapping."""
        from stratus.events.mappings.rabbitmq import RabbitMQPoller
        from stratus.events.mappings.sqs import SqsPoller
        from stratus.events.mappings.streams import StreamPoller

        source = parse_source(record.config.EventSourceArn)
        kind = {SQS: SqsPoller, KINESIS: StreamPoller, DYNAMODB: StreamPoller, MQ: RabbitMQPoller}[source.kind]
        poller = kind(self, record, source)
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
