"""Version and alias shapes (PublishVersion, ListVersionsByFunction, the alias operations)."""

from __future__ import annotations

from stratus.shapes.base import Shape
from stratus.shapes.function import FunctionConfiguration


class PublishVersionRequest(Shape):
    CodeSha256: str | None = None
    Description: str | None = None
    RevisionId: str | None = None
    PublishTo: str | None = None


class ListVersionsByFunctionResponse(Shape):
    Versions: list[FunctionConfiguration]
    NextMarker: str | None = None


class AliasRoutingConfiguration(Shape):
    AdditionalVersionWeights: dict[str, float] | None = None


class AliasConfiguration(Shape):
    AliasArn: str | None = None
    Name: str | None = None
    FunctionVersion: str | None = None
    Description: str | None = None
    RoutingConfig: AliasRoutingConfiguration | None = None
    RevisionId: str | None = None


class CreateAliasRequest(Shape):
    Name: str
    FunctionVersion: str
    Description: str | None = None
    RoutingConfig: AliasRoutingConfiguration | None = None


class UpdateAliasRequest(Shape):
    FunctionVersion: str | None = None
    Description: str | None = None
    RoutingConfig: AliasRoutingConfiguration | None = None
    RevisionId: str | None = None


class ListAliasesResponse(Shape):
    Aliases: list[AliasConfiguration]
    NextMarker: str | None = None
