"""The in-memory registry of functions: each function's $LATEST record, its published versions, its aliases.

Loaded from the store at start and kept in step by the services that write those records (functions,
aliases): they write the store first, then the registry, holding `FunctionService.lock`. The invoke
path resolves a name here with dict lookups only, never touching the store.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from stratus.control.names import Arns
from stratus.errors import ResourceNotFoundException
from stratus.shapes import AliasConfiguration, FunctionRecord

LATEST = "$LATEST"


def version_key(name: str, version: int | str) -> str:
    """A version's document key: zero-padded, so versions sort numerically."""
    return f"{name}:{int(version):010d}"


def is_version_number(qualifier: str) -> bool:
    return qualifier.isdigit()


def version_of(record: FunctionRecord) -> str:
    """The version a record is ("$LATEST", "3")."""
    return record.config.Version or LATEST


class FunctionRegistry:
    """Records by function name: $LATEST, versions (by number, as a string) and aliases (by name)."""

    def __init__(self, arns: Arns):
        self.arns = arns
        self._latest: dict[str, FunctionRecord] = {}
        self._versions: dict[str, dict[str, FunctionRecord]] = {}  # name → version number → record
        self._aliases: dict[str, dict[str, AliasConfiguration]] = {}  # name → alias name → alias

    # ------------------------------------------------------------------ reads
    def latest(self, name: str) -> FunctionRecord | None:
        """The function's $LATEST record, or None when there is no such function."""
        return self._latest.get(name)

    def names(self) -> list[str]:
        """Every function's name, sorted."""
        return sorted(self._latest)

    def count(self) -> int:
        return len(self._latest)

    def version(self, name: str, version: str) -> FunctionRecord | None:
        """A published version's record ("3"), or None."""
        return self._versions.get(name, {}).get(version)

    def versions_in_order(self, name: str) -> list[FunctionRecord]:
        """A function's published versions, by number."""
        return [record for _, record in sorted(self._versions.get(name, {}).items(), key=lambda item: int(item[0]))]

    def records(self) -> Iterator[FunctionRecord]:
        """Every $LATEST and version record."""
        yield from self._latest.values()
        for versions in self._versions.values():
            yield from versions.values()

    def alias(self, name: str, alias_name: str) -> AliasConfiguration | None:
        return self._aliases.get(name, {}).get(alias_name)

    def aliases_of(self, name: str) -> list[AliasConfiguration]:
        """A function's aliases (in no particular order)."""
        return list(self._aliases.get(name, {}).values())

    def route(self, reference: str, qualifier: str | None = None) -> tuple[FunctionRecord, str, str | None]:
        """What an invoke of FunctionName (+ Qualifier) runs: (version's record, version, qualifier invoked).

        An alias picks between its versions by their weights. ResourceNotFoundException if none (an invoke
        without a qualifier names $LATEST, and AWS's message says so).
        """
        name, qualifier = self.arns.resolve(reference, qualifier)
        record = self._latest.get(name)
        if record is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier or LATEST)}")
        if qualifier in (None, LATEST):
            return record, LATEST, qualifier
        record, alias = self.qualified(name, qualifier)
        if alias is not None:
            version = alias.FunctionVersion
            weights = alias.RoutingConfig.AdditionalVersionWeights if alias.RoutingConfig else None
            if weights:
                (extra, weight), = weights.items()
                if random.random() < weight:
                    version = extra
            record = self._latest[name] if version == LATEST else self._versions[name][str(version)]
        return record, version_of(record), qualifier

    def qualified(self, name: str, qualifier: str | None) -> tuple[FunctionRecord, AliasConfiguration | None]:
        """(record, alias) `name` and `qualifier` name (for an alias, its main version's record);
        ResourceNotFoundException if none."""
        latest = self._latest.get(name)
        if latest is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        if qualifier is None or qualifier == LATEST:
            return latest, None
        if is_version_number(qualifier):
            version = self._versions.get(name, {}).get(str(int(qualifier)))
            if version is None:
                raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
            return version, None
        alias = self._aliases.get(name, {}).get(qualifier)
        if alias is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        main = alias.FunctionVersion
        target = latest if main == LATEST else self._versions[name][str(main)]
        return target, alias

    # ------------------------------------------------------------------ writes (store first, lock held)
    def put_latest(self, record: FunctionRecord) -> None:
        self._latest[record.name] = record

    def put_version(self, record: FunctionRecord) -> None:
        self._versions.setdefault(record.name, {})[version_of(record)] = record

    def put_alias(self, name: str, alias: AliasConfiguration) -> None:
        self._aliases.setdefault(name, {})[str(alias.Name)] = alias

    def remove_version(self, name: str, version: str) -> None:
        del self._versions[name][version]

    def remove_alias(self, name: str, alias_name: str) -> None:
        del self._aliases[name][alias_name]

    def remove_function(self, name: str) -> None:
        """Forget the function with its versions and aliases."""
        del self._latest[name]
        self._versions.pop(name, None)
        self._aliases.pop(name, None)
