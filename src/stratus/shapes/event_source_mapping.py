"""Event source mapping shapes (Create/Get/List/Update/DeleteEventSourceMapping), and the stored record."""

from __future__ import annotations

import msgspec

from stratus.shapes.base import Shape
from stratus.shapes.event_invoke import DestinationConfig  # noqa: F401 - a member type below (shared shape)

__all__ = [
    "Filter", "FilterCriteria", "ScalingConfig", "SourceAccessConfiguration", "SelfManagedEventSource",
    "FilterCriteriaError", "EventSourceMappingConfiguration", "CreateEventSourceMappingRequest",
    "UpdateEventSourceMappingRequest", "ListEventSourceMappingsResponse", "EventSourceMappingRecord",
    "StreamCheckpoint",
]


class Filter(Shape):
    Pattern: str | None = None


class FilterCriteria(Shape):
    Filters: list[Filter] | None = None


class ScalingConfig(Shape):
    MaximumConcurrency: int | None = None


class SourceAccessConfiguration(Shape):
    Type: str | None = None
    URI: str | None = None


class SelfManagedEventSource(Shape):
    Endpoints: dict[str, list[str]] | None = None


class FilterCriteriaError(Shape):
    ErrorCode: str | None = None
    Message: str | None = None


class EventSourceMappingConfiguration(Shape):
    """What Create/Get/Update/DeleteEventSourceMapping answer (members in AWS's order)."""

    UUID: str | None = None
    StartingPosition: str | None = None
    StartingPositionTimestamp: float | None = None
    BatchSize: int | None = None
    MaximumBatchingWindowInSeconds: int | None = None
    ParallelizationFactor: int | None = None
    EventSourceArn: str | None = None
    FilterCriteria: FilterCriteria | None = None
    FunctionArn: str | None = None
    LastModified: float | None = None  # epoch seconds, as AWS sends it
    LastProcessingResult: str | None = None
    State: str | None = None
    StateTransitionReason: str | None = None
    DestinationConfig: DestinationConfig | None = None
    Topics: list[str] | None = None
    Queues: list[str] | None = None
    SourceAccessConfigurations: list[SourceAccessConfiguration] | None = None
    SelfManagedEventSource: SelfManagedEventSource | None = None
    MaximumRecordAgeInSeconds: int | None = None
    BisectBatchOnFunctionError: bool | None = None
    MaximumRetryAttempts: int | None = None
    TumblingWindowInSeconds: int | None = None
    FunctionResponseTypes: list[str] | None = None
    ScalingConfig: ScalingConfig | None = None
    KMSKeyArn: str | None = None
    FilterCriteriaError: FilterCriteriaError | None = None
    EventSourceMappingArn: str | None = None


class CreateEventSourceMappingRequest(Shape):
    EventSourceArn: str | None = None
    FunctionName: str | None = None
    Enabled: bool | None = None
    BatchSize: int | None = None
    FilterCriteria: FilterCriteria | None = None
    MaximumBatchingWindowInSeconds: int | None = None
    ParallelizationFactor: int | None = None
    StartingPosition: str | None = None
    StartingPositionTimestamp: float | str | None = None
    DestinationConfig: DestinationConfig | None = None
    MaximumRecordAgeInSeconds: int | None = None
    BisectBatchOnFunctionError: bool | None = None
    MaximumRetryAttempts: int | None = None
    Tags: dict[str, str] | None = None
    TumblingWindowInSeconds: int | None = None
    Topics: list[str] | None = None
    Queues: list[str] | None = None
    SourceAccessConfigurations: list[SourceAccessConfiguration] | None = None
    SelfManagedEventSource: SelfManagedEventSource | None = None
    FunctionResponseTypes: list[str] | None = None
    ScalingConfig: ScalingConfig | None = None
    KMSKeyArn: str | None = None
    # Kafka, DocumentDB, metrics, logging and provisioned pollers: accepted by the model, refused by the rules.
    AmazonManagedKafkaEventSourceConfig: dict | None = None
    SelfManagedKafkaEventSourceConfig: dict | None = None
    DocumentDBEventSourceConfig: dict | None = None
    MetricsConfig: dict | None = None
    LoggingConfig: dict | None = None
    ProvisionedPollerConfig: dict | None = None


class UpdateEventSourceMappingRequest(Shape):
    FunctionName: str | None = None
    Enabled: bool | None = None
    BatchSize: int | None = None
    FilterCriteria: FilterCriteria | None = None
    MaximumBatchingWindowInSeconds: int | None = None
    DestinationConfig: DestinationConfig | None = None
    MaximumRecordAgeInSeconds: int | None = None
    BisectBatchOnFunctionError: bool | None = None
    MaximumRetryAttempts: int | None = None
    ParallelizationFactor: int | None = None
    SourceAccessConfigurations: list[SourceAccessConfiguration] | None = None
    TumblingWindowInSeconds: int | None = None
    FunctionResponseTypes: list[str] | None = None
    ScalingConfig: ScalingConfig | None = None
    KMSKeyArn: str | None = None
    AmazonManagedKafkaEventSourceConfig: dict | None = None
    SelfManagedKafkaEventSourceConfig: dict | None = None
    DocumentDBEventSourceConfig: dict | None = None
    MetricsConfig: dict | None = None
    LoggingConfig: dict | None = None
    ProvisionedPollerConfig: dict | None = None


class ListEventSourceMappingsResponse(Shape):
    EventSourceMappings: list[EventSourceMappingConfiguration]
    NextMarker: str | None = None


class EventSourceMappingRecord(msgspec.Struct, omit_defaults=True):
    """What the store keeps per mapping (kind "event-source-mapping", key = UUID).

    `config.State` is the settled state (Enabled / Disabled, or Deleting while a delete finishes);
    transitional states (Creating, Enabling, Updating...) live only in memory.
    """

    config: EventSourceMappingConfiguration
    function_name: str
    qualifier: str | None = None
    enabled: bool = True
    tags: dict[str, str] = {}
    created: float = 0.0


class StreamCheckpoint(msgspec.Struct):
    """The last sequence number a stream mapping finished with on one shard (kind "esm-checkpoint",
    key "<UUID>:<shard id>")."""

    sequence_number: str
