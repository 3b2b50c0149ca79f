"""EventBridge schedule expressions (`rate(...)`, `cron(...)`) and the scheduler that fires them.

Cron follows EventBridge's six fields (minutes hours day-of-month month day-of-week year, UTC), with
`?`, `L`, `W` and `#`; day-of-week counts 1-7 from SUN. It is translated to croniter's syntax
(day-of-week 0-6, `L5` for "last Friday", seconds and year as extra fields); croniter computes the
times. Years run 1970-2199 as on AWS (croniter stops at 2099: later years never fire).

Firing: each scheduled rule has a durable state document (`events-schedule`: the expression, the
time its schedule started, the last occurrence fired). A due rule fires ONCE for the latest
occurrence that is due (a server that was down for ten periods fires once, not ten times), and the
new state is committed before its targets are handed to the async queue, so a restart right after a
fire never fires that occurrence again (a crash between the commit and the hand-over loses that one
occurrence: at most once per occurrence).

Time: `ScheduleClock` maps real time to schedule time. `STRATUS_SCHEDULE_TIME_SCALE` (tests only)
makes schedule time run that many times faster than real time from a fixed anchor kept in the store,
so `rate(1 minute)` fires every second at scale 60 and the timeline continues across restarts.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import time
from collections.abc import Awaitable, Callable

import msgspec
from croniter import CroniterBadDateError, croniter

from stratus.store.base import Store

log = logging.getLogger("stratus.events")

SCHEDULE_KIND = "events-schedule"
CLOCK_KIND = "events-clock"

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: index for index, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
_CRONITER_LAST_YEAR = 2099


class InvalidSchedule(ValueError):
    """A schedule expression EventBridge refuses (AWS says only "Parameter ScheduleExpression is not valid.")."""


# ----------------------------------------------------------------------------------- expressions
class RateSchedule:
    """`rate(N unit)`: every N units from the time the schedule started."""

    def __init__(self, expression: str, period_s: int):
        self.expression = expression
        self.period_s = period_s

    def next_after(self, t: float, anchor: float) -> float | None:
        periods = max(0, int((t - anchor) // self.period_s) + 1)
        return anchor + periods * self.period_s

    def latest_at_or_before(self, t: float, anchor: float) -> float | None:
        if t < anchor + self.period_s:
            return None
        return anchor + int((t - anchor) // self.period_s) * self.period_s


class CronSchedule:
    """`cron(...)`: calendar times (UTC), through croniter."""

    def __init__(self, expression: str, croniter_expression: str | None):
        self.expression = expression
        self.croniter_expression = croniter_expression  # None: no year croniter can reach, never fires

    def next_after(self, t: float, anchor: float) -> float | None:
        if self.croniter_expression is None:
            return None
        try:
            return croniter(self.croniter_expression, _utc(t)).get_next(float)
        except CroniterBadDateError:
            return None

    def latest_at_or_before(self, t: float, anchor: float) -> float | None:
        if self.croniter_expression is None:
            return None
        try:  # croniter's get_prev is strictly before its start: start just after t
            return croniter(self.croniter_expression, _utc(t + 0.001)).get_prev(float)
        except CroniterBadDateError:
            return None


Schedule = RateSchedule | CronSchedule


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge ScheduleExpression; raises InvalidSchedule."""
    rate = _RATE.fullmatch(expression)
    if rate:
        count, unit = int(rate[1]), rate[2]
        if count < 1 or (count == 1) != (not unit.endswith("s")):  # "1 minute", "5 minutes"
            raise InvalidSchedule(expression)
        return RateSchedule(expression, count * _UNIT_SECONDS[unit.rstrip("s")])
    if expression.startswith("cron(") and expression.endswith(")"):
        return CronSchedule(expression, _translate_cron(expression[5:-1]))
    raise InvalidSchedule(expression)


def _translate_cron(body: str) -> str | None:
    fields = body.split(" ")
    if len(fields) != 6:
        raise InvalidSchedule(body)
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):  # exactly one of the two must be "?"
        raise InvalidSchedule(body)
    translated = [
        _plain_field(minutes, 0, 59),
        _plain_field(hours, 0, 23),
        "*" if day_of_month == "?" else _day_of_month(day_of_month),
        _plain_field(month, 1, 12, _MONTHS),
        "*" if day_of_week == "?" else _day_of_week(day_of_week),
        "0",
    ]
    years = _years(year)
    if years is None:
        return None
    expression = " ".join(translated + [years])
    try:
        croniter(expression, _utc(0.0))
    except (ValueError, KeyError) as exc:  # croniter's errors derive from ValueError
        raise InvalidSchedule(body) from exc
    return expression


def _value(text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise InvalidSchedule(text)
    value = int(text)
    if not low <= value <= high:
        raise InvalidSchedule(text)
    return value


def _plain_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> str:
    """A field of values, ranges, `*` and `/steps` (minutes, hours, months, day-of-month numbers)."""
    items = []
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step:
            if not step.isdigit() or int(step) < 1:
                raise InvalidSchedule(text)
            step = "/" + str(int(step))
        if base == "*":
            items.append("*" + step)
            continue
        start, _, end = base.partition("-")
        first = _value(start, low, high, names)
        if end:
            last = _value(end, low, high, names)
            items.append(f"{first}-{last}{step}")
        else:
            items.append(f"{first}{step}")
    return ",".join(items)


def _day_of_month(text: str) -> str:
    if text == "L":
        return "L"
    weekday = re.fullmatch(r"(\d{1,2})W", text)
    if weekday:
        return f"{_value(weekday[1], 1, 31)}W"
    return _plain_field(text, 1, 31)


def _day_of_week(text: str) -> str:
    """AWS's 1-7 (SUN-SAT) days, `L`, `<day>L` (last of the month) and `<day>#<n>` in croniter's terms."""
    if text == "L":
        return "6"  # the last day of the week: Saturday
    items = []
    for item in text.split(","):
        last = re.fullmatch(r"(\w+)L", item)
        nth = re.fullmatch(r"(\w+)#([1-5])", item)
        if last:
            items.append(f"L{_value(last[1], 1, 7, _DAYS) - 1}")
        elif nth:
            items.append(f"{_value(nth[1], 1, 7, _DAYS) - 1}#{nth[2]}")
        elif item == "*":
            items.append("*")
        else:
            start, _, end = item.partition("-")
            first = _value(start, 1, 7, _DAYS) - 1
            items.append(f"{first}-{_value(end, 1, 7, _DAYS) - 1}" if end else str(first))
    return ",".join(items)


def _years(text: str) -> str | None:
    """The year field for croniter (years past 2099 dropped); None when no year is left."""
    if text == "*":
        return "*"
    years: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        stride = 1
        if step:
            if not step.isdigit() or int(step) < 1:
                raise InvalidSchedule(text)
            stride = int(step)
        if base == "*":
            first, last = 1970, 2199
        else:
            start, _, end = base.partition("-")
            first = _value(start, 1970, 2199)
            last = _value(end, 1970, 2199) if end else (2199 if step else first)
            if last < first:
                raise InvalidSchedule(text)
        years.update(range(first, last + 1, stride))
    reachable = sorted(year for year in years if year <= _CRONITER_LAST_YEAR)
    return ",".join(map(str, reachable)) if reachable else None


def _utc(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.UTC)


# ------------------------------------------------------------------------------------ the clock
class ScheduleClock:
    """Schedule time: real time, or (tests only) real time sped up `scale` times from `anchor`."""

    def __init__(self, scale: float = 1.0, anchor: float | None = None, real: Callable[[], float] = time.time):
        if not scale > 0:
            raise ValueError(f"the schedule time scale must be positive, not {scale}")
        self.scale = scale
        self.real = real
        self.anchor = real() if anchor is None else anchor

    def now(self) -> float:
        real = self.real()
        return real if self.scale == 1.0 else self.anchor + (real - self.anchor) * self.scale

    def real_seconds(self, schedule_seconds: float) -> float:
        return schedule_seconds / self.scale


# -------------------------------------------------------------------------------- the scheduler
class ScheduleState(msgspec.Struct, omit_defaults=True):
    """The durable state of one scheduled rule (kind `events-schedule`, keyed like its rule)."""

    expression: str
    anchor: float  # schedule time its schedule started (rate periods count from here)
    last: float | None = None  # the latest occurrence fired


_encode = msgspec.json.encode
_decode_state = msgspec.json.Decoder(ScheduleState).decode


class Scheduled:
    __slots__ = ("key", "schedule", "state", "next")

    def __init__(self, key: str, schedule: Schedule, state: ScheduleState):
        self.key = key
        self.schedule = schedule
        self.state = state
        start = state.anchor if state.last is None else max(state.anchor, state.last)
        self.next = schedule.next_after(start, state.anchor)


Fire = Callable[[str, float], Awaitable[None]]


class Scheduler:
    """Fires enabled scheduled rules when due. `fire(key, occurrence)` delivers to the rule's targets;
    the scheduler commits the rule's new state to the store before calling it."""

    def __init__(self, store: Store, clock: ScheduleClock, fire: Fire, max_sleep_s: float = 60.0):
        self.store = store
        self.clock = clock
        self.fire = fire
        self.max_sleep_s = max_sleep_s
        self.entries: dict[str, Scheduled] = {}
        self.lock = asyncio.Lock()  # held by whoever changes rules or commits a fire
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def decode(body: bytes) -> ScheduleState:
        return _decode_state(body)

    def new_state(self, expression: str, previous: ScheduleState | None = None) -> ScheduleState:
        """The state of a schedule starting now; an unchanged expression keeps its timeline."""
        if previous is not None and previous.expression == expression:
            return previous
        return ScheduleState(expression=expression, anchor=self.clock.now())

    @staticmethod
    def document(key: str, state: ScheduleState) -> tuple[str, str, bytes]:
        return SCHEDULE_KIND, key, _encode(state)

    def put(self, key: str, schedule: Schedule, state: ScheduleState) -> None:
        """Start (or restart) firing `key` (the rule is enabled and its state is stored)."""
        self.entries[key] = Scheduled(key, schedule, state)
        self._wake.set()

    def remove(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self._wake.set()

    def state(self, key: str) -> ScheduleState | None:
        entry = self.entries.get(key)
        return entry.state if entry else None

    def due(self, now: float) -> list[tuple[str, float]]:
        """(key, occurrence) of every rule due at `now`: one occurrence each, the latest one due."""
        found = []
        for entry in self.entries.values():
            if entry.next is not None and entry.next <= now:
                latest = entry.schedule.latest_at_or_before(now, entry.state.anchor)
                found.append((entry.key, max(latest or entry.next, entry.next)))
        return found

    async def fire_due(self) -> int:
        """Fire every due rule once; returns how many fired."""
        fired = 0
        for key, occurrence in self.due(self.clock.now()):
            async with self.lock:
                entry = self.entries.get(key)
                if entry is None or entry.next is None or entry.next > occurrence:
                    continue  # changed (deleted, disabled, rescheduled) since it was found due
                state = ScheduleState(expression=entry.state.expression, anchor=entry.state.anchor, last=occurrence)
                try:
                    await self.store.apply(puts=[self.document(key, state)])
                except Exception:  # noqa: BLE001 - the next round tries again
                    log.exception("could not record the schedule of %s; it fires when the store recovers", key)
                    continue
                self.entries[key] = Scheduled(key, entry.schedule, state)
            fired += 1
            try:
                await self.fire(key, occurrence)
            except Exception:  # noqa: BLE001
                log.exception("scheduled rule %s could not deliver its event", key)
        return fired

    def seconds_to_next(self, now: float) -> float | None:
        upcoming = [entry.next for entry in self.entries.values() if entry.next is not None]
        return max(0.0, min(upcoming) - now) if upcoming else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="stratus-schedules")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.fire_due()
            except Exception:  # noqa: BLE001 - the scheduler must outlive any one failure
                log.exception("schedule round failed")
            wait = self.seconds_to_next(self.clock.now())
            sleep = self.max_sleep_s if wait is None else min(self.max_sleep_s, self.clock.real_seconds(wait))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(sleep, 0.001))
            except TimeoutError:
                pass
