"""Put/Get/Update/Delete/ListFunctionEventInvokeConfigs: REST paths and status codes of botocore's model."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import SETTINGS_BODY_MAX, check, json_response, operation, parse_body, query, query_params
from stratus.control.event_invoke_config import EventInvokeConfigService
from stratus.shapes import PutFunctionEventInvokeConfigRequest


class EventInvokeConfigRoutes:
    """The asynchronous invocation config operations of a function, version or alias."""

    def __init__(self, configs: EventInvokeConfigService):
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
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "PutFunctionEventInvokeConfig", PutFunctionEventInvokeConfigRequest,
                                SETTINGS_BODY_MAX, FunctionName=name, Qualifier=qualifier)
        return json_response(await self.configs.put(name, qualifier, body))

    async def update(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "UpdateFunctionEventInvokeConfig", PutFunctionEventInvokeConfigRequest,
                                SETTINGS_BODY_MAX, FunctionName=name, Qualifier=qualifier)
        return json_response(await self.configs.update(name, qualifier, body))

    async def get(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetFunctionEventInvokeConfig", FunctionName=name, Qualifier=qualifier)
        return json_response(await self.configs.get(name, qualifier))

    async def delete(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("DeleteFunctionEventInvokeConfig", FunctionName=name, Qualifier=qualifier)
        await self.configs.delete(name, qualifier)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems")
        check("ListFunctionEventInvokeConfigs", **params)
        return json_response(await self.configs.list(name, params.get("Marker"), params.get("MaxItems")))
