"""Lookups from memory: which function a FunctionName (+ Qualifier) names, as a record or an invoke Target."""

from __future__ import annotations

from stratus.control.names import Arns
from stratus.control.ports import Environments
from stratus.control.registry import LATEST, FunctionRegistry
from stratus.invoke.specs import EnvironmentSpecs
from stratus.invoke.types import EnvironmentSpec, Target
from stratus.shapes import AliasConfiguration, FunctionRecord


class FunctionLookups:
    """The lookups of FunctionService (its base): no store access, nothing changed."""

    arns: Arns
    registry: FunctionRegistry
    specs: EnvironmentSpecs
    invoker: Environments

    def route(self, reference: str, qualifier: str | None = None) -> tuple[FunctionRecord, str, str | None]:
        """What an invoke of FunctionName (+ Qualifier) runs: (version's record, version, qualifier invoked).

        An alias picks between its versions by their weights. ResourceNotFoundException if none.
        """
        return self.registry.route(reference, qualifier)

    def target(self, reference: str, qualifier: str | None = None) -> Target:
        """The invoke Target FunctionName (+ Qualifier) names (see `route`); ResourceNotFoundException if none."""
        record, version, qualifier = self.registry.route(reference, qualifier)
        return Target(record.name, qualifier, version, self.arns.function(record.name, qualifier),
                      self.specs.of(record), _active_tracing(record))

    def target_of(self, record: FunctionRecord, qualifier: str | None) -> Target:
        """The invoke Target of a version's record that `route` chose for `qualifier`."""
        return Target(record.name, qualifier, record.config.Version or LATEST,
                      self.arns.function(record.name, qualifier), self.specs.of(record), _active_tracing(record))

    def environment_spec(self, record: FunctionRecord) -> EnvironmentSpec:
        """How environments of this version's record start (see invoke/specs.py)."""
        return self.specs.of(record)

    def lookup(self, reference: str,
               qualifier: str | None = None) -> tuple[FunctionRecord, str | None, AliasConfiguration | None]:
        """(record, qualifier, alias) that FunctionName (+ Qualifier) names; ResourceNotFoundException if none.

        For an alias the record is its main version's. The qualifier is None when none was given.
        """
        name, qualifier = self.arns.resolve(reference, qualifier)
        record, alias = self.registry.qualified(name, qualifier)
        return record, qualifier, alias

    def reserved_concurrency(self, name: str) -> int | None:
        """The function's reserved concurrency (GetFunction's `Concurrency`), or None."""
        return self.invoker.concurrency.reserved(name)


def _active_tracing(record: FunctionRecord) -> bool:
    return record.config.TracingConfig is not None and record.config.TracingConfig.Mode == "Active"
