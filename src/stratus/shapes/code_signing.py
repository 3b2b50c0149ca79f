"""Code signing configs (Create/Get/Update/Delete/ListCodeSigningConfigs) and a function's association with
one (Put/Get/DeleteFunctionCodeSigningConfig, ListFunctionsByCodeSigningConfig)."""

from __future__ import annotations

from stratus.shapes.base import Shape


class AllowedPublishers(Shape):
    SigningProfileVersionArns: list[str]


class CodeSigningPolicies(Shape):
    UntrustedArtifactOnDeployment: str | None = None


class CodeSigningConfig(Shape):
    """A config as AWS answers it (and as the store keeps it, kind "code-signing-config", key its id)."""

    CodeSigningConfigId: str
    CodeSigningConfigArn: str
    Description: str  # "" when none was given: always present, as AWS answers
    AllowedPublishers: AllowedPublishers
    CodeSigningPolicies: CodeSigningPolicies
    LastModified: str


class CreateCodeSigningConfigRequest(Shape):
    AllowedPublishers: AllowedPublishers
    Description: str | None = None
    CodeSigningPolicies: CodeSigningPolicies | None = None
    Tags: dict[str, str] | None = None


class UpdateCodeSigningConfigRequest(Shape):
    Description: str | None = None
    AllowedPublishers: AllowedPublishers | None = None
    CodeSigningPolicies: CodeSigningPolicies | None = None


class CodeSigningConfigResponse(Shape):
    """Create/Get/UpdateCodeSigningConfig's answer."""

    CodeSigningConfig: CodeSigningConfig


class ListCodeSigningConfigsResponse(Shape):
    CodeSigningConfigs: list[CodeSigningConfig]
    NextMarker: str | None = None


class PutFunctionCodeSigningConfigRequest(Shape):
    CodeSigningConfigArn: str


class FunctionCodeSigningConfig(Shape):
    """Put/GetFunctionCodeSigningConfig's answer; GetFunctionCodeSigningConfig of a function without one
    answers neither member (AWS's recorded answer is an empty object)."""

    CodeSigningConfigArn: str | None = None
    FunctionName: str | None = None


class ListFunctionsByCodeSigningConfigResponse(Shape):
    FunctionArns: list[str]
    NextMarker: str | None = None
