"""The Amazon MQ (RabbitMQ) poller: consume a queue with aio-pika, ack only after the function succeeded.

The broker ARN maps to an AMQP URL (STRATUS_MQ_BROKERS); the virtual host is the mapping's
VIRTUAL_HOST source access configuration ("/" by default), as on AWS. Messages are gathered up to
BatchSize (prefetch) within MaximumBatchingWindowInSeconds and sent as AWS's event
(`rmqMessagesByQueue` keyed "<queue>::<virtual host>"). One batch at a time, as Lambda runs one
RabbitMQ batch per mapping. On a function error the batch is nacked and requeued after a back-off,
so the broker redelivers it (`redelivered: true`) — or dead-letters it if the queue says so.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import msgspec
from aio_pika.abc import AbstractIncomingMessage, FieldValue

from stratus.events.mappings.base import Poller, PollerContext
from stratus.events.mappings.filters import json_or_text_b64
from stratus.events.mappings.sources import Source, broker_url
from stratus.events.mappings.target import FunctionGone
from stratus.shapes import EventSourceMappingRecord

log = logging.getLogger("stratus.mappings.rabbitmq")

_encode = msgspec.json.encode


class RabbitMQPoller(Poller):
    """Consumes one RabbitMQ queue for one mapping."""

    def __init__(self, context: PollerContext, record: EventSourceMappingRecord, source: Source):
        super().__init__(context, record, source)
        access = {item.Type: item.URI for item in record.config.SourceAccessConfigurations or []}
        self.virtual_host = access.get("VIRTUAL_HOST") or "/"
        self.queue_name = (record.config.Queues or [""])[0]
        self.key = f"{self.queue_name}::{self.virtual_host}"
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.failures = 0

    def _url(self) -> str:
        url = broker_url(self.settings, self.source.arn)
        if url is None:
            raise RuntimeError(f"no AMQP URL for {self.source.arn} (STRATUS_MQ_BROKERS)")
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + quote(self.virtual_host, safe=""), parts.query, ""))

    async def run(self) -> None:
        await self.wait_for_function()
        self.connection = connection = await aio_pika.connect_robust(self._url())
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self.batch_size)
        queue = await channel.get_queue(self.queue_name, ensure=True)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put, no_ack=False)
        window = self.config.MaximumBatchingWindowInSeconds or 0
        loop = asyncio.get_running_loop()
        while not self.stopping:
            batch = [await inbox.get()]
            deadline = loop.time() + window
            while len(batch) < self.batch_size:
                if not inbox.empty():
                    batch.append(inbox.get_nowait())
                    continue
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(inbox.get(), left))
                except TimeoutError:
                    break
            # One batch at a time; shielded so that stop() (which cancels this loop) lets it finish.
            await asyncio.shield(self.spawn(self._process(batch)))

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def _process(self, messages: list[AbstractIncomingMessage]) -> None:
        shaped = [(message, self._message(message)) for message in messages]
        if self.accepts is not None:
            dropped = [message for message, item in shaped
                       if not self.accepts(dict(item, data=json_or_text_b64(item["data"])))]
            for message in dropped:  # filtered out: consumed without an invoke
                await message.ack()
            shaped = [(message, item) for message, item in shaped if message not in dropped]
            if not shaped:
                return
        event = {"eventSource": "aws:rmq", "eventSourceArn": self.source.arn,
                 "rmqMessagesByQueue": {self.key: [item for _, item in shaped]}}
        try:
            result = await self.target.invoke(_encode(event))
        except FunctionGone:
            failed = True
        else:
            failed = result.failed
        if not failed:
            self.failures = 0
            self.report("OK")
            for message, _ in shaped:
                await message.ack()
            return
        self.failures += 1
        self.report("PROBLEM: Function call failed")
        await asyncio.sleep(self.backoff(self.failures))  # held unacked meanwhile: no hot redelivery loop
        for message, _ in shaped:
            await message.nack(requeue=True)

    @staticmethod
    def _message(message: AbstractIncomingMessage) -> dict[str, Any]:
        """A message as Lambda's RabbitMQ event carries it."""
        properties = message.properties
        timestamp: datetime.datetime | str | None = properties.timestamp
        if isinstance(timestamp, datetime.datetime):
            moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=datetime.UTC)
            timestamp = moment.astimezone(datetime.UTC).strftime("%b %-d, %Y, %-I:%M:%S %p")
        return {
            "basicProperties": {
                "contentType": properties.content_type,
                "contentEncoding": properties.content_encoding,
                "headers": {name: _header(value) for name, value in (properties.headers or {}).items()},
                "deliveryMode": properties.delivery_mode,
                "priority": properties.priority,
                "correlationId": properties.correlation_id,
                "replyTo": properties.reply_to,
                "expiration": properties.expiration,
                "messageId": properties.message_id,
                "timestamp": timestamp,
                "type": properties.message_type,
                "userId": properties.user_id,
                "appId": properties.app_id,
                "clusterId": properties.cluster_id or None,
                "bodySize": len(message.body),
            },
            "redelivered": bool(message.redelivered),
            "data": base64.b64encode(message.body).decode(),
        }


def _header(value: FieldValue) -> object:
    """A header value as Lambda shows it: AMQP strings as their bytes ({"bytes": [...]}), numbers as is."""
    if isinstance(value, str):
        return {"bytes": list(value.encode())}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": list(value)}
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, dict):
        return {key: _header(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_header(item) for item in value]
    return str(value)
