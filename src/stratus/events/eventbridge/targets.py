"""Put/RemoveTargets and ListTargetsByRule. Stratus delivers to Lambda functions only: PutTargets fails
the entry of any other target, and accepts a function that does not exist (yet), as AWS does."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgspec

from stratus.control.paging import paginate_after
from stratus.errors import EventBridgeValidationException, LimitExceededException
from stratus.events.eventbridge.catalog import TARGET_KIND, Catalog, Target, invalid_token, rule_key, target_key
from stratus.events.eventbridge.delivery import check_input
from stratus.events.ports import FunctionArns
from stratus.store.base import Store

TARGETS_PER_RULE = 5  # AWS's quota


class TargetOperations:
    """The target operations; every write holds the EventBridge writer lock."""

    def __init__(self, catalog: Catalog, store: Store, lock: asyncio.Lock, functions: FunctionArns):
        self.catalog = catalog
        self.store = store
        self.lock = lock
        self.functions = functions

    async def put(self, params: dict[str, Any]) -> dict[str, Any]:
        targets = params["Targets"]
        for target in targets:
            _check_target(target)
        failed: list[dict[str, Any]] = []
        accepted: list[Target] = []
        for target in targets:
            problem = self._problem(target["Arn"])
            if problem:
                failed.append({"TargetId": target["Id"], "ErrorCode": "ValidationException", "ErrorMessage": problem})
            else:
                accepted.append(target)
        async with self.lock:
            bus, rule = self.catalog.rule(params["Rule"], params.get("EventBusName"))
            key = rule_key(bus, rule.record.Name)
            merged = dict(rule.targets)
            for target in accepted:
                merged[target["Id"]] = target
            if len(merged) > TARGETS_PER_RULE:
                raise LimitExceededException("The requested resource exceeds the maximum number allowed.")
            if accepted:
                await self.store.apply(puts=[(TARGET_KIND, target_key(key, target["Id"]), msgspec.json.encode(target))
                                             for target in accepted])
            rule.targets.update((target["Id"], target) for target in accepted)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def _problem(self, arn: str) -> str | None:
        """Why this target cannot be delivered to (Stratus delivers to Lambda functions), or None."""
        if ":lambda:" not in arn:
            return f"Stratus delivers EventBridge events to Lambda functions only; {arn} is not a function ARN."
        try:
            self.functions.resolve(arn)
        except Exception:  # noqa: BLE001 - a foreign region/account or a malformed function ARN
            return f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
        return None

    async def remove(self, params: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            bus, rule = self.catalog.rule(params["Rule"], params.get("EventBusName"))
            key = rule_key(bus, rule.record.Name)
            ids = list(dict.fromkeys(params["Ids"]))
            present = [target_id for target_id in ids if target_id in rule.targets]
            failed = [{"TargetId": target_id, "ErrorCode": "ResourceNotFoundException",
                       "ErrorMessage": f"Rule '{rule.record.Name}' does not have a target with the Id '{target_id}'."}
                      for target_id in ids if target_id not in rule.targets]
            if present:
                await self.store.apply(deletes=[(TARGET_KIND, target_key(key, target_id)) for target_id in present])
            for target_id in present:
                del rule.targets[target_id]
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def list_by_rule(self, params: dict[str, Any]) -> dict[str, Any]:
        _, rule = self.catalog.rule(params["Rule"], params.get("EventBusName"))
        targets = sorted(rule.targets.values(), key=lambda target: target["Id"])
        page, token = paginate_after(targets, params.get("NextToken"), params.get("Limit"),
                                     lambda target: target["Id"], invalid_token)
        result: dict[str, Any] = {"Targets": page}
        if token:
            result["NextToken"] = token
        return result


def _check_target(target: Target) -> None:
    """Whole-request checks of one target (AWS refuses the request for these)."""
    arn = target["Arn"]
    if not re.match(r"arn:[\w:\-/]*", arn):
        raise EventBridgeValidationException(
            f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.")
    check_input(target)
