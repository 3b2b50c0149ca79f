"""Buses and rules in memory (loaded from the store at start; matching never reads the store), their
store kinds and keys, names and ARNs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import msgspec

from stratus.errors import EventBridgeResourceNotFoundException, EventBridgeValidationException
from stratus.events.patterns import CompiledPattern, InvalidEventPattern, compile_pattern
from stratus.events.schedules import InvalidSchedule, Schedule, parse_schedule
from stratus.shapes import EventBus, EventRule
from stratus.store.base import Store

log = logging.getLogger("stratus.events")

BUS_KIND = "events-bus"  # key: bus name (custom buses; `default` always exists)
RULE_KIND = "events-rule"  # key: "<bus>|<rule>"
TARGET_KIND = "events-target"  # key: "<bus>|<rule>|<target id>"
DEFAULT_BUS = "default"
_ENABLED_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
_decode_rule = msgspec.json.Decoder(EventRule).decode
_decode_bus = msgspec.json.Decoder(EventBus).decode

Target = dict[str, Any]  # a target as PutTargets sent it (checked against the model by api/eventbridge.py)


class Rule:
    """A rule in memory: its description, compiled pattern, schedule and targets (by id)."""

    __slots__ = ("record", "pattern", "schedule", "targets")

    def __init__(self, record: EventRule, targets: dict[str, Target] | None = None):
        self.record = record
        self.pattern: CompiledPattern | None = (
            compile_pattern(json.loads(record.EventPattern)) if record.EventPattern else None)
        self.schedule: Schedule | None = (
            parse_schedule(record.ScheduleExpression) if record.ScheduleExpression else None)
        self.targets: dict[str, Target] = targets if targets is not None else {}

    @property
    def enabled(self) -> bool:
        return self.record.State in _ENABLED_STATES


def rule_key(bus: str, name: str) -> str:
    return f"{bus}|{name}"


def target_key(rule_key: str, target_id: str) -> str:
    return f"{rule_key}|{target_id}"


def invalid_token() -> Exception:
    """What a List operation raises for a NextToken it cannot read."""
    return EventBridgeValidationException("The NextToken provided is invalid.")


class Catalog:
    """Every bus and rule (rules keyed "<bus>|<rule>"), for one region and account."""

    def __init__(self, region: str, account: str):
        self.region = region
        self.account = account
        self.buses: dict[str, EventBus] = {}
        self.rules: dict[str, Rule] = {}

    async def load(self, store: Store) -> None:
        """Read buses, rules and their targets from the store (a rule that no longer loads is skipped)."""
        self.buses = {DEFAULT_BUS: EventBus(Name=DEFAULT_BUS, Arn=self.bus_arn(DEFAULT_BUS))}
        for _, body in await store.list_documents(BUS_KIND):
            bus = _decode_bus(body)
            self.buses[bus.Name] = bus
        targets: dict[str, dict[str, Target]] = {}
        for key, body in await store.list_documents(TARGET_KIND):
            bus_name, rule, target_id = key.split("|", 2)
            targets.setdefault(rule_key(bus_name, rule), {})[target_id] = json.loads(body)
        for key, body in await store.list_documents(RULE_KIND):
            try:
                self.rules[key] = Rule(_decode_rule(body), targets.get(key, {}))
            except (InvalidEventPattern, InvalidSchedule, ValueError):
                log.exception("stored rule %s cannot be loaded; it is skipped", key)

    # ------------------------------------------------------------------ names
    def bus_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{name}"

    def rule_arn(self, bus: str, name: str) -> str:
        path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    @staticmethod
    def bus_name(name_or_arn: str | None) -> str:
        """The bus a name or ARN names (no name: the default bus), whether or not it exists."""
        if not name_or_arn:
            return DEFAULT_BUS
        if name_or_arn.startswith("arn:"):
            return name_or_arn.split(":event-bus/", 1)[-1]
        return name_or_arn

    # ------------------------------------------------------------------ lookups
    def bus(self, name_or_arn: str | None) -> str:
        """The name of an existing bus; ResourceNotFoundException otherwise."""
        name = self.bus_name(name_or_arn)
        if name not in self.buses:
            raise EventBridgeResourceNotFoundException(f"Event bus {name} does not exist.")
        return name

    def rule(self, name: str, bus_name_or_arn: str | None) -> tuple[str, Rule]:
        """(bus, rule) of an existing rule; ResourceNotFoundException otherwise."""
        bus = self.bus(bus_name_or_arn)
        rule = self.rules.get(rule_key(bus, name))
        if rule is None:
            raise EventBridgeResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")
        return bus, rule

    def rules_on(self, bus: str) -> Iterator[tuple[str, Rule]]:
        """(key, rule) of every rule on `bus` (a snapshot: callers may change the catalog meanwhile)."""
        prefix = bus + "|"
        return iter([(key, rule) for key, rule in self.rules.items() if key.startswith(prefix)])
