"""An EventBridge subset: event buses, rules (event patterns and schedules), Lambda targets, PutEvents.

State lives in store documents, cached in memory at start (matching never reads the store):
`events-bus` (custom buses; `default` always exists), `events-rule` and `events-schedule` keyed
"<bus>|<rule>", `events-target` keyed "<bus>|<rule>|<target id>". Every operation writes its
documents in one `Store.apply`, so nothing is half-created.

Delivery: EventBridge invokes Lambda targets asynchronously, so matched events go to the durable
async queue (`async_invocations.enqueue`); PutEvents answers once they are queued. A target whose
function does not exist is accepted by PutTargets (as AWS does) and its deliveries are logged and
dropped (AWS retries for 24 h, then drops or dead-letters them).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import json
import logging
import re
import time
import uuid
from typing import Any

import msgspec

from stratus.events.patterns import CompiledPattern, InvalidEventPattern, compile_pattern, flatten, validate_pattern
from stratus.events.schedules import (
    CLOCK_KIND,
    SCHEDULE_KIND,
    InvalidSchedule,
    Schedule,
    ScheduleClock,
    Scheduler,
    parse_schedule,
)
from stratus.shapes import EventBus, EventRule
from stratus.timestamps import iso_seconds

log = logging.getLogger("stratus.events")

BUS_KIND = "events-bus"
RULE_KIND = "events-rule"
TARGET_KIND = "events-target"
DEFAULT_BUS = "default"
TARGETS_PER_RULE = 5  # AWS's quota
PUT_EVENTS_MAX_BYTES = 256 * 1024  # total entry size of one PutEvents (AWS's calculation)
_ENABLED_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
_INPUT_PATH = re.compile(r"\$(?:\.[^.\[\]'\"]+|\[\d+\])*")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
               "aws.events.event", "aws.events.event.json")
_encode = msgspec.json.encode
_decode_rule = msgspec.json.Decoder(EventRule).decode
_decode_bus = msgspec.json.Decoder(EventBus).decode


# ------------------------------------------------------------------------------------- errors
class EventBridgeError(Exception):
    """An error a caller sees, in EventBridge's JSON shape: {"__type": ..., "message": ...} (HTTP 400)."""

    status = 400
    error_type = "ValidationException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationException(EventBridgeError):
    error_type = "ValidationException"


class ResourceNotFoundException(EventBridgeError):
    error_type = "ResourceNotFoundException"


class ResourceAlreadyExistsException(EventBridgeError):
    error_type = "ResourceAlreadyExistsException"


class InvalidEventPatternException(EventBridgeError):
    error_type = "InvalidEventPatternException"


class LimitExceededException(EventBridgeError):
    error_type = "LimitExceededException"


class SerializationException(EventBridgeError):
    error_type = "SerializationException"


class UnknownOperationException(EventBridgeError):
    error_type = "UnknownOperationException"


class InternalException(EventBridgeError):
    status = 500
    error_type = "InternalException"


# -------------------------------------------------------------------------------------- state
class Rule:
    """A rule in memory: its description, compiled pattern, schedule and targets (by id)."""

    __slots__ = ("record", "pattern", "schedule", "targets")

    def __init__(self, record: EventRule, targets: dict[str, dict] | None = None):
        self.record = record
        self.pattern: CompiledPattern | None = (
            compile_pattern(json.loads(record.EventPattern)) if record.EventPattern else None)
        self.schedule: Schedule | None = (
            parse_schedule(record.ScheduleExpression) if record.ScheduleExpression else None)
        self.targets: dict[str, dict] = targets if targets is not None else {}

    @property
    def enabled(self) -> bool:
        return self.record.State in _ENABLED_STATES


def _rule_key(bus: str, name: str) -> str:
    return f"{bus}|{name}"


def _target_key(bus: str, rule: str, target_id: str) -> str:
    return f"{bus}|{rule}|{target_id}"


def _page(items: list, token: str | None, limit: int | None, key) -> tuple[list, str | None]:
    """Items after the one a NextToken names, at most `limit`; the token for the rest (or None)."""
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValidationException("The NextToken provided is invalid.") from None
        items = [item for item in items if key(item) > after]
    if limit is not None and len(items) > limit:
        items = items[:limit]
        return items, base64.urlsafe_b64encode(key(items[-1]).encode()).decode()
    return items, None


# ------------------------------------------------------------------------------------ service
class EventBridgeService:
    """Buses, rules and targets on the store; PutEvents matching; the scheduler for scheduled rules."""

    def __init__(self, settings, store, functions, application):
        self.settings = settings
        self.store = store
        self.functions = functions
        self.application = application  # delivery goes through its `async_invocations`
        self.region = settings.region
        self.account = settings.account_id
        self.buses: dict[str, EventBus] = {}
        self.rules: dict[str, Rule] = {}  # by "<bus>|<rule>"
        self.clock = ScheduleClock(settings.schedule_time_scale)
        self.scheduler = Scheduler(store, self.clock, self._fire_schedule)
        self.lock = self.scheduler.lock  # one writer at a time: operations and schedule commits

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load buses, rules, targets and schedules from the store, then start the scheduler."""
        self.buses = {DEFAULT_BUS: self._default_bus()}
        for _, body in await self.store.list_documents(BUS_KIND):
            bus = _decode_bus(body)
            self.buses[bus.Name] = bus
        targets: dict[str, dict[str, dict]] = {}
        for key, body in await self.store.list_documents(TARGET_KIND):
            bus, rule, target_id = key.split("|", 2)
            targets.setdefault(_rule_key(bus, rule), {})[target_id] = json.loads(body)
        for key, body in await self.store.list_documents(RULE_KIND):
            try:
                self.rules[key] = Rule(_decode_rule(body), targets.get(key, {}))
            except (InvalidEventPattern, InvalidSchedule, ValueError):
                log.exception("stored rule %s cannot be loaded; it is skipped", key)
        await self._load_clock()
        for key, body in await self.store.list_documents(SCHEDULE_KIND):
            rule = self.rules.get(key)
            if rule is not None and rule.schedule is not None and rule.enabled:
                self.scheduler.put(key, rule.schedule, Scheduler.decode(body))
        self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()

    async def _load_clock(self) -> None:
        """The schedule clock's anchor is stored, so a sped-up clock (tests) continues across restarts."""
        body = await self.store.get_document(CLOCK_KIND, "anchor")
        if body is None:
            await self.store.apply(puts=[(CLOCK_KIND, "anchor", _encode({"anchor": self.clock.anchor}))])
        else:
            self.clock.anchor = json.loads(body)["anchor"]

    # ------------------------------------------------------------------ names
    def bus_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{name}"

    def rule_arn(self, bus: str, name: str) -> str:
        path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    def _default_bus(self) -> EventBus:
        return EventBus(Name=DEFAULT_BUS, Arn=self.bus_arn(DEFAULT_BUS))

    @staticmethod
    def bus_name(name_or_arn: str | None) -> str:
        if not name_or_arn:
            return DEFAULT_BUS
        if name_or_arn.startswith("arn:"):
            return name_or_arn.split(":event-bus/", 1)[-1]
        return name_or_arn

    def _bus(self, name_or_arn: str | None) -> str:
        name = self.bus_name(name_or_arn)
        if name not in self.buses:
            raise ResourceNotFoundException(f"Event bus {name} does not exist.")
        return name

    def _rule(self, name: str, bus_name_or_arn: str | None) -> tuple[str, Rule]:
        bus = self._bus(bus_name_or_arn)
        rule = self.rules.get(_rule_key(bus, name))
        if rule is None:
            raise ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")
        return bus, rule

    # ------------------------------------------------------------------ event buses
    async def create_event_bus(self, params: dict) -> dict:
        name = params["Name"]
        if params.get("EventSourceName") or "/" in name:
            raise ValidationException("Stratus has no partner event sources; an event bus name cannot contain '/'.")
        async with self.lock:
            if name in self.buses:
                raise ResourceAlreadyExistsException(f"Event bus {name} already exists.")
            now = time.time()
            bus = EventBus(Name=name, Arn=self.bus_arn(name), Description=params.get("Description"),
                           CreationTime=now, LastModifiedTime=now)
            await self.store.apply(puts=[(BUS_KIND, name, _encode(bus))])
            self.buses[name] = bus
        result = {"EventBusArn": bus.Arn}
        if bus.Description:
            result["Description"] = bus.Description
        return result

    def describe_event_bus(self, params: dict) -> dict:
        bus = self.buses[self._bus(params.get("Name"))]
        return msgspec.to_builtins(bus)

    def list_event_buses(self, params: dict) -> dict:
        prefix = params.get("NamePrefix") or ""
        buses = sorted((bus for name, bus in self.buses.items() if name.startswith(prefix)), key=lambda b: b.Name)
        page, token = _page(buses, params.get("NextToken"), params.get("Limit"), key=lambda b: b.Name)
        result: dict[str, Any] = {"EventBuses": [msgspec.to_builtins(bus) for bus in page]}
        if token:
            result["NextToken"] = token
        return result

    async def delete_event_bus(self, params: dict) -> dict:
        name = params["Name"]
        if name == DEFAULT_BUS:
            raise ValidationException("Cannot delete event bus default.")
        async with self.lock:
            if name not in self.buses:
                return {}
            keys = [key for key in self.rules if key.startswith(name + "|")]
            deletes = [(BUS_KIND, name)]
            for key in keys:  # the bus's rules go with it, as on AWS
                deletes += [(RULE_KIND, key), (SCHEDULE_KIND, key)]
                deletes += [(TARGET_KIND, f"{key}|{target_id}") for target_id in self.rules[key].targets]
            await self.store.apply(deletes=deletes)
            del self.buses[name]
            for key in keys:
                del self.rules[key]
                self.scheduler.remove(key)
        return {}

    # ------------------------------------------------------------------ rules
    async def put_rule(self, params: dict) -> dict:
        name = params["Name"]
        pattern_text, expression = params.get("EventPattern"), params.get("ScheduleExpression")
        bus = self._bus(params.get("EventBusName"))
        if not pattern_text and not expression:
            raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if expression:
            if bus != DEFAULT_BUS:
                raise ValidationException("ScheduleExpression is supported only on the default event bus.")
            try:
                parse_schedule(expression)
            except InvalidSchedule:
                raise ValidationException("Parameter ScheduleExpression is not valid.") from None
        if pattern_text:
            try:
                validate_pattern(pattern_text)
            except InvalidEventPattern as exc:
                raise InvalidEventPatternException(str(exc)) from None
        key = _rule_key(bus, name)
        async with self.lock:
            existing = self.rules.get(key)
            record = EventRule(
                Name=name, Arn=self.rule_arn(bus, name), EventBusName=bus, State=params.get("State") or "ENABLED",
                EventPattern=pattern_text or None, ScheduleExpression=expression or None,
                Description=params.get("Description"), RoleArn=params.get("RoleArn"), CreatedBy=self.account,
            )
            rule = Rule(record, existing.targets if existing else {})
            puts = [(RULE_KIND, key, _encode(record))]
            deletes = []
            schedule_state = None
            if rule.schedule is not None and rule.enabled:
                previous = self.scheduler.state(key) if existing is not None and existing.enabled else None
                schedule_state = self.scheduler.new_state(expression, previous)
                puts.append(Scheduler.document(key, schedule_state))
            else:
                deletes.append((SCHEDULE_KIND, key))
            await self.store.apply(puts=puts, deletes=deletes)
            self.rules[key] = rule
            self._reschedule(key, rule, schedule_state)
        return {"RuleArn": record.Arn}

    def describe_rule(self, params: dict) -> dict:
        _, rule = self._rule(params["Name"], params.get("EventBusName"))
        return msgspec.to_builtins(rule.record)

    def list_rules(self, params: dict) -> dict:
        bus = self._bus(params.get("EventBusName"))
        prefix = params.get("NamePrefix") or ""
        rules = sorted((rule.record for key, rule in self.rules.items()
                        if key.startswith(bus + "|") and rule.record.Name.startswith(prefix)), key=lambda r: r.Name)
        page, token = _page(rules, params.get("NextToken"), params.get("Limit"), key=lambda r: r.Name)
        listed = []
        for record in page:
            entry = msgspec.to_builtins(record)
            entry.pop("CreatedBy", None)  # ListRules leaves it out
            listed.append(entry)
        result: dict[str, Any] = {"Rules": listed}
        if token:
            result["NextToken"] = token
        return result

    async def delete_rule(self, params: dict) -> dict:
        bus = self.bus_name(params.get("EventBusName"))
        key = _rule_key(bus, params["Name"])
        async with self.lock:
            rule = self.rules.get(key)
            if rule is None:  # deleting a rule that is not there succeeds, as on AWS
                return {}
            if rule.targets and not params.get("Force"):
                raise ValidationException("Rule can't be deleted since it has targets.")
            deletes = [(RULE_KIND, key), (SCHEDULE_KIND, key)]
            deletes += [(TARGET_KIND, f"{key}|{target_id}") for target_id in rule.targets]
            await self.store.apply(deletes=deletes)
            del self.rules[key]
            self.scheduler.remove(key)
        return {}

    async def set_rule_state(self, params: dict, enabled: bool) -> dict:
        """EnableRule / DisableRule. A schedule enabled again starts afresh (no catching up)."""
        async with self.lock:
            bus, rule = self._rule(params["Name"], params.get("EventBusName"))
            key = _rule_key(bus, rule.record.Name)
            if rule.enabled == enabled:
                return {}
            record = msgspec.structs.replace(rule.record, State="ENABLED" if enabled else "DISABLED")
            updated = Rule(record, rule.targets)
            puts, deletes, schedule_state = [(RULE_KIND, key, _encode(record))], [], None
            if updated.schedule is not None and enabled:
                schedule_state = self.scheduler.new_state(record.ScheduleExpression)
                puts.append(Scheduler.document(key, schedule_state))
            else:
                deletes.append((SCHEDULE_KIND, key))
            await self.store.apply(puts=puts, deletes=deletes)
            self.rules[key] = updated
            self._reschedule(key, updated, schedule_state)
        return {}

    def _reschedule(self, key: str, rule: Rule, state) -> None:
        if state is not None and rule.schedule is not None:
            self.scheduler.put(key, rule.schedule, state)
        else:
            self.scheduler.remove(key)

    def list_rule_names_by_target(self, params: dict) -> dict:
        bus = self._bus(params.get("EventBusName"))
        arn = params["TargetArn"]
        names = sorted(rule.record.Name for key, rule in self.rules.items()
                       if key.startswith(bus + "|") and any(t["Arn"] == arn for t in rule.targets.values()))
        page, token = _page(names, params.get("NextToken"), params.get("Limit"), key=lambda n: n)
        result: dict[str, Any] = {"RuleNames": page}
        if token:
            result["NextToken"] = token
        return result

    # ------------------------------------------------------------------ targets
    async def put_targets(self, params: dict) -> dict:
        targets = params["Targets"]
        for target in targets:
            self._check_target(target)
        failed: list[dict] = []
        accepted: list[dict] = []
        for target in targets:
            problem = self._target_problem(target["Arn"])
            if problem:
                failed.append({"TargetId": target["Id"], "ErrorCode": "ValidationException", "ErrorMessage": problem})
            else:
                accepted.append(target)
        async with self.lock:
            bus, rule = self._rule(params["Rule"], params.get("EventBusName"))
            key = _rule_key(bus, rule.record.Name)
            merged = dict(rule.targets)
            for target in accepted:
                merged[target["Id"]] = target
            if len(merged) > TARGETS_PER_RULE:
                raise LimitExceededException("The requested resource exceeds the maximum number allowed.")
            if accepted:
                await self.store.apply(puts=[(TARGET_KIND, f"{key}|{target['Id']}", _encode(target))
                                             for target in accepted])
            rule.targets.update((target["Id"], target) for target in accepted)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    @staticmethod
    def _check_target(target: dict) -> None:
        """Whole-request checks of one target (AWS refuses the request for these)."""
        target_id, arn = target["Id"], target["Arn"]
        if not re.match(r"arn:[\w:\-/]*", arn):
            raise ValidationException(f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.")
        given = [name for name in ("Input", "InputPath", "InputTransformer") if target.get(name) is not None]
        if len(given) > 1:
            raise ValidationException(
                f"Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}.")
        if target.get("Input") is not None:
            try:
                json.loads(target["Input"])
            except ValueError:
                raise ValidationException(f"Input for target {target_id} is not valid JSON text.") from None
        if target.get("InputPath") is not None and not _INPUT_PATH.fullmatch(target["InputPath"]):
            raise ValidationException(f"InputPath for target {target_id} is invalid.")
        transformer = target.get("InputTransformer")
        if transformer is not None:
            paths = transformer.get("InputPathsMap") or {}
            for path in paths.values():
                if not _INPUT_PATH.fullmatch(path):
                    raise ValidationException(f"InputPath for target {target_id} is invalid.")
            for placeholder in _PLACEHOLDER.findall(transformer["InputTemplate"]):
                if placeholder not in paths and placeholder not in _PREDEFINED:
                    raise ValidationException(
                        f"InputTemplate for target {target_id} contains invalid placeholder {placeholder}.")

    def _target_problem(self, arn: str) -> str | None:
        """Why this target cannot be delivered to (Stratus delivers to Lambda functions), or None."""
        if ":lambda:" not in arn:
            return f"Stratus delivers EventBridge events to Lambda functions only; {arn} is not a function ARN."
        try:
            self.functions.arns.resolve(arn)
        except Exception:  # noqa: BLE001 - a foreign region/account or a malformed function ARN
            return f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
        return None

    async def remove_targets(self, params: dict) -> dict:
        async with self.lock:
            bus, rule = self._rule(params["Rule"], params.get("EventBusName"))
            key = _rule_key(bus, rule.record.Name)
            present = [target_id for target_id in dict.fromkeys(params["Ids"]) if target_id in rule.targets]
            failed = [{"TargetId": target_id, "ErrorCode": "ResourceNotFoundException",
                       "ErrorMessage": f"Rule '{rule.record.Name}' does not have a target with the Id '{target_id}'."}
                      for target_id in dict.fromkeys(params["Ids"]) if target_id not in rule.targets]
            if present:
                await self.store.apply(deletes=[(TARGET_KIND, f"{key}|{target_id}") for target_id in present])
            for target_id in present:
                del rule.targets[target_id]
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def list_targets_by_rule(self, params: dict) -> dict:
        _, rule = self._rule(params["Rule"], params.get("EventBusName"))
        targets = sorted(rule.targets.values(), key=lambda target: target["Id"])
        page, token = _page(targets, params.get("NextToken"), params.get("Limit"), key=lambda target: target["Id"])
        result: dict[str, Any] = {"Targets": page}
        if token:
            result["NextToken"] = token
        return result

    # ------------------------------------------------------------------ events
    async def put_events(self, entries: list[dict]) -> list[dict]:
        """Accept events (PutEvents entries), deliver each to the targets of every enabled rule whose
        pattern matches; the result entries, in order: {"EventId"} or {"ErrorCode", "ErrorMessage"}.
        Returns once every delivery is in the durable async queue."""
        if sum(_entry_size(entry) for entry in entries) > PUT_EVENTS_MAX_BYTES:
            raise ValidationException("Total size of the entries in the request is over the limit.")
        results: list[dict] = []
        deliveries = []
        for entry in entries:
            problem = _entry_problem(entry)
            if problem is not None:
                results.append(problem)
                continue
            event = self._event(entry)
            results.append({"EventId": event["id"]})
            bus = self.bus_name(entry.get("EventBusName"))
            if bus not in self.buses:  # an unknown bus accepts and drops the event, as AWS does
                continue
            leaves = flatten(event)
            for key, rule in list(self.rules.items()):
                if key.startswith(bus + "|") and rule.enabled and rule.pattern is not None \
                        and rule.pattern.matches(event, leaves):
                    deliveries += [self._deliver(rule, target, event) for target in list(rule.targets.values())]
        if deliveries:
            await asyncio.gather(*deliveries)
        return results

    def _event(self, entry: dict) -> dict:
        when = entry.get("Time")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.account,
            "time": iso_seconds(_epoch(when) if when is not None else time.time()),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": json.loads(entry["Detail"]),
        }

    def test_event_pattern(self, params: dict) -> dict:
        try:
            event = json.loads(params["Event"])
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise ValidationException("Parameter Event is not valid.")
        try:
            pattern = compile_pattern(validate_pattern(params["EventPattern"]))
        except InvalidEventPattern as exc:
            raise InvalidEventPatternException(str(exc)) from None
        return {"Result": pattern.matches(event)}

    # ------------------------------------------------------------------ delivery
    async def _fire_schedule(self, key: str, occurrence: float) -> None:
        """A scheduled rule is due: AWS's "Scheduled Event" to each of its targets."""
        rule = self.rules.get(key)
        if rule is None or not rule.enabled:
            return
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": iso_seconds(occurrence),
            "region": self.region,
            "resources": [rule.record.Arn],
            "detail": {},
        }
        targets = list(rule.targets.values())
        if targets:
            await asyncio.gather(*(self._deliver(rule, target, event) for target in targets))

    async def _deliver(self, rule: Rule, target: dict, event: dict) -> None:
        """Hand one event to one target through the durable async queue; failures are logged."""
        try:
            payload = _target_input(rule, target, event)
            await self.application.async_invocations.enqueue(target["Arn"], payload)
        except Exception as exc:  # noqa: BLE001 - one target's failure never stops the others
            log.warning("EventBridge rule %s could not deliver event %s to %s: %s",
                        rule.record.Arn, event["id"], target["Arn"], getattr(exc, "message", exc))


# ----------------------------------------------------------------------------------- helpers
def _epoch(value) -> float:
    """An entry's Time: epoch seconds (what boto3 sends for JSON protocols) or an ISO 8601 text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _entry_size(entry: dict) -> int:
    """AWS's PutEvents entry size: 14 bytes for Time, plus the UTF-8 sizes of the other fields."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        if isinstance(entry.get(name), str):
            size += len(entry[name].encode())
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


def _entry_problem(entry: dict) -> dict | None:
    for name in ("Source", "DetailType", "Detail"):
        if not entry.get(name):
            return {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {name} is not valid. Reason: {name} is a required argument."}
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    if entry.get("Time") is not None:
        try:
            _epoch(entry["Time"])
        except (ValueError, TypeError, OverflowError):
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Time is not valid."}
    return None


def _json_path(document: Any, path: str) -> Any:
    """The value at a JSONPath of the subset EventBridge accepts ($, $.a.b, $.a[0]); None if absent."""
    value = document
    for dotted, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path[1:]):
        if dotted:
            value = value.get(dotted) if isinstance(value, dict) else None
        else:
            position = int(index)
            value = value[position] if isinstance(value, list) and position < len(value) else None
        if value is None:
            return None
    return value


def _target_input(rule: Rule, target: dict, event: dict) -> bytes:
    """What the target receives: its constant Input, the part of the event at InputPath, the
    InputTransformer's template filled in, or the whole event."""
    if target.get("Input") is not None:
        return target["Input"].encode()
    if target.get("InputPath") is not None:
        return json.dumps(_json_path(event, target["InputPath"])).encode()
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return _transform(transformer, rule, event).encode()
    return json.dumps(event).encode()


def _transform(transformer: dict, rule: Rule, event: dict) -> str:
    """Fill an InputTemplate: inside a JSON string a value goes in as text; elsewhere as JSON."""
    values = {name: _json_path(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()}
    values.setdefault("aws.events.rule-arn", rule.record.Arn)
    values.setdefault("aws.events.rule-name", rule.record.Name)
    values.setdefault("aws.events.event.ingestion-time", event["time"])
    values.setdefault("aws.events.event", event)
    values.setdefault("aws.events.event.json", event)
    template = transformer["InputTemplate"]
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        match = _PLACEHOLDER.match(template, i) if char == "<" else None
        if match and match[1] in values:
            value = values[match[1]]
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps(text)[1:-1])
            else:
                out.append(json.dumps(value))
            i = match.end()
            continue
        if char == "\\" and in_string and i + 1 < len(template):
            out.append(template[i:i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        i += 1
    return "".join(out)
