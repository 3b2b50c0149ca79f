"""Code signing configs and functions' associations with them, stored and answered as Lambda does.

A config is a store document of kind "code-signing-config" keyed by its id (`csc-` and 17 hex digits, as AWS's);
a function's association is a document of kind "function-code-signing" keyed `"<function>:"` (an owned kind:
deleted with the function). Signatures are not checked: that needs AWS Signer's signing profiles and jobs,
which Stratus does not have, so `UntrustedArtifactOnDeployment` is kept and answered, and has no effect.
"""

from __future__ import annotations

import secrets

import msgspec

from stratus.control.functions import FunctionService
from stratus.control.paging import paginate
from stratus.errors import (
    CodeSigningConfigNotFoundException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from stratus.shapes import (
    CodeSigningConfig,
    CodeSigningConfigResponse,
    CodeSigningPolicies,
    CreateCodeSigningConfigRequest,
    FunctionCodeSigningConfig,
    ListCodeSigningConfigsResponse,
    ListFunctionsByCodeSigningConfigResponse,
    UpdateCodeSigningConfigRequest,
)
from stratus.timestamps import lambda_time

KIND = "code-signing-config"
FUNCTION_KIND = "function-code-signing"  # the config a function uses: its ARN as the body
DEFAULT_POLICY = "Warn"

_decode = msgspec.json.Decoder(CodeSigningConfig).decode
_encode = msgspec.json.encode


class CodeSigningService:
    """The nine code signing operations; every public coroutine is one API operation."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.store = functions.store
        self.arns = functions.arns
        functions.owned_kinds.append(FUNCTION_KIND)

    def config_arn(self, config_id: str) -> str:
        return f"arn:aws:lambda:{self.arns.region}:{self.arns.account_id}:code-signing-config:{config_id}"

    # ------------------------------------------------------------------ configs
    async def create(self, request: CreateCodeSigningConfigRequest) -> CodeSigningConfigResponse:
        config_id = "csc-" + secrets.token_hex(9)[:17]
        config = CodeSigningConfig(
            CodeSigningConfigId=config_id, CodeSigningConfigArn=self.config_arn(config_id),
            Description=request.Description or "", AllowedPublishers=request.AllowedPublishers,
            CodeSigningPolicies=_policies(request.CodeSigningPolicies), LastModified=lambda_time())
        await self.store.apply(puts=[(KIND, config_id, _encode(config))])
        return CodeSigningConfigResponse(CodeSigningConfig=config)

    async def get(self, arn: str) -> CodeSigningConfigResponse:
        return CodeSigningConfigResponse(CodeSigningConfig=await self._config(arn))

    async def update(self, arn: str, request: UpdateCodeSigningConfigRequest) -> CodeSigningConfigResponse:
        async with self.functions.lock:
            config = await self._config(arn)
            changes: dict[str, object] = {}
            if request.Description is not None:
                changes["Description"] = request.Description
            if request.AllowedPublishers is not None:
                changes["AllowedPublishers"] = request.AllowedPublishers
            if request.CodeSigningPolicies is not None:
                changes["CodeSigningPolicies"] = _policies(request.CodeSigningPolicies)
            config = msgspec.structs.replace(config, LastModified=lambda_time(), **changes)
            await self.store.apply(puts=[(KIND, config.CodeSigningConfigId, _encode(config))])
        return CodeSigningConfigResponse(CodeSigningConfig=config)

    async def delete(self, arn: str) -> None:
        """Delete a config no function uses (ResourceConflictException otherwise, as the API reference says)."""
        async with self.functions.lock:
            config = await self._config(arn)
            if await self._users(arn):
                raise ResourceConflictException(
                    f"The code signing configuration {arn} is used by one or more functions. Remove it from "
                    "them (DeleteFunctionCodeSigningConfig) before deleting it.")
            await self.store.apply(deletes=[(KIND, config.CodeSigningConfigId)])

    async def list_configs(self, marker: str | None, max_items: int | None) -> ListCodeSigningConfigsResponse:
        configs = [_decode(body) for _, body in await self.store.list_documents(KIND)]
        page, next_marker = paginate(configs, marker, max_items, lambda config: config.CodeSigningConfigId)
        return ListCodeSigningConfigsResponse(CodeSigningConfigs=page, NextMarker=next_marker)

    async def list_functions(self, arn: str, marker: str | None,
                             max_items: int | None) -> ListFunctionsByCodeSigningConfigResponse:
        await self._config(arn)
        names = await self._users(arn)
        page, next_marker = paginate([self.arns.function(name) for name in names], marker, max_items,
                                     lambda function_arn: function_arn)
        return ListFunctionsByCodeSigningConfigResponse(FunctionArns=page, NextMarker=next_marker)

    # ------------------------------------------------------------------ a function's config
    async def put_function(self, reference: str, arn: str) -> FunctionCodeSigningConfig:
        async with self.functions.lock:
            if await self._find(arn) is None:  # AWS checks the config before the function
                raise CodeSigningConfigNotFoundException(
                    "The code signing configuration cannot be found. Check that the provided configuration is "
                    f"not deleted: {arn}.")
            name = self._existing(reference)
            await self.store.apply(puts=[(FUNCTION_KIND, f"{name}:", _encode(arn))])
        return FunctionCodeSigningConfig(CodeSigningConfigArn=arn, FunctionName=name)

    async def get_function(self, reference: str) -> FunctionCodeSigningConfig:
        name = self._existing(reference)
        body = await self.store.get_document(FUNCTION_KIND, f"{name}:")
        if body is None:
            return FunctionCodeSigningConfig()
        return FunctionCodeSigningConfig(CodeSigningConfigArn=msgspec.json.decode(body, type=str), FunctionName=name)

    async def delete_function(self, reference: str) -> None:
        async with self.functions.lock:
            name = self._existing(reference)
            await self.store.apply(deletes=[(FUNCTION_KIND, f"{name}:")])

    # ------------------------------------------------------------------ internals
    async def _find(self, arn: str) -> CodeSigningConfig | None:
        body = await self.store.get_document(KIND, arn.rsplit(":", 1)[-1])
        config = None if body is None else _decode(body)
        return config if config is not None and config.CodeSigningConfigArn == arn else None

    async def _config(self, arn: str) -> CodeSigningConfig:
        config = await self._find(arn)
        if config is None:
            # AWS's body for this one has no Type.
            raise ResourceNotFoundException(
                f"The Lambda code signing configuration {arn} can not be found.").untyped()
        return config

    async def _users(self, arn: str) -> list[str]:
        """The names of the functions that use the config `arn`, in name order."""
        return [key.split(":", 1)[0] for key, body in await self.store.list_documents(FUNCTION_KIND)
                if msgspec.json.decode(body, type=str) == arn]

    def _existing(self, reference: str) -> str:
        name, _ = self.arns.resolve(reference)
        if self.functions.registry.latest(name) is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name)}")
        return name


def _policies(requested: CodeSigningPolicies | None) -> CodeSigningPolicies:
    """The policies as stored: UntrustedArtifactOnDeployment defaults to Warn, as on AWS."""
    policy = requested.UntrustedArtifactOnDeployment if requested is not None else None
    return CodeSigningPolicies(UntrustedArtifactOnDeployment=policy or DEFAULT_POLICY)
