"""The async queue's SQLite storage: `<data dir>/queue.db` and its one writer thread.

WAL mode with synchronous=FULL: every commit fsyncs the WAL before it returns. Concurrent enqueues are
GROUP-COMMITTED: the writer takes every operation waiting, writes them in one transaction and commits
(one fsync for the batch), then reports the inserts as committed; so the fsync cost is shared by as
many events as arrive during the previous fsync. Retries, outcomes and deletions ride the same batches.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from stratus.errors import ServiceException
from stratus.store.migrations import Migration, migrate, private_file, refuse_newer
from stratus.store.queue import (
    MEMORY_PAYLOAD_MAX,
    Delete,
    Insert,
    OnCommitted,
    Operation,
    QueuedEvent,
    QueueStorage,
    Token,
    Update,
)

log = logging.getLogger("stratus.async")

_VERSION_1 = """
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
_VERSION_2 = """
ALTER TABLE events ADD COLUMN trace BLOB;  -- the X-Amzn-Trace-Id the event belongs to (NULL: stored before)
"""
# queue.db's schema, version by version (store/migrations.py). Append; never edit a released one.
MIGRATIONS = [
    Migration(1, "events", _VERSION_1),
    Migration(2, "each event's trace header", _VERSION_2),
]
INSERT = ("INSERT INTO events (id, request_id, function, qualifier, payload, enqueued_at, due_at, attempts, trace) "
          "VALUES ")
ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPDATE = "UPDATE events SET due_at = ?, attempts = ?, deliveries = ? WHERE id = ?"
_DELETE = "DELETE FROM events WHERE id IN "
_PER_STATEMENT = 1000  # rows per INSERT (9 parameters each: under SQLite's 32,766)


class SqliteQueueStorage(QueueStorage[Token]):
    """The queue's SQLite file and its one writer thread, which group-commits whatever is waiting."""

    def __init__(self, path: Path):
        super().__init__()
        refuse_newer(path, MIGRATIONS)  # before anything starts: SchemaTooNew if a newer release wrote it
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._reads = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="async-queue-reader")
        self._ops: collections.deque[Operation[Token]] = collections.deque()  # the loop appends, the writer drains
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_committed: OnCommitted[Token] | None = None
        self._closed = False

    async def open(self, on_committed: OnCommitted[Token]) -> tuple[list[QueuedEvent], int]:
        loop = asyncio.get_running_loop()
        events, next_id = await loop.run_in_executor(self._reads, self._open)
        self._loop = loop
        self._on_committed = on_committed
        self._thread = threading.Thread(target=self._run, name="async-queue-writer", daemon=True)
        self._thread.start()
        return events, next_id

    def _open(self) -> tuple[list[QueuedEvent], int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private_file(self.path)  # the WAL and shm files SQLite makes take its mode
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, cached_statements=256)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # every commit fsyncs the WAL: a 202 means on disk
            conn.execute("PRAGMA journal_size_limit=67108864")
            migrate(conn, MIGRATIONS, self.path)
            rows = conn.execute(
                "SELECT id, request_id, function, qualifier, CASE WHEN length(payload) <= ? THEN payload END, "
                "enqueued_at, due_at, attempts, deliveries, trace FROM events ORDER BY id",
                (MEMORY_PAYLOAD_MAX,)).fetchall()
            next_id = (conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        return [QueuedEvent(*row) for row in rows], int(next_id)

    # ------------------------------------------------------------------ called on the event loop
    def insert(self, event: QueuedEvent, token: Token) -> None:
        self._submit(Insert(event, token))

    def update(self, event: QueuedEvent) -> None:
        self._submit(Update(event))

    def delete(self, event_id: int) -> None:
        self._submit(Delete(event_id))

    def _submit(self, op: Operation[Token]) -> None:
        if self._closed:
            if not isinstance(op, Insert):
                return  # a late retry or deletion: the event simply runs again after the restart
            raise ServiceException("Stratus is shutting down; the event was not accepted.")
        self._ops.append(op)
        if not self._wake.is_set():
            self._wake.set()

    async def read_payload(self, event_id: int) -> bytes | None:
        return await asyncio.get_running_loop().run_in_executor(self._reads, self._read_payload, event_id)

    def _read_payload(self, event_id: int) -> bytes | None:
        if self._reader is None:
            return None
        row = self._reader.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        payload: bytes = row[0]
        return payload

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._close)
        self._reads.shutdown(wait=False)

    def _close(self) -> None:
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
            ops: list[Operation[Token]] = []
            pop = self._ops.popleft
            while self._ops:
                ops.append(pop())
            if ops:
                try:
                    self._commit(ops)
                except Exception as exc:  # noqa: BLE001 - the writer must outlive any bug in one batch
                    log.error("async queue: the writer failed on a batch", exc_info=exc)
                    self._report([op for op in ops if isinstance(op, Insert)], exc)
            if self._closed and not self._ops:
                return

    def _commit(self, ops: list[Operation[Token]]) -> None:
        """One transaction for the batch, in as few statements as possible: each statement lets go of the
        GIL and must win it back from a busy event loop."""
        inserted: list[Insert[Token]] = []
        updates: list[tuple[float, int, bytes | None, int]] = []
        deletes: list[int] = []
        for op in ops:
            if isinstance(op, Insert):
                inserted.append(op)
            elif isinstance(op, Update):
                updates.append((op.due_at, op.attempts, op.deliveries, op.event_id))
            else:
                deletes.append(op.event_id)
        error = self._write(_statements(inserted, deletes), updates, len(ops))
        if error is None and inserted:
            self.insert_commits += 1
            self.inserted += len(inserted)
        if inserted:
            self._report(inserted, error)

    def _write(self, statements: list[tuple[str, list[Any]]], updates: list[tuple[float, int, bytes | None, int]],
               count: int) -> Exception | None:
        """Run the batch's statements in one transaction; the error that failed it, if any."""
        conn = self._conn
        if conn is None:
            return RuntimeError("the queue file is not open")
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
            log.error("async queue: a commit of %d changes failed", count, exc_info=exc)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            return exc
        return None

    def _report(self, inserted: list[Insert[Token]], error: BaseException | None) -> None:
        if self._loop is None or self._on_committed is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._on_committed, inserted, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _statements(inserted: list[Insert[Token]], deletes: list[int]) -> list[tuple[str, list[Any]]]:
    """Multi-row INSERTs for the new events and DELETEs for the finished ones, chunked under SQLite's limits."""
    statements: list[tuple[str, list[Any]]] = []
    for start in range(0, len(inserted), _PER_STATEMENT):
        chunk = inserted[start:start + _PER_STATEMENT]
        statements.append((INSERT + ",".join([ROW] * len(chunk)),
                           [value for e in [op.event for op in chunk] for value in
                            (e.id, e.request_id, e.function, e.qualifier, e.payload, e.enqueued_at, e.due_at,
                             e.attempts, e.trace)]))
    for start in range(0, len(deletes), _PER_STATEMENT * 8):
        ids = deletes[start:start + _PER_STATEMENT * 8]
        statements.append((_DELETE + "(" + ",".join(["?"] * len(ids)) + ")", list(ids)))
    return statements
