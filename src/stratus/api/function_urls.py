"""Create/Get/Update/Delete/ListFunctionUrlConfigs: REST paths and status codes of botocore's model."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import CONFIG_BODY_MAX, check, json_response, operation, parse_body, query, query_params
from stratus.control.function_urls import FunctionUrlService
from stratus.shapes import FunctionUrlConfigRequest


class FunctionUrlRoutes:
    """The Function URL operations of a function or alias."""

    def __init__(self, urls: FunctionUrlService):
        self.urls = urls

    def routes(self) -> list[Route]:
        path = "/2021-10-31/functions/{name}/url"
        return [
            Route(path, operation(self.create), methods=["POST"]),
            Route(path, operation(self.get), methods=["GET"]),
            Route(path, operation(self.update), methods=["PUT"]),
            Route(path, operation(self.delete), methods=["DELETE"]),
            Route(path + "s", operation(self.list), methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "CreateFunctionUrlConfig", FunctionUrlConfigRequest, CONFIG_BODY_MAX,
                                FunctionName=name, Qualifier=qualifier)
        return json_response(await self.urls.create(name, qualifier, body), 201)

    async def update(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "UpdateFunctionUrlConfig", FunctionUrlConfigRequest, CONFIG_BODY_MAX,
                                FunctionName=name, Qualifier=qualifier)
        return json_response(await self.urls.update(name, qualifier, body))

    async def get(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetFunctionUrlConfig", FunctionName=name, Qualifier=qualifier)
        return json_response(await self.urls.get(name, qualifier))

    async def delete(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("DeleteFunctionUrlConfig", FunctionName=name, Qualifier=qualifier)
        await self.urls.delete(name, qualifier)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems")
        check("ListFunctionUrlConfigs", **params)
        return json_response(await self.urls.list(name, params.get("Marker"), params.get("MaxItems")))
