"""Capacity providers and function scaling configs (Lambda Managed Instances), stored, checked and answered as
Lambda does, with no effect: on one machine there are no EC2 instances to provision, and environments scale
with the invokes (reserved and provisioned concurrency are what bound them here).

A capacity provider is a store document of kind "capacity-provider" keyed by its name; it is Active as soon as
it is created (AWS: Pending, then Active once its instances run). A function version's scaling config is a
document of kind "function-scaling" keyed `"<function>:<version>"` (an owned kind: deleted with the function),
applied at once (Applied = Requested).
"""

from __future__ import annotations

import re

import msgspec

from stratus.control.functions import FunctionService
from stratus.control.paging import paginate
from stratus.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from stratus.shapes import (
    CapacityProvider,
    CapacityProviderResponse,
    CreateCapacityProviderRequest,
    FunctionScalingConfig,
    GetFunctionScalingConfigResponse,
    InstanceRequirements,
    ListCapacityProvidersResponse,
    ListFunctionVersionsByCapacityProviderResponse,
    PutFunctionScalingConfigResponse,
    UpdateCapacityProviderRequest,
)
from stratus.timestamps import lambda_time

KIND = "capacity-provider"
SCALING_KIND = "function-scaling"
LATEST_PUBLISHED = "$LATEST.PUBLISHED"
_PROVIDER_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[^:]+):(?P<account>\d{12}):capacity-provider:"
                           r"(?P<name>[a-zA-Z0-9-_]+)")

_decode = msgspec.json.Decoder(CapacityProvider).decode
_decode_scaling = msgspec.json.Decoder(FunctionScalingConfig).decode
_encode = msgspec.json.encode


class CapacityService:
    """The capacity provider operations and Put/GetFunctionScalingConfig."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.store = functions.store
        self.arns = functions.arns
        functions.owned_kinds.append(SCALING_KIND)

    def provider_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.arns.region}:{self.arns.account_id}:capacity-provider:{name}"

    # ------------------------------------------------------------------ capacity providers
    async def create(self, request: CreateCapacityProviderRequest) -> CapacityProviderResponse:
        name = self._name(request.CapacityProviderName)
        if name is None:
            raise InvalidParameterValueException(
                f"{request.CapacityProviderName} is not in this server's region and account "
                f"({self.arns.region}, {self.arns.account_id}).")
        requirements = request.InstanceRequirements or InstanceRequirements()
        if not requirements.Architectures:
            requirements = msgspec.structs.replace(requirements, Architectures=["x86_64"])
        if requirements.AllowedInstanceTypes and requirements.ExcludedInstanceTypes:
            raise InvalidParameterValueException(
                "AllowedInstanceTypes and ExcludedInstanceTypes cannot be specified together.")
        async with self.functions.lock:
            if await self.store.get_document(KIND, name) is not None:
                raise ResourceConflictException(f"Capacity provider already exists: {self.provider_arn(name)}")
            provider = CapacityProvider(
                CapacityProviderArn=self.provider_arn(name), State="Active", VpcConfig=request.VpcConfig,
                PermissionsConfig=request.PermissionsConfig, InstanceRequirements=requirements,
                CapacityProviderScalingConfig=request.CapacityProviderScalingConfig, KmsKeyArn=request.KmsKeyArn,
                LastModified=lambda_time())
            await self.store.apply(puts=[(KIND, name, _encode(provider))])
        return CapacityProviderResponse(CapacityProvider=provider)

    async def get(self, reference: str) -> CapacityProviderResponse:
        return CapacityProviderResponse(CapacityProvider=(await self._provider(reference))[1])

    async def update(self, reference: str, request: UpdateCapacityProviderRequest) -> CapacityProviderResponse:
        async with self.functions.lock:
            name, provider = await self._provider(reference)
            if request.CapacityProviderScalingConfig is not None:
                provider = msgspec.structs.replace(
                    provider, CapacityProviderScalingConfig=request.CapacityProviderScalingConfig)
            provider = msgspec.structs.replace(provider, LastModified=lambda_time())
            await self.store.apply(puts=[(KIND, name, _encode(provider))])
        return CapacityProviderResponse(CapacityProvider=provider)

    async def delete(self, reference: str) -> CapacityProviderResponse:
        """Delete a provider: answered in its Deleting state (no function version can use one here)."""
        async with self.functions.lock:
            name, provider = await self._provider(reference)
            await self.store.apply(deletes=[(KIND, name)])
        return CapacityProviderResponse(CapacityProvider=msgspec.structs.replace(provider, State="Deleting"))

    async def list(self, state: str | None, marker: str | None,
                   max_items: int | None) -> ListCapacityProvidersResponse:
        providers = [_decode(body) for _, body in await self.store.list_documents(KIND)]
        providers = [provider for provider in providers if state is None or provider.State == state]
        page, next_marker = paginate(providers, marker, max_items, lambda provider: provider.CapacityProviderArn)
        return ListCapacityProvidersResponse(CapacityProviders=page, NextMarker=next_marker)

    async def list_function_versions(self, reference: str, marker: str | None,
                                     max_items: int | None) -> ListFunctionVersionsByCapacityProviderResponse:
        """No function version runs on a capacity provider here: an existing provider has none."""
        _, provider = await self._provider(reference)
        page, next_marker = paginate([], marker, max_items, lambda item: item.FunctionArn)
        return ListFunctionVersionsByCapacityProviderResponse(
            CapacityProviderArn=provider.CapacityProviderArn, FunctionVersions=page, NextMarker=next_marker)

    # ------------------------------------------------------------------ function scaling configs
    async def put_scaling(self, reference: str, qualifier: str,
                          config: FunctionScalingConfig | None) -> PutFunctionScalingConfigResponse:
        config = config or FunctionScalingConfig()
        low, high = config.MinExecutionEnvironments, config.MaxExecutionEnvironments
        if low is not None and high is not None and low > high:
            raise InvalidParameterValueException(
                "MinExecutionEnvironments must be less than or equal to MaxExecutionEnvironments.")
        async with self.functions.lock:
            name, version = self._version(reference, qualifier)
            await self.store.apply(puts=[(SCALING_KIND, f"{name}:{version}", _encode(config))])
            record = self.functions.registry.version(name, version)
        return PutFunctionScalingConfigResponse(FunctionState=record.config.State if record else None)

    async def get_scaling(self, reference: str, qualifier: str) -> GetFunctionScalingConfigResponse:
        name, version = self._version(reference, qualifier)
        body = await self.store.get_document(SCALING_KIND, f"{name}:{version}")
        config = None if body is None else _decode_scaling(body)
        return GetFunctionScalingConfigResponse(FunctionArn=self.arns.function(name, version),
                                                AppliedFunctionScalingConfig=config,
                                                RequestedFunctionScalingConfig=config)

    # ------------------------------------------------------------------ internals
    def _name(self, reference: str) -> str | None:
        """The provider name a name or ARN stands for; None for an ARN of another region or account."""
        match = _PROVIDER_ARN.fullmatch(reference)
        if match is None:
            return reference
        if (match["region"], match["account"]) != (self.arns.region, self.arns.account_id):
            return None
        return match["name"]

    async def _provider(self, reference: str) -> tuple[str, CapacityProvider]:
        name = self._name(reference)
        body = None if name is None else await self.store.get_document(KIND, name)
        if name is None or body is None:
            arn = reference if name is None else self.provider_arn(name)
            raise ResourceNotFoundException(f"Capacity provider not found: {arn}")
        return name, _decode(body)

    def _version(self, reference: str, qualifier: str) -> tuple[str, str]:
        """(function name, published version) a FunctionName and a version number or $LATEST.PUBLISHED name."""
        name, _ = self.arns.resolve(reference)
        registry = self.functions.registry
        if registry.latest(name) is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name)}")
        if qualifier == LATEST_PUBLISHED:
            versions = registry.versions_in_order(name)
            if not versions:
                raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
            return name, str(versions[-1].config.Version)
        if registry.version(name, qualifier) is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        return name, qualifier
