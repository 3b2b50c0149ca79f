"""Function shapes: configuration, requests and responses of the function operations; the stored record."""

from __future__ import annotations

from typing import Any

import msgspec

from stratus.shapes.base import Shape


# ---------------------------------------------------------------- configuration members
class Environment(Shape):
    Variables: dict[str, str] | None = None


class EnvironmentError_(Shape):
    ErrorCode: str | None = None
    Message: str | None = None


class EnvironmentResponse(Shape):
    Variables: dict[str, str] | None = None
    Error: EnvironmentError_ | None = None


class EphemeralStorage(Shape):
    Size: int


class TracingConfig(Shape):
    Mode: str | None = None


class DeadLetterConfig(Shape):
    TargetArn: str | None = None


class VpcConfig(Shape):
    SubnetIds: list[str] | None = None
    SecurityGroupIds: list[str] | None = None
    Ipv6AllowedForDualStack: bool | None = None


class VpcConfigResponse(Shape):
    SubnetIds: list[str] | None = None
    SecurityGroupIds: list[str] | None = None
    VpcId: str | None = None
    Ipv6AllowedForDualStack: bool | None = None


class LoggingConfig(Shape):
    LogFormat: str | None = None
    ApplicationLogLevel: str | None = None
    SystemLogLevel: str | None = None
    LogGroup: str | None = None


class SnapStartResponse(Shape):
    ApplyOn: str | None = None
    OptimizationStatus: str | None = None


class RuntimeVersionConfig(Shape):
    RuntimeVersionArn: str | None = None


class FunctionConfiguration(Shape):
    FunctionName: str | None = None
    FunctionArn: str | None = None
    Runtime: str | None = None
    Role: str | None = None
    Handler: str | None = None
    CodeSize: int | None = None
    Description: str | None = None
    Timeout: int | None = None
    MemorySize: int | None = None
    LastModified: str | None = None
    CodeSha256: str | None = None
    Version: str | None = None
    VpcConfig: VpcConfigResponse | None = None
    DeadLetterConfig: DeadLetterConfig | None = None
    Environment: EnvironmentResponse | None = None
    KMSKeyArn: str | None = None
    TracingConfig: TracingConfig | None = None
    RevisionId: str | None = None
    Layers: list[dict[str, Any]] | None = None
    State: str | None = None
    StateReason: str | None = None
    StateReasonCode: str | None = None
    LastUpdateStatus: str | None = None
    LastUpdateStatusReason: str | None = None
    LastUpdateStatusReasonCode: str | None = None
    PackageType: str | None = None
    Architectures: list[str] | None = None
    EphemeralStorage: EphemeralStorage | None = None
    SnapStart: SnapStartResponse | None = None
    RuntimeVersionConfig: RuntimeVersionConfig | None = None
    LoggingConfig: LoggingConfig | None = None

    def __post_init__(self) -> None:
        if self.SnapStart is None:  # AWS always answers with it; configurations stored before it was kept
            self.SnapStart = SNAPSTART_OFF


SNAPSTART_OFF = SnapStartResponse(ApplyOn="None", OptimizationStatus="Off")


def layer_arns(config: FunctionConfiguration) -> list[str]:
    """The layer version ARNs of a configuration, in order."""
    return [layer["Arn"] for layer in config.Layers or []]


class FunctionCodeLocation(Shape):
    RepositoryType: str | None = None
    Location: str | None = None


class GetFunctionResponse(Shape):
    Configuration: FunctionConfiguration
    Code: FunctionCodeLocation
    Tags: dict[str, str] | None = None
    Concurrency: dict[str, int] | None = None  # {"ReservedConcurrentExecutions": n} when the function has one


class ListFunctionsResponse(Shape):
    Functions: list[FunctionConfiguration]
    NextMarker: str | None = None


class AccountLimit(Shape):
    TotalCodeSize: int
    CodeSizeUnzipped: int
    CodeSizeZipped: int
    ConcurrentExecutions: int
    UnreservedConcurrentExecutions: int


class AccountUsage(Shape):
    TotalCodeSize: int
    FunctionCount: int


class GetAccountSettingsResponse(Shape):
    AccountLimit: AccountLimit
    AccountUsage: AccountUsage


# ---------------------------------------------------------------- requests
class FunctionCode(Shape):
    ZipFile: str | None = None  # base64 in the JSON body
    S3Bucket: str | None = None
    S3Key: str | None = None
    S3ObjectVersion: str | None = None
    ImageUri: str | None = None
    SourceKMSKeyArn: str | None = None


class CreateFunctionRequest(Shape):
    FunctionName: str
    Role: str
    Code: FunctionCode
    Runtime: str | None = None
    Handler: str | None = None
    Description: str | None = None
    Timeout: int | None = None
    MemorySize: int | None = None
    Publish: bool | None = None
    VpcConfig: VpcConfig | None = None
    PackageType: str | None = None
    DeadLetterConfig: DeadLetterConfig | None = None
    Environment: Environment | None = None
    KMSKeyArn: str | None = None
    TracingConfig: TracingConfig | None = None
    Tags: dict[str, str] | None = None
    Layers: list[str] | None = None
    FileSystemConfigs: list[dict[str, Any]] | None = None
    ImageConfig: dict[str, Any] | None = None
    CodeSigningConfigArn: str | None = None
    Architectures: list[str] | None = None
    EphemeralStorage: EphemeralStorage | None = None
    SnapStart: dict[str, Any] | None = None
    LoggingConfig: LoggingConfig | None = None


class UpdateFunctionCodeRequest(Shape):
    ZipFile: str | None = None
    S3Bucket: str | None = None
    S3Key: str | None = None
    S3ObjectVersion: str | None = None
    ImageUri: str | None = None
    Publish: bool | None = None
    DryRun: bool | None = None
    RevisionId: str | None = None
    Architectures: list[str] | None = None


class UpdateFunctionConfigurationRequest(Shape):
    Role: str | None = None
    Handler: str | None = None
    Description: str | None = None
    Timeout: int | None = None
    MemorySize: int | None = None
    VpcConfig: VpcConfig | None = None
    Environment: Environment | None = None
    Runtime: str | None = None
    DeadLetterConfig: DeadLetterConfig | None = None
    KMSKeyArn: str | None = None
    TracingConfig: TracingConfig | None = None
    RevisionId: str | None = None
    Layers: list[str] | None = None
    FileSystemConfigs: list[dict[str, Any]] | None = None
    ImageConfig: dict[str, Any] | None = None
    EphemeralStorage: EphemeralStorage | None = None
    SnapStart: dict[str, Any] | None = None
    LoggingConfig: LoggingConfig | None = None


# ---------------------------------------------------------------- stored records
class FunctionRecord(msgspec.Struct, omit_defaults=True):
    """What the store keeps for a function: its $LATEST configuration and code identity."""

    name: str
    config: FunctionConfiguration
    code_sha256_hex: str
    unzipped_size: int
    tags: dict[str, str] = {}
    created_ms: int = 0
    last_version: int = 0  # the highest version number ever published (numbers are never reused)
    published_from: str | None = None  # a version's: the $LATEST code revision it was published from
    # The RevisionId of the last change to code or configuration, when a later change (tags) moved the
    # RevisionId without changing how the function runs; None: the RevisionId itself.
    code_revision: str | None = None

    @property
    def environment_revision(self) -> str:
        """What environments are started from: changes with code and configuration only."""
        return self.code_revision or self.config.RevisionId or ""
    sealed_environment: bytes | None = None  # Environment.Variables, encrypted, while at rest
