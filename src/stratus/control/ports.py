"""What control/ needs from the invoke machinery, as small Protocols (the Invoker implements them)."""

from __future__ import annotations

from typing import Protocol


class ConcurrencyFigures(Protocol):
    def reserved(self, function_name: str) -> int | None: ...

    def unreserved(self) -> int: ...


class Environments(Protocol):
    """What functions need from the invoker: retiring the environments of changed code, and its figures."""

    @property
    def concurrency(self) -> ConcurrencyFigures: ...

    def retire(self, function_name: str, keep_revision: str | None = None, version: str | None = None) -> None: ...
