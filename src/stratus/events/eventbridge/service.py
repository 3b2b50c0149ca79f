"""EventBridgeService: the operations api/eventbridge.py dispatches to (one AWS operation each), and
start / close. The state lives in store documents, cached in memory at start (see catalog.py); every
operation writes its documents in one `Store.apply` under one writer lock, so nothing is half-created."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratus.config import Settings
from stratus.events.eventbridge.buses import BusOperations
from stratus.events.eventbridge.catalog import Catalog
from stratus.events.eventbridge.delivery import Delivery
from stratus.events.eventbridge.put_events import EventIntake
from stratus.events.eventbridge.rules import RuleOperations
from stratus.events.eventbridge.scheduled import ScheduledRules
from stratus.events.eventbridge.targets import TargetOperations
from stratus.events.ports import Enqueue, FunctionArns
from stratus.store.base import Store

# An operation takes the request's parameters and answers a result dict, or an awaitable of one
# (api/eventbridge.py awaits what needs awaiting).
Operation = Callable[[dict[str, Any]], Any]


class EventBridgeService:
    """Buses, rules and targets on the store; PutEvents matching; the scheduler for scheduled rules.

    `functions` checks target ARNs; `enqueue` is the durable async queue every delivery goes to."""

    def __init__(self, settings: Settings, store: Store, functions: FunctionArns, enqueue: Enqueue):
        self.catalog = Catalog(settings.region, settings.account_id)
        delivery = Delivery(enqueue)
        self.schedules = ScheduledRules(settings.schedule_time_scale, store, self.catalog, delivery)
        buses = BusOperations(self.catalog, store, self.schedules)
        rules = RuleOperations(self.catalog, store, self.schedules)
        targets = TargetOperations(self.catalog, store, self.schedules.lock, functions)
        intake = EventIntake(self.catalog, delivery)
        self.store = store
        # The operations, by the AWS operation they implement.
        self.create_event_bus: Operation = buses.create  # CreateEventBus
        self.describe_event_bus: Operation = buses.describe  # DescribeEventBus
        self.list_event_buses: Operation = buses.list  # ListEventBuses
        self.delete_event_bus: Operation = buses.delete  # DeleteEventBus
        self.put_rule: Operation = rules.put  # PutRule
        self.describe_rule: Operation = rules.describe  # DescribeRule
        self.list_rules: Operation = rules.list  # ListRules
        self.delete_rule: Operation = rules.delete  # DeleteRule
        self.set_rule_state: Callable[[dict[str, Any], bool], Any] = rules.set_state  # EnableRule, DisableRule
        self.list_rule_names_by_target: Operation = rules.names_by_target  # ListRuleNamesByTarget
        self.test_event_pattern: Operation = rules.test_event_pattern  # TestEventPattern
        self.put_targets: Operation = targets.put  # PutTargets
        self.remove_targets: Operation = targets.remove  # RemoveTargets
        self.list_targets_by_rule: Operation = targets.list_by_rule  # ListTargetsByRule
        self.put_events = intake.put_events  # PutEvents (and destinations' records sent to a bus)

    async def start(self) -> None:
        """Load buses, rules, targets and schedules from the store, then start the scheduler."""
        await self.catalog.load(self.store)
        await self.schedules.start()

    async def close(self) -> None:
        await self.schedules.close()
