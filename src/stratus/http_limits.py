"""HTTP hardening shared by the API port and every Runtime API endpoint: limits, connection tables, one sweeper.

What a connection may cost is bounded, with checks that are O(1) per parser callback and no clock reads or
timers on the request path:
- the head (request line and headers) is counted in raw bytes *before* the parser sees them, so a huge or
  endless header is refused (431) as soon as it passes the limit, never buffered or re-concatenated;
- a connection only records its `phase` (new, idle, head, body, busy, lingering) and bumps `progress` when
  the phase changes or body bytes arrive. One periodic sweeper per event loop owns time: when it sees a
  connection's progress changed it gives it a deadline for its phase (the head must arrive within
  `header_timeout_s`, a body may not stall for `body_timeout_s`, an idle keep-alive connection lives
  `idle_timeout_s`; none while the server works on a request), and it expires those past their deadline.
  A timeout is thus honoured within one or two sweep intervals (a quarter of the shortest timeout, ≤ 1 s);
- a `ConnectionTable` (one for the API port, one per Runtime API endpoint) refuses connections past its limit
  at once, and hands out a bounded number of slots for large request bodies.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Protocol

INFINITE = float("inf")
# After an error answer (431, 408, 503...) the connection is half-closed and what the client still sends is
# read and discarded for a while, so that a client still sending its request gets the answer instead of a
# reset (nginx's lingering close), within these bounds.
LINGER_S = 2.0
LINGER_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class HttpLimits:
    max_head_bytes: int = 16 * 1024  # request line + headers
    max_header_count: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    max_connections: int = 1000
    large_body_bytes: int = 8 * 1024 * 1024  # a body above this needs a slot (more than an invoke payload)
    max_large_bodies: int = 4
    first_request_timeout_s: float | None = None  # a new connection's first head; None: header_timeout_s

    @property
    def first_timeout_s(self) -> float:
        return self.header_timeout_s if self.first_request_timeout_s is None else self.first_request_timeout_s

    @property
    def sweep_interval_s(self) -> float:
        """How often deadlines are looked at: a quarter of the shortest timeout, within [0.05 s, 1 s]."""
        return min(1.0, max(0.05, min(self.header_timeout_s, self.body_timeout_s, self.idle_timeout_s) / 4))


# Connection phases (what the sweeper's deadline means for it).
NEW, IDLE, HEAD, BODY, BUSY, LINGER = 0, 1, 2, 3, 4, 5


class Guarded(Protocol):
    """A connection the sweeper looks after: the protocol sets `phase` and bumps `progress`; the sweeper keeps
    `seen` (the progress it last saw) and `deadline`."""

    phase: int
    progress: int
    seen: int
    deadline: float

    def expire(self) -> None: ...


class ConnectionTable:
    """The connections of one listening endpoint: the connection limit and the large-body slots."""

    __slots__ = ("limits", "connections", "large_bodies", "_sweeper", "_timeouts")

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.connections: set[Guarded] = set()
        self.large_bodies = 0
        self._sweeper: Sweeper | None = None
        self._timeouts = (limits.first_timeout_s, limits.idle_timeout_s, limits.header_timeout_s,
                          limits.body_timeout_s, INFINITE, LINGER_S)  # by phase

    def admit(self, connection: Guarded, loop: asyncio.AbstractEventLoop) -> bool:
        """Count a new connection in; False (and not counted) when the table is full."""
        if len(self.connections) >= self.limits.max_connections:
            return False
        self.connections.add(connection)
        sweeper = self._sweeper
        if sweeper is None or sweeper.loop is not loop:
            sweeper = self._sweeper = Sweeper.of(loop)
        sweeper.watch(self)
        return True

    def drop(self, connection: Guarded) -> None:
        self.connections.discard(connection)

    def acquire_large_body(self) -> bool:
        if self.large_bodies >= self.limits.max_large_bodies:
            return False
        self.large_bodies += 1
        return True

    def release_large_body(self) -> None:
        self.large_bodies = max(0, self.large_bodies - 1)

    def sweep(self, now: float) -> None:
        """Give a deadline to each connection that made progress since the last sweep; expire the late ones."""
        timeouts = self._timeouts
        late = []
        for connection in self.connections:
            progress = connection.progress
            if progress != connection.seen:
                connection.seen = progress
                connection.deadline = now + timeouts[connection.phase]
            elif connection.deadline <= now:
                late.append(connection)
        for connection in late:
            connection.expire()


class Sweeper:
    """One per event loop: expires late connections of every table that has connections."""

    _by_loop: dict[asyncio.AbstractEventLoop, Sweeper] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.tables: set[ConnectionTable] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._interval = 1.0

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Sweeper:
        sweeper = cls._by_loop.get(loop)
        if sweeper is None:
            for old in [known for known in cls._by_loop if known.is_closed()]:
                del cls._by_loop[old]
            sweeper = cls._by_loop[loop] = cls(loop)
        return sweeper

    def watch(self, table: ConnectionTable) -> None:
        if table not in self.tables:
            self.tables.add(table)
            interval = table.limits.sweep_interval_s
            if self._timer is not None and interval < self._interval:
                self._timer.cancel()
                self._timer = None
            self._interval = min(self._interval, interval) if self._timer is not None else interval
        if self._timer is None:
            self._timer = self.loop.call_later(self._interval, self._tick)

    def _tick(self) -> None:
        timer, self._timer = self._timer, None
        now = self.loop.time()
        # A tick much later than due means the loop itself was held up: what clients sent meanwhile has not
        # been read yet, so nobody is expired on this tick; the next one judges.
        late = timer is not None and now - timer.when() > max(0.5, self._interval)
        for table in list(self.tables):
            if not late:
                table.sweep(now)
            if not table.connections:  # an idle table costs nothing: it comes back with its next connection
                self.tables.discard(table)
        if self.tables:
            self._interval = min(table.limits.sweep_interval_s for table in self.tables)
            self._timer = self.loop.call_later(self._interval, self._tick)
