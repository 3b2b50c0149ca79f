"""Asynchronous invocation configs (Put/Get/Update/Delete/ListFunctionEventInvokeConfigs), as Lambda keeps them.

A function's $LATEST, each version and each alias may have one: a store document of kind
"event-invoke-config" keyed `"<function>:<qualifier>"`. All of them are also kept in memory, so the
async workers read a config with one dict lookup. Deleting a version or alias forgets its config;
deleting the function deletes them all (an owned kind), and a config records the function's
`created_ms`, so none outlives a function deleted and re-created under the same name.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import msgspec

from stratus.control.functions import FunctionService
from stratus.control.paging import paginate
from stratus.control.registry import LATEST, is_version_number
from stratus.errors import InvalidParameterValueException, ResourceNotFoundException
from stratus.shapes import (
    DestinationConfig,
    EventInvokeConfigDocument,
    FunctionEventInvokeConfig,
    ListFunctionEventInvokeConfigsResponse,
    OnFailure,
    OnSuccess,
    PutFunctionEventInvokeConfigRequest,
)

KIND = "event-invoke-config"
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 21600
DESTINATION_SERVICES = ("lambda", "sqs", "sns", "events")
_NOTHING_TO_SET = "You must specify at least one of error handling or destination setting."
_NO_FUNCTION = "The function doesn't exist."
_decode = msgspec.json.Decoder(EventInvokeConfigDocument).decode


class AsyncSettings(NamedTuple):
    """What governs one async invocation's retries and where its record goes."""

    maximum_retry_attempts: int
    maximum_event_age_s: int
    on_success: str | None
    on_failure: str | None


DEFAULT_ASYNC_SETTINGS = AsyncSettings(DEFAULT_MAXIMUM_RETRY_ATTEMPTS, DEFAULT_MAXIMUM_EVENT_AGE_S, None, None)


class EventInvokeConfigService:
    """The event invoke config operations; every public coroutine is one API operation."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.arns = functions.arns
        self._configs: dict[str, EventInvokeConfigDocument] = {}  # "<function>:<qualifier>" → config
        functions.owned_kinds.append(KIND)
        functions.on_qualifier_deleted.append(self.forget)

    async def load(self) -> None:
        """Read every config into memory (at start-up)."""
        for key, body in await self.functions.store.list_documents(KIND):
            self._configs[key] = _decode(body)

    def settings_for(self, name: str, qualifier: str | None, created_ms: int) -> AsyncSettings:
        """The async settings of an invoke of `name` with `qualifier` (None: $LATEST), defaults if unset."""
        key = f"{name}:{qualifier or LATEST}"
        document = self._configs.get(key)
        if document is None:
            return DEFAULT_ASYNC_SETTINGS
        if document.created_ms != created_ms:  # left over from a deleted function of the same name
            self._configs.pop(key, None)
            return DEFAULT_ASYNC_SETTINGS
        return AsyncSettings(
            DEFAULT_MAXIMUM_RETRY_ATTEMPTS if document.MaximumRetryAttempts is None else document.MaximumRetryAttempts,
            document.MaximumEventAgeInSeconds or DEFAULT_MAXIMUM_EVENT_AGE_S,
            document.OnSuccess, document.OnFailure)

    # ------------------------------------------------------------------ operations
    async def put(self, reference: str, qualifier: str | None,
                  request: PutFunctionEventInvokeConfigRequest) -> FunctionEventInvokeConfig:
        if _empty(request):
            raise InvalidParameterValueException(_NOTHING_TO_SET)
        async with self.functions.lock:
            name, qualifier, created_ms = self._target(reference, qualifier)
            on_success, on_failure = self._destinations(name, request.DestinationConfig)
            document = EventInvokeConfigDocument(
                LastModified=_now(), created_ms=created_ms, MaximumRetryAttempts=request.MaximumRetryAttempts,
                MaximumEventAgeInSeconds=request.MaximumEventAgeInSeconds, OnSuccess=on_success, OnFailure=on_failure)
            return await self._save(name, qualifier, document)

    async def update(self, reference: str, qualifier: str | None,
                     request: PutFunctionEventInvokeConfigRequest) -> FunctionEventInvokeConfig:
        name, qualifier = self.arns.resolve(reference, qualifier)
        if _empty(request):
            raise InvalidParameterValueException(_NOTHING_TO_SET)
        async with self.functions.lock:
            name, qualifier, created_ms = self._target(reference, qualifier)
            current = self._current(name, qualifier, created_ms)
            changes: dict = {"LastModified": _now()}
            if request.MaximumRetryAttempts is not None:
                changes["MaximumRetryAttempts"] = request.MaximumRetryAttempts
            if request.MaximumEventAgeInSeconds is not None:
                changes["MaximumEventAgeInSeconds"] = request.MaximumEventAgeInSeconds
            if request.DestinationConfig is not None:
                changes["OnSuccess"], changes["OnFailure"] = self._destinations(name, request.DestinationConfig)
            return await self._save(name, qualifier, msgspec.structs.replace(current, **changes))

    async def get(self, reference: str, qualifier: str | None) -> FunctionEventInvokeConfig:
        name, qualifier, created_ms = self._existing_config_target(reference, qualifier)
        return self._describe(name, qualifier, self._current(name, qualifier, created_ms))

    async def delete(self, reference: str, qualifier: str | None) -> None:
        async with self.functions.lock:
            name, qualifier, created_ms = self._existing_config_target(reference, qualifier)
            self._current(name, qualifier, created_ms)
            key = f"{name}:{qualifier}"
            await self.functions.store.apply(deletes=[(KIND, key)])
            self._configs.pop(key, None)

    async def list(self, reference: str, marker: str | None,
                   max_items: int | None) -> ListFunctionEventInvokeConfigsResponse:
        name, _ = self.arns.resolve(reference)
        try:
            record, _, _ = self.functions.lookup(name)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(_NO_FUNCTION) from None
        prefix = f"{name}:"
        items = [self._describe(name, key[len(prefix):], document) for key, document in self._configs.items()
                 if key.startswith(prefix) and document.created_ms == record.created_ms]
        items.sort(key=lambda item: item.FunctionArn or "")
        page, next_marker = paginate(items, marker, max_items, lambda item: item.FunctionArn)
        return ListFunctionEventInvokeConfigsResponse(FunctionEventInvokeConfigs=page, NextMarker=next_marker)

    async def forget(self, name: str, qualifier: str) -> None:
        """A deleted version or alias takes its config along (functions.lock held)."""
        key = f"{name}:{qualifier}"
        if key in self._configs:
            await self.functions.store.apply(deletes=[(KIND, key)])
            del self._configs[key]

    # ------------------------------------------------------------------ internals
    def _target(self, reference: str, qualifier: str | None) -> tuple[str, str, int]:
        """(name, canonical qualifier, created_ms) of an existing function, version or alias (Put/Update)."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        try:
            record, _, _ = self.functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(_NO_FUNCTION) from None
        return name, _canonical(qualifier), record.created_ms

    def _existing_config_target(self, reference: str, qualifier: str | None) -> tuple[str, str, int]:
        """(name, qualifier, created_ms) for Get/Delete: AWS answers a missing function or qualifier as a
        missing config."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        qualifier = _canonical(qualifier)
        try:
            record, _, _ = self.functions.lookup(name)
        except ResourceNotFoundException:
            raise self._no_config(name, qualifier) from None
        return name, qualifier, record.created_ms

    def _current(self, name: str, qualifier: str, created_ms: int) -> EventInvokeConfigDocument:
        document = self._configs.get(f"{name}:{qualifier}")
        if document is None or document.created_ms != created_ms:
            raise self._no_config(name, qualifier)
        return document

    def _no_config(self, name: str, qualifier: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"The function {self.arns.function(name, qualifier)} doesn't have an EventInvokeConfig")

    async def _save(self, name: str, qualifier: str, document: EventInvokeConfigDocument) -> FunctionEventInvokeConfig:
        key = f"{name}:{qualifier}"
        await self.functions.store.apply(puts=[(KIND, key, msgspec.json.encode(document))])
        self._configs[key] = document
        return self._describe(name, qualifier, document)

    def _describe(self, name: str, qualifier: str, document: EventInvokeConfigDocument) -> FunctionEventInvokeConfig:
        return FunctionEventInvokeConfig(
            LastModified=document.LastModified, FunctionArn=self.arns.function(name, qualifier),
            MaximumRetryAttempts=document.MaximumRetryAttempts,
            MaximumEventAgeInSeconds=document.MaximumEventAgeInSeconds,
            DestinationConfig=DestinationConfig(OnSuccess=OnSuccess(Destination=document.OnSuccess),
                                                OnFailure=OnFailure(Destination=document.OnFailure)))

    def _destinations(self, name: str, config: DestinationConfig | None) -> tuple[str | None, str | None]:
        """(OnSuccess, OnFailure) destination ARNs, checked as Lambda checks them."""
        on_success = (config.OnSuccess.Destination if config and config.OnSuccess else None) or None
        on_failure = (config.OnFailure.Destination if config and config.OnFailure else None) or None
        valid = all(self._valid_destination(name, arn) for arn in (on_failure, on_success) if arn)
        if not valid:
            success = f"OnSuccess(destination={on_success})" if on_success else "null"
            failure = f"OnFailure(destination={on_failure})" if on_failure else "null"
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig(onSuccess={success}, onFailure={failure}) "
                "is invalid.")
        return on_success, on_failure

    def _valid_destination(self, name: str, arn: str) -> bool:
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] not in DESTINATION_SERVICES:
            return False
        if parts[2] == "lambda":
            try:
                target, _ = self.arns.resolve(arn)
                self.functions.lookup(target)
            except (ResourceNotFoundException, InvalidParameterValueException):
                raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.") from None
            if target == name:
                raise InvalidParameterValueException("You can't specify the function as a destination for itself.")
        return True


def _empty(request: PutFunctionEventInvokeConfigRequest) -> bool:
    return request.MaximumRetryAttempts is None and request.MaximumEventAgeInSeconds is None \
        and request.DestinationConfig is None


def _canonical(qualifier: str | None) -> str:
    """$LATEST for none; a version number as Lambda writes it; an alias as given."""
    if qualifier is None:
        return LATEST
    return str(int(qualifier)) if is_version_number(qualifier) else qualifier


def _now() -> float:
    return round(time.time(), 3)
