"""Schedule expressions (EventBridge's rate() and six-field cron()) and the scheduler's fire-time rules,
against a clock the test moves: fires when due, once for many missed occurrences, never twice for one
occurrence across a restart (the state is committed to a real SQLite store before delivery)."""

from __future__ import annotations

import asyncio
import calendar
import time

import pytest

from stratus.events.schedules import (
    SCHEDULE_KIND,
    InvalidSchedule,
    ScheduleClock,
    Scheduler,
    ScheduleState,
    parse_schedule,
)
from stratus.store.sqlite import SqliteStore


def at(text: str) -> float:
    """Epoch seconds of a UTC time written 2024-06-01T10:00."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M")))


def iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t))


def occurrences(expression: str, start: str, count: int = 3) -> list[str | None]:
    schedule = parse_schedule(expression)
    found, t = [], at(start)
    for _ in range(count):
        t = schedule.next_after(t, at(start))
        found.append(iso(t))
        if t is None:
            break
    return found


# ------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("expression", [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
    "cron(0 20 * * ? *)", "cron(15 12 * * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)", "cron(0/10 * ? * MON-FRI *)", "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0/30 20-23 ? * MON-FRI *)", "cron(0 2 ? * SAT *)", "cron(5,35 14 * * ? *)",
    "cron(15 10 ? * 6L 2002-2005)", "cron(0 2 ? * SAT#3 *)", "cron(* * ? * SAT#3 *)", "cron(0/5 5 ? JAN 1-5 2022)",
    "cron(0 10 15W * ? *)", "cron(0 12 L * ? *)", "cron(0 8 ? * L *)", "cron(0 0 1 1 ? 2150)",
])
def test_aws_documented_expressions_are_accepted(expression):
    assert parse_schedule(expression).expression == expression


@pytest.mark.parametrize("expression", [
    "rate(10 seconds)", "rate(10 years)", "rate(1 minutes)", "rate(1 hours)", "rate(1 days)", "rate(10 minute)",
    "rate(10 hour)", "rate(10 day)", "rate()", "rate(10)", "rate(10 minutess)", "rate(foo minutes)",
    "rate(0 minutes)", "rate(-10 minutes)", "rate(10 MINUTES)", "rate( 10 minutes )", " rate(10 minutes)",
    "cron(0 1 * * * *)",  # day-of-month and day-of-week both given
    "cron(0 1 ? * ? *)",  # neither given
    "cron(7 20 * * NOT *)", "cron(INVALID)", "cron(0 dummy ? * MON-FRI *)", "cron(71 8 1 * ? *)",
    "cron(0 24 * * ? *)", "cron(0 8 32 * ? *)", "cron(0 8 ? 13 * *)", "cron(0 8 ? * 8 *)", "cron(0 8 ? * MON#6 *)",
    "cron(0 8 * * ? 1969)", "cron(0 8 * * ? 2200)", "cron(0 8 * * ?)", "cron(0 8 * * ? * *)", "cron(0/0 * * * ? *)",
    "at(2024-01-01T00:00:00)", "",
])
def test_invalid_expressions_are_refused(expression):
    with pytest.raises(InvalidSchedule):
        parse_schedule(expression)


# ---------------------------------------------------------------------------- occurrence times
def test_rate_counts_periods_from_the_start():
    assert occurrences("rate(5 minutes)", "2024-06-01T10:02") == ["2024-06-01T10:07", "2024-06-01T10:12",
                                                                  "2024-06-01T10:17"]
    assert occurrences("rate(1 day)", "2024-06-01T10:02", 2) == ["2024-06-02T10:02", "2024-06-03T10:02"]


def test_cron_fields_as_aws_defines_them():
    # 2024-06-01 is a Saturday.
    assert occurrences("cron(0 18 ? * MON-FRI *)", "2024-06-01T10:00") == [
        "2024-06-03T18:00", "2024-06-04T18:00", "2024-06-05T18:00"]
    # AWS counts days of the week 1-7 from SUN: 2 is Monday, 1 and 7 the weekend, L (alone) Saturday.
    assert occurrences("cron(0 8 ? * 2 *)", "2024-06-01T10:00", 2) == ["2024-06-03T08:00", "2024-06-10T08:00"]
    assert occurrences("cron(0 8 ? * 1,7 *)", "2024-06-01T10:00", 2) == ["2024-06-02T08:00", "2024-06-08T08:00"]
    assert occurrences("cron(0 8 ? * L *)", "2024-06-01T10:00", 2) == ["2024-06-08T08:00", "2024-06-15T08:00"]
    assert occurrences("cron(0 2 ? * SAT#3 *)", "2024-06-01T10:00", 2) == ["2024-06-15T02:00", "2024-07-20T02:00"]
    assert occurrences("cron(0 2 ? * 6#1 *)", "2024-06-01T10:00", 1) == ["2024-06-07T02:00"]  # 6 = FRI
    assert occurrences("cron(30 9 ? * 6L *)", "2024-06-01T10:00", 2) == ["2024-06-28T09:30", "2024-07-26T09:30"]
    assert occurrences("cron(0 10 15W * ? *)", "2024-06-01T10:00", 2) == ["2024-06-14T10:00", "2024-07-15T10:00"]
    assert occurrences("cron(0 12 L * ? *)", "2024-06-01T10:00", 2) == ["2024-06-30T12:00", "2024-07-31T12:00"]
    assert occurrences("cron(0/15 * * * ? *)", "2024-06-01T10:00") == [
        "2024-06-01T10:15", "2024-06-01T10:30", "2024-06-01T10:45"]
    assert occurrences("cron(5,35 14 * * ? *)", "2024-06-01T10:00", 2) == ["2024-06-01T14:05", "2024-06-01T14:35"]
    assert occurrences("cron(0 9 1 JAN-MAR ? 2025)", "2024-06-01T10:00", 4) == [
        "2025-01-01T09:00", "2025-02-01T09:00", "2025-03-01T09:00", None]


def test_cron_in_the_past_or_beyond_croniter_never_fires():
    assert occurrences("cron(15 10 ? * 6L 2002-2005)", "2024-06-01T10:00", 1) == [None]
    assert occurrences("cron(0 0 1 1 ? 2150)", "2024-06-01T10:00", 1) == [None]
    assert occurrences("cron(0 10 31 2 ? *)", "2024-06-01T10:00", 1) == [None]


# ------------------------------------------------------------------------------ the scheduler
class MovingClock(ScheduleClock):
    def __init__(self, start: float):
        super().__init__(1.0, start, real=lambda: self.t)
        self.t = start


def run(coroutine):
    return asyncio.run(coroutine)


async def _scheduler(store, clock, fired, key="default|every-minute", expression="rate(1 minute)", state=None):
    scheduler = Scheduler(store, clock, lambda k, t: _record(fired, k, t))
    if state is None:
        state = scheduler.new_state(expression)
        await store.apply(puts=[Scheduler.document(key, state)])
    scheduler.put(key, parse_schedule(expression), state)
    return scheduler


async def _record(fired, key, occurrence):
    fired.append((key, occurrence))


def test_fires_when_due_and_once_for_many_missed_occurrences(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "db")
        await store.open()
        clock, fired = MovingClock(at("2024-06-01T10:00")), []
        scheduler = await _scheduler(store, clock, fired)
        clock.t += 59
        assert await scheduler.fire_due() == 0
        assert scheduler.seconds_to_next(clock.now()) == 1
        clock.t += 1
        assert await scheduler.fire_due() == 1
        assert [iso(t) for _, t in fired] == ["2024-06-01T10:01"]
        assert await scheduler.fire_due() == 0  # the same occurrence never fires twice
        clock.t += 10 * 60 + 30  # ten periods missed
        assert await scheduler.fire_due() == 1
        assert await scheduler.fire_due() == 0
        assert [iso(t) for _, t in fired] == ["2024-06-01T10:01", "2024-06-01T10:11"]  # once, for the latest
        clock.t += 30
        assert await scheduler.fire_due() == 1  # back on the grid
        assert iso(fired[-1][1]) == "2024-06-01T10:12"
        await store.close()

    run(scenario())


def test_state_is_committed_before_delivery_and_survives_a_restart(tmp_path):
    async def scenario():
        key = "default|nightly"
        store = SqliteStore(tmp_path / "db")
        await store.open()
        clock, fired = MovingClock(at("2024-06-01T10:00")), []
        committed_when_delivered = []

        async def deliver(k, occurrence):
            body = await store.get_document(SCHEDULE_KIND, k)
            committed_when_delivered.append(Scheduler.decode(body).last == occurrence)
            fired.append((k, occurrence))

        scheduler = Scheduler(store, clock, deliver)
        state = scheduler.new_state("cron(0 2 * * ? *)")
        await store.apply(puts=[Scheduler.document(key, state)])
        scheduler.put(key, parse_schedule("cron(0 2 * * ? *)"), state)
        clock.t = at("2024-06-02T02:00")
        assert await scheduler.fire_due() == 1
        assert committed_when_delivered == [True]

        # A restart right after the fire: the stored state says the 02:00 occurrence is done.
        restarted, fired_after = Scheduler(store, clock, lambda k, t: _record(fired_after, k, t)), []
        stored = Scheduler.decode(await store.get_document(SCHEDULE_KIND, key))
        restarted.put(key, parse_schedule(stored.expression), stored)
        assert await restarted.fire_due() == 0
        # A restart after three missed nights fires once, for the latest.
        clock.t = at("2024-06-05T09:00")
        again, fired_later = Scheduler(store, clock, lambda k, t: _record(fired_later, k, t)), []
        latest = Scheduler.decode(await store.get_document(SCHEDULE_KIND, key))
        again.put(key, parse_schedule(stored.expression), latest)
        assert await again.fire_due() == 1
        assert await again.fire_due() == 0
        assert [iso(t) for _, t in fired_later] == ["2024-06-05T02:00"]
        await store.close()

    run(scenario())


def test_removed_or_rescheduled_rules_do_not_fire(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "db")
        await store.open()
        clock, fired = MovingClock(at("2024-06-01T10:00")), []
        scheduler = await _scheduler(store, clock, fired)
        clock.t += 120
        scheduler.remove("default|every-minute")
        assert await scheduler.fire_due() == 0
        # the same expression keeps its timeline; a new one starts now
        kept = ScheduleState(expression="rate(1 minute)", anchor=at("2024-06-01T10:00"), last=at("2024-06-01T10:01"))
        assert scheduler.new_state("rate(1 minute)", kept) is kept
        assert scheduler.new_state("rate(5 minutes)", kept).anchor == clock.now()
        assert fired == []
        await store.close()

    run(scenario())


def test_sped_up_clock_keeps_its_anchor():
    real = [1000.0]
    clock = ScheduleClock(60.0, anchor=1000.0, real=lambda: real[0])
    real[0] += 2
    assert clock.now() == 1120.0  # two real seconds are two schedule minutes
    assert clock.real_seconds(60) == 1.0
    assert ScheduleClock(1.0, real=lambda: 5.0).now() == 5.0
