"""Aliases: named pointers to a version, optionally splitting traffic with a second version."""

from __future__ import annotations

import uuid

import msgspec

from stratus.control.functions import FunctionService
from stratus.control.paging import paginate
from stratus.control.registry import LATEST, is_version_number
from stratus.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from stratus.shapes import (
    AliasConfiguration,
    AliasRoutingConfiguration,
    CreateAliasRequest,
    ListAliasesResponse,
    UpdateAliasRequest,
)


class AliasService:
    """CreateAlias, GetAlias, ListAliases, UpdateAlias, DeleteAlias; the aliases live in FunctionService."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.arns = functions.arns

    async def create(self, reference: str, request: CreateAliasRequest) -> AliasConfiguration:
        functions = self.functions
        async with functions.lock:
            name = self._function_name(reference, request.FunctionVersion)
            self._check_version(name, request.FunctionVersion)
            existing = functions.registry.alias(name, request.Name)
            if existing is not None:
                raise ResourceConflictException(f"Alias already exists: {existing.AliasArn}")
            alias = AliasConfiguration(
                AliasArn=self.arns.function(name, request.Name), Name=request.Name,
                FunctionVersion=request.FunctionVersion, Description=request.Description or "",
                RoutingConfig=self._routing(name, request.FunctionVersion, request.RoutingConfig),
                RevisionId=str(uuid.uuid4()),
            )
            await self._put(name, alias)
            return alias

    async def get(self, reference: str, alias_name: str) -> AliasConfiguration:
        name = self._function_name(reference)
        alias = self.functions.registry.alias(name, alias_name)
        if alias is None:
            raise ResourceNotFoundException(f"Cannot find alias arn: {self.arns.function(name, alias_name)}")
        return alias

    async def list(self, reference: str, function_version: str | None, marker: str | None,
                   max_items: int | None) -> ListAliasesResponse:
        name = self._function_name(reference)
        aliases = sorted(self.functions.registry.aliases_of(name), key=lambda alias: alias.Name or "")
        if function_version is not None:
            aliases = [alias for alias in aliases if alias.FunctionVersion == function_version]
        page, next_marker = paginate(aliases, marker, max_items, lambda alias: alias.Name)
        return ListAliasesResponse(Aliases=page, NextMarker=next_marker)

    async def update(self, reference: str, alias_name: str, request: UpdateAliasRequest) -> AliasConfiguration:
        functions = self.functions
        async with functions.lock:
            name = self._function_name(reference)
            alias = functions.registry.alias(name, alias_name)
            if alias is None:
                raise ResourceNotFoundException(f"Alias not found: {self.arns.function(name, alias_name)}")
            if request.RevisionId and request.RevisionId != alias.RevisionId:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
            version = alias.FunctionVersion
            if request.FunctionVersion is not None:
                self._check_version(name, request.FunctionVersion)
                version = request.FunctionVersion
            routing = alias.RoutingConfig
            if request.RoutingConfig is not None:
                routing = self._routing(name, version, request.RoutingConfig)
            elif routing is not None:  # the kept weights must still make sense with a new main version
                routing = self._routing(name, version, routing)
            changed = msgspec.structs.replace(
                alias, FunctionVersion=version, RoutingConfig=routing, RevisionId=str(uuid.uuid4()),
                Description=alias.Description if request.Description is None else request.Description,
            )
            await self._put(name, changed)
            return changed

    async def delete(self, reference: str, alias_name: str) -> None:
        """DeleteAlias: 204 whether or not the alias existed, as AWS answers."""
        functions = self.functions
        async with functions.lock:
            name = self._function_name(reference)
            if functions.registry.alias(name, alias_name) is None:
                return
            await functions.store.apply(deletes=[("alias", f"{name}:{alias_name}")])
            functions.registry.remove_alias(name, alias_name)
            for forget in functions.on_qualifier_deleted:
                await forget(name, alias_name)

    # ------------------------------------------------------------------ rules
    def _function_name(self, reference: str, version: str | None = None) -> str:
        """The function's name; ResourceNotFoundException naming `version` too (as CreateAlias's does) if none."""
        name, qualifier = self.arns.resolve(reference)
        if self.functions.registry.latest(name) is None or qualifier is not None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier or version)}")
        return name

    def _check_version(self, name: str, version: str) -> None:
        if version == LATEST:
            return
        if not is_version_number(version) or self.functions.registry.version(name, version) is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, version)}")

    def _routing(self, name: str, main_version: str | None,
                 routing: AliasRoutingConfiguration | None) -> AliasRoutingConfiguration | None:
        weights = routing.AdditionalVersionWeights if routing else None
        if not weights:
            return None
        if len(weights) > 1:
            raise InvalidParameterValueException("Number of items in AdditionalVersionWeights cannot be greater than 1")
        (version, weight), = weights.items()
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0.0 <= weight < 1.0:
            raise ValidationException(
                f"1 validation error detected: Value '{{{version}={weight}}}' at "
                "'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy "
                "constraint: [Member must have value less than or "
                "equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]")
        if version == main_version:
            raise InvalidParameterValueException(
                f"Invalid function version {main_version}. Function version {main_version} is already included in "
                "routing configuration.")
        if main_version == LATEST:
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version").untyped()
        self._check_version(name, version)
        return AliasRoutingConfiguration(AdditionalVersionWeights={version: float(weight)})

    async def _put(self, name: str, alias: AliasConfiguration) -> None:
        await self.functions.store.apply(puts=[("alias", f"{name}:{alias.Name}", msgspec.json.encode(alias))])
        self.functions.registry.put_alias(name, alias)
