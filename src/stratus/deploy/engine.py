"""Plan and apply a template against a stack's last state: create / update / replace / delete per resource, in
dependency order, through the providers; roll back on failure; record events.

The engine is synchronous (providers call boto3) and runs in a worker thread; `deploy` and `delete` take the
stack's record (a JSON-able dict, deploy/stacks.py stores it) and return the next one. What "no change" means:
a resource whose properties, once resolved against the values the stack now has, equal the ones last applied
(so a dependency replaced, with a new physical id or attribute, changes its dependents). An unchanged template
calls nothing at all.

Rollback (CloudFormation's): created resources are deleted, modified ones updated back to their previous
properties, replacements deleted (the old resource still exists); resources removed from the template, and the
old halves of replacements, are deleted only once everything else succeeded, in reverse dependency order. A
failed first deploy leaves the stack ROLLBACK_COMPLETE with no resources; the next deploy of that name starts
over (CloudFormation would require a delete first: Stratus does it implicitly, as nothing is left to delete).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import string
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from stratus.deploy.intrinsics import FUNCTIONS, PSEUDO, Resolver, ValidationError, nearest, references
from stratus.deploy.providers import load_all
from stratus.deploy.providers.base import PROVIDERS, Applied, Endpoint, ResourceFailed, ResourceState
from stratus.deploy.template import load_template
from stratus.deploy.translate import check_parameters, shown_parameters, translate
from stratus.timestamps import iso_seconds

log = logging.getLogger("stratus.deploy")

MAX_EVENTS = 300
COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
UNSUPPORTED_HINTS = {
    "AWS::IAM::ManagedPolicy": "Stratus's IAM has AWS managed policies only: put the statements in the role's "
                               "Policies (or an AWS::IAM::Policy)",
    "AWS::IAM::User": "Stratus's IAM has roles only",
    "AWS::IAM::Group": "Stratus's IAM has roles only",
}
_NAME_ALPHABET = string.ascii_uppercase + string.digits


class DeployFailed(Exception):
    """A resource failed; the stack was rolled back. `str()` names the resource; `stack` is the record after."""

    def __init__(self, message: str, stack: dict[str, Any]):
        super().__init__(message)
        self.stack = stack


class Services(Protocol):
    """What the server gives the engine: API clients and the URLs it serves APIs at."""

    def client(self, service: str) -> Any: ...

    def api_base_url(self, api_id: str, stage: str | None) -> str: ...


@dataclasses.dataclass
class Prepared:
    """A template checked and translated, ready to apply (nothing has been called yet)."""

    template: dict[str, Any]  # as loaded (for Parameters' NoEcho)
    cfn: dict[str, Any]  # CloudFormation after the transform
    parameters: dict[str, Any]
    resources: dict[str, dict[str, Any]]  # the resources whose Condition holds
    order: list[str]  # dependency order
    resolver: Resolver


class StackContext:
    """The DeployContext providers get (deploy/providers/base.py)."""

    def __init__(self, services: Services, stack_name: str, stack_id: str, region: str, account_id: str,
                 states: Callable[[], list[ResourceState]], logical_id: str = ""):
        self.services = services
        self.stack_name = stack_name
        self.stack_id = stack_id
        self.region = region
        self.account_id = account_id
        self.partition = "aws"
        self.states = states
        self.current = logical_id  # the resource being worked on (client errors name it)

    def client(self, service: str) -> Any:
        return self.services.client(service)

    def physical_name(self, logical_id: str, max_length: int = 64) -> str:
        suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(13))
        budget = max(max_length - len(suffix) - 2, 2)
        stack, logical = self.stack_name, logical_id
        if len(stack) + len(logical) > budget:  # CloudFormation shortens both halves
            half = budget // 2
            stack = stack[:max(half, budget - len(logical))]
            logical = logical[:budget - len(stack)]
        return f"{stack}-{logical}-{suffix}"[:max_length]

    def logical_id_of(self, physical_id: str) -> str | None:
        for state in self.states():
            if state.physical_id == physical_id:
                return state.logical_id
        return None

    def api_base_url(self, api_id: str, stage: str | None) -> str:
        return self.services.api_base_url(api_id, stage)


def starts_over(previous: dict[str, Any] | None) -> bool:
    """Whether a deploy creates the stack anew (none yet, or a failed first deploy left nothing)."""
    return previous is None or previous.get("Status") in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE")


def stack_id_for(name: str, previous: dict[str, Any] | None, region: str, account_id: str) -> str:
    """The stack's id: kept across updates, new when the stack starts over."""
    if previous is not None and not starts_over(previous):
        return str(previous["StackId"])
    return f"arn:aws:cloudformation:{region}:{account_id}:stack/{name}/{uuid.uuid4()}"


def prepare(name: str, body: str, overrides: dict[str, Any], region: str, account_id: str,
            stack_id: str) -> Prepared:
    """Load, check parameters, translate, evaluate conditions, check types and references, order the resources.
    Raises ValidationError (one line) for anything wrong; calls nothing."""
    load_all()
    template = load_template(body)
    if not isinstance(overrides, dict):
        raise ValidationError("Parameters must be a mapping of parameter names to values")
    parameters = check_parameters(template, overrides)
    cfn = translate(template, parameters, region, account_id, name)
    resources_all = cfn.get("Resources") or {}
    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": name,
              "AWS::StackId": stack_id, "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws",
              "AWS::NotificationARNs": []}
    conditions = cfn.get("Conditions") or {}
    resolver = Resolver(parameters, pseudo, cfn.get("Mappings") or {}, conditions, resources_all, region)
    for condition in conditions:
        resolver.where = f"Conditions.{condition}"
        resolver.condition(condition)
    active: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources_all.items():
        if "Condition" in resource:
            resolver.where = logical_id
            if not resolver.condition(resource["Condition"]):
                continue
        active[logical_id] = resource
    resolver.resource_ids = set(active)
    for logical_id, resource in active.items():
        kind = resource["Type"]
        if kind not in PROVIDERS:
            hint = UNSUPPORTED_HINTS.get(kind) or (
                "add 'Transform: AWS::Serverless-2016-10-31' to translate it" if kind.startswith("AWS::Serverless::")
                else f"Stratus deploys {', '.join(sorted(PROVIDERS))}")
            raise ValidationError(f"Template error: resource {logical_id} has type {kind}, which Stratus cannot "
                                  f"deploy ({hint})")
    known = set(parameters) | set(PSEUDO) | set(active)
    dependencies: dict[str, set[str]] = {}
    for logical_id, resource in active.items():
        _check_functions(resource.get("Properties") or {}, logical_id)
        named = references(resource.get("Properties") or {})
        _check_names(named, known, resources_all, logical_id)
        depends = resource.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        for target in depends:
            if target not in active:
                raise ValidationError(f"Template format error: Unresolved resource dependencies [{target}] in the "
                                      f"DependsOn of {logical_id}{nearest(str(target), active)}")
        dependencies[logical_id] = (named & set(active)) | set(depends)
    for key, output in (cfn.get("Outputs") or {}).items():
        if isinstance(output, dict) and "Condition" in output:
            resolver.where = f"Outputs.{key}"
            resolver.condition(output["Condition"])
        _check_functions(output, f"Outputs.{key}")
        _check_names(references(output), known, resources_all, f"Outputs.{key}")
    return Prepared(template, cfn, parameters, active, _order(dependencies), resolver)


def _check_functions(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, member in value.items():
            if isinstance(key, str) and key.startswith("Fn::") and len(value) == 1 and key not in FUNCTIONS:
                raise ValidationError(f"Template error: unknown intrinsic function {key} in {where}"
                                      f"{nearest(key, FUNCTIONS)}")
            _check_functions(member, where)
    elif isinstance(value, list):
        for member in value:
            _check_functions(member, where)


def _check_names(named: set[str], known: set[str], all_resources: dict[str, Any], where: str) -> None:
    for name in sorted(named - known):
        if name in all_resources:
            raise ValidationError(f"Template error: {where} refers to {name}, whose Condition is false")
        raise ValidationError(f"Template format error: Unresolved resource dependencies [{name}] in {where}"
                              f"{nearest(name, known)}")


def _order(dependencies: dict[str, set[str]]) -> list[str]:
    """Topological order (template order among independent resources); a cycle is a ValidationError."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = path[path.index(node):]
            raise ValidationError(f"Circular dependency between resources: [{', '.join(sorted(cycle))}]")
        state[node] = 1
        for dependency in sorted(dependencies[node], key=list(dependencies).index):
            visit(dependency, [*path, node])
        state[node] = 2
        order.append(node)

    for node in dependencies:
        visit(node, [])
    return order


# -- records -------------------------------------------------------------------------------------------------
def state_to_json(state: ResourceState, deletion_policy: str = "") -> dict[str, Any]:
    doc = dataclasses.asdict(state)
    if state.endpoint is not None:
        doc["endpoint"]["routes"] = [list(route) for route in state.endpoint.routes]
    if deletion_policy:
        doc["deletion_policy"] = deletion_policy
    return doc


def state_from_json(doc: dict[str, Any]) -> ResourceState:
    endpoint = doc.get("endpoint")
    return ResourceState(doc["logical_id"], doc["resource_type"], doc["physical_id"], doc.get("properties") or {},
                         doc.get("attributes") or {},
                         Endpoint(endpoint["owner"], endpoint["kind"], endpoint["base_url"],
                                  [tuple(route) for route in endpoint.get("routes") or []])
                         if endpoint else None)


def _normal(value: Any) -> Any:
    """Properties as stored (a JSON round trip), so a comparison with the stored ones is exact."""
    return json.loads(json.dumps(value))


def _error_text(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:  # a botocore ClientError the provider let through
        code, message = response["Error"].get("Code", ""), response["Error"].get("Message", "")
        return f"{code}: {message}" if code else str(message)
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class Engine:
    """Deploys and deletes stacks. `save(record)` is called as the deploy progresses (None: not at all)."""

    def __init__(self, services: Services, region: str, account_id: str,
                 save: Callable[[dict[str, Any]], None] | None = None):
        self.services = services
        self.region = region
        self.account_id = account_id
        self.save = save or (lambda record: None)

    # -- deploy ------------------------------------------------------------------------------------------------
    def deploy(self, name: str, body: str, overrides: dict[str, Any], previous: dict[str, Any] | None,
               prepared: Prepared | None = None) -> dict[str, Any]:
        """The stack record after the deploy; ValidationError before anything was called; DeployFailed after a
        rollback."""
        starting_over = starts_over(previous)
        prepared = prepared or prepare(name, body, overrides, self.region, self.account_id,
                                       stack_id_for(name, previous, self.region, self.account_id))
        stack_id = prepared.resolver.pseudo["AWS::StackId"]
        old_states = {} if starting_over or previous is None else {
            key: state_from_json(doc) for key, doc in previous.get("Resources", {}).items()}
        old_policies = {} if previous is None else {
            key: doc.get("deletion_policy", "") for key, doc in previous.get("Resources", {}).items()}
        old_order = [] if starting_over or previous is None else previous.get("Order", list(old_states))
        now = iso_seconds(time.time())
        record: dict[str, Any] = {
            "StackName": name, "StackId": stack_id,
            "CreationTime": now if starting_over or previous is None else previous.get("CreationTime", now),
            "Status": "CREATE_IN_PROGRESS" if starting_over else "UPDATE_IN_PROGRESS", "StatusReason": "",
            "TemplateBody": body, "Parameters": shown_parameters(prepared.template, prepared.parameters),
            "ParameterValues": {key: value for key, value in overrides.items()},
            "Resources": {key: state_to_json(state, old_policies.get(key, "")) for key, state in old_states.items()},
            "Order": old_order, "Outputs": {} if previous is None or starting_over else previous.get("Outputs", {}),
            "Events": [] if previous is None or starting_over else list(previous.get("Events", [])),
            "LastUpdatedTime": now, "Changes": [], "NoChanges": False,
        }
        new_states: dict[str, ResourceState] = {}
        journal: list[tuple[str, str, ResourceState | None, ResourceState]] = []  # (action, id, old, new)
        resolver = prepared.resolver
        ctx = StackContext(self.services, name, stack_id, self.region, self.account_id,
                           lambda: [*new_states.values(), *old_states.values()])

        def event(logical_id: str, kind: str, physical_id: str, status: str, reason: str = "") -> None:
            record["Events"].append({"Timestamp": iso_seconds(time.time()), "LogicalResourceId": logical_id,
                                     "ResourceType": kind, "PhysicalResourceId": physical_id,
                                     "ResourceStatus": status, "ResourceStatusReason": reason})
            del record["Events"][:-MAX_EVENTS]

        def progress() -> None:
            merged = {**old_states, **new_states}
            record["Resources"] = {key: state_to_json(state, self._policy(prepared, key, old_policies))
                                   for key, state in merged.items()}
            self.save(record)

        failed: tuple[str, str, str] | None = None  # (logical id, type, reason)
        for logical_id in prepared.order:
            resource = prepared.resources[logical_id]
            kind = resource["Type"]
            old = old_states.get(logical_id)
            try:
                resolver.where = logical_id
                properties = _normal(resolver.resolve(resource.get("Properties") or {}))
                if old is not None and old.resource_type == kind and old.properties == properties:
                    new_states[logical_id] = old
                    self._known(resolver, old)
                    continue
                if not journal:
                    event(name, "AWS::CloudFormation::Stack", stack_id, record["Status"], "User Initiated")
                action, state = self._apply(ctx, logical_id, kind, properties, old, event)
                journal.append((action, logical_id, old, state))
                new_states[logical_id] = state
                self._known(resolver, state)
                progress()
            except Exception as error:  # noqa: BLE001 - a provider's failure of any kind rolls the deploy back
                if not isinstance(error, (ResourceFailed, ValidationError)):
                    log.warning("deploy of %s: %s failed", name, logical_id, exc_info=True)
                failed = (logical_id, kind, _error_text(error))
                event(logical_id, kind, old.physical_id if old else "",
                      "CREATE_FAILED" if old is None else "UPDATE_FAILED", failed[2])
                break
        outputs: dict[str, Any] = {}
        if failed is None:
            try:
                outputs = self._outputs(prepared)
            except ValidationError as error:
                failed = ("Outputs", "AWS::CloudFormation::Stack", str(error))
        if failed is not None:
            return self._rolled_back(record, journal, old_states, previous, starting_over, failed, ctx, event)
        self._clean_up(ctx, journal, old_states, new_states, old_order, old_policies, event)
        record["Resources"] = {key: state_to_json(state, self._policy(prepared, key, old_policies))
                               for key, state in new_states.items()}
        record["Order"] = [key for key in prepared.order if key in new_states]
        record["Outputs"] = outputs
        record["Changes"] = [{"LogicalResourceId": logical_id, "ResourceType": new.resource_type, "Action": action}
                             for action, logical_id, _old, new in journal]
        if not journal and not starting_over:
            record["Status"] = previous["Status"] if previous else "CREATE_COMPLETE"
            record["NoChanges"] = True
            record["LastUpdatedTime"] = previous.get("LastUpdatedTime", now) if previous else now
        else:
            record["Status"] = "CREATE_COMPLETE" if starting_over else "UPDATE_COMPLETE"
            event(name, "AWS::CloudFormation::Stack", stack_id, record["Status"])
        return record

    def _apply(self, ctx: StackContext, logical_id: str, kind: str, properties: dict[str, Any],
               old: ResourceState | None, event: Callable[..., None]) -> tuple[str, ResourceState]:
        """Create, update or replace one resource: (Add | Modify | Replace, its new state)."""
        provider = PROVIDERS[kind]
        ctx.current = logical_id
        if old is None or old.resource_type != kind:
            event(logical_id, kind, "", "CREATE_IN_PROGRESS")
            applied = provider.create(ctx, logical_id, properties)
            action = "Add" if old is None else "Replace"
        else:
            event(logical_id, kind, old.physical_id, "UPDATE_IN_PROGRESS")
            applied = provider.update(ctx, old, properties)
            action = "Replace" if applied.physical_id != old.physical_id else "Modify"
        state = self._state(logical_id, kind, properties, applied)
        event(logical_id, kind, state.physical_id, "CREATE_COMPLETE" if action == "Add" else "UPDATE_COMPLETE")
        return action, state

    def _clean_up(self, ctx: StackContext, journal: list[tuple[str, str, ResourceState | None, ResourceState]],
                  old_states: dict[str, ResourceState], new_states: dict[str, ResourceState], old_order: list[str],
                  old_policies: dict[str, str], event: Callable[..., None]) -> None:
        """After success: delete removed resources (reverse dependency order), then replacements' old halves."""
        removed = [key for key in reversed(old_order) if key in old_states and key not in new_states]
        removed += [key for key in old_states if key not in new_states and key not in removed]
        replaced = [old for action, _key, old, new in journal
                    if action == "Replace" and old is not None and old.physical_id != new.physical_id]
        for logical_id in removed:
            old = old_states[logical_id]
            journal.append(("Remove", logical_id, old, old))
            if old_policies.get(logical_id) == "Retain":
                event(logical_id, old.resource_type, old.physical_id, "DELETE_SKIPPED")
                continue
            self._delete_quietly(ctx, old, event)
        for old in replaced:
            if old_policies.get(old.logical_id) != "Retain":
                self._delete_quietly(ctx, old, event)

    @staticmethod
    def _policy(prepared: Prepared, logical_id: str, old_policies: dict[str, str]) -> str:
        resource = prepared.resources.get(logical_id)
        if resource is None:
            return old_policies.get(logical_id, "")
        return str(resource.get("DeletionPolicy") or "")

    @staticmethod
    def _known(resolver: Resolver, state: ResourceState) -> None:
        resolver.physical_ids[state.logical_id] = state.physical_id
        resolver.attributes[state.logical_id] = state.attributes

    @staticmethod
    def _state(logical_id: str, kind: str, properties: dict[str, Any], applied: Applied) -> ResourceState:
        return ResourceState(logical_id, kind, applied.physical_id, properties, _normal(applied.attributes),
                             applied.endpoint)

    def _outputs(self, prepared: Prepared) -> dict[str, Any]:
        resolver = prepared.resolver
        outputs: dict[str, Any] = {}
        for key, output in (prepared.cfn.get("Outputs") or {}).items():
            resolver.where = f"Outputs.{key}"
            if not isinstance(output, dict) or "Value" not in output:
                raise ValidationError(f"Template format error: Every Outputs member must contain a Value object "
                                      f"({key})")
            if "Condition" in output and not resolver.condition(output["Condition"]):
                continue
            value = resolver.resolve(output["Value"])
            outputs[key] = ",".join(str(item) for item in value) if isinstance(value, list) else \
                value if isinstance(value, str) else json.dumps(value)
        return outputs

    def _delete_quietly(self, ctx: StackContext, state: ResourceState, event: Callable[..., None]) -> bool:
        event(state.logical_id, state.resource_type, state.physical_id, "DELETE_IN_PROGRESS")
        try:
            ctx.current = state.logical_id
            PROVIDERS[state.resource_type].delete(ctx, state)
        except Exception as error:  # noqa: BLE001 - recorded; the deploy's outcome stands
            event(state.logical_id, state.resource_type, state.physical_id, "DELETE_FAILED", _error_text(error))
            return False
        event(state.logical_id, state.resource_type, state.physical_id, "DELETE_COMPLETE")
        return True

    def _rolled_back(self, record: dict[str, Any], journal: list[tuple[str, str, ResourceState | None, ResourceState]],
                     old_states: dict[str, ResourceState], previous: dict[str, Any] | None, starting_over: bool,
                     failed: tuple[str, str, str], ctx: StackContext,
                     event: Callable[..., None]) -> dict[str, Any]:
        logical_id, kind, reason = failed
        message = f"{logical_id} ({kind}): {reason}"
        event(record["StackName"], "AWS::CloudFormation::Stack", record["StackId"],
              "ROLLBACK_IN_PROGRESS" if starting_over else "UPDATE_ROLLBACK_IN_PROGRESS",
              f"The following resource(s) failed: [{logical_id}]. {reason}")
        clean = True
        for action, key, old, new in reversed(journal):
            try:
                ctx.current = key
                if action in ("Add", "Replace"):
                    if action == "Replace" and old is not None and new.physical_id == old.physical_id:
                        continue
                    event(key, new.resource_type, new.physical_id, "DELETE_IN_PROGRESS")
                    PROVIDERS[new.resource_type].delete(ctx, new)
                    event(key, new.resource_type, new.physical_id, "DELETE_COMPLETE")
                elif action == "Modify" and old is not None:
                    event(key, new.resource_type, new.physical_id, "UPDATE_IN_PROGRESS")
                    PROVIDERS[new.resource_type].update(ctx, new, old.properties)
                    event(key, new.resource_type, old.physical_id, "UPDATE_COMPLETE")
            except Exception as error:  # noqa: BLE001 - recorded; the rollback goes on
                clean = False
                event(key, new.resource_type, new.physical_id,
                      "DELETE_FAILED" if action != "Modify" else "UPDATE_FAILED", _error_text(error))
        if starting_over:
            record["Status"] = "ROLLBACK_COMPLETE" if clean else "ROLLBACK_FAILED"
            record["Resources"], record["Order"], record["Outputs"] = {}, [], {}
        else:
            assert previous is not None
            record["Status"] = "UPDATE_ROLLBACK_COMPLETE" if clean else "UPDATE_ROLLBACK_FAILED"
            for member in ("Resources", "Order", "Outputs", "TemplateBody", "Parameters", "ParameterValues"):
                record[member] = previous.get(member, record[member])
        record["StatusReason"] = message
        record["Changes"] = []
        event(record["StackName"], "AWS::CloudFormation::Stack", record["StackId"], record["Status"])
        raise DeployFailed(message, record)

    # -- delete ------------------------------------------------------------------------------------------------
    def delete(self, record: dict[str, Any]) -> dict[str, Any]:
        """Delete every resource (reverse dependency order; DeletionPolicy Retain kept). The record after: status
        DELETE_COMPLETE, or DELETE_FAILED with the resources that could not be deleted."""
        load_all()
        states = {key: state_from_json(doc) for key, doc in record.get("Resources", {}).items()}
        policies = {key: doc.get("deletion_policy", "") for key, doc in record.get("Resources", {}).items()}
        order = [key for key in record.get("Order", []) if key in states]
        order += [key for key in states if key not in order]
        record = dict(record, Events=list(record.get("Events", [])), Status="DELETE_IN_PROGRESS")
        ctx = StackContext(self.services, record["StackName"], record["StackId"], self.region, self.account_id,
                           lambda: list(states.values()))

        def event(logical_id: str, kind: str, physical_id: str, status: str, reason: str = "") -> None:
            record["Events"].append({"Timestamp": iso_seconds(time.time()), "LogicalResourceId": logical_id,
                                     "ResourceType": kind, "PhysicalResourceId": physical_id,
                                     "ResourceStatus": status, "ResourceStatusReason": reason})
            del record["Events"][:-MAX_EVENTS]

        left: dict[str, Any] = {}
        reasons = []
        for logical_id in reversed(order):
            state = states[logical_id]
            if policies.get(logical_id) == "Retain" and state.resource_type != "AWS::Lambda::Version":
                event(logical_id, state.resource_type, state.physical_id, "DELETE_SKIPPED")
                continue
            if policies.get(logical_id) == "Retain":  # a version goes with its function (deleted below)
                continue
            if not self._delete_quietly(ctx, state, event):
                left[logical_id] = record["Resources"][logical_id]
                reasons.append(f"{logical_id} ({state.resource_type}): {record['Events'][-1]['ResourceStatusReason']}")
        record["Resources"] = left
        record["Status"] = "DELETE_FAILED" if left else "DELETE_COMPLETE"
        record["StatusReason"] = "; ".join(reasons)
        record["LastUpdatedTime"] = iso_seconds(time.time())
        return record


def failure_reason(error: Exception) -> str:
    """One line for a provider's unexpected error."""
    return _error_text(error)
