"""Asynchronous invocations (InvocationType=Event): a durable queue, workers, retries, DLQ, destinations.

Durability: events live in their own SQLite file (`<data dir>/queue.db`, WAL, synchronous=FULL), written
by one thread. Concurrent enqueues are GROUP-COMMITTED: the writer takes every event waiting, inserts
them in one transaction and commits (one fsync of the WAL for the batch), then each caller's 202 leaves.
So an accepted event is on disk before its caller hears of it, and the fsync cost is shared by as many
events as arrive during the previous fsync. Retries, outcomes and deletions ride the same batches.

Delivery is at least once. Every event not finished is in the file; at start all of them are loaded
and run again, so an event whose attempt was under way when the server died runs again (the same
request id). On one node the "lease" of an event is the life of the process that loaded it: a crash
ends every lease at once, and the restart is the redelivery.

Workers run events through the normal invoke path (`functions.route`, `environment_spec`,
`invoker.submit`: reserved and account concurrency apply), at most `async_workers` at a time. A
function error is retried after `async_retry_base_s`, then twice that (AWS: 1 min, 2 min), up to the
config's MaximumRetryAttempts; a throttle (or a failure of Stratus itself) is retried from
`async_throttle_retry_base_s` doubling up to `async_throttle_retry_max_s`, without counting as an
attempt; when the next try would come after MaximumEventAgeInSeconds the event ends with
EventAgeExceeded, as AWS does. Then the record goes to the DLQ (the function's DeadLetterConfig) and
OnFailure destination, or on success to the OnSuccess destination; the outcome is stored first, so a
crash during delivery delivers again rather than losing the record.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import heapq
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import msgspec

from stratus.errors import LambdaError, RequestTooLargeException, ServiceException, TooManyRequestsException
from stratus.invoke.entry import InvokeService
from stratus.invoke.types import InvokeResult, Outcome
from stratus.timestamps import iso_millis

log = logging.getLogger("stratus.async")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT,             -- as invoked (NULL: unqualified)
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,  -- epoch seconds
    due_at REAL NOT NULL,       -- when it may run next
    attempts INTEGER NOT NULL,  -- function attempts so far
    deliveries BLOB             -- once final: JSON list of what to deliver (DLQ, destination records)
);
"""
_INSERT = "INSERT INTO events (id, request_id, function, qualifier, payload, enqueued_at, due_at, attempts) VALUES "
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_UPDATE = "UPDATE events SET due_at = ?, attempts = ?, deliveries = ? WHERE id = ?"
_DELETE = "DELETE FROM events WHERE id IN "
_PER_STATEMENT = 1000  # rows per INSERT (8 parameters each: under SQLite's 32,766)
_MEMORY_PAYLOAD_MAX = 256 * 1024  # larger payloads are read back from the file when their event runs
_decode = msgspec.json.decode
_encode = msgspec.json.encode


class QueuedEvent:
    """One accepted event, in memory while it waits or runs."""

    __slots__ = ("id", "request_id", "function", "qualifier", "payload", "enqueued_at", "due_at", "attempts",
                 "throttles", "deliveries", "last")

    def __init__(self, id: int, request_id: str, function: str, qualifier: str | None, payload: bytes | None,
                 enqueued_at: float, due_at: float, attempts: int = 0, deliveries: bytes | None = None):
        self.id = id
        self.request_id = request_id
        self.function = function
        self.qualifier = qualifier
        self.payload = payload
        self.enqueued_at = enqueued_at
        self.due_at = due_at
        self.attempts = attempts
        self.throttles = 0
        self.deliveries = deliveries
        self.last: tuple[int, str | None, bytes] | None = None  # (status, function error, payload) of the last try

    def __lt__(self, other: "QueuedEvent") -> bool:  # heap order after due_at
        return self.id < other.id


class QueueFile:
    """The queue's SQLite file and its one writer thread, which group-commits whatever is waiting."""

    def __init__(self, path: Path):
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._ops: collections.deque[tuple] = collections.deque()  # appended by the loop, drained by the writer
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_committed = None
        self._closed = False
        self.insert_commits = 0  # commits that stored new events (group commit: many events each)
        self.inserted = 0

    def open(self) -> tuple[list[tuple], int]:
        """Open (or create) the file; (every stored event row, the next free id). Blocking."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, cached_statements=256)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # every commit fsyncs the WAL: a 202 means on disk
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.executescript(_SCHEMA)
        rows = conn.execute(
            "SELECT id, request_id, function, qualifier, CASE WHEN length(payload) <= ? THEN payload END, "
            "enqueued_at, due_at, attempts, deliveries FROM events ORDER BY id", (_MEMORY_PAYLOAD_MAX,)).fetchall()
        next_id = (conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
        self._conn = conn
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        return rows, next_id

    def start(self, loop: asyncio.AbstractEventLoop, on_committed) -> None:
        """Start the writer; `on_committed(batch)` runs on `loop` with the (event, future, value) inserted."""
        self._loop = loop
        self._on_committed = on_committed
        self._thread = threading.Thread(target=self._run, name="async-queue-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ called on the event loop
    def insert(self, event: QueuedEvent, future: asyncio.Future, value) -> None:
        self._submit((0, event, future, value))

    def update(self, event: QueuedEvent) -> None:
        self._submit((1, (event.due_at, event.attempts, event.deliveries, event.id)))

    def delete(self, event_id: int) -> None:
        self._submit((2, event_id))

    def _submit(self, op: tuple) -> None:
        if self._closed:
            if op[0] != 0:
                return  # a late retry or deletion: the event simply runs again after the restart
            raise ServiceException("Stratus is shutting down; the event was not accepted.")
        self._ops.append(op)
        if not self._wake.is_set():
            self._wake.set()

    def read_payload(self, event_id: int) -> bytes | None:
        """The payload of a stored event (blocking; a large payload is not kept in memory)."""
        row = self._reader.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        """Commit what is waiting, stop the writer, close the file (blocking)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        for conn in (self._conn, self._reader):
            if conn is not None:
                conn.close()

    # ------------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            ops, pop = [], self._ops.popleft
            while self._ops:
                ops.append(pop())
            if ops:
                try:
                    self._commit(ops)
                except Exception as exc:  # noqa: BLE001 - the writer must outlive any bug in one batch
                    log.error("async queue: the writer failed on a batch", exc_info=exc)
                    self._loop.call_soon_threadsafe(self._on_committed, [op for op in ops if op[0] == 0], exc)
            if self._closed and not self._ops:
                return

    def _commit(self, ops: list[tuple]) -> None:
        """One transaction for the batch, in as few statements as possible: each statement lets go of the
        GIL and must win it back from a busy event loop."""
        inserted = [op for op in ops if op[0] == 0]
        updates = [op[1] for op in ops if op[0] == 1]
        deletes = [op[1] for op in ops if op[0] == 2]
        statements = []
        for start in range(0, len(inserted), _PER_STATEMENT):
            chunk = inserted[start:start + _PER_STATEMENT]
            statements.append((_INSERT + ",".join([_ROW] * len(chunk)),
                               [value for _, e, _, _ in chunk for value in
                                (e.id, e.request_id, e.function, e.qualifier, e.payload, e.enqueued_at, e.due_at,
                                 e.attempts)]))
        for start in range(0, len(deletes), _PER_STATEMENT * 8):
            chunk = deletes[start:start + _PER_STATEMENT * 8]
            statements.append((_DELETE + "(" + ",".join(["?"] * len(chunk)) + ")", chunk))
        conn = self._conn
        error = None
        single = len(statements) == 1 and not updates  # a lone statement is its own (durable) transaction
        try:
            if not single:
                conn.execute("BEGIN")
            for sql, parameters in statements:
                conn.execute(sql, parameters)
            if updates:
                conn.executemany(_UPDATE, updates)
            if not single:
                conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - reported to the callers (a 500), never kills the writer
            error = exc
            log.error("async queue: a commit of %d changes failed", len(ops), exc_info=exc)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
        if error is None and inserted:
            self.insert_commits += 1
            self.inserted += len(inserted)
        if inserted:
            try:
                self._loop.call_soon_threadsafe(self._on_committed, inserted, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


class AsyncInvocations:
    """The async invocation service: `enqueue` (durable), the Event branch of Invoke (`accept`), the
    workers that run, retry and finish events."""

    def __init__(self, settings, functions, configs, destinations):
        self.settings = settings
        self.functions = functions
        self.invoke_service: InvokeService | None = None  # given at start: it needs this queue for Event invokes
        self.configs = configs  # EventInvokeConfigService: settings_for(name, qualifier, created_ms)
        self.destinations = destinations
        self.arns = functions.arns
        self.file = QueueFile(settings.data_dir / "queue.db")
        self._reads = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="async-queue-reader")
        self._next_id = 1
        self._ready: collections.deque[QueuedEvent] = collections.deque()
        self._scheduled: list[tuple[float, QueuedEvent]] = []  # heap by due time
        self._inflight = 0
        self._limit = max(0, settings.async_workers)  # 0: events are accepted and kept, none run
        self._kicked = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._closing = False
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, invoke_service: InvokeService) -> None:
        """Open the queue and pick up every event not finished before (at start-up, after functions);
        workers run events through `invoke_service`."""
        self.invoke_service = invoke_service
        self._loop = loop = asyncio.get_running_loop()
        await self.configs.load()
        rows, self._next_id = await loop.run_in_executor(self._reads, self.file.open)
        self.file.start(loop, self._committed)
        self._started = True
        for row in rows:
            event = QueuedEvent(*row)
            if event.deliveries is not None:
                self._deliver(event)
            else:
                heapq.heappush(self._scheduled, (event.due_at, event))
        if rows:
            log.info("async queue: %d events accepted before the last stop are picked up again", len(rows))
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
                except asyncio.TimeoutError:
                    break
        await asyncio.get_running_loop().run_in_executor(None, self.file.close)
        self._reads.shutdown(wait=False)
        self.destinations.close()
        if self.file.inserted:
            log.info("async queue: %d events accepted in %d commits (%.1f events per commit)", self.file.inserted,
                     self.file.insert_commits, self.file.inserted / max(1, self.file.insert_commits))

    # ------------------------------------------------------------------ accepting events
    def accept(self, name: str, qualifier: str | None, payload: bytes, request_id: str,
               value: InvokeResult) -> asyncio.Future:
        """Store an event for `name` (resolved already); the future resolves to `value` once it is on disk."""
        if not self._started or self._closing:
            raise ServiceException("Stratus is not accepting asynchronous invocations right now.")
        now = time.time()
        event = QueuedEvent(self._next_id, request_id, name, qualifier, payload, now, now)
        self._next_id += 1
        future = self._loop.create_future()
        self.file.insert(event, future, value)
        return future

    async def enqueue(self, function_ref: str, payload: bytes, qualifier: str | None = None, *,
                      request_id: str | None = None) -> str:
        """Invoke `function_ref` (name or ARN, + qualifier) asynchronously: durable when this returns.

        Returns the request id. Raises ResourceNotFoundException (no such function, version or alias)
        or RequestTooLargeException (payload over the async limit)."""
        limit = self.settings.async_payload_max_bytes
        if len(payload) > limit:
            raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        record, _, qualifier = self.functions.route(function_ref, qualifier)
        request_id = request_id or str(uuid.uuid4())
        await self.accept(record.name, qualifier, payload or b"{}", request_id, InvokeResult(202, request_id, "$LATEST"))
        return request_id

    def _committed(self, batch: list[tuple], error: BaseException | None) -> None:
        for _, event, future, value in batch:
            if error is not None:
                if not future.done():
                    future.set_exception(ServiceException("The event could not be stored; see the server log."))
                continue
            if not future.done():
                future.set_result(value)
            if len(event.payload) > _MEMORY_PAYLOAD_MAX:
                event.payload = None
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
            ready.append(heapq.heappop(scheduled)[1])
        while self._inflight < self._limit and ready:
            self._attempt(ready.popleft())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if scheduled:
            self._timer = self._loop.call_later(max(0.0, scheduled[0][0] - now), self._kick)

    def _attempt(self, event: QueuedEvent) -> None:
        if event.deliveries is not None:
            self._deliver(event)
            return
        try:
            record, version, qualifier = self.functions.route(event.function, event.qualifier)
        except LambdaError as error:  # the function, version or alias is gone: so is the event (as on AWS)
            log.warning("async invocation %s dropped: %s", event.request_id, error.message)
            self.file.delete(event.id)
            return
        config = self.configs.settings_for(record.name, qualifier, record.created_ms)
        if time.time() >= self._age_limit(event, config):
            self._finish(event, "EventAgeExceeded", record, version, qualifier, config)
            return
        if event.payload is None:
            self._track(self._load_then_run(event))
            return
        try:
            future = self.invoke_service.invoke(self.functions.target_of(record, qualifier), event.payload,
                                                request_id=event.request_id)
        except TooManyRequestsException as exc:
            self._retry_later(event, exc, record, version, qualifier, config)
            return
        except Exception as exc:  # noqa: BLE001 - a failure of Stratus itself: retried like a throttle
            log.error("async invocation %s: the invoke failed", event.request_id, exc_info=exc)
            self._retry_later(event, None, record, version, qualifier, config)
            return
        self._inflight += 1
        future.add_done_callback(functools.partial(self._attempt_done, event, record, version, qualifier, config))

    async def _load_then_run(self, event: QueuedEvent) -> None:
        payload = await self._loop.run_in_executor(self._reads, self.file.read_payload, event.id)
        if payload is None:
            return
        event.payload = payload  # dropped again once the attempt is over
        self._ready.appendleft(event)
        self._kick()

    def _attempt_done(self, event, record, version, qualifier, config, future: asyncio.Future) -> None:
        self._inflight -= 1
        if self._closing and not self._inflight:
            self._idle.set()
        try:
            outcome: Outcome = future.result().outcome
        except TooManyRequestsException as exc:
            self._retry_later(event, exc, record, version, qualifier, config)
            self._kick()
            return
        except Exception as exc:  # noqa: BLE001 - a failure of Stratus itself: retried like a throttle
            log.error("async invocation %s: the invoke failed", event.request_id, exc_info=exc)
            self._retry_later(event, None, record, version, qualifier, config)
            self._kick()
            return
        event.attempts += 1
        event.last = (200, outcome.function_error, outcome.payload)
        if outcome.function_error is None:
            self._finish(event, "Success", record, version, qualifier, config)
        elif event.attempts > config.maximum_retry_attempts:
            self._finish(event, "RetriesExhausted", record, version, qualifier, config)
        else:
            now = time.time()
            due = now + self.settings.async_retry_base_s * 2 ** (event.attempts - 1)
            if due > self._age_limit(event, config):
                self._finish(event, "EventAgeExceeded", record, version, qualifier, config)
            else:
                event.due_at = due
                self.file.update(event)
                heapq.heappush(self._scheduled, (due, event))
        if event.payload is not None and len(event.payload) > _MEMORY_PAYLOAD_MAX:
            event.payload = None  # read back for the next attempt; the outcome record was made already
        self._kick()

    def _retry_later(self, event: QueuedEvent, throttle: TooManyRequestsException | None, record, version: str,
                     qualifier: str | None, config) -> None:
        """A throttle or a failure of Stratus: back off (not an attempt), until the event's maximum age."""
        if throttle is not None:
            event.last = (429, None, throttle.body())
        event.throttles += 1
        settings = self.settings
        due = time.time() + min(settings.async_throttle_retry_base_s * 2 ** (event.throttles - 1),
                                settings.async_throttle_retry_max_s)
        if due > self._age_limit(event, config):
            self._finish(event, "EventAgeExceeded", record, version, qualifier, config)
            return
        event.due_at = due
        if event.payload is not None and len(event.payload) > _MEMORY_PAYLOAD_MAX:
            event.payload = None
        heapq.heappush(self._scheduled, (due, event))  # not stored: after a restart it is due at once

    def _age_limit(self, event: QueuedEvent, config) -> float:
        return event.enqueued_at + config.maximum_event_age_s * self.settings.async_event_age_scale

    # ------------------------------------------------------------------ finishing
    def _finish(self, event: QueuedEvent, condition: str, record, version: str, qualifier: str | None,
                config) -> None:
        """The event's outcome is final: store what must be delivered (DLQ, destination), then deliver."""
        deliveries = []
        destination = config.on_success if condition == "Success" else config.on_failure
        if condition != "Success":
            dead_letter = record.config.DeadLetterConfig.TargetArn if record.config.DeadLetterConfig else None
            if dead_letter:
                deliveries.append(["dlq", dead_letter, _error_message(event.last)])
            log.info("async invocation %s of %s ended: %s after %d attempts", event.request_id, record.name,
                     condition, event.attempts)
        if destination:
            deliveries.append(["destination", destination, self._record(event, condition, record, version, qualifier)])
        if not deliveries:
            self.file.delete(event.id)
            return
        event.deliveries = _encode(deliveries)
        self.file.update(event)
        self._deliver(event)

    def _record(self, event: QueuedEvent, condition: str, record, version: str, qualifier: str | None) -> dict:
        """AWS's asynchronous invocation record (what OnSuccess / OnFailure destinations receive)."""
        now = time.time()
        document = {
            "version": "1.0",
            "timestamp": iso_millis(now),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": self.arns.function(record.name, qualifier or "$LATEST"),
                "condition": condition,
                "approximateInvokeCount": event.attempts,
            },
            "requestPayload": _json_or_text(event.payload),
        }
        if event.last is not None:
            status, function_error, payload = event.last
            context = {"statusCode": status, "executedVersion": version}
            if function_error:
                context["functionError"] = function_error
            document["responseContext"] = context
            document["responsePayload"] = _json_or_text(payload)
        return document

    def _deliver(self, event: QueuedEvent) -> None:
        self._track(self._deliver_all(event))

    async def _deliver_all(self, event: QueuedEvent) -> None:
        try:
            payload = event.payload
            if payload is None:
                payload = await self._loop.run_in_executor(self._reads, self.file.read_payload, event.id) or b"{}"
            for kind, target, detail in _decode(event.deliveries):
                if kind == "dlq":
                    await self.destinations.dead_letter(target, payload, event.request_id, detail)
                else:
                    await self.destinations.send(target, detail)
        except Exception as exc:  # noqa: BLE001
            log.error("async invocation %s: delivering its outcome failed", event.request_id, exc_info=exc)
        self.file.delete(event.id)

    def _track(self, coroutine) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _json_or_text(payload: bytes | None):
    if payload is None:
        return None
    try:
        return _decode(payload)
    except msgspec.DecodeError:
        return payload.decode("utf-8", "replace")


def _error_message(last: tuple | None) -> str:
    """The errorMessage of the last failure (the DLQ message's ErrorMessage attribute)."""
    if last is None:
        return "Event age exceeded before the function ran"
    document = _json_or_text(last[2])
    if isinstance(document, dict):
        return str(document.get("errorMessage") or document.get("Message") or document.get("errorType") or "")
    return str(document)
