"""Reserved and provisioned concurrency shapes (Put/Get/DeleteFunctionConcurrency, the provisioned
concurrency config operations), and what the store keeps for them."""

from __future__ import annotations

from stratus.shapes.base import Shape


class Concurrency(Shape):
    """PutFunctionConcurrency's request body and answer; GetFunction's `Concurrency`."""

    ReservedConcurrentExecutions: int | None = None


class GetFunctionConcurrencyResponse(Shape):
    ReservedConcurrentExecutions: int | None = None


class PutProvisionedConcurrencyConfigRequest(Shape):
    ProvisionedConcurrentExecutions: int


class ProvisionedConcurrencyConfig(Shape):
    """Put/GetProvisionedConcurrencyConfig's answer."""

    RequestedProvisionedConcurrentExecutions: int | None = None
    AvailableProvisionedConcurrentExecutions: int | None = None
    AllocatedProvisionedConcurrentExecutions: int | None = None
    Status: str | None = None
    StatusReason: str | None = None
    LastModified: str | None = None


class ProvisionedConcurrencyConfigListItem(Shape):
    FunctionArn: str | None = None
    RequestedProvisionedConcurrentExecutions: int | None = None
    AvailableProvisionedConcurrentExecutions: int | None = None
    AllocatedProvisionedConcurrentExecutions: int | None = None
    Status: str | None = None
    StatusReason: str | None = None
    LastModified: str | None = None


class ListProvisionedConcurrencyConfigsResponse(Shape):
    ProvisionedConcurrencyConfigs: list[ProvisionedConcurrencyConfigListItem]
    NextMarker: str | None = None


# ---------------------------------------------------------------- stored documents
class ReservedConcurrencyDocument(Shape):
    """Document kind "concurrency", key "<function>:"."""

    ReservedConcurrentExecutions: int


class ProvisionedConcurrencyDocument(Shape):
    """Document kind "provisioned", key "<function>:<qualifier>"."""

    RequestedProvisionedConcurrentExecutions: int
    LastModified: str
