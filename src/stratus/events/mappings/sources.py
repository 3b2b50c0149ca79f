"""Event source ARNs (what a mapping reads from) and the AWS-compatible clients the pollers use.

boto3 calls block, so they run on daemon threads (`BlockingCalls`): a 20 s long poll in flight never
holds up the event loop, nor the process's exit (concurrent.futures would join its workers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from stratus.config import Settings
from stratus.service_clients import ServiceClients

SQS, KINESIS, DYNAMODB, MQ = "sqs", "kinesis", "dynamodb", "mq"
STREAMS = (KINESIS, DYNAMODB)

P = ParamSpec("P")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Source:
    """A parsed event source ARN."""

    kind: str  # sqs | kinesis | dynamodb | mq
    arn: str
    region: str
    account: str
    name: str  # queue name, stream name, table name or broker name
    stream_label: str = ""  # DynamoDB Streams only

    @property
    def fifo(self) -> bool:
        return self.kind == SQS and self.name.endswith(".fifo")

    @property
    def service(self) -> str:
        """The AWS service (endpoint) name the poller talks to."""
        return "dynamodbstreams" if self.kind == DYNAMODB else self.kind


class UnsupportedSource(Exception):
    """An AWS event source Lambda knows that Stratus does not poll (MSK, DocumentDB...)."""


def parse_source(arn: str) -> Source | None:
    """The source an ARN names; None if Lambda does not know the scheme; UnsupportedSource if Stratus
    does not poll it."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    _, _, service, region, account, resource = parts
    if service == "sqs" and resource and "/" not in resource and ":" not in resource:
        return Source(SQS, arn, region, account, resource)
    if service == "kinesis" and resource.startswith("stream/") and "/" not in resource[7:] and resource[7:]:
        return Source(KINESIS, arn, region, account, resource[7:])
    if service == "dynamodb" and resource.startswith("table/"):
        table, _, label = resource[6:].partition("/stream/")
        if table and label and "/" not in table:
            return Source(DYNAMODB, arn, region, account, table, label)
        return None
    if service == "mq" and resource.startswith("broker:") and resource.count(":") == 2:
        _, name, broker_id = resource.split(":")
        if name and broker_id:
            return Source(MQ, arn, region, account, name)
        return None
    if service in ("kafka", "rds"):
        raise UnsupportedSource(
            f"Stratus does not poll {'Amazon MSK' if service == 'kafka' else 'Amazon DocumentDB'} event sources.")
    return None


class BlockingCalls:
    """Runs blocking calls (boto3) on a growing set of daemon threads and awaits their results."""

    def __init__(self, max_threads: int = 256):
        self._max = max_threads
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._backlog = 0  # queued calls no thread was free for

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on a daemon thread; its result or its exception, here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, kwargs, future, loop))
        # Each queued call takes an idle thread for itself (or a new one): counting idle threads only when
        # they pick a call up let two calls count on one thread, and a call waited behind long polls.
        with self._lock:
            start = self._idle == 0 and self._threads < self._max
            if start:
                self._threads += 1
            elif self._idle:
                self._idle -= 1
            else:  # every thread busy and no more allowed: the first to finish takes it
                self._backlog += 1
        if start:
            threading.Thread(target=self._work, name="esm-io", daemon=True).start()
        return await future

    def _work(self) -> None:
        while True:
            fn, args, kwargs, future, loop = self._queue.get()
            try:
                result, error = fn(*args, **kwargs), None
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                result, error = None, exc
            with self._lock:
                if self._backlog:
                    self._backlog -= 1
                else:
                    self._idle += 1
            try:
                loop.call_soon_threadsafe(_resolve, future, result, error)
            except RuntimeError:  # the loop is closed: the server is stopping
                return


def _resolve(future: asyncio.Future[object], result: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class AwsClients(ServiceClients):
    """boto3 clients for the AWS-compatible endpoints in the settings (one per service and region), with the
    pollers' long-poll read timeout, and `call` to use them off the event loop."""

    def __init__(self, settings: Settings, calls: BlockingCalls):
        super().__init__(settings, max_pool_connections=64, read_timeout=settings.esm_sqs_wait_s + 15)
        self.calls = calls

    async def call(self, service: str, region: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call `operation` (a boto3 method name) off the event loop."""
        client = await self.calls.run(self.client, service, region)
        return await self.calls.run(getattr(client, operation), **params)


def broker_url(settings: Settings, broker_arn: str) -> str | None:
    """The AMQP URL a broker ARN maps to (STRATUS_MQ_BROKERS, else the "mq" service endpoint)."""
    for item in settings.mq_brokers.split(","):
        arn, sep, url = item.strip().partition("=")
        if sep and arn == broker_arn:
            return url
    endpoint = settings.service_endpoint("mq")
    if endpoint and urlsplit(endpoint).scheme in ("amqp", "amqps"):
        return endpoint
    return None
