"""A subset of the apigateway API (REST APIs, API Gateway v1) on the Lambda port, REST-JSON under `/restapis`
as boto3 sends it (signed for the `apigateway` service): Create/Get/Delete of REST APIs, resources, methods,
AWS_PROXY and MOCK integrations (with integration and method responses), deployments, stages (UpdateStage for
variables and the deployment), Lambda authorizers, and ImportRestApi / PutRestApi (OpenAPI definitions:
frontdoor/rest_import.py). Lists answer `{"item": [...]}` (the model's locationName); errors are apigateway's:
`{"message": ...}` with x-amzn-ErrorType. Each handler only converts; frontdoor/rest_apis.py decides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.apigatewayv2 import _body, _required
from stratus.api.apigatewayv2 import _operation as v2_operation
from stratus.api.handlers import read_limited
from stratus.frontdoor.apis import bad_request
from stratus.frontdoor.rest_apis import RestApis

Handler = Callable[[Request], Awaitable[Any]]
DEFINITION_MAX = 6 * 1024 * 1024


def _operation(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """As apigatewayv2's, but an empty result answers with the operation's own status (e.g. 202 for deletes)."""
    return v2_operation(handler, status, empty_status=status)


def _strings(document: dict[str, Any], name: str) -> list[str] | None:
    value = document.get(name)
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise bad_request(f"{name} must be a list of strings")
    return value


def _map(document: dict[str, Any], name: str) -> dict[str, str] | None:
    value = document.get(name)
    if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
        raise bad_request(f"{name} must be a map of strings")
    return value


def _int(document: dict[str, Any], name: str) -> int | None:
    value = document.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_request(f"{name} must be an integer")
    return value


async def _definition(request: Request) -> bytes:
    """An import's body: an OpenAPI definition, up to API Gateway's 6 MB."""
    return await read_limited(request, DEFINITION_MAX, lambda: bad_request("The API definition is over 6 MB"))


class ApiGatewayRoutes:
    """The apigateway (v1) operations Stratus serves."""

    def __init__(self, rest: RestApis):
        self.rest = rest

    def routes(self) -> list[Route]:
        api = "/restapis/{api}"
        resource = api + "/resources/{resource}"
        method = resource + "/methods/{method}"
        op = _operation
        return [
            Route("/restapis", op(self.create_rest_api, 201), methods=["POST"]),
            Route(api, op(self.put_rest_api), methods=["PUT"]),
            Route("/restapis", op(self.get_rest_apis), methods=["GET"]),
            Route(api, op(self.get_rest_api), methods=["GET"]),
            Route(api, op(self.delete_rest_api, 202), methods=["DELETE"]),
            Route(api + "/resources", op(self.get_resources), methods=["GET"]),
            Route(resource, op(self.get_resource), methods=["GET"]),
            Route(resource, op(self.create_resource, 201), methods=["POST"]),
            Route(resource, op(self.delete_resource, 202), methods=["DELETE"]),
            Route(method, op(self.put_method, 201), methods=["PUT"]),
            Route(method, op(self.get_method), methods=["GET"]),
            Route(method, op(self.delete_method, 204), methods=["DELETE"]),
            Route(method + "/integration", op(self.put_integration, 201), methods=["PUT"]),
            Route(method + "/integration", op(self.get_integration), methods=["GET"]),
            Route(method + "/integration/responses/{status}", op(self.put_integration_response, 201),
                  methods=["PUT"]),
            Route(method + "/responses/{status}", op(self.put_method_response, 201), methods=["PUT"]),
            Route(method + "/integration", op(self.delete_integration, 204), methods=["DELETE"]),
            Route(api + "/deployments", op(self.create_deployment, 201), methods=["POST"]),
            Route(api + "/deployments", op(self.get_deployments), methods=["GET"]),
            Route(api + "/deployments/{deployment}", op(self.get_deployment), methods=["GET"]),
            Route(api + "/deployments/{deployment}", op(self.delete_deployment, 202), methods=["DELETE"]),
            Route(api + "/stages", op(self.create_stage, 201), methods=["POST"]),
            Route(api + "/stages", op(self.get_stages), methods=["GET"]),
            Route(api + "/stages/{stage}", op(self.get_stage), methods=["GET"]),
            Route(api + "/stages/{stage}", op(self.update_stage), methods=["PATCH"]),
            Route(api + "/stages/{stage}", op(self.delete_stage, 202), methods=["DELETE"]),
            Route(api + "/authorizers", op(self.create_authorizer, 201), methods=["POST"]),
            Route(api + "/authorizers", op(self.get_authorizers), methods=["GET"]),
            Route(api + "/authorizers/{authorizer}", op(self.get_authorizer), methods=["GET"]),
            Route(api + "/authorizers/{authorizer}", op(self.delete_authorizer, 202), methods=["DELETE"]),
        ]

    # ------------------------------------------------------------------ APIs
    async def create_rest_api(self, request: Request) -> Any:
        if request.query_params.get("mode") == "import":
            return await self.import_rest_api(request)
        body = await _body(request)
        _required(body, "name")
        endpoint = body.get("endpointConfiguration") or {}
        return await self.rest.create_rest_api(
            str(body["name"]), description=body.get("description"),
            binary_media_types=_strings(body, "binaryMediaTypes"), tags=_map(body, "tags"),
            version=body.get("version"), endpoint_types=_strings(endpoint, "types"))

    async def import_rest_api(self, request: Request) -> Any:
        """ImportRestApi (`POST /restapis?mode=import`, the body an OpenAPI definition in JSON or YAML)."""
        types = request.query_params.get("endpointConfigurationTypes")
        return await self.rest.import_rest_api(await _definition(request), [types] if types else None)

    async def put_rest_api(self, request: Request) -> Any:
        """PutRestApi (`PUT /restapis/{id}?mode=overwrite|merge`)."""
        return await self.rest.put_rest_api(request.path_params["api"], await _definition(request),
                                            request.query_params.get("mode"))

    async def get_rest_apis(self, request: Request) -> Any:
        return {"item": self.rest.get_rest_apis()}

    async def get_rest_api(self, request: Request) -> Any:
        return self.rest.get_rest_api(request.path_params["api"])

    async def delete_rest_api(self, request: Request) -> Any:
        await self.rest.delete_rest_api(request.path_params["api"])

    # ------------------------------------------------------------------ resources
    async def get_resources(self, request: Request) -> Any:
        embed = "methods" in request.query_params.getlist("embed")
        return {"item": self.rest.get_resources(request.path_params["api"], embed)}

    async def get_resource(self, request: Request) -> Any:
        embed = "methods" in request.query_params.getlist("embed")
        return self.rest.get_resource(request.path_params["api"], request.path_params["resource"], embed)

    async def create_resource(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "pathPart")
        return await self.rest.create_resource(request.path_params["api"], request.path_params["resource"],
                                               str(body["pathPart"]))

    async def delete_resource(self, request: Request) -> Any:
        await self.rest.delete_resource(request.path_params["api"], request.path_params["resource"])

    # ------------------------------------------------------------------ methods
    def _method_key(self, request: Request) -> tuple[str, str, str]:
        params = request.path_params
        return params["api"], params["resource"], params["method"]

    async def put_method(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "authorizationType")
        return await self.rest.put_method(*self._method_key(request), str(body["authorizationType"]),
                                          authorizer_id=body.get("authorizerId"),
                                          api_key_required=bool(body.get("apiKeyRequired", False)),
                                          operation_name=body.get("operationName"))

    async def get_method(self, request: Request) -> Any:
        return self.rest.get_method(*self._method_key(request))

    async def delete_method(self, request: Request) -> Any:
        await self.rest.delete_method(*self._method_key(request))

    async def put_integration(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "type")
        return await self.rest.put_integration(*self._method_key(request), str(body["type"]), body.get("uri"),
                                               http_method_used=body.get("httpMethod"),
                                               timeout_ms=_int(body, "timeoutInMillis"),
                                               request_templates=_map(body, "requestTemplates"),
                                               passthrough=body.get("passthroughBehavior"))

    async def put_integration_response(self, request: Request) -> Any:
        body = await _body(request)
        return await self.rest.put_integration_response(
            *self._method_key(request), request.path_params["status"], selection_pattern=body.get("selectionPattern"),
            response_parameters=_map(body, "responseParameters"), response_templates=_map(body, "responseTemplates"))

    async def put_method_response(self, request: Request) -> Any:
        body = await _body(request)
        parameters = body.get("responseParameters")
        if parameters is not None and (not isinstance(parameters, dict)
                                       or not all(isinstance(v, bool) for v in parameters.values())):
            raise bad_request("responseParameters must be a map of booleans")
        return await self.rest.put_method_response(*self._method_key(request), request.path_params["status"],
                                                   response_parameters=parameters,
                                                   response_models=_map(body, "responseModels"))

    async def get_integration(self, request: Request) -> Any:
        return self.rest.get_integration(*self._method_key(request))

    async def delete_integration(self, request: Request) -> Any:
        await self.rest.delete_integration(*self._method_key(request))

    # ------------------------------------------------------------------ deployments and stages
    async def create_deployment(self, request: Request) -> Any:
        body = await _body(request)
        return await self.rest.create_deployment(
            request.path_params["api"], stage_name=body.get("stageName") or None, description=body.get("description"),
            stage_description=body.get("stageDescription"), variables=_map(body, "variables"))

    async def get_deployments(self, request: Request) -> Any:
        return {"item": self.rest.get_deployments(request.path_params["api"])}

    async def get_deployment(self, request: Request) -> Any:
        return self.rest.get_deployment(request.path_params["api"], request.path_params["deployment"])

    async def delete_deployment(self, request: Request) -> Any:
        await self.rest.delete_deployment(request.path_params["api"], request.path_params["deployment"])

    async def create_stage(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "stageName", "deploymentId")
        return await self.rest.create_stage(request.path_params["api"], str(body["stageName"]),
                                            str(body["deploymentId"]), description=body.get("description"),
                                            variables=_map(body, "variables"), tags=_map(body, "tags"))

    async def get_stages(self, request: Request) -> Any:
        return {"item": self.rest.get_stages(request.path_params["api"], request.query_params.get("deploymentId"))}

    async def get_stage(self, request: Request) -> Any:
        return self.rest.get_stage(request.path_params["api"], request.path_params["stage"])

    async def update_stage(self, request: Request) -> Any:
        body = await _body(request)
        operations = body.get("patchOperations") or []
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise bad_request("patchOperations must be a list of operations")
        return await self.rest.update_stage(request.path_params["api"], request.path_params["stage"], operations)

    async def delete_stage(self, request: Request) -> Any:
        await self.rest.delete_stage(request.path_params["api"], request.path_params["stage"])

    # ------------------------------------------------------------------ authorizers
    async def create_authorizer(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "name", "type")
        return await self.rest.create_authorizer(
            request.path_params["api"], str(body["name"]), str(body["type"]), body.get("authorizerUri"),
            body.get("identitySource"), validation_expression=body.get("identityValidationExpression"),
            ttl_s=_int(body, "authorizerResultTtlInSeconds"))

    async def get_authorizers(self, request: Request) -> Any:
        return {"item": self.rest.get_authorizers(request.path_params["api"])}

    async def get_authorizer(self, request: Request) -> Any:
        return self.rest.get_authorizer(request.path_params["api"], request.path_params["authorizer"])

    async def delete_authorizer(self, request: Request) -> Any:
        await self.rest.delete_authorizer(request.path_params["api"], request.path_params["authorizer"])
