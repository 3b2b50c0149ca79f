"""Event source mappings: Lambda's rules for Create/Get/List/Update/DeleteEventSourceMapping.

A mapping is a store document (kind "event-source-mapping", key = UUID). It does not belong to a
function: deleting the function leaves the mapping in place (as on AWS), which then waits for a
function of that name to exist again. The pollers that read the source live in events/mappings;
this service decides, stores, and tells the runner to start or stop them.

States as AWS reports them: Creating → Enabled (or Disabled), Enabling / Disabling / Updating →
Enabled / Disabled, Deleting → gone. Transitional states live in memory only; the store keeps the
settled one (or Deleting, so a delete interrupted by a crash finishes at the next start).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuids
from collections.abc import Callable
from typing import Protocol

import msgspec

from stratus.config import Settings
from stratus.control.event_source_mapping_rules import (
    BATCH_SIZES,
    check_config,
    check_members,
    check_source_exists,
    filters,
    new_config,
    source_of,
)
from stratus.control.functions import LATEST
from stratus.control.names import Arns
from stratus.control.paging import paginate
from stratus.control.tags import MAX_TAGS, check_tags
from stratus.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from stratus.events.mappings import MappingRunner
from stratus.events.mappings.sources import MQ, SQS, STREAMS, Source
from stratus.shapes import (
    CreateEventSourceMappingRequest,
    DestinationConfig,
    EventSourceMappingConfiguration,
    EventSourceMappingRecord,
    ListEventSourceMappingsResponse,
    OnFailure,
    UpdateEventSourceMappingRequest,
)
from stratus.store.base import Store

log = logging.getLogger("stratus.mappings")

KIND = "event-source-mapping"
CHECKPOINT_KIND = "esm-checkpoint"
NOT_FOUND = "The resource you requested does not exist."
STARTING_POSITIONS = ("LATEST", "AT_TIMESTAMP", "TRIM_HORIZON")  # the order AWS's error lists them in
_decode = msgspec.json.Decoder(EventSourceMappingRecord).decode


class MappedFunctions(Protocol):
    """What the mapping rules use of the functions (control/functions.py's FunctionService)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def arns(self) -> Arns: ...

    def lookup(self, reference: str, qualifier: str | None = None) -> object:
        """The function, version or alias `reference` names; ResourceNotFoundException when none."""
        ...


class EventSourceMappingService:
    """The event source mapping operations; every public coroutine is one API operation."""

    def __init__(self, functions: MappedFunctions, store: Store, runner: MappingRunner):
        self.functions = functions
        self.settings = functions.settings
        self.arns = functions.arns
        self.store = store
        self.runner = runner
        self.records: dict[str, EventSourceMappingRecord] = {}
        self.states: dict[str, str] = {}  # UUID → transitional state (Creating, Updating...), while it lasts
        self._lock = asyncio.Lock()
        self._transitions: dict[str, asyncio.Task] = {}

    # ------------------------------------------------------------------ start / stop
    async def load(self) -> None:
        """Read every mapping, finish interrupted deletes, start the enabled ones' pollers."""
        for key, body in await self.store.list_documents(KIND):
            record = _decode(body)
            if record.config.State == "Deleting":
                await self._forget(key)
                continue
            self.records[key] = record
            if record.enabled:
                self.runner.start(record)

    async def close(self) -> None:
        for task in list(self._transitions.values()):
            task.cancel()
        await self.runner.close()

    # ------------------------------------------------------------------ operations
    async def create(self, request: CreateEventSourceMappingRequest) -> EventSourceMappingConfiguration:
        if request.DestinationConfig is not None and request.DestinationConfig.OnSuccess is not None:
            raise InvalidParameterValueException(
                "Unsupported DestinationConfig parameter for given event source mapping type.")
        if request.SelfManagedEventSource is not None:
            raise InvalidParameterValueException("Stratus does not poll self-managed Apache Kafka event sources.")
        if not request.EventSourceArn:
            raise InvalidParameterValueException("Unrecognized event source.")
        source = source_of(request.EventSourceArn)
        if request.Tags:
            check_tags(request.Tags)
            if len(request.Tags) > MAX_TAGS:
                raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
        config = new_config(source, request)
        name, qualifier = self._function(request.FunctionName)
        config.FunctionArn = self.arns.function(name, qualifier)
        self._check_duplicate(source, config, name, None)
        await check_source_exists(self.settings, self.runner.aws, source)  # a network call: not under the lock
        async with self._lock:
            self._function(request.FunctionName)
            self._check_duplicate(source, config, name, None)  # again: another create may have won meanwhile
            mapping_id = str(uuids.uuid4())
            config.UUID = mapping_id
            config.EventSourceMappingArn = f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:" \
                                           f"event-source-mapping:{mapping_id}"
            enabled = request.Enabled is not False
            config.LastModified = time.time()
            config.State = "Enabled" if enabled else "Disabled"
            record = EventSourceMappingRecord(config=config, function_name=name, qualifier=qualifier,
                                              enabled=enabled, tags=dict(request.Tags or {}), created=time.time())
            await self.store.apply(puts=[(KIND, mapping_id, msgspec.json.encode(record))])
            self.records[mapping_id] = record
            self._transition(mapping_id, "Creating", restart=enabled)
            return self._view(mapping_id)

    async def get(self, mapping_id: str) -> EventSourceMappingConfiguration:
        if mapping_id not in self.records:
            raise ResourceNotFoundException(NOT_FOUND)
        return self._view(mapping_id)

    async def list(self, event_source_arn: str | None, function_name: str | None, marker: str | None,
                   max_items: int | None) -> ListEventSourceMappingsResponse:
        """ListEventSourceMappings: filters that name nothing just list nothing (as AWS)."""
        wanted_name = wanted_qualifier = None
        if function_name is not None:
            try:
                wanted_name, wanted_qualifier = self.arns.resolve(function_name)
            except (ResourceNotFoundException, InvalidParameterValueException):
                return ListEventSourceMappingsResponse(EventSourceMappings=[])
        entries = []
        for mapping_id, record in sorted(self.records.items(), key=lambda item: (item[1].created, item[0])):
            if event_source_arn is not None and record.config.EventSourceArn != event_source_arn:
                continue
            if wanted_name is not None and (record.function_name != wanted_name or (
                    wanted_qualifier is not None and (record.qualifier or LATEST) != wanted_qualifier)):
                continue
            entries.append(mapping_id)
        page, next_marker = paginate(entries, marker, max_items or 100, lambda item: item)
        return ListEventSourceMappingsResponse(EventSourceMappings=[self._view(item) for item in page],
                                               NextMarker=next_marker)

    async def update(self, mapping_id: str,
                     request: UpdateEventSourceMappingRequest) -> EventSourceMappingConfiguration:
        async with self._lock:
            record = self.records.get(mapping_id)
            if record is None:
                raise ResourceNotFoundException(NOT_FOUND)
            if record.config.State == "Deleting" or self.states.get(mapping_id) == "Deleting":
                raise ResourceInUseException(
                    f"Cannot update the event source mapping {mapping_id} because it is being deleted.")
            if request.DestinationConfig is not None and request.DestinationConfig.OnSuccess is not None:
                raise InvalidParameterValueException(
                    "Unsupported DestinationConfig parameter for given event source mapping type.")
            source = source_of(record.config.EventSourceArn or "")
            check_members(source, msgspec.structs.asdict(request))
            config = msgspec.structs.replace(record.config)
            changes = {member: getattr(request, member) for member in (
                "BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor", "BisectBatchOnFunctionError",
                "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds",
                "FunctionResponseTypes", "SourceAccessConfigurations") if getattr(request, member) is not None}
            for member, value in changes.items():
                setattr(config, member, list(value) if isinstance(value, list) else value)
            if request.FilterCriteria is not None:
                config.FilterCriteria = filters(request.FilterCriteria)
            if request.ScalingConfig is not None:
                config.ScalingConfig = request.ScalingConfig if request.ScalingConfig.MaximumConcurrency is not None \
                    else None
            if request.KMSKeyArn is not None:
                config.KMSKeyArn = request.KMSKeyArn or None
            if request.DestinationConfig is not None and source.kind in STREAMS:
                config.DestinationConfig = DestinationConfig(
                    OnFailure=request.DestinationConfig.OnFailure or OnFailure())
            check_config(source, config, BATCH_SIZES[source.kind][1])
            name, qualifier = record.function_name, record.qualifier
            if request.FunctionName is not None:
                name, qualifier = self._function(request.FunctionName)
                config.FunctionArn = self.arns.function(name, qualifier)
                self._check_duplicate(source, config, name, mapping_id)
            enabled = record.enabled if request.Enabled is None else request.Enabled
            if request.Enabled is not None and request.Enabled != record.enabled:
                transitional = "Enabling" if enabled else "Disabling"
            else:
                transitional = "Updating"
            config.State = "Enabled" if enabled else "Disabled"
            config.LastModified = time.time()
            updated = msgspec.structs.replace(record, config=config, function_name=name, qualifier=qualifier,
                                              enabled=enabled)
            await self.store.apply(puts=[(KIND, mapping_id, msgspec.json.encode(updated))])
            self.records[mapping_id] = updated
            self._transition(mapping_id, transitional, restart=True)
            return self._view(mapping_id)

    async def delete(self, mapping_id: str) -> EventSourceMappingConfiguration:
        """DeleteEventSourceMapping: answers the mapping in state Deleting; it is gone once its poller stopped."""
        async with self._lock:
            record = self.records.get(mapping_id)
            if record is None:
                raise ResourceNotFoundException(NOT_FOUND)
            if record.config.State != "Deleting":
                config = msgspec.structs.replace(record.config, State="Deleting")
                record = msgspec.structs.replace(record, config=config)
                await self.store.apply(puts=[(KIND, mapping_id, msgspec.json.encode(record))])
                self.records[mapping_id] = record
                self._transition(mapping_id, "Deleting", restart=True)
            return self._view(mapping_id)

    # ------------------------------------------------------------------ tags (control/tags.py)
    def tags_of(self, mapping_id: str) -> dict[str, str] | None:
        """The mapping's tags; None when there is no such mapping."""
        record = self.records.get(mapping_id)
        return None if record is None else record.tags

    async def replace_tags(self, mapping_id: str, change: Callable[[dict[str, str]], dict[str, str]]) -> bool:
        """Store `change(tags)` as the mapping's tags; False when there is no such mapping."""
        async with self._lock:
            record = self.records.get(mapping_id)
            if record is None:
                return False
            tags = change(dict(record.tags))
            if tags != record.tags:
                updated = msgspec.structs.replace(record, tags=tags)
                await self.store.apply(puts=[(KIND, mapping_id, msgspec.json.encode(updated))])
                self.records[mapping_id] = updated
            return True

    # ------------------------------------------------------------------ state transitions
    def _transition(self, mapping_id: str, state: str, restart: bool) -> None:
        """Report `state` until the runner has applied the record (restarted, stopped or removed its poller)."""
        self.states[mapping_id] = state
        previous = self._transitions.get(mapping_id)
        task = asyncio.get_running_loop().create_task(self._settle(mapping_id, previous, restart))
        self._transitions[mapping_id] = task

    async def _settle(self, mapping_id: str, previous: asyncio.Task | None, restart: bool) -> None:
        if previous is not None:  # transitions of one mapping apply in order
            try:
                await previous
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged where it happened
                pass
        try:
            record = self.records.get(mapping_id)
            if record is None:
                return
            if record.config.State == "Deleting":
                await self.runner.stop(mapping_id)
                async with self._lock:
                    await self._forget(mapping_id)
                return
            if restart:
                await self.runner.stop(mapping_id)
                record = self.records.get(mapping_id)
                if record is not None and record.enabled and record.config.State != "Deleting":
                    self.runner.start(record)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a mapping that cannot settle is logged, never crashes the server
            log.exception("event source mapping %s: state change failed", mapping_id)
        finally:
            if self._transitions.get(mapping_id) is asyncio.current_task():
                del self._transitions[mapping_id]
                self.states.pop(mapping_id, None)

    async def _forget(self, mapping_id: str) -> None:
        deletes = [(KIND, mapping_id)]
        deletes += [(CHECKPOINT_KIND, key) for key, _ in await self.store.list_documents(CHECKPOINT_KIND,
                                                                                           prefix=f"{mapping_id}:")]
        await self.store.apply(deletes=deletes)
        self.records.pop(mapping_id, None)
        self.runner.forget(mapping_id)

    def _view(self, mapping_id: str) -> EventSourceMappingConfiguration:
        record = self.records[mapping_id]
        config = record.config
        changes = {}
        state = self.states.get(mapping_id)
        if state is not None and config.State != "Deleting":
            changes["State"] = state
        result = self.runner.results.get(mapping_id)  # what its poller reported last
        if config.LastProcessingResult is not None and result is not None:
            changes["LastProcessingResult"] = result
        return msgspec.structs.replace(config, **changes) if changes else config

    # ------------------------------------------------------------------ rules
    def _function(self, reference: str | None) -> tuple[str, str | None]:
        """(name, qualifier) of an existing function, version or alias; AWS's error otherwise."""
        if not reference:
            raise InvalidParameterValueException("Function does not exist")
        try:
            name, qualifier = self.arns.resolve(reference)
            self.functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            raise InvalidParameterValueException("Function does not exist") from None
        return name, qualifier

    def _check_duplicate(self, source: Source, config: EventSourceMappingConfiguration, function_name: str,
                         own_id: str | None) -> None:
        for mapping_id, record in self.records.items():
            if mapping_id == own_id or record.config.State == "Deleting":
                continue
            if record.config.EventSourceArn != source.arn or record.config.FunctionArn != config.FunctionArn:
                continue
            if source.kind == MQ and not set(record.config.Queues or []) & set(config.Queues or []):
                continue
            if source.kind == SQS:
                raise ResourceConflictException(
                    f'An event source mapping with SQS arn (" {source.arn} ") and function (" {function_name} ") '
                    f"already exists. Please update or delete the existing mapping with UUID {mapping_id}")
            raise ResourceConflictException(
                f'The event source arn (" {source.arn} ") and function (" {function_name} ") provided mapping '
                f"already exists. Please update or delete the existing mapping with UUID {mapping_id}")

