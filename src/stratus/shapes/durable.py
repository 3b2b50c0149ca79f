"""Durable executions: only what is answered while Stratus runs none (ListDurableExecutionsByFunction's
empty list); the executions themselves are a later issue."""

from __future__ import annotations

from typing import Any

from stratus.shapes.base import Shape


class ListDurableExecutionsByFunctionResponse(Shape):
    DurableExecutions: list[dict[str, Any]]
    NextMarker: str | None = None
