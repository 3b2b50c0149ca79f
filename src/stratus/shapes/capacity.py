"""Capacity providers (Lambda Managed Instances: Create/Get/Update/Delete/ListCapacityProviders,
ListFunctionVersionsByCapacityProvider) and a function version's scaling config (Put/GetFunctionScalingConfig)."""

from __future__ import annotations

from stratus.shapes.base import Shape


class CapacityProviderVpcConfig(Shape):
    SubnetIds: list[str]
    SecurityGroupIds: list[str]


class CapacityProviderPermissionsConfig(Shape):
    CapacityProviderOperatorRoleArn: str


class TargetTrackingScalingPolicy(Shape):
    PredefinedMetricType: str
    TargetValue: float


class CapacityProviderScalingConfig(Shape):
    MaxVCpuCount: int | None = None
    ScalingMode: str | None = None
    ScalingPolicies: list[TargetTrackingScalingPolicy] | None = None


class InstanceRequirements(Shape):
    Architectures: list[str] | None = None
    AllowedInstanceTypes: list[str] | None = None
    ExcludedInstanceTypes: list[str] | None = None


class CapacityProvider(Shape):
    """A capacity provider as AWS answers it (and as the store keeps it, kind "capacity-provider", key its name)."""

    CapacityProviderArn: str
    State: str
    VpcConfig: CapacityProviderVpcConfig
    PermissionsConfig: CapacityProviderPermissionsConfig
    InstanceRequirements: InstanceRequirements | None = None
    CapacityProviderScalingConfig: CapacityProviderScalingConfig | None = None
    KmsKeyArn: str | None = None
    LastModified: str | None = None


class CreateCapacityProviderRequest(Shape):
    CapacityProviderName: str
    VpcConfig: CapacityProviderVpcConfig
    PermissionsConfig: CapacityProviderPermissionsConfig
    InstanceRequirements: InstanceRequirements | None = None
    CapacityProviderScalingConfig: CapacityProviderScalingConfig | None = None
    KmsKeyArn: str | None = None
    Tags: dict[str, str] | None = None


class UpdateCapacityProviderRequest(Shape):
    CapacityProviderScalingConfig: CapacityProviderScalingConfig | None = None


class CapacityProviderResponse(Shape):
    """Create/Get/Update/DeleteCapacityProvider's answer."""

    CapacityProvider: CapacityProvider


class ListCapacityProvidersResponse(Shape):
    CapacityProviders: list[CapacityProvider]
    NextMarker: str | None = None


class FunctionVersionsByCapacityProviderListItem(Shape):
    FunctionArn: str
    State: str


class ListFunctionVersionsByCapacityProviderResponse(Shape):
    CapacityProviderArn: str
    FunctionVersions: list[FunctionVersionsByCapacityProviderListItem]
    NextMarker: str | None = None


class FunctionScalingConfig(Shape):
    MinExecutionEnvironments: int | None = None
    MaxExecutionEnvironments: int | None = None


class PutFunctionScalingConfigRequest(Shape):
    FunctionScalingConfig: FunctionScalingConfig | None = None


class PutFunctionScalingConfigResponse(Shape):
    FunctionState: str | None = None


class GetFunctionScalingConfigResponse(Shape):
    FunctionArn: str | None = None
    AppliedFunctionScalingConfig: FunctionScalingConfig | None = None
    RequestedFunctionScalingConfig: FunctionScalingConfig | None = None
