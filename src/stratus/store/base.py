"""The store interface every backend (SQLite now, PostgreSQL in a cluster) implements."""

from __future__ import annotations

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

    async def delete_function(self, name: str) -> bool: ...

    async def list_functions(self, after: str | None, limit: int) -> list[FunctionRecord]:
        """Functions ordered by name, strictly after `after`, at most `limit`."""

    async def all_functions(self) -> list[FunctionRecord]: ...
