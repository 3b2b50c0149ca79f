"""Reserved and provisioned concurrency: Lambda's rules on the store; the Invoker enforces them.

Reserved concurrency is a document of kind "concurrency" (key "<function>:"); each provisioned
concurrency config a document of kind "provisioned" (key "<function>:<qualifier>"). In memory the
numbers live in the Invoker (`invoker.concurrency` for leases, `invoker.provisioners` for the
environments kept ready), which is what the invoke path reads; this service decides and stores.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar

import msgspec

from stratus.control.functions import LATEST, FunctionService, is_version_number
from stratus.control.paging import paginate
from stratus.errors import (
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from stratus.invoke.provisioner import Provisioner
from stratus.invoke.service import Invoker
from stratus.invoke.types import EnvironmentSpec
from stratus.shapes import (
    Concurrency,
    GetFunctionConcurrencyResponse,
    ListProvisionedConcurrencyConfigsResponse,
    ProvisionedConcurrencyConfig,
    ProvisionedConcurrencyConfigListItem,
    ProvisionedConcurrencyDocument,
    ReservedConcurrencyDocument,
)
from stratus.timestamps import lambda_time

log = logging.getLogger("stratus.concurrency")
_Described = TypeVar("_Described", ProvisionedConcurrencyConfig, ProvisionedConcurrencyConfigListItem)

RESERVED_KIND = "concurrency"
PROVISIONED_KIND = "provisioned"
NOT_A_FUNCTION = ("This operation is permitted on Lambda functions only. Aliases and versions do not support this "
                  "operation. Please specify either a function name or an unqualified function ARN.")
NOT_PUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
NOT_A_VERSION_OR_ALIAS = "The function resource provided must be an alias or a published version."


class ConcurrencyService:
    """PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency and the provisioned
    concurrency config operations; every public coroutine is one API operation."""

    def __init__(self, functions: FunctionService, invoker: Invoker):
        self.functions = functions
        self.invoker = invoker
        self.settings = functions.settings
        self.arns = functions.arns
        self.limiter = invoker.concurrency
        self._last_modified: dict[str, str] = {}  # provisioned config key → LastModified
        functions.owned_kinds.extend([RESERVED_KIND, PROVISIONED_KIND])
        functions.on_qualifier_deleted.append(self.forget_qualifier)

    async def load(self) -> None:
        """Read reservations and provisioned configs; start provisioning (at start-up, after functions)."""
        store = self.functions.store
        for key, body in await store.list_documents(RESERVED_KIND):
            document = msgspec.json.decode(body, type=ReservedConcurrencyDocument)
            self.limiter.set_reserved(key.split(":", 1)[0], document.ReservedConcurrentExecutions)
        for key, body in await store.list_documents(PROVISIONED_KIND):
            config = msgspec.json.decode(body, type=ProvisionedConcurrencyDocument)
            name, qualifier = key.split(":", 1)
            self._last_modified[key] = config.LastModified
            self._provision(name, qualifier, config.RequestedProvisionedConcurrentExecutions)

    def reserved(self, name: str) -> int | None:
        """The function's reserved concurrency (GetFunction's `Concurrency`), or None."""
        return self.limiter.reserved(name)

    # ------------------------------------------------------------------ reserved concurrency
    async def put_reserved(self, reference: str, reserved: int) -> Concurrency:
        functions = self.functions
        async with functions.lock:
            name = self._unqualified(reference)
            minimum = self.settings.unreserved_concurrency_min
            if self.limiter.unreserved() + self.limiter.set_aside_by(name) - reserved < minimum:
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{minimum}].").untyped()
            provisioned = self.limiter.provisioned(name)
            if provisioned > reserved:
                raise InvalidParameterValueException(
                    f" ReservedConcurrentExecutions  {reserved} should not be lower than function's total "
                    f"provisioned concurrency [{provisioned}].").untyped()
            body = msgspec.json.encode(ReservedConcurrencyDocument(ReservedConcurrentExecutions=reserved))
            await functions.store.apply(puts=[(RESERVED_KIND, f"{name}:", body)])
            self.limiter.set_reserved(name, reserved)
            return Concurrency(ReservedConcurrentExecutions=reserved)

    async def get_reserved(self, reference: str) -> GetFunctionConcurrencyResponse:
        name = self._existing(reference)
        return GetFunctionConcurrencyResponse(ReservedConcurrentExecutions=self.limiter.reserved(name))

    async def delete_reserved(self, reference: str) -> None:
        functions = self.functions
        async with functions.lock:
            name = self._unqualified(reference)
            await functions.store.apply(deletes=[(RESERVED_KIND, f"{name}:")])
            self.limiter.set_reserved(name, None)

    # ------------------------------------------------------------------ provisioned concurrency
    async def put_provisioned(self, reference: str, qualifier: str | None,
                              requested: int) -> ProvisionedConcurrencyConfig:
        functions = self.functions
        async with functions.lock:
            name, qualifier = self.arns.resolve(reference, qualifier)
            if qualifier in (None, LATEST):
                raise InvalidParameterValueException(NOT_PUBLISHED)
            record, alias = self._target(name, qualifier)
            qualifier = _canonical(qualifier)
            if record.config.Version == LATEST:  # an alias of $LATEST
                raise InvalidParameterValueException(NOT_PUBLISHED)
            key = f"{name}:{qualifier}"
            if alias is not None and f"{name}:{record.config.Version}" in self.invoker.provisioners:
                raise ResourceConflictException(
                    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
            if alias is None and any(
                    other.FunctionVersion == qualifier and f"{name}:{other.Name}" in self.invoker.provisioners
                    for other in functions.registry.aliases_of(name)):
                raise ResourceConflictException("Version is pointed by a Provisioned Concurrency alias")
            current = self.invoker.provisioners.get(key)
            replaced = current.requested if current else 0
            others = self.limiter.provisioned(name) - replaced
            reserved = self.limiter.reserved(name)
            if reserved is not None and reserved < others + requested:
                raise InvalidParameterValueException(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                    "for function")
            limit = self.limiter.account_limit
            if requested > limit:
                raise InvalidParameterValueException(
                    f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
                    f"[{limit}].").untyped()
            minimum = self.settings.unreserved_concurrency_min
            if reserved is None and self.limiter.unreserved() + replaced - requested < minimum:
                raise InvalidParameterValueException(
                    "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                    f"below its minimum value of [{minimum}].").untyped()
            last_modified = lambda_time()
            body = msgspec.json.encode(ProvisionedConcurrencyDocument(
                RequestedProvisionedConcurrentExecutions=requested, LastModified=last_modified))
            await functions.store.apply(puts=[(PROVISIONED_KIND, key, body)])
            self._last_modified[key] = last_modified
            return self._describe(key, self._provision(name, qualifier, requested), ProvisionedConcurrencyConfig)

    async def get_provisioned(self, reference: str, qualifier: str | None) -> ProvisionedConcurrencyConfig:
        name, qualifier = self._provisioned_target(reference, qualifier)
        key = f"{name}:{qualifier}"
        provisioner = self.invoker.provisioners.get(key)
        if provisioner is None:
            raise ProvisionedConcurrencyConfigNotFoundException(
                "No Provisioned Concurrency Config found for this function")
        return self._describe(key, provisioner, ProvisionedConcurrencyConfig)

    async def list_provisioned(self, reference: str, marker: str | None,
                               max_items: int | None) -> ListProvisionedConcurrencyConfigsResponse:
        name = self._existing(reference)
        items = []
        for key in sorted(self.invoker.provisioners):
            function_name, qualifier = key.split(":", 1)
            if function_name != name or self._gone(name, qualifier):
                continue
            item = self._describe(key, self.invoker.provisioners[key], ProvisionedConcurrencyConfigListItem)
            item.FunctionArn = self.arns.function(name, qualifier)
            items.append(item)
        page, next_marker = paginate(items, marker, max_items, lambda item: item.FunctionArn)
        return ListProvisionedConcurrencyConfigsResponse(ProvisionedConcurrencyConfigs=page, NextMarker=next_marker)

    async def delete_provisioned(self, reference: str, qualifier: str | None) -> None:
        functions = self.functions
        async with functions.lock:
            name, qualifier = self._provisioned_target(reference, qualifier)
            key = f"{name}:{qualifier}"
            if key not in self.invoker.provisioners:
                return  # as AWS: deleting a config that does not exist succeeds
            await functions.store.apply(deletes=[(PROVISIONED_KIND, key)])
            self.invoker.unprovision(key)
            self._last_modified.pop(key, None)

    async def forget_qualifier(self, name: str, qualifier: str) -> None:
        """A deleted version or alias takes its provisioned concurrency config along (functions.lock held)."""
        key = f"{name}:{qualifier}"
        if key in self.invoker.provisioners:
            await self.functions.store.apply(deletes=[(PROVISIONED_KIND, key)])
            self.invoker.unprovision(key)
            self._last_modified.pop(key, None)

    # ------------------------------------------------------------------ internals
    def _provision(self, name: str, qualifier: str, requested: int) -> Provisioner:
        return self.invoker.provision(f"{name}:{qualifier}", name, requested,
                                      lambda: self._spec(name, qualifier), self._forget_provisioned)

    def _spec(self, name: str, qualifier: str) -> EnvironmentSpec | None:
        """The spec of the version a config's qualifier names now (an alias's main version), None if gone."""
        try:
            record, _, _ = self.functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            return None
        if record.config.Version == LATEST:
            return None
        return self.functions.environment_spec(record)

    def _gone(self, name: str, qualifier: str) -> bool:
        return self._spec(name, qualifier) is None

    def _forget_provisioned(self, key: str) -> None:
        """The version or alias of a config was deleted: so is the config (as AWS deletes it)."""
        self._last_modified.pop(key, None)
        asyncio.get_running_loop().create_task(self._delete_document(key))

    async def _delete_document(self, key: str) -> None:
        async with self.functions.lock:
            if key not in self.invoker.provisioners:  # not re-created meanwhile
                await self.functions.store.apply(deletes=[(PROVISIONED_KIND, key)])

    def _describe(self, key: str, provisioner: Provisioner, shape: type[_Described]) -> _Described:
        allocated = provisioner.allocated
        return shape(
            RequestedProvisionedConcurrentExecutions=provisioner.requested,
            AvailableProvisionedConcurrentExecutions=allocated,
            AllocatedProvisionedConcurrentExecutions=allocated,
            Status=provisioner.status,
            StatusReason=provisioner.status_reason,
            LastModified=self._last_modified.get(key),
        )

    def _unqualified(self, reference: str) -> str:
        """The name of an existing function referred to without a qualifier (reserved concurrency)."""
        name, qualifier = self.arns.resolve(reference)
        if qualifier is not None:
            raise InvalidParameterValueException(NOT_A_FUNCTION)
        try:
            self.functions.lookup(name)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, LATEST)}") from None
        return name

    def _existing(self, reference: str) -> str:
        """The name of an existing function (a qualifier in the reference is ignored)."""
        name, _ = self.arns.resolve(reference)
        self.functions.lookup(name)  # ResourceNotFoundException "Function not found: <unqualified ARN>"
        return name

    def _provisioned_target(self, reference: str, qualifier: str | None) -> tuple[str, str]:
        """(name, qualifier) of a Get/Delete; the qualifier must name a published version or an alias."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        if qualifier in (None, LATEST):
            raise InvalidParameterValueException(NOT_A_VERSION_OR_ALIAS)
        self._target(name, qualifier)
        return name, _canonical(qualifier)

    def _target(self, name: str, qualifier: str):  # -> (FunctionRecord, AliasConfiguration | None)
        """(record, alias) the qualifier names, with AWS's not-found wording for versions and aliases."""
        try:
            record, _, alias = self.functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            if is_version_number(qualifier):
                raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}") from None
            raise ResourceNotFoundException(f"Cannot find alias arn: {self.arns.function(name, qualifier)}") from None
        return record, alias


def _canonical(qualifier: str) -> str:
    """A version number as Lambda writes it ("01" is version "1"); an alias name as given."""
    return str(int(qualifier)) if is_version_number(qualifier) else qualifier
