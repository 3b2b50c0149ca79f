"""Reserved concurrency (Put/Get/DeleteFunctionConcurrency) and provisioned concurrency configs
(Put/Get/Delete/ListProvisionedConcurrencyConfigs): REST paths and status codes of botocore's model."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.functions import convert, json_body, json_response, operation, query, query_params
from stratus.api.validation import validate
from stratus.shapes import Concurrency, PutProvisionedConcurrencyConfigRequest

_BODY_LIMIT = 64 * 1024


class ConcurrencyRoutes:
    """The concurrency operations of a function."""

    def __init__(self, concurrency):
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
        document = await json_body(request, _BODY_LIMIT)
        validate("PutFunctionConcurrency", dict(document, FunctionName=name))
        body = convert(document, Concurrency)
        return json_response(await self.concurrency.put_reserved(name, body.ReservedConcurrentExecutions))

    async def get_reserved(self, request: Request) -> Response:
        name = request.path_params["name"]
        validate("GetFunctionConcurrency", {"FunctionName": name})
        return json_response(await self.concurrency.get_reserved(name))

    async def delete_reserved(self, request: Request) -> Response:
        name = request.path_params["name"]
        validate("DeleteFunctionConcurrency", {"FunctionName": name})
        await self.concurrency.delete_reserved(name)
        return Response(status_code=204)

    async def put_provisioned(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        document = await json_body(request, _BODY_LIMIT)
        validate("PutProvisionedConcurrencyConfig",
                 _without_none(dict(document, FunctionName=name, Qualifier=qualifier)))
        body = convert(document, PutProvisionedConcurrencyConfigRequest)
        config = await self.concurrency.put_provisioned(name, qualifier, body.ProvisionedConcurrentExecutions)
        return json_response(config, 202)

    async def get_or_list_provisioned(self, request: Request) -> Response:
        name = request.path_params["name"]
        if query(request, "List") == "ALL":  # ListProvisionedConcurrencyConfigs shares the path
            params = query_params(request, {"FunctionName": name}, "Marker", "MaxItems")
            validate("ListProvisionedConcurrencyConfigs", params)
            return json_response(await self.concurrency.list_provisioned(name, params.get("Marker"),
                                                                         params.get("MaxItems")))
        qualifier = query(request, "Qualifier")
        validate("GetProvisionedConcurrencyConfig", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        return json_response(await self.concurrency.get_provisioned(name, qualifier))

    async def delete_provisioned(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        validate("DeleteProvisionedConcurrencyConfig", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        await self.concurrency.delete_provisioned(name, qualifier)
        return Response(status_code=204)


def _without_none(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}
