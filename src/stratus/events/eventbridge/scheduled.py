"""Scheduled rules: the scheduler that fires them (events/schedules.py), their durable schedule state
(`events-schedule`, keyed like the rule; the clock's anchor in `events-clock`), and the "Scheduled
Event" a due rule delivers to its targets."""

from __future__ import annotations

import json
import uuid

import msgspec

from stratus.events.eventbridge.catalog import Catalog, Rule
from stratus.events.eventbridge.delivery import Delivery
from stratus.events.schedules import CLOCK_KIND, SCHEDULE_KIND, ScheduleClock, Scheduler, ScheduleState
from stratus.store.base import Store
from stratus.timestamps import iso_seconds

Put = tuple[str, str, bytes]
Delete = tuple[str, str]


class ScheduledRules:
    """Keeps the scheduler in step with the rules; its lock is the one writer lock of EventBridge
    (operations and schedule commits never interleave)."""

    def __init__(self, time_scale: float, store: Store, catalog: Catalog, delivery: Delivery):
        self.store = store
        self.catalog = catalog
        self.delivery = delivery
        self.clock = ScheduleClock(time_scale)
        self.scheduler = Scheduler(store, self.clock, self._fire)
        self.lock = self.scheduler.lock

    async def start(self) -> None:
        """Restore the clock and the schedule of every enabled scheduled rule, then start firing."""
        await self._load_clock()
        for key, body in await self.store.list_documents(SCHEDULE_KIND):
            rule = self.catalog.rules.get(key)
            if rule is not None and rule.schedule is not None and rule.enabled:
                self.scheduler.put(key, rule.schedule, Scheduler.decode(body))
        self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()

    async def _load_clock(self) -> None:
        """The schedule clock's anchor is stored, so a sped-up clock (tests) continues across restarts."""
        body = await self.store.get_document(CLOCK_KIND, "anchor")
        if body is None:
            anchor = msgspec.json.encode({"anchor": self.clock.anchor})
            await self.store.apply(puts=[(CLOCK_KIND, "anchor", anchor)])
        else:
            self.clock.anchor = json.loads(body)["anchor"]

    # ------------------------------------------------------------------ rule changes
    def plan(self, key: str, rule: Rule, keep_timeline: bool) -> tuple[list[Put], list[Delete], ScheduleState | None]:
        """The schedule documents to write with `rule` (about to be stored under `key`): (puts, deletes,
        the new state, or None when it does not fire). `keep_timeline`: an unchanged expression of a rule
        that was firing keeps its timeline (PutRule); otherwise the schedule starts afresh."""
        if rule.schedule is None or not rule.enabled or rule.record.ScheduleExpression is None:
            return [], [(SCHEDULE_KIND, key)], None
        previous = self.scheduler.state(key) if keep_timeline else None
        state = self.scheduler.new_state(rule.record.ScheduleExpression, previous)
        return [Scheduler.document(key, state)], [], state

    def apply(self, key: str, rule: Rule, state: ScheduleState | None) -> None:
        """Fire `rule` from now on as `state` says (stored already), or stop firing it (None)."""
        if state is not None and rule.schedule is not None:
            self.scheduler.put(key, rule.schedule, state)
        else:
            self.scheduler.remove(key)

    def remove(self, key: str) -> None:
        self.scheduler.remove(key)

    # ------------------------------------------------------------------ firing
    async def _fire(self, key: str, occurrence: float) -> None:
        """A scheduled rule is due: AWS's "Scheduled Event" to each of its targets."""
        rule = self.catalog.rules.get(key)
        if rule is None or not rule.enabled:
            return
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.catalog.account,
            "time": iso_seconds(occurrence),
            "region": self.catalog.region,
            "resources": [rule.record.Arn],
            "detail": {},
        }
        await self.delivery.to_targets(rule, event)
