"""Delivering an event to a rule's targets: what each target receives (its Input, the part of the event
at InputPath, an InputTransformer's template filled in, or the whole event), handed to the durable
async queue, as EventBridge invokes Lambda asynchronously. A target whose function does not exist is
logged and dropped (AWS retries for 24 h, then drops or dead-letters it)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from stratus.errors import EventBridgeValidationException
from stratus.events.eventbridge.catalog import Rule, Target
from stratus.events.ports import Enqueue

log = logging.getLogger("stratus.events")

_INPUT_PATH = re.compile(r"\$(?:\.[^.\[\]'\"]+|\[\d+\])*")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
               "aws.events.event", "aws.events.event.json")


class Delivery:
    """Hands events to targets through the async queue; one target's failure never stops the others."""

    def __init__(self, enqueue: Enqueue):
        self.enqueue = enqueue

    async def to_targets(self, rule: Rule, event: dict[str, Any]) -> None:
        """Deliver `event` to every target of `rule`."""
        targets = list(rule.targets.values())
        if targets:
            await asyncio.gather(*(self.to_target(rule, target, event) for target in targets))

    async def to_target(self, rule: Rule, target: Target, event: dict[str, Any]) -> None:
        """Hand one event to one target through the durable async queue; failures are logged."""
        try:
            await self.enqueue(target["Arn"], target_input(rule, target, event))
        except Exception as exc:  # noqa: BLE001 - one target's failure never stops the others
            log.warning("EventBridge rule %s could not deliver event %s to %s: %s",
                        rule.record.Arn, event["id"], target["Arn"], getattr(exc, "message", exc))


def check_input(target: Target) -> None:
    """ValidationException unless the target's Input, InputPath or InputTransformer (at most one) is valid."""
    target_id = target["Id"]
    given = [name for name in ("Input", "InputPath", "InputTransformer") if target.get(name) is not None]
    if len(given) > 1:
        raise EventBridgeValidationException(
            f"Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}.")
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except ValueError:
            raise EventBridgeValidationException(f"Input for target {target_id} is not valid JSON text.") from None
    if target.get("InputPath") is not None and not _INPUT_PATH.fullmatch(target["InputPath"]):
        raise EventBridgeValidationException(f"InputPath for target {target_id} is invalid.")
    transformer = target.get("InputTransformer")
    if transformer is not None:
        paths = transformer.get("InputPathsMap") or {}
        for path in paths.values():
            if not _INPUT_PATH.fullmatch(path):
                raise EventBridgeValidationException(f"InputPath for target {target_id} is invalid.")
        for placeholder in _PLACEHOLDER.findall(transformer["InputTemplate"]):
            if placeholder not in paths and placeholder not in _PREDEFINED:
                raise EventBridgeValidationException(
                    f"InputTemplate for target {target_id} contains invalid placeholder {placeholder}.")


def target_input(rule: Rule, target: Target, event: dict[str, Any]) -> bytes:
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


def _transform(transformer: dict[str, Any], rule: Rule, event: dict[str, Any]) -> str:
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
