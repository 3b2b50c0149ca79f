"""Reserved concurrency (Put/Get/DeleteFunctionConcurrency) and provisioned concurrency configs
(Put/Get/Delete/ListProvisionedConcurrencyConfigs): REST paths and status codes of botocore's model."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import SETTINGS_BODY_MAX, check, json_response, operation, parse_body, query, query_params
from stratus.control.concurrency import ConcurrencyService
from stratus.shapes import Concurrency, PutProvisionedConcurrencyConfigRequest


class ConcurrencyRoutes:
    """The concurrency operations of a function."""

    def __init__(self, concurrency: ConcurrencyService):
        self.concurrency = concurrency

    def routes(self) -> list[Route]:
        reserved_2017 = "/2017-10-31/functions/{name}/concurrency"
        provisioned = "/2019-09-30/functions/{name}/provisioned-concurrency"
        return [
            Route(reserved_2017, operation(self.put_reserved), methods=["PUT"]),
            Route(reserved_2017, operation(self.delete_reserved), methods=["DELETE"]),
            Route("/2019-09-30/functions/{name}/concurrency", operation(self.get_reserved), methods=["GET"]),
            Route(provisioned, operation(self.put_provisioned), methods=["PUT"]),
            Route(provisioned, operation(self.get_or_list_provisioned), methods=["GET"]),
            Route(provisioned, operation(self.delete_provisioned), methods=["DELETE"]),
        ]

    async def put_reserved(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "PutFunctionConcurrency", Concurrency, SETTINGS_BODY_MAX, FunctionName=name)
        reserved = body.ReservedConcurrentExecutions
        assert reserved is not None  # the model requires it: parse_body refused its absence
        return json_response(await self.concurrency.put_reserved(name, reserved))

    async def get_reserved(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("GetFunctionConcurrency", FunctionName=name)
        return json_response(await self.concurrency.get_reserved(name))

    async def delete_reserved(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("DeleteFunctionConcurrency", FunctionName=name)
        await self.concurrency.delete_reserved(name)
        return Response(status_code=204)

    async def put_provisioned(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "PutProvisionedConcurrencyConfig", PutProvisionedConcurrencyConfigRequest,
                                SETTINGS_BODY_MAX, FunctionName=name, Qualifier=qualifier)
        config = await self.concurrency.put_provisioned(name, qualifier, body.ProvisionedConcurrentExecutions)
        return json_response(config, 202)

    async def get_or_list_provisioned(self, request: Request) -> Response:
        name = request.path_params["name"]
        if query(request, "List") == "ALL":  # ListProvisionedConcurrencyConfigs shares the path
            params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems")
            check("ListProvisionedConcurrencyConfigs", **params)
            return json_response(await self.concurrency.list_provisioned(name, params.get("Marker"),
                                                                         params.get("MaxItems")))
        qualifier = query(request, "Qualifier")
        check("GetProvisionedConcurrencyConfig", FunctionName=name, Qualifier=qualifier)
        return json_response(await self.concurrency.get_provisioned(name, qualifier))

    async def delete_provisioned(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("DeleteProvisionedConcurrencyConfig", FunctionName=name, Qualifier=qualifier)
        await self.concurrency.delete_provisioned(name, qualifier)
        return Response(status_code=204)
