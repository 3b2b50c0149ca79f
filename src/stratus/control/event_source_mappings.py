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
import datetime
import logging
import time
import uuid as uuids

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from stratus.control.functions import LATEST
from stratus.control.paging import paginate
from stratus.control.tags import MAX_TAGS, check_tags
from stratus.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from stratus.events.mappings import MappingRunner
from stratus.events.mappings.filters import check_filters
from stratus.events.mappings.sources import DYNAMODB, KINESIS, MQ, SQS, STREAMS, Source, UnsupportedSource, \
    broker_url, parse_source
from stratus.shapes import (
    CreateEventSourceMappingRequest,
    DestinationConfig,
    EventSourceMappingConfiguration,
    EventSourceMappingRecord,
    FilterCriteria,
    ListEventSourceMappingsResponse,
    OnFailure,
    UpdateEventSourceMappingRequest,
)

log = logging.getLogger("stratus.mappings")

KIND = "event-source-mapping"
CHECKPOINT_KIND = "esm-checkpoint"
NOT_FOUND = "The resource you requested does not exist."
NO_RECORDS = "No records processed"
STARTING_POSITIONS = ("LATEST", "AT_TIMESTAMP", "TRIM_HORIZON")  # the order AWS's error lists them in
_decode = msgspec.json.Decoder(EventSourceMappingRecord).decode

# BatchSize default and maximum per source (AWS).
_BATCH = {SQS: (10, 10_000), KINESIS: (100, 10_000), DYNAMODB: (100, 10_000), MQ: (100, 10_000)}
# Members that only some sources take: member → sources.
_ONLY_FOR = {
    "ParallelizationFactor": STREAMS, "BisectBatchOnFunctionError": STREAMS, "MaximumRetryAttempts": STREAMS,
    "MaximumRecordAgeInSeconds": STREAMS, "TumblingWindowInSeconds": STREAMS,
    "FunctionResponseTypes": (SQS, KINESIS, DYNAMODB), "ScalingConfig": (SQS,),
    "Queues": (MQ,), "SourceAccessConfigurations": (MQ,),
}
_UNSUPPORTED = ("Topics", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig",
                "SelfManagedKafkaEventSourceConfig", "DocumentDBEventSourceConfig", "MetricsConfig",
                "LoggingConfig", "ProvisionedPollerConfig")


def _source_kind_reason(kind: str) -> str:
    # SQS (and the newer pollers) report USER_INITIATED; the stream pollers "User action" (AWS).
    return "User action" if kind in STREAMS else "USER_INITIATED"


class EventSourceMappingService:
    """The event source mapping operations; every public coroutine is one API operation."""

    def __init__(self, functions, store, runner: MappingRunner):
        self.functions = functions
        self.settings = functions.settings
        self.arns = functions.arns
        self.store = store
        self.runner = runner
        self.records: dict[str, EventSourceMappingRecord] = {}
        self.states: dict[str, str] = {}  # UUID → transitional state (Creating, Updating...), while it lasts
        self.results: dict[str, str] = {}  # UUID → LastProcessingResult reported by its poller
        self._lock = asyncio.Lock()
        self._transitions: dict[str, asyncio.Task] = {}
        runner.on_result = self._on_result

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
        source = _source(request.EventSourceArn)
        if request.Tags:
            check_tags(request.Tags)
            if len(request.Tags) > MAX_TAGS:
                raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
        given = msgspec.structs.asdict(request)
        self._check_members(source, given)
        batch_default, batch_max = _BATCH[source.kind]
        config = EventSourceMappingConfiguration(
            EventSourceArn=source.arn,
            BatchSize=request.BatchSize if request.BatchSize is not None else batch_default,
            MaximumBatchingWindowInSeconds=request.MaximumBatchingWindowInSeconds or 0,
            FilterCriteria=_filters(request.FilterCriteria),
            KMSKeyArn=request.KMSKeyArn or None,
            StateTransitionReason=_source_kind_reason(source.kind),
        )
        if source.kind in (SQS, KINESIS, DYNAMODB):
            config.FunctionResponseTypes = list(request.FunctionResponseTypes or [])
        if source.kind == SQS:
            config.ScalingConfig = request.ScalingConfig if request.ScalingConfig and \
                request.ScalingConfig.MaximumConcurrency is not None else None
        if source.kind in STREAMS:
            config.StartingPosition = self._starting_position(source, request.StartingPosition,
                                                              request.StartingPositionTimestamp)
            config.StartingPositionTimestamp = _timestamp(request.StartingPositionTimestamp)
            config.ParallelizationFactor = request.ParallelizationFactor or 1
            config.BisectBatchOnFunctionError = bool(request.BisectBatchOnFunctionError)
            config.MaximumRetryAttempts = -1 if request.MaximumRetryAttempts is None else request.MaximumRetryAttempts
            config.MaximumRecordAgeInSeconds = -1 if request.MaximumRecordAgeInSeconds is None \
                else request.MaximumRecordAgeInSeconds
            config.TumblingWindowInSeconds = request.TumblingWindowInSeconds or 0
            config.DestinationConfig = DestinationConfig(OnFailure=(
                request.DestinationConfig.OnFailure if request.DestinationConfig and request.DestinationConfig.OnFailure
                else None) or OnFailure())
            config.LastProcessingResult = NO_RECORDS
        elif request.StartingPosition is not None or request.StartingPositionTimestamp is not None:
            raise InvalidParameterValueException(
                f"StartingPosition is not valid for {'SQS' if source.kind == SQS else 'Amazon MQ'} event sources.")
        if source.kind == MQ:
            config.Queues = list(request.Queues or [])
            config.SourceAccessConfigurations = list(request.SourceAccessConfigurations or [])
            config.LastProcessingResult = NO_RECORDS
        self._check_config(source, config, batch_max)
        name, qualifier = self._function(request.FunctionName)
        config.FunctionArn = self.arns.function(name, qualifier)
        self._check_duplicate(source, config, name, None)
        await self._check_source_exists(source, config)  # a network call: not under the lock
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

    async def update(self, mapping_id: str, request: UpdateEventSourceMappingRequest) -> EventSourceMappingConfiguration:
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
            source = _source(record.config.EventSourceArn)
            self._check_members(source, msgspec.structs.asdict(request))
            config = msgspec.structs.replace(record.config)
            changes = {member: getattr(request, member) for member in (
                "BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor", "BisectBatchOnFunctionError",
                "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds",
                "FunctionResponseTypes", "SourceAccessConfigurations") if getattr(request, member) is not None}
            for member, value in changes.items():
                setattr(config, member, list(value) if isinstance(value, list) else value)
            if request.FilterCriteria is not None:
                config.FilterCriteria = _filters(request.FilterCriteria)
            if request.ScalingConfig is not None:
                config.ScalingConfig = request.ScalingConfig if request.ScalingConfig.MaximumConcurrency is not None \
                    else None
            if request.KMSKeyArn is not None:
                config.KMSKeyArn = request.KMSKeyArn or None
            if request.DestinationConfig is not None and source.kind in STREAMS:
                config.DestinationConfig = DestinationConfig(
                    OnFailure=request.DestinationConfig.OnFailure or OnFailure())
            self._check_config(source, config, _BATCH[source.kind][1])
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
        self.results.pop(mapping_id, None)

    def _on_result(self, mapping_id: str, result: str) -> None:
        if mapping_id in self.records:
            self.results[mapping_id] = result

    def _view(self, mapping_id: str) -> EventSourceMappingConfiguration:
        record = self.records[mapping_id]
        config = record.config
        changes = {}
        state = self.states.get(mapping_id)
        if state is not None and config.State != "Deleting":
            changes["State"] = state
        if config.LastProcessingResult is not None and mapping_id in self.results:
            changes["LastProcessingResult"] = self.results[mapping_id]
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

    @staticmethod
    def _check_members(source: Source, given: dict) -> None:
        for member in _UNSUPPORTED:
            if given.get(member) is not None:
                raise InvalidParameterValueException(f"Stratus does not support {member} on event source mappings.")
        for member, kinds in _ONLY_FOR.items():
            if given.get(member) is not None and source.kind not in kinds:
                raise InvalidParameterValueException(
                    f"Unsupported {member} parameter for given event source mapping type.")
        destination = given.get("DestinationConfig")
        if destination is not None and destination.OnFailure is not None and source.kind not in STREAMS:
            raise InvalidParameterValueException(
                "Unsupported DestinationConfig parameter for given event source mapping type.")

    def _check_config(self, source: Source, config: EventSourceMappingConfiguration, batch_max: int) -> None:
        if not 1 <= config.BatchSize <= batch_max:
            raise InvalidParameterValueException(
                f"BatchSize must be between 1 and {batch_max} for this event source; got {config.BatchSize}.")
        window = config.MaximumBatchingWindowInSeconds or 0
        if source.kind == SQS:
            if source.fifo and config.BatchSize > 10:
                raise InvalidParameterValueException("Maximum batch size must be between 1 and 10 inclusive")
            if source.fifo and window:
                raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
            if config.BatchSize > 10 and window == 0:
                raise InvalidParameterValueException(
                    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
        if source.kind in STREAMS:
            age = config.MaximumRecordAgeInSeconds
            if age is not None and age != -1 and not 60 <= age <= 604_800:
                raise InvalidParameterValueException(
                    f"MaximumRecordAgeInSeconds must be -1 (no limit) or between 60 and 604800; got {age}.")
            if config.TumblingWindowInSeconds:
                raise InvalidParameterValueException("Stratus does not support tumbling windows "
                                                     "(TumblingWindowInSeconds) on event source mappings.")
            on_failure = config.DestinationConfig.OnFailure.Destination if config.DestinationConfig and \
                config.DestinationConfig.OnFailure else None
            if on_failure:
                if on_failure == source.arn:
                    raise InvalidParameterValueException(
                        "The destination ARN cannot be the same as the event source ARN.")
                service = on_failure.split(":")[2] if on_failure.count(":") >= 5 else ""
                if service not in ("sqs", "sns"):
                    raise InvalidParameterValueException(
                        "The provided destination config DestinationConfig is invalid: stream event source "
                        "mappings send failed batches to an SQS queue or an SNS topic.")
        if source.kind == MQ:
            if not config.Queues:
                raise InvalidParameterValueException("Required 'queues' parameter is missing.")
            access = config.SourceAccessConfigurations or []
            if not any(item.Type == "BASIC_AUTH" for item in access):
                raise InvalidParameterValueException("Required 'sourceAccessConfigurations' parameter is missing.")
            unsupported = sorted({item.Type for item in access if item.Type not in ("BASIC_AUTH", "VIRTUAL_HOST")})
            if unsupported:
                raise InvalidParameterValueException(
                    f"Unsupported SourceAccessConfigurations type for Amazon MQ (RabbitMQ): {', '.join(unsupported)}.")
            if sum(item.Type == "VIRTUAL_HOST" for item in access) > 1 or sum(
                    item.Type == "BASIC_AUTH" for item in access) > 1:
                raise InvalidParameterValueException(
                    "SourceAccessConfigurations must contain at most one BASIC_AUTH and one VIRTUAL_HOST.")
        if config.FilterCriteria is not None:
            check_filters(config.FilterCriteria.Filters or [])

    @staticmethod
    def _starting_position(source: Source, position: str | None, timestamp) -> str:
        if position is None:
            raise InvalidParameterValueException(
                "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
                "Member must not be null.")
        if position == "AT_TIMESTAMP" and source.kind == DYNAMODB:
            raise InvalidParameterValueException(f"Unsupported starting position for arn type: {source.arn}")
        if position == "AT_TIMESTAMP" and timestamp is None:
            raise InvalidParameterValueException("Need to specify a timestamp for the AT_TIMESTAMP starting position.")
        if position != "AT_TIMESTAMP" and timestamp is not None:
            raise InvalidParameterValueException(
                "StartingPositionTimestamp applies only to the AT_TIMESTAMP starting position.")
        return position

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

    async def _check_source_exists(self, source: Source, config: EventSourceMappingConfiguration) -> None:
        """AWS checks the source when the mapping is created; so does Stratus, against its endpoint."""
        if source.kind == MQ:
            if broker_url(self.settings, source.arn) is None:
                raise InvalidParameterValueException(
                    f"Stratus knows no RabbitMQ URL for broker {source.arn}: set STRATUS_MQ_BROKERS "
                    f"(\"{source.arn}=amqp://user:password@host:5672\").")
            return
        aws = self.runner.aws
        if aws.endpoint(source.service) is None:
            raise InvalidParameterValueException(
                f"Stratus has no endpoint for {source.service}: set STRATUS_SERVICE_ENDPOINTS "
                f"(\"{source.service}=http://host:port\") to an AWS-compatible {source.service} endpoint.")
        try:
            if source.kind == SQS:
                await aws.call("sqs", source.region, "get_queue_url", QueueName=source.name)
            elif source.kind == KINESIS:
                await aws.call("kinesis", source.region, "describe_stream_summary", StreamName=source.name)
            else:
                await aws.call("dynamodbstreams", source.region, "describe_stream", StreamArn=source.arn)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if source.kind == SQS:
                raise InvalidParameterValueException(
                    f"Error occurred while ReceiveMessage. SQS Error Code: {error.get('Code')}. "
                    f"SQS Error Message: {error.get('Message')}") from None
            if error.get("Code") == "ResourceNotFoundException":
                raise InvalidParameterValueException(f"Stream not found: {source.arn}") from None
            raise InvalidParameterValueException(
                f"Error occurred while reading {source.arn}: {error.get('Code')}: {error.get('Message')}") from None
        except BotoCoreError as exc:
            raise InvalidParameterValueException(
                f"Stratus cannot reach the {source.service} endpoint {aws.endpoint(source.service)}: {exc}") from None


def _source(arn: str) -> Source:
    try:
        source = parse_source(arn)
    except UnsupportedSource as exc:
        raise InvalidParameterValueException(str(exc)) from None
    if source is None:
        raise InvalidParameterValueException(f"Unrecognized event source. Unsupported source arn : {arn}")
    return source


def _filters(criteria: FilterCriteria | None) -> FilterCriteria | None:
    """AWS drops FilterCriteria without filters from the mapping."""
    if criteria is None or not criteria.Filters:
        return None
    return FilterCriteria(Filters=list(criteria.Filters))


def _timestamp(value) -> float | None:
    """StartingPositionTimestamp as epoch seconds (boto3 sends a number; other clients an ISO 8601 string)."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return float(value)
        except ValueError:
            raise ValidationException(
                f"1 validation error detected: Value '{value}' at 'startingPositionTimestamp' failed to satisfy "
                "constraint: Member must be a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()
