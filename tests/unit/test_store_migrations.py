"""Schema versions and forward migrations (store/migrations.py) and the two SQLite files that use them."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from stratus.store import queue_sqlite, sqlite
from stratus.store.migrations import Migration, SchemaTooNew, migrate, schema_version
from stratus.store.queue import QueuedEvent
from stratus.store.queue_sqlite import SqliteQueueStorage
from stratus.store.sqlite import SqliteStore

STEPS = [
    Migration(1, "a", "CREATE TABLE IF NOT EXISTS steps (n INTEGER);"),
    Migration(2, "b", "INSERT INTO steps VALUES (2);"),
    Migration(3, "c", "ALTER TABLE steps ADD COLUMN note TEXT; INSERT INTO steps VALUES (3, 'three');"),
]


def connect(path):
    return sqlite3.connect(path, isolation_level=None)


def test_pending_migrations_run_in_order_each_once(tmp_path):
    path = tmp_path / "f.db"
    conn = connect(path)
    assert migrate(conn, STEPS[:2], path) == 2
    assert schema_version(conn) == 2
    assert conn.execute("SELECT n FROM steps").fetchall() == [(2,)]
    assert migrate(conn, STEPS, path) == 3  # only 3 runs now
    assert conn.execute("SELECT n, note FROM steps ORDER BY rowid").fetchall() == [(2, None), (3, "three")]
    assert migrate(conn, STEPS, path) == 3  # nothing pending: nothing runs again
    assert conn.execute("SELECT count(*) FROM steps").fetchone() == (2,)


def test_a_file_newer_than_the_code_is_refused_untouched(tmp_path):
    path = tmp_path / "f.db"
    conn = connect(path)
    migrate(conn, STEPS, path)
    with pytest.raises(SchemaTooNew, match=r"f\.db has schema version 3, newer than this Stratus knows \(2\)"):
        migrate(conn, STEPS[:2], path)
    assert schema_version(conn) == 3
    assert "\n" not in str(pytest.raises(SchemaTooNew, migrate, conn, STEPS[:1], path).value)  # one line


def test_a_failing_migration_leaves_the_file_at_the_previous_version(tmp_path):
    path = tmp_path / "f.db"
    conn = connect(path)
    broken = [*STEPS[:2], Migration(3, "broken", "INSERT INTO steps VALUES (3); INSERT INTO nowhere VALUES (1);")]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken, path)
    assert schema_version(conn) == 2
    assert not conn.in_transaction
    assert conn.execute("SELECT n FROM steps").fetchall() == [(2,)]  # 3's first insert rolled back with it
    assert migrate(conn, STEPS, path) == 3


def test_migrations_must_be_numbered_in_order(tmp_path):
    with pytest.raises(ValueError):
        migrate(connect(tmp_path / "f.db"), [STEPS[0], STEPS[2]], tmp_path / "f.db")


def test_a_metadata_file_from_before_versions_is_version_1_with_its_data(tmp_path):
    path = tmp_path / "stratus.db"
    old = connect(path)
    old.executescript(sqlite.MIGRATIONS[0].script)  # what releases before versions wrote, with no version
    old.execute("INSERT INTO documents VALUES ('layer', 'x:1', x'7b7d')")
    old.close()

    async def scenario():
        store = SqliteStore(path)
        await store.open()
        try:
            return await store.get_document("layer", "x:1")
        finally:
            await store.close()

    assert asyncio.run(scenario()) == b"{}"
    assert schema_version(connect(path)) == len(sqlite.MIGRATIONS)


def test_the_metadata_store_refuses_a_newer_file(tmp_path):
    path = tmp_path / "stratus.db"
    connect(path).execute(f"PRAGMA user_version = {len(sqlite.MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew):
        asyncio.run(SqliteStore(path).open())


def test_a_queue_file_from_before_versions_keeps_its_events(tmp_path):
    path = tmp_path / "queue.db"
    old = connect(path)
    old.executescript(queue_sqlite.MIGRATIONS[0].script)
    old.execute("INSERT INTO events (id, request_id, function, qualifier, payload, enqueued_at, due_at, attempts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (7, "rid", "fn", "live", b'{"n": 1}', 1.0, 2.0, 1))
    old.close()

    async def scenario():
        storage = SqliteQueueStorage(path)
        events, next_id = await storage.open(lambda inserts, error: None)
        await storage.close()
        return events, next_id

    events, next_id = asyncio.run(scenario())
    assert next_id == 8
    [event] = events
    assert isinstance(event, QueuedEvent)
    assert (event.id, event.request_id, event.function, event.qualifier, event.payload, event.enqueued_at,
            event.due_at, event.attempts, event.deliveries, event.trace) == (
        7, "rid", "fn", "live", b'{"n": 1}', 1.0, 2.0, 1, None, None)
    assert schema_version(connect(path)) == len(queue_sqlite.MIGRATIONS)


def test_the_queue_storage_refuses_a_newer_file(tmp_path):
    path = tmp_path / "queue.db"
    connect(path).execute(f"PRAGMA user_version = {len(queue_sqlite.MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew):
        asyncio.run(SqliteQueueStorage(path).open(lambda inserts, error: None))
