"""The layer operations of the Lambda control API (2018-10-31 paths of botocore's model)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.functions import convert, json_body, json_response, operation, query, query_params
from stratus.api.validation import validate
from stratus.control.layers import check_layer_version_arn
from stratus.errors import InvalidParameterValueException
from stratus.shapes import AddLayerVersionPermissionRequest, PublishLayerVersionRequest

_VERSION = "/2018-10-31/layers/{name}/versions/{version}"


def _version_number(request: Request) -> int:
    raw = request.path_params["version"]
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameterValueException(f"Invalid layer version number: {raw}") from None


def _list_params(request: Request, **extra) -> dict[str, Any]:
    params: dict[str, Any] = {key: value for key, value in extra.items() if value is not None}
    return query_params(request, params, "CompatibleRuntime", "CompatibleArchitecture", "Marker", "MaxItems")


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


class LayerRoutes:
    """PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions,
    DeleteLayerVersion, AddLayerVersionPermission, GetLayerVersionPolicy, RemoveLayerVersionPermission."""

    def __init__(self, layers, settings):
        self.layers = layers
        self.settings = settings

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
        document = await json_body(request, self.settings.control_request_max_bytes)
        validate("PublishLayerVersion", dict(document, LayerName=name))
        answer = await self.layers.publish(name, convert(document, PublishLayerVersionRequest), _base_url(request))
        return json_response(answer, 201)

    async def get(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        validate("GetLayerVersion", {"LayerName": name, "VersionNumber": version})
        return json_response(await self.layers.get(name, version, _base_url(request)))

    async def list_or_find(self, request: Request) -> Response:
        if query(request, "find") == "LayerVersion":  # GetLayerVersionByArn shares ListLayers' path
            arn = query(request, "Arn")
            if arn is not None:
                check_layer_version_arn(arn)  # AWS words this one with its own pattern, not the model's
            validate("GetLayerVersionByArn", {"Arn": arn} if arn is not None else {})
            return json_response(await self.layers.get_by_arn(arn, _base_url(request)))
        params = _list_params(request)
        validate("ListLayers", params)
        return json_response(await self.layers.list_layers(
            params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"), params.get("Marker"),
            params.get("MaxItems")))

    async def list_versions(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = _list_params(request, LayerName=name)
        validate("ListLayerVersions", params)
        return json_response(await self.layers.list_versions(
            name, params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"), params.get("Marker"),
            params.get("MaxItems")))

    async def delete(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        validate("DeleteLayerVersion", {"LayerName": name, "VersionNumber": version})
        await self.layers.delete(name, version)
        return Response(status_code=204)

    async def add_permission(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        revision_id = query(request, "RevisionId")
        document = await json_body(request, 1024 * 1024)
        params = dict(document, LayerName=name, VersionNumber=version)
        if revision_id is not None:
            params["RevisionId"] = revision_id
        validate("AddLayerVersionPermission", params)
        answer = await self.layers.add_permission(
            name, version, convert(document, AddLayerVersionPermissionRequest), revision_id)
        return json_response(answer, 201)

    async def get_policy(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        validate("GetLayerVersionPolicy", {"LayerName": name, "VersionNumber": version})
        return json_response(await self.layers.get_policy(name, version))

    async def remove_permission(self, request: Request) -> Response:
        name, version = request.path_params["name"], _version_number(request)
        sid, revision_id = request.path_params["sid"], query(request, "RevisionId")
        params = {"LayerName": name, "VersionNumber": version, "StatementId": sid}
        if revision_id is not None:
            params["RevisionId"] = revision_id
        validate("RemoveLayerVersionPermission", params)
        await self.layers.remove_permission(name, version, sid, revision_id)
        return Response(status_code=204)
