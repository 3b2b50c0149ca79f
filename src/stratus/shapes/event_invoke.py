"""Asynchronous invocation configuration shapes (Put/Get/Update/Delete/ListFunctionEventInvokeConfigs)
and what the store keeps for them."""

from __future__ import annotations

from stratus.shapes.base import Shape


class OnSuccess(Shape):
    Destination: str | None = None


class OnFailure(Shape):
    Destination: str | None = None


class DestinationConfig(Shape):
    """Where records go after an async invocation (also the event source mappings' OnFailure)."""

    OnSuccess: OnSuccess | None = None
    OnFailure: OnFailure | None = None


class PutFunctionEventInvokeConfigRequest(Shape):
    """The body of Put- and UpdateFunctionEventInvokeConfig."""

    MaximumRetryAttempts: int | None = None
    MaximumEventAgeInSeconds: int | None = None
    DestinationConfig: DestinationConfig | None = None


class FunctionEventInvokeConfig(Shape):
    LastModified: float | None = None  # a timestamp: epoch seconds on the wire, as rest-json encodes it
    FunctionArn: str | None = None
    MaximumRetryAttempts: int | None = None
    MaximumEventAgeInSeconds: int | None = None
    DestinationConfig: DestinationConfig | None = None


class ListFunctionEventInvokeConfigsResponse(Shape):
    FunctionEventInvokeConfigs: list[FunctionEventInvokeConfig]
    NextMarker: str | None = None


# ---------------------------------------------------------------- stored documents
class EventInvokeConfigDocument(Shape):
    """Document kind "event-invoke-config", key "<function>:<qualifier>" ($LATEST, a version, an alias).

    `created_ms` is the function's: a config outlives nothing of a function deleted and re-created.
    """

    LastModified: float
    created_ms: int
    MaximumRetryAttempts: int | None = None
    MaximumEventAgeInSeconds: int | None = None
    OnSuccess: str | None = None
    OnFailure: str | None = None
