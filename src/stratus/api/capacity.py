"""Capacity providers (Create/Get/Update/Delete/ListCapacityProviders, ListFunctionVersionsByCapacityProvider)
and Put/GetFunctionScalingConfig: REST paths and status codes of botocore's model."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import SETTINGS_BODY_MAX, check, json_response, operation, parse_body, query, query_params
from stratus.control.capacity import CapacityService
from stratus.shapes import CreateCapacityProviderRequest, PutFunctionScalingConfigRequest, UpdateCapacityProviderRequest

_PROVIDERS = "/2025-11-30/capacity-providers"


class CapacityRoutes:
    """The capacity provider operations and a function version's scaling config."""

    def __init__(self, capacity: CapacityService):
        self.capacity = capacity

    def routes(self) -> list[Route]:
        provider = _PROVIDERS + "/{name}"
        scaling = "/2025-11-30/functions/{name}/function-scaling-config"
        return [
            Route(_PROVIDERS, operation(self.create), methods=["POST"]),
            Route(_PROVIDERS, operation(self.list), methods=["GET"]),
            Route(provider, operation(self.get), methods=["GET"]),
            Route(provider, operation(self.update), methods=["PUT"]),
            Route(provider, operation(self.delete), methods=["DELETE"]),
            Route(provider + "/function-versions", operation(self.list_function_versions), methods=["GET"]),
            Route(scaling, operation(self.put_scaling), methods=["PUT"]),
            Route(scaling, operation(self.get_scaling), methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        body = await parse_body(request, "CreateCapacityProvider", CreateCapacityProviderRequest, SETTINGS_BODY_MAX)
        return json_response(await self.capacity.create(body), 202)

    async def list(self, request: Request) -> Response:
        params = query_params(request, {}, "State", "Marker", "MaxItems")
        check("ListCapacityProviders", **params)
        return json_response(await self.capacity.list(params.get("State"), params.get("Marker"),
                                                      params.get("MaxItems")))

    async def get(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("GetCapacityProvider", CapacityProviderName=name)
        return json_response(await self.capacity.get(name))

    async def update(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "UpdateCapacityProvider", UpdateCapacityProviderRequest, SETTINGS_BODY_MAX,
                                CapacityProviderName=name)
        return json_response(await self.capacity.update(name, body), 202)

    async def delete(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("DeleteCapacityProvider", CapacityProviderName=name)
        return json_response(await self.capacity.delete(name), 202)

    async def list_function_versions(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = query_params(request, {"CapacityProviderName": name}, "Marker", "MaxItems")
        check("ListFunctionVersionsByCapacityProvider", **params)
        return json_response(await self.capacity.list_function_versions(name, params.get("Marker"),
                                                                        params.get("MaxItems")))

    async def put_scaling(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "PutFunctionScalingConfig", PutFunctionScalingConfigRequest,
                                SETTINGS_BODY_MAX, FunctionName=name, Qualifier=qualifier)
        assert qualifier is not None  # the model requires it: parse_body refused its absence
        return json_response(await self.capacity.put_scaling(name, qualifier, body.FunctionScalingConfig), 202)

    async def get_scaling(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetFunctionScalingConfig", FunctionName=name, Qualifier=qualifier)
        assert qualifier is not None  # the model requires it: check() refused its absence
        return json_response(await self.capacity.get_scaling(name, qualifier))
