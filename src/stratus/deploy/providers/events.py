"""AWS::Events::Rule through Stratus's own EventBridge API (loopback, the internal admin key).

Ref: the rule's name (`<bus>|<name>` for a rule on a custom event bus, as CloudFormation answers); GetAtt Arn.
Create: PutRule (ScheduleExpression, EventPattern, State, Description, EventBusName, RoleArn) and PutTargets;
update: PutRule again and the targets diffed (targets gone from the template removed, the rest put); a new Name
or EventBusName is a replacement; delete: RemoveTargets, then DeleteRule.
"""

from __future__ import annotations

import json
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import call, changed, not_found

_TARGET_MEMBERS = ("Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "DeadLetterConfig",
                   "RetryPolicy", "SqsParameters", "HttpParameters")


def _client(ctx: DeployContext) -> Any:
    return ctx.client("events")


def _bus(properties: dict[str, Any]) -> str | None:
    bus = properties.get("EventBusName")
    if isinstance(bus, str) and bus.startswith("arn:"):
        bus = bus.rsplit("/", 1)[-1]
    return str(bus) if bus and bus != "default" else None


def _name(ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> str:
    return str(properties.get("Name") or ctx.physical_name(logical_id, 64))


def _targets(properties: dict[str, Any]) -> list[dict[str, Any]]:
    targets = properties.get("Targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise ResourceFailed("ValidationException: Targets must be a list of objects")
    out = []
    for target in targets:
        entry = {key: target[key] for key in _TARGET_MEMBERS if target.get(key) is not None}
        if isinstance(entry.get("Input"), dict | list):
            entry["Input"] = json.dumps(entry["Input"])
        out.append(entry)
    return out


def _put_targets(client: Any, name: str, bus: str | None, targets: list[dict[str, Any]]) -> None:
    if not targets:
        return
    answer = call(client, "put_targets", Rule=name, EventBusName=bus, Targets=targets)
    failed = answer.get("FailedEntries") or []
    if failed:
        first = failed[0]
        raise ResourceFailed(f"{first.get('ErrorCode', 'ValidationException')}: target {first.get('TargetId')}: "
                             f"{first.get('ErrorMessage', '')}")


def _put_rule(client: Any, name: str, bus: str | None, properties: dict[str, Any]) -> str:
    pattern = properties.get("EventPattern")
    if isinstance(pattern, dict | list):
        pattern = json.dumps(pattern)
    answer = call(client, "put_rule", Name=name, EventBusName=bus,
                  ScheduleExpression=properties.get("ScheduleExpression"), EventPattern=pattern,
                  State=str(properties.get("State") or "ENABLED"), Description=properties.get("Description"),
                  RoleArn=properties.get("RoleArn"))
    arn: str = answer["RuleArn"]
    return arn


def _applied(name: str, bus: str | None, arn: str) -> Applied:
    return Applied(f"{bus}|{name}" if bus else name, {"Arn": arn})


def _split(physical_id: str) -> tuple[str, str | None]:
    bus, bar, name = physical_id.rpartition("|")
    return (name, bus) if bar else (physical_id, None)


@provider("AWS::Events::Rule")
class RuleProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        name, bus = _name(ctx, logical_id, properties), _bus(properties)
        targets = _targets(properties)
        arn = _put_rule(client, name, bus, properties)
        try:
            _put_targets(client, name, bus, targets)
        except ResourceFailed:
            self._remove(client, name, bus)
            raise
        return _applied(name, bus, arn)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "Name", "EventBusName"):
            return self.create(ctx, current.logical_id, properties)  # a replacement
        client = _client(ctx)
        name, bus = _split(current.physical_id)
        targets = _targets(properties)
        arn = _put_rule(client, name, bus, properties)
        wanted = {target["Id"] for target in targets}
        stale = [t["Id"] for t in self._listed(client, name, bus) if t["Id"] not in wanted]
        if stale:
            call(client, "remove_targets", Rule=name, EventBusName=bus, Ids=stale)
        _put_targets(client, name, bus, targets)
        return _applied(name, bus, arn)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        name, bus = _split(current.physical_id)
        self._remove(_client(ctx), name, bus)

    @staticmethod
    def _listed(client: Any, name: str, bus: str | None) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = call(client, "list_targets_by_rule", Rule=name, EventBusName=bus)["Targets"]
        return targets

    def _remove(self, client: Any, name: str, bus: str | None) -> None:
        try:
            ids = [target["Id"] for target in self._listed(client, name, bus)]
            if ids:
                call(client, "remove_targets", Rule=name, EventBusName=bus, Ids=ids)
            call(client, "delete_rule", Name=name, EventBusName=bus)
        except ResourceFailed as error:
            if not not_found(error):
                raise
