"""The durable store of function logs: log groups, log streams and log events in SQLite (`<data dir>/logs.db`).

One row per log event (a line of output), indexed by (group, stream, time) and (group, time). Writes from
the event loop (`write`) are only queued: a background thread inserts them in batches, so the event loop
never waits on the disk; every other method runs in a worker thread (the API calls them through
`asyncio.to_thread`) and first writes what is queued, so a read sees every line written before it.

The store is bounded two ways: each group's retention (events older than `retentionInDays` are deleted by
a periodic sweep; a "day" lasts `day_s` seconds, 86,400 but in tests) and a total size (`max_bytes` of
messages; past it the oldest events, in arrival order, are dropped first, down to 90 % of the cap).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

log = logging.getLogger("stratus.logs")

MAX_EVENT_BYTES = 256 * 1024 - 26  # a log event's message (AWS: 256 KB including 26 bytes of overhead)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_groups (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, creation_time INTEGER NOT NULL,
    retention_days INTEGER, log_group_class TEXT NOT NULL DEFAULT 'STANDARD', kms_key_id TEXT,
    deletion_protection INTEGER NOT NULL DEFAULT 0, stored_bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL, creation_time INTEGER NOT NULL,
    first_event INTEGER, last_event INTEGER, last_ingestion INTEGER, sequence INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (group_id, name));
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    ingestion INTEGER NOT NULL, size INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (group_id, stream_id, ts);
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (group_id, ts);
"""


@dataclasses.dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    creation_time: int
    retention_days: int | None
    log_group_class: str
    kms_key_id: str | None
    deletion_protection: bool
    stored_bytes: int


@dataclasses.dataclass(frozen=True)
class StreamRow:
    id: int
    name: str
    creation_time: int
    first_event: int | None
    last_event: int | None
    last_ingestion: int | None
    sequence: int


@dataclasses.dataclass(frozen=True)
class EventRow:
    id: int
    stream: str
    timestamp: int
    ingestion: int
    message: str


class AlreadyExists(Exception):
    """The group or stream is there already."""


def now_ms() -> int:
    return int(time.time() * 1000)


def split_lines(data: bytes) -> list[str]:
    """Output as log events: one per line (its newline kept, as Lambda keeps it), a last line without one
    as it is; lines longer than an event may be are cut in pieces."""
    messages = []
    for line in data.splitlines(keepends=True):
        for start in range(0, len(line), MAX_EVENT_BYTES):
            messages.append(line[start:start + MAX_EVENT_BYTES].decode("utf-8", "replace"))
    return messages


class LogStore:
    """Log groups, streams and events on one SQLite connection (guarded by a lock), fed by `write`."""

    def __init__(self, path: Path, *, max_bytes: int = 0, day_s: float = 86400.0, flush_interval_s: float = 0.2,
                 sweep_interval_s: float = 60.0, clock: Callable[[], int] = now_ms):
        self.max_bytes = max_bytes
        self.day_ms = day_s * 1000
        self.clock = clock
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db_lock = threading.Lock()
        self._ids: dict[tuple[str, str], tuple[int, int]] = {}  # (group, stream) → (group id, stream id)
        self._total = self._db.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM log_groups").fetchone()[0]
        self._pending: list[tuple[str, str, int, str]] = []
        self._pending_lock = threading.Lock()
        self.listeners: set[Callable[[str, str, int, str], None]] = set()  # live tails (on the event loop)
        self._stopping = threading.Event()
        self._interval = flush_interval_s
        self._sweep_interval = sweep_interval_s
        self._thread = threading.Thread(target=self._run, name="log-store", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ writing
    def write(self, group: str, stream: str, data: bytes) -> None:
        """Output of a function (whole lines) into `stream` of `group`, soon (the caller never waits on disk)."""
        messages = split_lines(data)
        if messages:
            self.write_messages(group, stream, self.clock(), messages)

    def write_messages(self, group: str, stream: str, timestamp: int, messages: Sequence[str]) -> None:
        """Queue events that arrived at `timestamp`; live tails hear of them now."""
        with self._pending_lock:
            self._pending.extend((group, stream, timestamp, message) for message in messages)
        for listener in list(self.listeners):
            for message in messages:
                listener(group, stream, timestamp, message)

    def flush(self) -> None:
        """Write the queued events now."""
        with self._db_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        now = self.clock()
        with self._db:
            self._db.execute("BEGIN")
            self._insert([(*self._ensure(group, stream, timestamp), timestamp, message)
                          for group, stream, timestamp, message in pending], now)
        if self.max_bytes and self._total > self.max_bytes:
            self._drop_oldest(self._total - self.max_bytes * 9 // 10)

    def _insert(self, events: list[tuple[int, int, int, str]], now: int) -> None:
        """Insert (group id, stream id, timestamp, message) events; the streams' and groups' figures follow."""
        stats: dict[tuple[int, int], list[int]] = {}  # (group id, stream id) → [first, last, bytes]
        rows = []
        for group_id, stream_id, timestamp, message in events:
            size = len(message.encode("utf-8", "replace"))
            rows.append((group_id, stream_id, timestamp, now, size, message))
            entry = stats.setdefault((group_id, stream_id), [timestamp, timestamp, 0])
            entry[0], entry[1], entry[2] = min(entry[0], timestamp), max(entry[1], timestamp), entry[2] + size
        self._db.executemany("INSERT INTO log_events (group_id, stream_id, ts, ingestion, size, message) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)
        self._add_stats(stats, now)

    def _add_stats(self, stats: dict[tuple[int, int], list[int]], now: int) -> None:
        for (group_id, stream_id), (first, last, size) in stats.items():
            self._db.execute(
                "UPDATE log_streams SET first_event = MIN(COALESCE(first_event, ?), ?), "
                "last_event = MAX(COALESCE(last_event, ?), ?), last_ingestion = ?, stored_bytes = stored_bytes + ? "
                "WHERE id = ?", (first, first, last, last, now, size, stream_id))
            self._db.execute("UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE id = ?", (size, group_id))
            self._total += size

    def _ensure(self, group: str, stream: str, now: int) -> tuple[int, int]:
        """The ids of `group` and its `stream`, made when missing (as Lambda makes them, at `now`: the time
        of their first event)."""
        ids = self._ids.get((group, stream))
        if ids is not None:
            return ids
        self._db.execute("INSERT OR IGNORE INTO log_groups (name, creation_time) VALUES (?, ?)", (group, now))
        (group_id,) = self._db.execute("SELECT id FROM log_groups WHERE name = ?", (group,)).fetchone()
        self._db.execute("INSERT OR IGNORE INTO log_streams (group_id, name, creation_time) VALUES (?, ?, ?)",
                         (group_id, stream, now))
        (stream_id,) = self._db.execute("SELECT id FROM log_streams WHERE group_id = ? AND name = ?",
                                        (group_id, stream)).fetchone()
        if len(self._ids) > 10_000:  # one entry per stream: forget old streams now and then
            self._ids.clear()
        self._ids[(group, stream)] = (group_id, stream_id)
        return group_id, stream_id

    def put_events(self, group_id: int, stream_id: int, events: Iterable[tuple[int, str]]) -> int:
        """PutLogEvents' accepted (timestamp, message) pairs; returns the stream's new sequence number."""
        with self._db_lock:
            self._flush_locked()
            now = self.clock()
            with self._db:
                self._db.execute("BEGIN")
                self._insert([(group_id, stream_id, timestamp, message) for timestamp, message in events], now)
                self._db.execute("UPDATE log_streams SET sequence = sequence + 1 WHERE id = ?", (stream_id,))
            (sequence,) = self._db.execute("SELECT sequence FROM log_streams WHERE id = ?", (stream_id,)).fetchone()
            if self.max_bytes and self._total > self.max_bytes:
                self._drop_oldest(self._total - self.max_bytes * 9 // 10)
            return int(sequence)

    # ------------------------------------------------------------ bounds
    def _drop_oldest(self, excess: int) -> None:
        """Delete the earliest-arrived events until `excess` bytes are gone."""
        last_id, dropped = 0, 0
        while dropped < excess:
            batch = self._db.execute("SELECT id, size FROM log_events WHERE id > ? ORDER BY id LIMIT 1000",
                                     (last_id,)).fetchall()
            if not batch:
                break
            for event_id, size in batch:
                last_id, dropped = event_id, dropped + size
                if dropped >= excess:
                    break
        if last_id:
            self._delete_where("id <= ?", (last_id,))
            log.info("function logs over STRATUS_LOG_MAX_BYTES: dropped the oldest %d bytes", dropped)

    def _delete_where(self, condition: str, params: tuple) -> None:
        """Delete the events matching `condition`, keeping the streams' and groups' figures right."""
        with self._db:
            self._db.execute("BEGIN")
            gone = self._db.execute(f"SELECT group_id, stream_id, SUM(size) FROM log_events WHERE {condition} "
                                    "GROUP BY group_id, stream_id", params).fetchall()
            self._db.execute(f"DELETE FROM log_events WHERE {condition}", params)
            for group_id, stream_id, size in gone:
                self._db.execute(
                    "UPDATE log_streams SET stored_bytes = stored_bytes - ?, first_event = (SELECT MIN(ts) FROM "
                    "log_events WHERE group_id = ? AND stream_id = ?) WHERE id = ?",
                    (size, group_id, stream_id, stream_id))
                self._db.execute("UPDATE log_groups SET stored_bytes = stored_bytes - ? WHERE id = ?",
                                 (size, group_id))
                self._total -= size

    def sweep(self) -> None:
        """Delete the events older than their group's retention."""
        with self._db_lock:
            self._flush_locked()
            now = self.clock()
            for group_id, days in self._db.execute(
                    "SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL").fetchall():
                cutoff = now - int(days * self.day_ms)
                if self._db.execute("SELECT 1 FROM log_events WHERE group_id = ? AND ts < ? LIMIT 1",
                                    (group_id, cutoff)).fetchone():
                    self._delete_where("group_id = ? AND ts < ?", (group_id, cutoff))

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._sweep_interval
        while not self._stopping.wait(self._interval):
            try:
                self.flush()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self._sweep_interval
                    self.sweep()
            except sqlite3.Error as exc:
                log.warning("function logs could not be written: %s", exc)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self.flush()
        with self._db_lock:
            self._db.close()

    # ------------------------------------------------------------ groups and streams
    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._db_lock:
            self._flush_locked()
            return self._db.execute(sql, params).fetchall()

    def _change(self, sql: str, params: tuple = ()) -> int:
        with self._db_lock:
            self._flush_locked()
            return self._db.execute(sql, params).rowcount

    def create_group(self, name: str, log_group_class: str, kms_key_id: str | None, deletion_protection: bool) -> None:
        try:
            self._change("INSERT INTO log_groups (name, creation_time, log_group_class, kms_key_id, "
                         "deletion_protection) VALUES (?, ?, ?, ?, ?)",
                         (name, self.clock(), log_group_class, kms_key_id, int(deletion_protection)))
        except sqlite3.IntegrityError:
            raise AlreadyExists(name) from None

    _GROUP_COLUMNS = ("id, name, creation_time, retention_days, log_group_class, kms_key_id, deletion_protection, "
                      "stored_bytes")

    def group(self, name: str) -> GroupRow | None:
        rows = self._query(f"SELECT {self._GROUP_COLUMNS} FROM log_groups WHERE name = ?", (name,))
        return GroupRow(*rows[0]) if rows else None

    def groups(self, prefix: str = "", contains: str = "", after: str = "", limit: int = 50) -> list[GroupRow]:
        """Groups in name order, after `after`, whose names start with `prefix` and hold `contains`."""
        rows = self._query(
            f"SELECT {self._GROUP_COLUMNS} FROM log_groups WHERE name > ? AND substr(name, 1, ?) = ? "
            "AND instr(name, ?) > 0 ORDER BY name LIMIT ?", (after, len(prefix), prefix, contains, limit))
        return [GroupRow(*row) for row in rows]

    def delete_group(self, name: str) -> bool:
        with self._db_lock:
            self._flush_locked()
            row = self._db.execute("SELECT id, stored_bytes FROM log_groups WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("DELETE FROM log_events WHERE group_id = ?", (row[0],))
                self._db.execute("DELETE FROM log_streams WHERE group_id = ?", (row[0],))
                self._db.execute("DELETE FROM log_groups WHERE id = ?", (row[0],))
            self._total -= row[1]
            self._ids = {key: ids for key, ids in self._ids.items() if key[0] != name}
            return True

    def set_retention(self, name: str, days: int | None) -> bool:
        return self._change("UPDATE log_groups SET retention_days = ? WHERE name = ?", (days, name)) > 0

    def create_stream(self, group_id: int, name: str) -> None:
        try:
            self._change("INSERT INTO log_streams (group_id, name, creation_time) VALUES (?, ?, ?)",
                         (group_id, name, self.clock()))
        except sqlite3.IntegrityError:
            raise AlreadyExists(name) from None

    _STREAM_COLUMNS = "id, name, creation_time, first_event, last_event, last_ingestion, sequence"

    def stream(self, group_id: int, name: str) -> StreamRow | None:
        rows = self._query(f"SELECT {self._STREAM_COLUMNS} FROM log_streams WHERE group_id = ? AND name = ?",
                           (group_id, name))
        return StreamRow(*rows[0]) if rows else None

    def streams(self, group_id: int, prefix: str = "") -> list[StreamRow]:
        """The group's streams whose names start with `prefix`, in name order."""
        rows = self._query(f"SELECT {self._STREAM_COLUMNS} FROM log_streams WHERE group_id = ? "
                           "AND substr(name, 1, ?) = ? ORDER BY name", (group_id, len(prefix), prefix))
        return [StreamRow(*row) for row in rows]

    def delete_stream(self, group_id: int, name: str) -> bool:
        with self._db_lock:
            self._flush_locked()
            row = self._db.execute("SELECT id FROM log_streams WHERE group_id = ? AND name = ?",
                                   (group_id, name)).fetchone()
            if row is None:
                return False
            self._delete_where("group_id = ? AND stream_id = ?", (group_id, row[0]))
            self._db.execute("DELETE FROM log_streams WHERE id = ?", (row[0],))
            self._ids = {key: ids for key, ids in self._ids.items() if ids[1] != row[0]}
            return True

    # ------------------------------------------------------------ events
    def events(self, group_id: int, stream_ids: Sequence[int] | None, start: int, end: int,
               after: tuple[int, int] | None = None, before: tuple[int, int] | None = None,
               limit: int = 1000) -> list[EventRow]:
        """Events of the group (of `stream_ids` only, unless None) with start <= timestamp < end, in
        (timestamp, id) order after `after`, or — with `before` — the last `limit` before it (still in order)."""
        where = ["e.group_id = ?", "e.ts >= ?", "e.ts < ?"]
        params: list = [group_id, start, end]
        if stream_ids is not None:
            if not stream_ids:
                return []
            where.append(f"e.stream_id IN ({','.join('?' * len(stream_ids))})")
            params.extend(stream_ids)
        if after is not None:
            where.append("(e.ts, e.id) > (?, ?)")
            params.extend(after)
        if before is not None:
            where.append("(e.ts, e.id) < (?, ?)")
            params.extend(before)
        order = "DESC" if before is not None else "ASC"
        rows = self._query(
            "SELECT e.id, s.name, e.ts, e.ingestion, e.message FROM log_events e JOIN log_streams s "
            f"ON s.id = e.stream_id WHERE {' AND '.join(where)} ORDER BY e.ts {order}, e.id {order} LIMIT ?",
            (*params, limit))
        events = [EventRow(*row) for row in rows]
        return events[::-1] if before is not None else events
