"""Code signing configs (Create/Get/Update/Delete/ListCodeSigningConfigs, ListFunctionsByCodeSigningConfig) and
a function's config (Put/Get/DeleteFunctionCodeSigningConfig): REST paths and status codes of botocore's model."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import CONFIG_BODY_MAX, check, json_response, operation, parse_body, query_params
from stratus.control.code_signing import CodeSigningService
from stratus.shapes import (
    CreateCodeSigningConfigRequest,
    PutFunctionCodeSigningConfigRequest,
    UpdateCodeSigningConfigRequest,
)

_CONFIGS = "/2020-04-22/code-signing-configs"


class CodeSigningRoutes:
    """The code signing operations."""

    def __init__(self, code_signing: CodeSigningService):
        self.code_signing = code_signing

    def routes(self) -> list[Route]:
        config = _CONFIGS + "/{arn}"
        function = "/2020-06-30/functions/{name}/code-signing-config"
        return [
            Route(_CONFIGS, operation(self.create), methods=["POST"]),
            Route(_CONFIGS, operation(self.list), methods=["GET"]),
            Route(config, operation(self.get), methods=["GET"]),
            Route(config, operation(self.update), methods=["PUT"]),
            Route(config, operation(self.delete), methods=["DELETE"]),
            Route(config + "/functions", operation(self.list_functions), methods=["GET"]),
            Route(function, operation(self.put_function), methods=["PUT"]),
            Route(function, operation(self.get_function), methods=["GET"]),
            Route(function, operation(self.delete_function), methods=["DELETE"]),
        ]

    async def create(self, request: Request) -> Response:
        body = await parse_body(request, "CreateCodeSigningConfig", CreateCodeSigningConfigRequest, CONFIG_BODY_MAX)
        return json_response(await self.code_signing.create(body), 201)

    async def list(self, request: Request) -> Response:
        params = query_params(request, {}, "Marker", "MaxItems")
        check("ListCodeSigningConfigs", **params)
        return json_response(await self.code_signing.list_configs(params.get("Marker"), params.get("MaxItems")))

    async def get(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        check("GetCodeSigningConfig", CodeSigningConfigArn=arn)
        return json_response(await self.code_signing.get(arn))

    async def update(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        body = await parse_body(request, "UpdateCodeSigningConfig", UpdateCodeSigningConfigRequest, CONFIG_BODY_MAX,
                                CodeSigningConfigArn=arn)
        return json_response(await self.code_signing.update(arn, body))

    async def delete(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        check("DeleteCodeSigningConfig", CodeSigningConfigArn=arn)
        await self.code_signing.delete(arn)
        return Response(status_code=204)

    async def list_functions(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        params = query_params(request, {"CodeSigningConfigArn": arn}, "Marker", "MaxItems")
        check("ListFunctionsByCodeSigningConfig", **params)
        return json_response(await self.code_signing.list_functions(arn, params.get("Marker"),
                                                                    params.get("MaxItems")))

    async def put_function(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "PutFunctionCodeSigningConfig", PutFunctionCodeSigningConfigRequest,
                                CONFIG_BODY_MAX, FunctionName=name)
        return json_response(await self.code_signing.put_function(name, body.CodeSigningConfigArn))

    async def get_function(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("GetFunctionCodeSigningConfig", FunctionName=name)
        return json_response(await self.code_signing.get_function(name))

    async def delete_function(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("DeleteFunctionCodeSigningConfig", FunctionName=name)
        await self.code_signing.delete_function(name)
        return Response(status_code=204)
