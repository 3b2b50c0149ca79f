"""PublishVersion, ListVersionsByFunction and the alias operations (REST paths of botocore's model)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import CONFIG_BODY_MAX, check, json_response, operation, parse_body, query_params
from stratus.control.aliases import AliasService
from stratus.control.functions import FunctionService
from stratus.shapes import CreateAliasRequest, PublishVersionRequest, UpdateAliasRequest


class VersionRoutes:
    """Versions and aliases of a function."""

    def __init__(self, functions: FunctionService, aliases: AliasService):
        self.functions = functions
        self.aliases = aliases

    def routes(self) -> list[Route]:
        base = "/2015-03-31/functions/{name}"
        return [
            Route(f"{base}/versions", operation(self.publish), methods=["POST"]),
            Route(f"{base}/versions", operation(self.list_versions), methods=["GET"]),
            Route(f"{base}/aliases", operation(self.create_alias), methods=["POST"]),
            Route(f"{base}/aliases", operation(self.list_aliases), methods=["GET"]),
            Route(f"{base}/aliases/{{alias}}", operation(self.get_alias), methods=["GET"]),
            Route(f"{base}/aliases/{{alias}}", operation(self.update_alias), methods=["PUT"]),
            Route(f"{base}/aliases/{{alias}}", operation(self.delete_alias), methods=["DELETE"]),
        ]

    async def publish(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "PublishVersion", PublishVersionRequest, CONFIG_BODY_MAX, FunctionName=name)
        return json_response(await self.functions.publish_version(name, body), 201)

    async def list_versions(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems")
        check("ListVersionsByFunction", **params)
        return json_response(await self.functions.list_versions(name, params.get("Marker"), params.get("MaxItems")))

    async def create_alias(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "CreateAlias", CreateAliasRequest, CONFIG_BODY_MAX, FunctionName=name)
        return json_response(await self.aliases.create(name, body), 201)

    async def list_aliases(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems", "FunctionVersion")
        check("ListAliases", **params)
        return json_response(await self.aliases.list(name, params.get("FunctionVersion"), params.get("Marker"),
                                                     params.get("MaxItems")))

    async def get_alias(self, request: Request) -> Response:
        name, alias = request.path_params["name"], request.path_params["alias"]
        check("GetAlias", FunctionName=name, Name=alias)
        return json_response(await self.aliases.get(name, alias))

    async def update_alias(self, request: Request) -> Response:
        name, alias = request.path_params["name"], request.path_params["alias"]
        body = await parse_body(request, "UpdateAlias", UpdateAliasRequest, CONFIG_BODY_MAX,
                                FunctionName=name, Name=alias)
        return json_response(await self.aliases.update(name, alias, body))

    async def delete_alias(self, request: Request) -> Response:
        name, alias = request.path_params["name"], request.path_params["alias"]
        check("DeleteAlias", FunctionName=name, Name=alias)
        await self.aliases.delete(name, alias)
        return Response(status_code=204)
