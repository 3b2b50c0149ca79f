"""FunctionRegistry resolves names, versions and aliases (weights included) as the invoke path needs;
EnvironmentSpecs builds a version's spec once per code revision and forgets it when told."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus.config import Settings
from stratus.control.names import Arns
from stratus.control.registry import LATEST, FunctionRegistry
from stratus.errors import ResourceNotFoundException
from stratus.invoke.specs import EnvironmentSpecs
from stratus.shapes import AliasConfiguration, AliasRoutingConfiguration, FunctionConfiguration, FunctionRecord

ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def record(name: str, version: str = LATEST, revision: str = "r1", runtime: str = "provided.al2023") -> FunctionRecord:
    config = FunctionConfiguration(
        FunctionName=name, FunctionArn=f"{ARN}:{name}", Runtime=runtime, Handler="h", Timeout=3, MemorySize=128,
        Version=version, RevisionId=revision)
    return FunctionRecord(name=name, config=config, code_sha256_hex="ab" * 32, unzipped_size=1)


@pytest.fixture
def registry() -> FunctionRegistry:
    registry = FunctionRegistry(Arns("us-east-1", "000000000000"))
    registry.put_latest(record("f"))
    registry.put_version(record("f", "1"))
    registry.put_version(record("f", "2"))
    registry.put_alias("f", AliasConfiguration(Name="live", FunctionVersion="1"))
    return registry


def test_route_latest_version_and_alias(registry):
    assert registry.route("f")[1:] == (LATEST, None)
    assert registry.route(f"{ARN}:f:$LATEST")[1:] == (LATEST, "$LATEST")
    assert registry.route("f", "2")[1:] == ("2", "2")
    assert registry.route("f:live")[1:] == ("1", "live")
    main, alias = registry.qualified("f", "live")
    assert main.config.Version == "1" and alias is registry.alias("f", "live")


def test_weighted_alias_picks_both_versions(registry):
    weights = AliasRoutingConfiguration(AdditionalVersionWeights={"2": 0.5})
    registry.put_alias("f", AliasConfiguration(Name="canary", FunctionVersion="1", RoutingConfig=weights))
    picked = {registry.route("f", "canary")[1] for _ in range(200)}
    assert picked == {"1", "2"}


def test_not_found_and_removal(registry):
    for reference, qualifier in (("g", None), ("f", "3"), ("f", "nope")):
        with pytest.raises(ResourceNotFoundException):
            registry.route(reference, qualifier)
    assert [r.config.Version for r in registry.versions_in_order("f")] == ["1", "2"]
    registry.remove_alias("f", "live")
    registry.remove_version("f", "1")
    assert registry.alias("f", "live") is None and registry.version("f", "1") is None
    assert len(list(registry.records())) == 2
    registry.remove_function("f")
    assert registry.latest("f") is None and registry.count() == 0 and registry.aliases_of("f") == []


class FakeSandbox:
    def visible_paths(self, task_root: Path, runtime_dir: Path) -> tuple[str, str]:
        return "/var/task", "/var/runtime"

    def visible_opt(self, opt_dir: Path) -> str:
        return "/opt"

    def visible_sdk(self, sdk_dir: Path) -> str:
        return "/var/sdk"

    def stratus_endpoint(self, local_url: str) -> str:
        return local_url


def test_specs_are_built_once_per_revision_and_forgotten(tmp_path):
    specs = EnvironmentSpecs(Settings(data_dir=tmp_path), tmp_path / "code", FakeSandbox(), lambda arns: None)
    first = specs.of(record("f"))
    assert specs.of(record("f")) is first
    assert first.env["AWS_LAMBDA_FUNCTION_NAME"] == "f" and first.env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert first.argv == ("/var/task/bootstrap",) and first.pool_key == ("f", LATEST, "r1")
    newer = specs.of(record("f", revision="r2"))
    assert newer is not first and specs.of(record("f", revision="r2")) is newer
    specs.forget("f")
    assert specs.of(record("f", revision="r2")) is not newer
