"""Layer shapes: requests and responses of the layer operations, a function's Layer entry, the stored record."""

from __future__ import annotations

from typing import Any

import msgspec

from stratus.shapes.base import Shape


class Layer(Shape):
    """One entry of a function configuration's `Layers`."""

    Arn: str | None = None
    CodeSize: int | None = None
    SigningProfileVersionArn: str | None = None
    SigningJobArn: str | None = None


# ---------------------------------------------------------------- requests
class LayerVersionContentInput(Shape):
    S3Bucket: str | None = None
    S3Key: str | None = None
    S3ObjectVersion: str | None = None
    ZipFile: str | None = None  # base64 in the JSON body


class PublishLayerVersionRequest(Shape):
    Content: LayerVersionContentInput
    Description: str | None = None
    CompatibleRuntimes: list[str] | None = None
    LicenseInfo: str | None = None
    CompatibleArchitectures: list[str] | None = None


class AddLayerVersionPermissionRequest(Shape):
    StatementId: str
    Action: str
    Principal: str
    OrganizationId: str | None = None


# ---------------------------------------------------------------- responses
class LayerVersionContentOutput(Shape):
    Location: str | None = None
    CodeSha256: str | None = None
    CodeSize: int | None = None
    SigningProfileVersionArn: str | None = None
    SigningJobArn: str | None = None


class GetLayerVersionResponse(Shape):
    """Also PublishLayerVersion's response (botocore gives both the same members)."""

    Content: LayerVersionContentOutput | None = None
    LayerArn: str | None = None
    LayerVersionArn: str | None = None
    Description: str | None = None
    CreatedDate: str | None = None
    Version: int | None = None
    CompatibleRuntimes: list[str] | None = None
    LicenseInfo: str | None = None
    CompatibleArchitectures: list[str] | None = None


PublishLayerVersionResponse = GetLayerVersionResponse


class LayerVersionsListItem(Shape):
    LayerVersionArn: str | None = None
    Version: int | None = None
    Description: str | None = None
    CreatedDate: str | None = None
    CompatibleRuntimes: list[str] | None = None
    LicenseInfo: str | None = None
    CompatibleArchitectures: list[str] | None = None


class ListLayerVersionsResponse(Shape):
    LayerVersions: list[LayerVersionsListItem]
    NextMarker: str | None = None


class LayersListItem(Shape):
    LayerName: str | None = None
    LayerArn: str | None = None
    LatestMatchingVersion: LayerVersionsListItem | None = None


class ListLayersResponse(Shape):
    Layers: list[LayersListItem]
    NextMarker: str | None = None


class AddLayerVersionPermissionResponse(Shape):
    Statement: str | None = None  # the statement, as a JSON document in a string
    RevisionId: str | None = None


class GetLayerVersionPolicyResponse(Shape):
    Policy: str | None = None  # the policy, as a JSON document in a string
    RevisionId: str | None = None


# ---------------------------------------------------------------- stored records
class LayerVersionRecord(msgspec.Struct, omit_defaults=True):
    """What the store keeps for one layer version (document kind "layer-version").

    A deleted version stays as a tombstone (`deleted`): functions that use it keep their /opt, and
    its number is never handed out again.
    """

    name: str
    version: int
    sha256_hex: str
    code_size: int
    unzipped_size: int
    created: str
    description: str = ""
    compatible_runtimes: list[str] | None = None
    compatible_architectures: list[str] | None = None
    license_info: str | None = None
    statements: list[dict[str, Any]] = []  # the permission policy's statements, as AWS returns them
    policy_revision: str | None = None
    deleted: bool = False
