"""SQLite store: one connection owned by one worker thread, so the event loop never blocks on I/O."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import msgspec

from stratus.shapes import FunctionRecord
from stratus.store.base import FunctionAlreadyExists
from stratus.store.migrations import Migration, migrate, private_file, refuse_newer

T = TypeVar("T")

_VERSION_1 = """
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    record BLOB NOT NULL
);
-- Every other resource (versions, aliases, layers, ...): a JSON document per (kind, key).
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""
# The metadata file's schema, version by version (store/migrations.py). Append; never edit a released one.
MIGRATIONS = [
    Migration(1, "functions and documents", _VERSION_1),
]

_encode = msgspec.json.encode
_decode_record = msgspec.json.Decoder(FunctionRecord).decode


class SqliteStore:
    """The embedded default store (WAL mode, synchronous=FULL: a committed change survives power loss)."""

    def __init__(self, path: Path):
        refuse_newer(path, MIGRATIONS)  # before anything starts: SchemaTooNew if a newer release wrote it
        self.path = path
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the store is not open")
        return self._conn

    async def open(self) -> None:
        """Open (or create) the file and bring its schema up to date (SchemaTooNew if it is newer)."""

        def _open() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            private_file(self.path)  # the WAL and shm files SQLite makes take its mode
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed: no old plaintext lingers
            try:
                migrate(conn, MIGRATIONS, self.path)
            except BaseException:
                conn.close()
                raise
            self._conn = conn

        await self._run(_open)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._db().close)
            self._conn = None
        self._executor.shutdown(wait=True)

    async def get_function(self, name: str) -> FunctionRecord | None:
        def _get() -> FunctionRecord | None:
            row = self._db().execute("SELECT record FROM functions WHERE name = ?", (name,)).fetchone()
            return _decode_record(row[0]) if row else None

        return await self._run(_get)

    async def insert_function(self, record: FunctionRecord) -> None:
        def _insert() -> None:
            try:
                self._db().execute("INSERT INTO functions (name, record) VALUES (?, ?)", (record.name, _encode(record)))
            except sqlite3.IntegrityError:
                raise FunctionAlreadyExists(record.name) from None

        await self._run(_insert)

    async def replace_function(self, record: FunctionRecord) -> None:
        def _replace() -> None:
            self._db().execute("UPDATE functions SET record = ? WHERE name = ?", (_encode(record), record.name))

        await self._run(_replace)

    async def delete_function(self, name: str, owned: Sequence[tuple[str, str]] = ()) -> bool:
        """Delete a function and the documents it owns ((kind, key prefix) pairs), in one transaction."""

        def _delete() -> bool:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = conn.execute("DELETE FROM functions WHERE name = ?", (name,)).rowcount > 0
                for kind, prefix in owned:
                    conn.execute("DELETE FROM documents WHERE kind = ? AND substr(key, 1, ?) = ?",
                                 (kind, len(prefix), prefix))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return deleted

        return await self._run(_delete)

    async def list_functions(self, after: str | None, limit: int) -> list[FunctionRecord]:
        def _list() -> list[FunctionRecord]:
            rows = self._db().execute(
                "SELECT record FROM functions WHERE name > ? ORDER BY name LIMIT ?", (after or "", limit)
            ).fetchall()
            return [_decode_record(row[0]) for row in rows]

        return await self._run(_list)

    async def all_functions(self) -> list[FunctionRecord]:
        return await self.list_functions(None, -1)

    # ------------------------------------------------------------------ documents
    async def get_document(self, kind: str, key: str) -> bytes | None:
        def _get() -> bytes | None:
            row = self._db().execute("SELECT body FROM documents WHERE kind = ? AND key = ?", (kind, key)).fetchone()
            return row[0] if row else None

        return await self._run(_get)

    async def list_documents(self, kind: str, prefix: str = "", after: str | None = None,
                             limit: int = -1) -> list[tuple[str, bytes]]:
        def _list() -> list[tuple[str, bytes]]:
            rows = self._db().execute(
                "SELECT key, body FROM documents WHERE kind = ? AND key >= ? AND key > ? AND substr(key, 1, ?) = ? "
                "ORDER BY key LIMIT ?",
                (kind, prefix, after or "", len(prefix), prefix, limit),
            ).fetchall()
            return [(key, body) for key, body in rows]

        return await self._run(_list)

    async def apply(self, *, functions: Sequence[FunctionRecord] = (), puts: Sequence[tuple[str, str, bytes]] = (),
                    deletes: Sequence[tuple[str, str]] = ()) -> None:
        """Replace function records, put and delete documents: all of it or nothing (one transaction)."""

        def _apply() -> None:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for record in functions:
                    conn.execute("UPDATE functions SET record = ? WHERE name = ?", (_encode(record), record.name))
                for kind, key, body in puts:
                    conn.execute("INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)",
                                 (kind, key, body))
                for kind, key in deletes:
                    conn.execute("DELETE FROM documents WHERE kind = ? AND key = ?", (kind, key))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(_apply)
