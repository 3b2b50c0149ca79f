"""Put/Describe/List/Delete/Enable/DisableRule, ListRuleNamesByTarget and TestEventPattern."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from stratus.control.paging import paginate_after
from stratus.errors import EventBridgeValidationException, InvalidEventPatternException
from stratus.events.eventbridge.catalog import (
    DEFAULT_BUS,
    RULE_KIND,
    TARGET_KIND,
    Catalog,
    Rule,
    invalid_token,
    rule_key,
    target_key,
)
from stratus.events.eventbridge.scheduled import ScheduledRules
from stratus.events.patterns import InvalidEventPattern, compile_pattern, validate_pattern
from stratus.events.schedules import SCHEDULE_KIND, InvalidSchedule, parse_schedule
from stratus.shapes import EventRule
from stratus.store.base import Store


class RuleOperations:
    """The rule operations; every write holds the EventBridge writer lock and stores the rule with its
    schedule state in one `Store.apply`."""

    def __init__(self, catalog: Catalog, store: Store, schedules: ScheduledRules):
        self.catalog = catalog
        self.store = store
        self.schedules = schedules
        self.lock = schedules.lock

    async def put(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        pattern_text, expression = params.get("EventPattern"), params.get("ScheduleExpression")
        bus = self.catalog.bus(params.get("EventBusName"))
        _check_rule(bus, pattern_text, expression)
        key = rule_key(bus, name)
        async with self.lock:
            existing = self.catalog.rules.get(key)
            record = EventRule(
                Name=name, Arn=self.catalog.rule_arn(bus, name), EventBusName=bus,
                State=params.get("State") or "ENABLED", EventPattern=pattern_text or None,
                ScheduleExpression=expression or None, Description=params.get("Description"),
                RoleArn=params.get("RoleArn"), CreatedBy=self.catalog.account,
            )
            rule = Rule(record, existing.targets if existing else {})
            await self._store(key, rule, keep_timeline=existing is not None and existing.enabled)
        return {"RuleArn": record.Arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        _, rule = self.catalog.rule(params["Name"], params.get("EventBusName"))
        return msgspec.to_builtins(rule.record)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self.catalog.bus(params.get("EventBusName"))
        prefix = params.get("NamePrefix") or ""
        rules = sorted((rule.record for _, rule in self.catalog.rules_on(bus) if rule.record.Name.startswith(prefix)),
                       key=lambda record: record.Name)
        page, token = paginate_after(rules, params.get("NextToken"), params.get("Limit"),
                                     lambda record: record.Name, invalid_token)
        listed = []
        for record in page:
            entry = msgspec.to_builtins(record)
            entry.pop("CreatedBy", None)  # ListRules leaves it out
            listed.append(entry)
        result: dict[str, Any] = {"Rules": listed}
        if token:
            result["NextToken"] = token
        return result

    async def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        key = rule_key(self.catalog.bus_name(params.get("EventBusName")), params["Name"])
        async with self.lock:
            rule = self.catalog.rules.get(key)
            if rule is None:  # deleting a rule that is not there succeeds, as on AWS
                return {}
            if rule.targets and not params.get("Force"):
                raise EventBridgeValidationException("Rule can't be deleted since it has targets.")
            deletes = [(RULE_KIND, key), (SCHEDULE_KIND, key)]
            deletes += [(TARGET_KIND, target_key(key, target_id)) for target_id in rule.targets]
            await self.store.apply(deletes=deletes)
            del self.catalog.rules[key]
            self.schedules.remove(key)
        return {}

    async def set_state(self, params: dict[str, Any], enabled: bool) -> dict[str, Any]:
        """EnableRule / DisableRule. A schedule enabled again starts afresh (no catching up)."""
        async with self.lock:
            bus, rule = self.catalog.rule(params["Name"], params.get("EventBusName"))
            if rule.enabled == enabled:
                return {}
            record = msgspec.structs.replace(rule.record, State="ENABLED" if enabled else "DISABLED")
            await self._store(rule_key(bus, rule.record.Name), Rule(record, rule.targets), keep_timeline=False)
        return {}

    async def _store(self, key: str, rule: Rule, keep_timeline: bool) -> None:
        """Write the rule and its schedule state in one apply, then use them (under the lock)."""
        puts, deletes, state = self.schedules.plan(key, rule, keep_timeline)
        await self.store.apply(puts=[(RULE_KIND, key, msgspec.json.encode(rule.record)), *puts], deletes=deletes)
        self.catalog.rules[key] = rule
        self.schedules.apply(key, rule, state)

    def names_by_target(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self.catalog.bus(params.get("EventBusName"))
        arn = params["TargetArn"]
        names = sorted(rule.record.Name for _, rule in self.catalog.rules_on(bus)
                       if any(target["Arn"] == arn for target in rule.targets.values()))
        page, token = paginate_after(names, params.get("NextToken"), params.get("Limit"), lambda name: name,
                                     invalid_token)
        result: dict[str, Any] = {"RuleNames": page}
        if token:
            result["NextToken"] = token
        return result

    @staticmethod
    def test_event_pattern(params: dict[str, Any]) -> dict[str, Any]:
        try:
            event = json.loads(params["Event"])
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise EventBridgeValidationException("Parameter Event is not valid.")
        try:
            pattern = compile_pattern(validate_pattern(params["EventPattern"]))
        except InvalidEventPattern as exc:
            raise InvalidEventPatternException(str(exc)) from None
        return {"Result": pattern.matches(event)}


def _check_rule(bus: str, pattern_text: str | None, expression: str | None) -> None:
    """PutRule's checks of the pattern and schedule (a schedule only on the default bus)."""
    if not pattern_text and not expression:
        raise EventBridgeValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    if expression:
        if bus != DEFAULT_BUS:
            raise EventBridgeValidationException("ScheduleExpression is supported only on the default event bus.")
        try:
            parse_schedule(expression)
        except InvalidSchedule:
            raise EventBridgeValidationException("Parameter ScheduleExpression is not valid.") from None
    if pattern_text:
        try:
            validate_pattern(pattern_text)
        except InvalidEventPattern as exc:
            raise InvalidEventPatternException(str(exc)) from None
