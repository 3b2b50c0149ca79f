"""What every poller shares: its context (the services it uses), its mapping, its function, its filters,
start and stop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from stratus.config import Settings
from stratus.events.mappings.filters import compile_filters
from stratus.events.mappings.sources import AwsClients, BlockingCalls, Source
from stratus.events.mappings.target import FunctionTarget, MappingFunctions
from stratus.events.ports import RecursionGuard
from stratus.invoke.entry import InvokeService
from stratus.shapes import EventSourceMappingRecord
from stratus.store.base import Store

log = logging.getLogger("stratus.mappings")

FUNCTION_RECHECK_S = 1.0  # how often a mapping whose function is gone looks for it again


class FailureDestination(Protocol):
    """Where a stream mapping's OnFailure records go (events/destinations.py's `Destinations.send`)."""

    async def send(self, target_arn: str, record: dict[str, Any]) -> bool: ...


@dataclasses.dataclass(frozen=True)
class PollerContext:
    """The services every poller uses, given by the runner."""

    settings: Settings
    aws: AwsClients  # boto3 clients at the configured endpoints
    calls: BlockingCalls  # blocking calls off the event loop
    functions: MappingFunctions
    invoke_service: InvokeService
    store: Store  # stream checkpoints
    destinations: FailureDestination | None
    report: Callable[[str, str], None]  # (mapping UUID, LastProcessingResult)
    recursion: RecursionGuard | None = None  # recursive loop detection (SQS messages' AWSTraceHeader)


class Poller:
    """One enabled mapping at work. Subclasses implement `run` (the polling loop); batches that must
    finish before the poller stops (an invoke whose messages are then deleted or acked) run through
    `spawn`."""

    def __init__(self, context: PollerContext, record: EventSourceMappingRecord, source: Source):
        self.context = context
        self.settings = context.settings
        self.record = record
        self.config = record.config
        self.uuid = record.config.UUID or ""
        if record.config.BatchSize is None:  # the control service always sets it
            raise ValueError(f"event source mapping {self.uuid} has no BatchSize")
        self.batch_size: int = record.config.BatchSize
        self.source = source
        self.target = FunctionTarget(context.functions, context.invoke_service, record.function_name, record.qualifier)
        criteria = record.config.FilterCriteria
        self.accepts = compile_filters(criteria.Filters if criteria else None)
        self._task: asyncio.Task | None = None
        self._inflight: set[asyncio.Task] = set()
        self.stopping = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._main())

    async def stop(self, grace_s: float) -> None:
        """Stop polling; batches being processed get `grace_s` to finish, then are cancelled (their
        records come back: at-least-once)."""
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.close()
        except Exception:  # noqa: BLE001 - closing a connection that already failed
            log.debug("event source mapping %s: close failed", self.uuid, exc_info=True)

    async def _main(self) -> None:
        delay = self.settings.esm_retry_base_s
        while not self.stopping:
            try:
                await self.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the source may be unreachable for a while
                log.warning("event source mapping %s (%s): %s: %s; polling again in %.1f s", self.uuid,
                            self.source.arn, type(exc).__name__, exc, delay)
                self.report(f"PROBLEM: {type(exc).__name__}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.esm_retry_max_s)

    async def run(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the poller holds (connections); called once after it stopped."""

    # ------------------------------------------------------------------ helpers
    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._inflight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event source mapping %s: batch failed unexpectedly", self.uuid, exc_info=task.exception())

    async def wait_for_function(self) -> None:
        """Return once the mapping's function exists (a mapping outlives its function, as on AWS)."""
        while not self.target.exists():
            await asyncio.sleep(FUNCTION_RECHECK_S)

    def report(self, result: str) -> None:
        """Set the mapping's LastProcessingResult."""
        self.context.report(self.uuid, result)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1, 2, ...) of a failed batch."""
        return min(self.settings.esm_retry_base_s * 2 ** max(0, attempt - 1), self.settings.esm_retry_max_s)
