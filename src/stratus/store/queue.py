"""The durable async queue's storage interface (SQLite now in store/queue_sqlite.py; NATS JetStream or
PostgreSQL in a cluster). The scheduler (events/async_queue.py) keeps the schedule in memory and talks to
its storage only through `QueueStorage`.

The contract: `insert` returns at once and the storage calls `on_committed` (on the event loop) once the
event is durable, with the caller's token, so the caller can answer only then; `update` and `delete` are
fire-and-forget (losing one to a crash only makes the event run again: delivery is at least once);
`open` hands back every event not deleted, which is all the redelivery there is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

# Payloads up to this size stay in memory while their event waits; larger ones are read back
# (`read_payload`) when the event runs.
MEMORY_PAYLOAD_MAX = 256 * 1024

Token = TypeVar("Token")


class QueuedEvent:
    """One accepted event, in memory while it waits or runs. `throttles` and `last` are never stored."""

    __slots__ = ("id", "request_id", "function", "qualifier", "payload", "enqueued_at", "due_at", "attempts",
                 "throttles", "deliveries", "last", "trace")

    def __init__(self, id: int, request_id: str, function: str, qualifier: str | None, payload: bytes | None,
                 enqueued_at: float, due_at: float, attempts: int = 0, deliveries: bytes | None = None,
                 trace: bytes | None = None):
        self.id = id
        self.request_id = request_id
        self.function = function
        self.qualifier = qualifier  # as invoked (None: unqualified)
        self.payload = payload  # None: too large to keep in memory, read it back from the storage
        self.enqueued_at = enqueued_at  # epoch seconds
        self.due_at = due_at  # when it may run next
        self.attempts = attempts  # function attempts so far
        self.throttles = 0  # throttle back-offs so far (not attempts)
        self.deliveries = deliveries  # once final: JSON list of what to deliver (DLQ, destination records)
        self.last: tuple[int, str | None, bytes] | None = None  # (status, function error, payload) of the last try
        # The X-Amzn-Trace-Id the event belongs to (invoke/trace.py): every attempt and its destinations keep
        # it. None for events stored before traces were (they get a new one per attempt).
        self.trace = trace

    def __lt__(self, other: QueuedEvent) -> bool:  # heap order after due_at
        return self.id < other.id


# The storage's operations, queued by the event loop and written by the storage in batches.
class Insert(Generic[Token]):
    """Store a new event; `token` comes back in `on_committed` once it is durable."""

    __slots__ = ("event", "token")

    def __init__(self, event: QueuedEvent, token: Token):
        self.event = event
        self.token = token


class Update:
    """Store an event's new due time, attempt count and (once final) deliveries."""

    __slots__ = ("event_id", "due_at", "attempts", "deliveries")

    def __init__(self, event: QueuedEvent):
        self.event_id = event.id
        self.due_at = event.due_at
        self.attempts = event.attempts
        self.deliveries = event.deliveries


class Delete:
    """Forget a finished event."""

    __slots__ = ("event_id",)

    def __init__(self, event_id: int):
        self.event_id = event_id


Operation = Insert[Token] | Update | Delete
# on_committed(inserts, error): the inserts of one commit, and the error that failed it (None: durable).
OnCommitted = Callable[[list[Insert[Token]], BaseException | None], None]


class QueueStorage(ABC, Generic[Token]):
    """Where accepted events live until they are finished."""

    def __init__(self) -> None:
        self.inserted = 0  # events stored (for the log line at close)
        self.insert_commits = 0  # commits that stored them

    @abstractmethod
    async def open(self, on_committed: OnCommitted[Token]) -> tuple[list[QueuedEvent], int]:
        """Open (or create) the storage: (every stored event in id order, the next free id).

        Payloads over MEMORY_PAYLOAD_MAX come back as None. `on_committed` is called on the running loop."""

    @abstractmethod
    def insert(self, event: QueuedEvent, token: Token) -> None:
        """Store a new event (on the loop; returns at once). Raises ServiceException once closed."""

    @abstractmethod
    def update(self, event: QueuedEvent) -> None:
        """Store the event's due time, attempts and deliveries (on the loop; returns at once)."""

    @abstractmethod
    def delete(self, event_id: int) -> None:
        """Forget a finished event (on the loop; returns at once)."""

    @abstractmethod
    async def read_payload(self, event_id: int) -> bytes | None:
        """The stored payload of an event (None: it is gone)."""

    @abstractmethod
    async def close(self) -> None:
        """Make what is waiting durable, then close. Later updates and deletes are dropped."""
