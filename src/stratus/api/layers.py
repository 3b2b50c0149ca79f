"""The layer operations of the Lambda control API (2018-10-31 paths of botocore's model)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.code_urls import CodeUrls
from stratus.api.handlers import (
    CONFIG_BODY_MAX,
    check,
    json_response,
    operation,
    parse_body,
    query,
    query_params,
)
from stratus.config import Settings
from stratus.control.layer_refs import check_layer_version_arn
from stratus.control.layers import LayerService
from stratus.errors import InvalidParameterValueException
from stratus.shapes import AddLayerVersionPermissionRequest, PublishLayerVersionRequest

_VERSION = "/2018-10-31/layers/{name}/versions/{version}"


def _version_number(request: Request) -> int:
    raw = request.path_params["version"]
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameterValueException(f"Invalid layer version number: {raw}") from None


def _list_params(request: Request, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {key: value for key, value in extra.items() if value is not None}
    return query_params(request, params, "CompatibleRuntime", "CompatibleArchitecture", "Marker", "MaxItems")


class LayerRoutes:
    """PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions,
    DeleteLayerVersion, AddLayerVersionPermission, GetLayerVersionPolicy, RemoveLayerVersionPermission."""

    def __init__(self, layers: LayerService, settings: Settings, code_urls: CodeUrls):
        self.layers = layers
        self.settings = settings
        self.code_urls = code_urls

    def routes(self) -> list[Route]:
        return [
            Route("/2018-10-31/layers", operation(self.list_or_find), methods=["GET"]),
            Route("/2018-10-31/layers/{name}/versions", operation(self.publish), methods=["POST"]),
            Route("/2018-10-31/layers/{name}/versions", operation(self.list_versions), methods=["GET"]),
            Route(_VERSION, operation(self.get), methods=["GET"]),
            Route(_VERSION, operation(self.delete), methods=["DELETE"]),
            Route(_VERSION + "/policy", operation(self.add_permission), methods=["POST"]),
            Route(_VERSION + "/policy", operation(self.get_policy), methods=["GET"]),
            Route(_VERSION + "/policy/{sid}", operation(self.remove_permission), methods=["DELETE"]),
        ]

    async def publish(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "PublishLayerVersion", PublishLayerVersionRequest,
                                self.settings.control_request_max_bytes, LayerName=name)
        return json_response(await self.layers.publish(name, body, self.code_urls.url), 201)

    async def get(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        check("GetLayerVersion", LayerName=name, VersionNumber=version)
        return json_response(await self.layers.get(name, version, self.code_urls.url))

    async def list_or_find(self, request: Request) -> Response:
        if query(request, "find") == "LayerVersion":  # GetLayerVersionByArn shares ListLayers' path
            arn = query(request, "Arn")
            if arn is not None:
                check_layer_version_arn(arn)  # AWS words this one with its own pattern, not the model's
            check("GetLayerVersionByArn", Arn=arn)
            assert arn is not None  # the model requires it: check() refused its absence
            return json_response(await self.layers.get_by_arn(arn, self.code_urls.url))
        params = _list_params(request)
        check("ListLayers", **params)
        return json_response(await self.layers.list_layers(
            params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"), params.get("Marker"),
            params.get("MaxItems")))

    async def list_versions(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = _list_params(request, LayerName=name)
        check("ListLayerVersions", **params)
        return json_response(await self.layers.list_versions(
            name, params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"), params.get("Marker"),
            params.get("MaxItems")))

    async def delete(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        check("DeleteLayerVersion", LayerName=name, VersionNumber=version)
        await self.layers.delete(name, version)
        return Response(status_code=204)

    async def add_permission(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        revision_id = query(request, "RevisionId")
        body = await parse_body(request, "AddLayerVersionPermission", AddLayerVersionPermissionRequest,
                                CONFIG_BODY_MAX, LayerName=name, VersionNumber=version, RevisionId=revision_id)
        return json_response(await self.layers.add_permission(name, version, body, revision_id), 201)

    async def get_policy(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        check("GetLayerVersionPolicy", LayerName=name, VersionNumber=version)
        return json_response(await self.layers.get_policy(name, version))

    async def remove_permission(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        sid, revision_id = request.path_params["sid"], query(request, "RevisionId")
        check("RemoveLayerVersionPermission", LayerName=name, VersionNumber=version, StatementId=sid,
              RevisionId=revision_id)
        await self.layers.remove_permission(name, version, sid, revision_id)
        return Response(status_code=204)

