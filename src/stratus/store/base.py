"""The store interface every backend (SQLite now, PostgreSQL in a cluster) implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stratus.shapes import FunctionRecord


class FunctionAlreadyExists(Exception):
    pass


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get_function(self, name: str) -> FunctionRecord | None: ...

    async def insert_function(self, record: FunctionRecord) -> None:
        """Store a new function; raise FunctionAlreadyExists if the name is taken."""

    async def replace_function(self, record: FunctionRecord) -> None: ...

    async def delete_function(self, name: str, owned: Sequence[tuple[str, str]] = ()) -> bool:
        """Delete a function and the documents it owns ((kind, key prefix) pairs), atomically."""

    async def list_functions(self, after: str | None, limit: int) -> list[FunctionRecord]:
        """Functions ordered by name, strictly after `after`, at most `limit`."""

    async def all_functions(self) -> list[FunctionRecord]: ...

    # Every other resource is a document: (kind, key) -> JSON bytes; keys sort as strings.
    async def get_document(self, kind: str, key: str) -> bytes | None: ...

    async def list_documents(self, kind: str, prefix: str = "", after: str | None = None,
                             limit: int = -1) -> list[tuple[str, bytes]]:
        """(key, body) of `kind` whose key starts with `prefix`, strictly after `after`, in key order."""

    async def apply(self, *, functions: Sequence[FunctionRecord] = (), puts: Sequence[tuple[str, str, bytes]] = (),
                    deletes: Sequence[tuple[str, str]] = ()) -> None:
        """Replace function records, put and delete documents, atomically."""
