"""The small typed seams events/ is wired through: server.py passes these at construction, so nothing in
events/ reaches into the application object."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol


class Enqueue(Protocol):
    """Invoke a function asynchronously through the durable queue (events/async_queue.py's
    `AsyncInvocations.enqueue`): the request id once the event is stored. `trace`: the X-Amzn-Trace-Id
    the new event continues (None: a new trace)."""

    def __call__(self, function_ref: str, payload: bytes, /, *, trace: bytes | None = None) -> Awaitable[str]: ...


class RecursionGuard(Protocol):
    """Recursive loop detection (control/recursion.py's `RecursionService`)."""

    def stops(self, function_name: str, trace: bytes | None) -> bool:
        """Whether an event of this trace must not invoke the function: its chain reached the limit and the
        function's RecursiveLoop is Terminate."""
        ...


class PutEvents(Protocol):
    """Stratus's own EventBridge PutEvents (`EventBridgeService.put_events`): one result entry per event,
    `{"EventId"}` or `{"ErrorCode", "ErrorMessage"}`."""

    def __call__(self, entries: list[dict[str, Any]], /) -> Awaitable[list[dict[str, Any]]]: ...


class FunctionArns(Protocol):
    """Reads function ARNs (control/names.py's `Arns`)."""

    def resolve(self, reference: str, qualifier: str | None = None) -> tuple[str, str | None]:
        """(name, qualifier) of a name or ARN of this region and account; an error otherwise."""
        ...
