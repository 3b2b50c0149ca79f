"""The engine's plan and rollback, with a provider of a test resource type that records what it is asked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratus.deploy.engine import DeployFailed, Engine
from stratus.deploy.providers.base import PROVIDERS, Applied, ResourceFailed, ResourceState


class Recorder:
    """Test::Thing: physical id = Name (or a generated one); a property Fail makes create/update fail; a Name
    change replaces."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.live: dict[str, dict[str, Any]] = {}

    def create(self, ctx, logical_id: str, properties: dict[str, Any]) -> Applied:
        self.calls.append(("create", logical_id))
        if properties.get("Fail"):
            raise ResourceFailed("InvalidParameterValueException: told to fail")
        physical = properties.get("Name") or ctx.physical_name(logical_id)
        self.live[physical] = properties
        return Applied(physical, {"Arn": f"arn:{physical}"})

    def update(self, ctx, current: ResourceState, properties: dict[str, Any]) -> Applied:
        self.calls.append(("update", current.logical_id))
        if properties.get("Fail"):
            raise ResourceFailed("InvalidParameterValueException: told to fail")
        if properties.get("Name") != current.properties.get("Name"):
            return self.create(ctx, current.logical_id, properties)
        self.live[current.physical_id] = properties
        return Applied(current.physical_id, dict(current.attributes))

    def delete(self, ctx, current: ResourceState) -> None:
        self.calls.append(("delete", current.logical_id))
        self.live.pop(current.physical_id, None)


@pytest.fixture
def recorder():
    provider = Recorder()
    PROVIDERS["Test::Thing"] = provider
    yield provider
    PROVIDERS.pop("Test::Thing", None)


def template(**resources: dict[str, Any]) -> str:
    return json.dumps({"Resources": {key: {"Type": "Test::Thing", **value} for key, value in resources.items()},
                       "Outputs": {"AArn": {"Value": {"Fn::GetAtt": ["A", "Arn"]}}}})


ENGINE_ARGS = (None, "us-east-1", "000000000000")


def test_plan_actions_and_no_change(recorder):
    engine = Engine(*ENGINE_ARGS)
    body = template(A={"Properties": {"V": 1}}, B={"Properties": {"Target": {"Ref": "A"}}})
    first = engine.deploy("s", body, {}, None)
    assert first["Status"] == "CREATE_COMPLETE" and recorder.calls == [("create", "A"), ("create", "B")]
    assert first["Outputs"]["AArn"].startswith("arn:s-A-")
    recorder.calls.clear()
    same = engine.deploy("s", body, {}, first)
    assert same["NoChanges"] and recorder.calls == []
    # A replaced (new name): B, which refers to it, is modified; the old A is deleted last.
    changed = engine.deploy("s", template(A={"Properties": {"V": 1, "Name": "new-a"}},
                                          B={"Properties": {"Target": {"Ref": "A"}}}), {}, same)
    assert [(c["LogicalResourceId"], c["Action"]) for c in changed["Changes"]] == [("A", "Replace"), ("B", "Modify")]
    assert recorder.calls == [("update", "A"), ("create", "A"), ("update", "B"), ("delete", "A")]
    assert recorder.live["new-a"] == {"V": 1, "Name": "new-a"} and len(recorder.live) == 2
    recorder.calls.clear()
    removed = engine.deploy("s", template(A={"Properties": {"V": 1, "Name": "new-a"}}), {}, changed)
    assert recorder.calls == [("delete", "B")] and removed["Changes"][0]["Action"] == "Remove"


def test_failure_rolls_back_in_reverse(recorder):
    engine = Engine(*ENGINE_ARGS)
    first = engine.deploy("s", template(A={"Properties": {"V": 1}}, Gone={"Properties": {}}), {}, None)
    recorder.calls.clear()
    with pytest.raises(DeployFailed) as caught:
        engine.deploy("s", template(A={"Properties": {"V": 2}}, New={"Properties": {}},
                                    C={"DependsOn": ["A", "New"], "Properties": {"Fail": True}}), {}, first)
    assert str(caught.value) == "C (Test::Thing): InvalidParameterValueException: told to fail"
    # New deleted, A updated back, Gone never touched (removals wait for success).
    assert recorder.calls == [("update", "A"), ("create", "New"), ("create", "C"), ("delete", "New"),
                              ("update", "A")]
    after = caught.value.stack
    assert after["Status"] == "UPDATE_ROLLBACK_COMPLETE" and set(after["Resources"]) == {"A", "Gone"}
    assert list(recorder.live.values()) == [{"V": 1}, {}]


def test_failed_first_deploy_and_delete_order(recorder):
    engine = Engine(*ENGINE_ARGS)
    with pytest.raises(DeployFailed) as caught:
        engine.deploy("s", template(A={"Properties": {}}, B={"Properties": {"A": {"Ref": "A"}, "Fail": 1}}), {}, None)
    assert caught.value.stack["Status"] == "ROLLBACK_COMPLETE" and caught.value.stack["Resources"] == {}
    assert recorder.live == {}
    record = engine.deploy("s", template(A={"Properties": {}}, B={"Properties": {"A": {"Ref": "A"}}},
                                         K={"DeletionPolicy": "Retain", "Properties": {}}), {},
                           caught.value.stack)
    assert record["Status"] == "CREATE_COMPLETE"
    recorder.calls.clear()
    assert engine.delete(record)["Status"] == "DELETE_COMPLETE"
    assert recorder.calls == [("delete", "B"), ("delete", "A")]  # K retained
