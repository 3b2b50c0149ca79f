"""Put/Get/Update/Delete/ListFunctionEventInvokeConfigs: REST paths and status codes of botocore's model."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.functions import convert, json_body, json_response, operation, query, query_params
from stratus.api.validation import validate
from stratus.shapes import PutFunctionEventInvokeConfigRequest

_BODY_LIMIT = 64 * 1024


class EventInvokeConfigRoutes:
    """The asynchronous invocation config operations of a function, version or alias."""

    def __init__(self, configs):
        self.configs = configs

    def routes(self) -> list[Route]:
        path = "/2019-09-25/functions/{name}/event-invoke-config"
        return [
            Route(path, operation(self.put), methods=["PUT"]),
            Route(path, operation(self.update), methods=["POST"]),
            Route(path, operation(self.get), methods=["GET"]),
            Route(path, operation(self.delete), methods=["DELETE"]),
            Route(f"{path}/list", operation(self.list), methods=["GET"]),
        ]

    async def put(self, request: Request) -> Response:
        name, qualifier, body = await self._request(request, "PutFunctionEventInvokeConfig")
        return json_response(await self.configs.put(name, qualifier, body))

    async def update(self, request: Request) -> Response:
        name, qualifier, body = await self._request(request, "UpdateFunctionEventInvokeConfig")
        return json_response(await self.configs.update(name, qualifier, body))

    async def get(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        validate("GetFunctionEventInvokeConfig", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        return json_response(await self.configs.get(name, qualifier))

    async def delete(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        validate("DeleteFunctionEventInvokeConfig", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        await self.configs.delete(name, qualifier)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems")
        validate("ListFunctionEventInvokeConfigs", params)
        return json_response(await self.configs.list(name, params.get("Marker"), params.get("MaxItems")))

    async def _request(self, request: Request, operation_name: str):
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        document = await json_body(request, _BODY_LIMIT)
        validate(operation_name, _without_none(dict(document, FunctionName=name, Qualifier=qualifier)))
        return name, qualifier, convert(document, PutFunctionEventInvokeConfigRequest)


def _without_none(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}
