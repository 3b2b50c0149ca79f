"""Asynchronous invocations (InvocationType=Event): the scheduler and workers over a durable queue.

Durability is the queue storage's (store/queue.py; SQLite by default, store/queue_sqlite.py): an event is
accepted (its caller answered 202) only once the storage reports it durable, and every event not finished
is stored; at start all of them are loaded and run again, so an event whose attempt was under way when
the server died runs again (the same request id). Delivery is at least once. On one node the "lease" of
an event is the life of the process that loaded it: a crash ends every lease at once, and the restart is
the redelivery.

Memory is the schedule: a ready deque and a heap by due time. Workers run events through the invoke
service (reserved and account concurrency apply), at most `async_workers` at a time. Retries and the
event's maximum age follow events/async_policy.py, as AWS does. Once final the event's deliveries (the
DLQ message for the function's DeadLetterConfig, the OnSuccess / OnFailure destination record) are
stored before they are sent, so a crash during delivery delivers again rather than losing the record.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import heapq
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import msgspec

from stratus.errors import (
    LambdaError,
    RecursiveInvocationException,
    RequestTooLargeException,
    ServiceException,
    TooManyRequestsException,
)
from stratus.events.async_policy import Condition, Next, RetryPolicy
from stratus.events.async_records import error_message, invocation_record
from stratus.events.ports import RecursionGuard
from stratus.invoke import trace as traces
from stratus.invoke.concurrency import RESERVED_LIMIT_REASON
from stratus.invoke.entry import InvokeService
from stratus.invoke.types import InvokeResult, Target
from stratus.shapes import FunctionRecord
from stratus.store.queue import MEMORY_PAYLOAD_MAX, Insert, QueuedEvent, QueueStorage

if TYPE_CHECKING:
    from stratus.config import Settings
    from stratus.control.event_invoke_config import AsyncSettings
    from stratus.control.names import Arns

log = logging.getLogger("stratus.async")

_decode = msgspec.json.decode
_encode = msgspec.json.encode

# The storage token of an insert: the caller's future and the result it resolves to once the event is durable.
Accepted = tuple[asyncio.Future[InvokeResult], InvokeResult]


class AsyncFunctions(Protocol):
    """What the workers need of the functions (control/functions.py's FunctionService)."""

    arns: Arns

    def route(self, reference: str, qualifier: str | None = None) -> tuple[FunctionRecord, str, str | None]: ...

    def target_of(self, record: FunctionRecord, qualifier: str | None) -> Target: ...

    def reserved_concurrency(self, name: str) -> int | None: ...


class AsyncConfigs(Protocol):
    """The event invoke configs (control/event_invoke_config.py's EventInvokeConfigService)."""

    async def load(self) -> None: ...

    def settings_for(self, name: str, qualifier: str | None, created_ms: int) -> AsyncSettings: ...


class OutcomeDestinations(Protocol):
    """Where finished events' records go (events/destinations.py's Destinations)."""

    async def send(self, target_arn: str, record: dict[str, Any], trace: bytes | None = None) -> bool: ...

    async def dead_letter(self, target_arn: str, payload: bytes, request_id: str, error_message: str,
                          trace: bytes | None = None) -> bool: ...

    def close(self) -> None: ...


class _Run(NamedTuple):
    """What one try of an event resolved to: the version's record, the version, the qualifier, its config."""

    record: FunctionRecord
    version: str
    qualifier: str | None
    config: AsyncSettings


class AsyncInvocations:
    """The async invocation service: `enqueue` (durable), the Event branch of Invoke (`accept`), the
    workers that run, retry and finish events."""

    def __init__(self, settings: Settings, functions: AsyncFunctions, configs: AsyncConfigs,
                 destinations: OutcomeDestinations, storage: QueueStorage[Accepted],
                 recursion: RecursionGuard | None = None):
        self.settings = settings
        self.recursion = recursion  # recursive loop detection: an event too deep in its chain is not run
        self.functions = functions
        self.invoke_service: InvokeService  # given at start: it needs this queue for Event invokes
        self.configs = configs
        self.destinations = destinations
        self.arns = functions.arns
        self.storage = storage
        self.policy = RetryPolicy.from_settings(settings)
        self._next_id = 1
        self._ready: collections.deque[QueuedEvent] = collections.deque()
        self._scheduled: list[tuple[float, QueuedEvent]] = []  # heap by due time
        # Throttled events waiting for a slot, by function name ("" for the account's unreserved pool): a slot
        # given back wakes one at once, so a function at its reserved concurrency drains its queue at full rate
        # (the back-off stays as the fallback).
        self._throttled: dict[str, collections.deque[QueuedEvent]] = {}
        self._inflight = 0
        self._limit = max(0, settings.async_workers)  # 0: events are accepted and kept, none run
        self._kicked = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._closing = False
        self._started = False
        self._loop: asyncio.AbstractEventLoop  # set at start

    # ------------------------------------------------------------------ lifecycle
    async def start(self, invoke_service: InvokeService) -> None:
        """Open the queue and pick up every event not finished before (at start-up, after functions);
        workers run events through `invoke_service`."""
        self.invoke_service = invoke_service
        self._loop = asyncio.get_running_loop()
        invoke_service.invoker.concurrency.on_release = self._slot_released
        await self.configs.load()
        events, self._next_id = await self.storage.open(self._committed)
        self._started = True
        for event in events:
            if event.deliveries is not None:
                self._deliver(event)
            else:
                heapq.heappush(self._scheduled, (event.due_at, event))
        if events:
            log.info("async queue: %d events accepted before the last stop are picked up again", len(events))
        self._kick()

    async def close(self) -> None:
        """Stop starting attempts, let running ones finish (up to the graceful shutdown time), commit, close."""
        if not self._started:
            return
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        deadline = time.monotonic() + self.settings.graceful_shutdown_s
        while (self._inflight or self._tasks) and time.monotonic() < deadline:
            self._idle.clear()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=max(0.0, deadline - time.monotonic()))
            elif self._inflight:
                try:
                    await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    break
        await self.storage.close()
        self.destinations.close()
        storage = self.storage
        if storage.inserted:
            log.info("async queue: %d events accepted in %d commits (%.1f events per commit)", storage.inserted,
                     storage.insert_commits, storage.inserted / max(1, storage.insert_commits))

    # ------------------------------------------------------------------ accepting events
    def accept(self, name: str, qualifier: str | None, payload: bytes, request_id: str,
               value: InvokeResult, trace: bytes) -> asyncio.Future[InvokeResult]:
        """Store an event for `name` (resolved already) in the trace `trace`; the future resolves to `value`
        once it is on disk."""
        if not self._started or self._closing:
            raise ServiceException("Stratus is not accepting asynchronous invocations right now.")
        now = time.time()
        event = QueuedEvent(self._next_id, request_id, name, qualifier, payload, now, now, trace=trace)
        self._next_id += 1
        future: asyncio.Future[InvokeResult] = self._loop.create_future()
        self.storage.insert(event, (future, value))
        return future

    async def enqueue(self, function_ref: str, payload: bytes, qualifier: str | None = None, *,
                      request_id: str | None = None, trace: bytes | None = None) -> str:
        """Invoke `function_ref` (name or ARN, + qualifier) asynchronously: durable when this returns.

        `trace`: the X-Amzn-Trace-Id the event continues (a destination's: its event's), else a new trace.
        Returns the request id. Raises ResourceNotFoundException (no such function, version or alias)
        or RequestTooLargeException (payload over the async limit)."""
        limit = self.settings.async_payload_max_bytes
        if len(payload) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        record, _, qualifier = self.functions.route(function_ref, qualifier)
        request_id = request_id or str(uuid.uuid4())
        accepted = InvokeResult(202, request_id, "$LATEST")
        active = record.config.TracingConfig is not None and record.config.TracingConfig.Mode == "Active"
        await self.accept(record.name, qualifier, payload or b"{}", request_id, accepted,
                          traces.incoming(trace, active))
        return request_id

    def _committed(self, batch: list[Insert[Accepted]], error: BaseException | None) -> None:
        for op in batch:
            event = op.event
            future, value = op.token
            if error is not None:
                if not future.done():
                    future.set_exception(ServiceException("The event could not be stored; see the server log."))
                continue
            if not future.done():
                future.set_result(value)
            _drop_large_payload(event)
            self._ready.append(event)
        self._kick()

    # ------------------------------------------------------------------ the workers
    def _kick(self) -> None:
        if not self._kicked and not self._closing:
            self._kicked = True
            self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._kicked = False
        if self._closing:
            return
        now = time.time()
        scheduled, ready = self._scheduled, self._ready
        while scheduled and scheduled[0][0] <= now:
            due_at, event = heapq.heappop(scheduled)
            if event.due_at == due_at:  # else woken earlier by a released slot (a stale entry)
                ready.append(event)
        while self._inflight < self._limit and ready:
            self._attempt(ready.popleft())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if scheduled:
            self._timer = self._loop.call_later(max(0.0, scheduled[0][0] - now), self._kick)

    def _attempt(self, event: QueuedEvent) -> None:
        event.due_at = 0.0  # not waiting any more: a released slot must not wake it (nor a stale heap entry)
        if event.deliveries is not None:
            self._deliver(event)
            return
        try:
            record, version, qualifier = self.functions.route(event.function, event.qualifier)
        except LambdaError as error:  # the function, version or alias is gone: so is the event (as on AWS)
            log.warning("async invocation %s dropped: %s", event.request_id, error.message)
            self.storage.delete(event.id)
            return
        run = _Run(record, version, qualifier, self.configs.settings_for(record.name, qualifier, record.created_ms))
        if self.policy.expired(time.time(), self._age_limit(event, run)):
            self._finish(event, "EventAgeExceeded", run)
            return
        if self.recursion is not None and self.recursion.stops(record.name, event.trace):
            self._stop_recursion(event, run)
            return
        if self.functions.reserved_concurrency(record.name) == 0:
            # AWS: an event for a function whose reserved concurrency is 0 is not tried (nor retried); it goes
            # to the OnFailure destination / DLQ at once with condition ZeroReservedConcurrency.
            self._finish(event, "ZeroReservedConcurrency", run)
            return
        if event.payload is None:
            self._track(self._load_then_run(event))
            return
        try:
            future = self.invoke_service.invoke(self.functions.target_of(record, qualifier), event.payload,
                                                request_id=event.request_id, trace_id=event.trace)
        except TooManyRequestsException as exc:
            self._retry_later(event, exc, run)
            return
        except LambdaError as exc:  # e.g. the runtime cannot run on this host now (InvalidRuntimeException)
            log.warning("async invocation %s: %s (retried)", event.request_id, exc.message)
            self._retry_later(event, None, run)
            return
        except Exception as exc:  # noqa: BLE001 - a failure of Stratus itself: retried like a throttle
            log.error("async invocation %s: the invoke failed", event.request_id, exc_info=exc)
            self._retry_later(event, None, run)
            return
        self._inflight += 1
        future.add_done_callback(functools.partial(self._attempt_done, event, run))

    async def _load_then_run(self, event: QueuedEvent) -> None:
        payload = await self.storage.read_payload(event.id)
        if payload is None:
            return
        event.payload = payload  # dropped again once the attempt is over
        self._ready.appendleft(event)
        self._kick()

    def _attempt_done(self, event: QueuedEvent, run: _Run, future: asyncio.Future[InvokeResult]) -> None:
        self._inflight -= 1
        if self._closing and not self._inflight:
            self._idle.set()
        try:
            outcome = future.result().outcome
        except TooManyRequestsException as exc:
            self._retry_later(event, exc, run)
            self._kick()
            return
        except Exception as exc:  # noqa: BLE001 - a failure of Stratus itself: retried like a throttle
            log.error("async invocation %s: the invoke failed", event.request_id, exc_info=exc)
            self._retry_later(event, None, run)
            self._kick()
            return
        assert outcome is not None  # a RequestResponse invoke that ran
        event.attempts += 1
        event.last = (200, outcome.function_error, outcome.payload)
        step = self.policy.after_attempt(time.time(), event.attempts, outcome.function_error,
                                         run.config.maximum_retry_attempts, self._age_limit(event, run))
        if step.ends is not None:
            self._finish(event, step.ends, run)
        else:
            event.due_at = step.due_at
            self.storage.update(event)
            heapq.heappush(self._scheduled, (step.due_at, event))
        _drop_large_payload(event)  # read back for the next attempt; the outcome record was made already
        self._kick()

    def _retry_later(self, event: QueuedEvent, throttle: TooManyRequestsException | None, run: _Run) -> None:
        """A throttle or a failure of Stratus: back off (not an attempt), until the event's maximum age."""
        if throttle is not None:
            event.last = (429, None, throttle.body())
        event.throttles += 1
        step: Next = self.policy.after_throttle(time.time(), event.throttles, self._age_limit(event, run))
        if step.ends is not None:
            self._finish(event, step.ends, run)
            return
        event.due_at = step.due_at
        _drop_large_payload(event)
        heapq.heappush(self._scheduled, (step.due_at, event))  # not stored: after a restart it is due at once
        if throttle is not None:
            pool = run.record.name if throttle.extra.get("Reason") == RESERVED_LIMIT_REASON else ""
            self._throttled.setdefault(pool, collections.deque()).append(event)

    def _slot_released(self, function_name: str) -> None:
        """A slot of `function_name` was given back: its oldest throttled event (else one waiting for the
        account's pool) tries now."""
        for pool in (function_name, ""):
            waiting = self._throttled.get(pool)
            while waiting:
                event = waiting.popleft()
                if event.due_at > 0:  # still waiting (not woken, run or finished since)
                    event.due_at = 0.0  # its heap entry is stale now
                    self._ready.append(event)
                    self._kick()
                    return
            self._throttled.pop(pool, None)

    def _stop_recursion(self, event: QueuedEvent, run: _Run) -> None:
        """Recursive loop detection (the function's RecursiveLoop is Terminate): the event is not run; it goes
        to the DLQ / OnFailure destination with the RecursiveInvocationException Invoke would answer."""
        error = RecursiveInvocationException(RecursiveInvocationException.MESSAGE)
        event.last = (error.status, None, error.body())
        log.warning("async invocation %s of %s stopped: recursive loop detected (the event's chain has invoked "
                    "Lambda %d times; limit %d). Set RecursiveLoop to Allow with PutFunctionRecursionConfig if "
                    "the loop is intended.", event.request_id, run.record.name, traces.loops(event.trace),
                    self.settings.recursion_limit)
        self._finish(event, "RetriesExhausted", run)

    def _age_limit(self, event: QueuedEvent, run: _Run) -> float:
        return self.policy.age_limit(event.enqueued_at, run.config.maximum_event_age_s)

    # ------------------------------------------------------------------ finishing
    def _finish(self, event: QueuedEvent, condition: Condition, run: _Run) -> None:
        """The event's outcome is final: store what must be delivered (DLQ, destination), then deliver."""
        record, config = run.record, run.config
        deliveries: list[list[Any]] = []
        destination = config.on_success if condition == "Success" else config.on_failure
        if condition != "Success":
            dead_letter = record.config.DeadLetterConfig.TargetArn if record.config.DeadLetterConfig else None
            if dead_letter:
                deliveries.append(["dlq", dead_letter, error_message(event.last)])
            log.info("async invocation %s of %s ended: %s after %d attempts", event.request_id, record.name,
                     condition, event.attempts)
        if destination:
            function_arn = self.arns.function(record.name, run.qualifier or "$LATEST")
            deliveries.append(["destination", destination, invocation_record(event, condition, function_arn,
                                                                             run.version)])
        if not deliveries:
            self.storage.delete(event.id)
            return
        event.deliveries = _encode(deliveries)
        self.storage.update(event)
        self._deliver(event)

    def _deliver(self, event: QueuedEvent) -> None:
        self._track(self._deliver_all(event))

    async def _deliver_all(self, event: QueuedEvent) -> None:
        try:
            payload = event.payload
            if payload is None:
                payload = await self.storage.read_payload(event.id) or b"{}"
            for kind, target, detail in _decode(event.deliveries or b"[]"):
                if kind == "dlq":
                    await self.destinations.dead_letter(target, payload, event.request_id, detail, event.trace)
                else:
                    await self.destinations.send(target, detail, event.trace)
        except Exception as exc:  # noqa: BLE001
            log.error("async invocation %s: delivering its outcome failed", event.request_id, exc_info=exc)
        self.storage.delete(event.id)

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _drop_large_payload(event: QueuedEvent) -> None:
    """Large payloads are not kept in memory while their event waits (the storage has them)."""
    if event.payload is not None and len(event.payload) > MEMORY_PAYLOAD_MAX:
        event.payload = None
