"""Schema versions for the SQLite files: an ordered list of forward migrations, applied at open.

A file records its schema version in SQLite's `PRAGMA user_version` (0 in a new file). Migration N takes
a file from version N-1 to N; at open every migration above the file's version runs in order, each in
one transaction together with the new version number, so a crash leaves the file at a whole version.
Version 1 is the schema every release before versions wrote (without recording it): its script only
creates what is missing, so such a file (version 0 with the tables already there) becomes version 1
unchanged. A file whose version is newer than the code's is refused, never guessed at.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path


class SchemaTooNew(Exception):
    """The file was written by a newer Stratus than this one."""


@dataclass(frozen=True)
class Migration:
    """One step forward: `script` (SQL statements, no transaction control) takes the file to `version`."""

    version: int
    description: str
    script: str


def private_file(path: Path) -> None:
    """Create `path` (if missing) readable and writable by the server alone; existing files are made so
    too, with their -wal and -shm companions (SQLite gives those the database file's mode)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            os.chmod(companion, 0o600)
        except FileNotFoundError:
            pass


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the file (0: none recorded)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def check_migrations(migrations: list[Migration]) -> None:
    """Migrations must be numbered 1, 2, 3, ... in order (a programming error otherwise)."""
    for position, migration in enumerate(migrations, start=1):
        if migration.version != position:
            raise ValueError(f"migration {migration.description!r} is version {migration.version}, "
                             f"expected {position}")


def refuse_newer(path: Path, migrations: list[Migration]) -> None:
    """Raise SchemaTooNew if the file at `path` exists with a version above the last migration's (blocking).

    The stores call it when they are made, so a newer file stops the server before it starts serving."""
    if not path.exists():
        return
    conn = sqlite3.connect(path)
    try:
        _refuse(path, schema_version(conn), len(migrations))
    finally:
        conn.close()


def _refuse(path: Path, current: int, latest: int) -> None:
    if current > latest:
        raise SchemaTooNew(f"{path} has schema version {current}, newer than this Stratus knows ({latest}): "
                           "it was written by a newer release; run that release or a newer one on it")


def migrate(conn: sqlite3.Connection, migrations: list[Migration], path: Path) -> int:
    """Bring the file open on `conn` (autocommit mode) up to the last migration; returns its version.

    Raises SchemaTooNew when the file's version is above the last migration's."""
    check_migrations(migrations)
    latest = len(migrations)
    current = schema_version(conn)
    _refuse(path, current, latest)
    for migration in migrations[current:]:
        # executescript commits nothing itself here (autocommit mode): the script's own BEGIN/COMMIT
        # make the migration and its version number one transaction.
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{migration.script}\n;PRAGMA user_version = {migration.version};"
                               "\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return latest
