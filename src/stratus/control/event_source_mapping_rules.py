"""Event source mappings: Lambda's rules for a mapping's configuration (what a create or update may set,
AWS's defaults and limits per source) and the check that its source exists."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from stratus.config import Settings
from stratus.errors import InvalidParameterValueException, ValidationException
from stratus.events.mappings.filters import check_filters
from stratus.events.mappings.sources import (
    DYNAMODB,
    KINESIS,
    MQ,
    SQS,
    STREAMS,
    AwsClients,
    Source,
    UnsupportedSource,
    broker_url,
    parse_source,
)
from stratus.shapes import (
    CreateEventSourceMappingRequest,
    DestinationConfig,
    EventSourceMappingConfiguration,
    FilterCriteria,
    OnFailure,
)

NO_RECORDS = "No records processed"
# BatchSize default and maximum per source (AWS).
BATCH_SIZES = {SQS: (10, 10_000), KINESIS: (100, 10_000), DYNAMODB: (100, 10_000), MQ: (100, 10_000)}
# Members that only some sources take: member → sources.
ONLY_FOR = {
    "ParallelizationFactor": STREAMS, "BisectBatchOnFunctionError": STREAMS, "MaximumRetryAttempts": STREAMS,
    "MaximumRecordAgeInSeconds": STREAMS, "TumblingWindowInSeconds": STREAMS,
    "FunctionResponseTypes": (SQS, KINESIS, DYNAMODB), "ScalingConfig": (SQS,),
    "Queues": (MQ,), "SourceAccessConfigurations": (MQ,),
}
UNSUPPORTED = ("Topics", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig",
                "SelfManagedKafkaEventSourceConfig", "DocumentDBEventSourceConfig", "MetricsConfig",
                "LoggingConfig", "ProvisionedPollerConfig")


def _source_kind_reason(kind: str) -> str:
    # SQS (and the newer pollers) report USER_INITIATED; the stream pollers "User action" (AWS).
    return "User action" if kind in STREAMS else "USER_INITIATED"


def new_config(source: Source, request: CreateEventSourceMappingRequest) -> EventSourceMappingConfiguration:
    """The configuration CreateEventSourceMapping asks for, with AWS's defaults for its source, checked."""
    check_members(source, msgspec.structs.asdict(request))
    batch_default, batch_max = BATCH_SIZES[source.kind]
    config = EventSourceMappingConfiguration(
        EventSourceArn=source.arn,
        BatchSize=request.BatchSize if request.BatchSize is not None else batch_default,
        MaximumBatchingWindowInSeconds=request.MaximumBatchingWindowInSeconds or 0,
        FilterCriteria=filters(request.FilterCriteria),
        KMSKeyArn=request.KMSKeyArn or None,
        StateTransitionReason=_source_kind_reason(source.kind),
    )
    if source.kind in (SQS, KINESIS, DYNAMODB):
        config.FunctionResponseTypes = list(request.FunctionResponseTypes or [])
    if source.kind == SQS:
        config.ScalingConfig = request.ScalingConfig if request.ScalingConfig and \
            request.ScalingConfig.MaximumConcurrency is not None else None
    if source.kind in STREAMS:
        config.StartingPosition = _starting_position(source, request.StartingPosition,
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
    check_config(source, config, batch_max)
    return config


def check_members(source: Source, given: dict[str, Any]) -> None:
    """Refuse members Stratus does not support, and members this kind of source does not take."""
    for member in UNSUPPORTED:
        if given.get(member) is not None:
            raise InvalidParameterValueException(f"Stratus does not support {member} on event source mappings.")
    for member, kinds in ONLY_FOR.items():
        if given.get(member) is not None and source.kind not in kinds:
            raise InvalidParameterValueException(
                f"Unsupported {member} parameter for given event source mapping type.")
    destination = given.get("DestinationConfig")
    if destination is not None and destination.OnFailure is not None and source.kind not in STREAMS:
        raise InvalidParameterValueException(
            "Unsupported DestinationConfig parameter for given event source mapping type.")


def check_config(source: Source, config: EventSourceMappingConfiguration, batch_max: int) -> None:
    """AWS's rules for a mapping's whole configuration (after a create's defaults or an update's changes)."""
    size = config.BatchSize or 0  # always set: creates give the source's default
    if not 1 <= size <= batch_max:
        raise InvalidParameterValueException(
            f"BatchSize must be between 1 and {batch_max} for this event source; got {config.BatchSize}.")
    if source.kind == SQS:
        _check_sqs(source, config, size)
    if source.kind in STREAMS:
        _check_stream(source, config)
    if source.kind == MQ:
        _check_mq(config)
    if config.FilterCriteria is not None:
        check_filters(config.FilterCriteria.Filters or [])


def _check_sqs(source: Source, config: EventSourceMappingConfiguration, size: int) -> None:
    window = config.MaximumBatchingWindowInSeconds or 0
    if source.fifo and size > 10:
        raise InvalidParameterValueException("Maximum batch size must be between 1 and 10 inclusive")
    if source.fifo and window:
        raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
    if size > 10 and window == 0:
        raise InvalidParameterValueException(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")


def _check_stream(source: Source, config: EventSourceMappingConfiguration) -> None:
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


def _check_mq(config: EventSourceMappingConfiguration) -> None:
    if not config.Queues:
        raise InvalidParameterValueException("Required 'queues' parameter is missing.")
    access = config.SourceAccessConfigurations or []
    if not any(item.Type == "BASIC_AUTH" for item in access):
        raise InvalidParameterValueException("Required 'sourceAccessConfigurations' parameter is missing.")
    unsupported = sorted({str(item.Type) for item in access if item.Type not in ("BASIC_AUTH", "VIRTUAL_HOST")})
    if unsupported:
        raise InvalidParameterValueException(
            f"Unsupported SourceAccessConfigurations type for Amazon MQ (RabbitMQ): {', '.join(unsupported)}.")
    if sum(item.Type == "VIRTUAL_HOST" for item in access) > 1 or sum(
            item.Type == "BASIC_AUTH" for item in access) > 1:
        raise InvalidParameterValueException(
            "SourceAccessConfigurations must contain at most one BASIC_AUTH and one VIRTUAL_HOST.")


def _starting_position(source: Source, position: str | None, timestamp: float | str | None) -> str:
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


async def check_source_exists(settings: Settings, aws: AwsClients, source: Source) -> None:
    """AWS checks the source when the mapping is created; so does Stratus, against its endpoint."""
    if source.kind == MQ:
        if broker_url(settings, source.arn) is None:
            raise InvalidParameterValueException(
                f"Stratus knows no RabbitMQ URL for broker {source.arn}: set STRATUS_MQ_BROKERS "
                f"(\"{source.arn}=amqp://user:password@host:5672\").")
        return
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


def source_of(arn: str) -> Source:
    """The event source an ARN names; AWS's InvalidParameterValueException when Stratus polls no such source."""
    try:
        source = parse_source(arn)
    except UnsupportedSource as exc:
        raise InvalidParameterValueException(str(exc)) from None
    if source is None:
        raise InvalidParameterValueException(f"Unrecognized event source. Unsupported source arn : {arn}")
    return source


def filters(criteria: FilterCriteria | None) -> FilterCriteria | None:
    """AWS drops FilterCriteria without filters from the mapping."""
    if criteria is None or not criteria.Filters:
        return None
    return FilterCriteria(Filters=list(criteria.Filters))


def _timestamp(value: float | str | None) -> float | None:
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
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()
