"""A subset of the apigatewayv2 API (HTTP APIs) on the Lambda port, REST-JSON under `/v2/` as boto3 sends it
(signed for the `apigateway` service): Create/Get/Delete of APIs, integrations (AWS_PROXY), routes, stages
and Lambda REQUEST authorizers, GetApis and the list operations, UpdateApi (name, description, CORS),
ImportApi / ReimportApi (OpenAPI definitions: frontdoor/api_import.py). Errors are apigatewayv2's:
`{"message": ...}` with x-amzn-ErrorType. Each handler only converts; frontdoor/apis.py decides."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.asgi import internal_error
from stratus.api.handlers import CONFIG_BODY_MAX, read_limited
from stratus.frontdoor.apis import ApiError, HttpApis, bad_request

Handler = Callable[[Request], Awaitable[Any]]
DEFINITION_MAX = 7 * 1024 * 1024  # a 6 MB definition, JSON-escaped in the request's "body" member


def _reply(document: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(document), status_code=status, media_type="application/json")


def _error(error: ApiError) -> Response:
    response = _reply({"message": error.message}, error.status)
    response.headers["x-amzn-ErrorType"] = error.error_type
    return response


def _operation(handler: Handler, status: int = 200,
               empty_status: int = 204) -> Callable[[Request], Awaitable[Response]]:
    """The handler as a route endpoint: its result as JSON with `status` (`empty_status` when it returns None),
    an ApiError as apigateway's error answer, anything else as a 500 without a stack trace."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            result = await handler(request)
        except ApiError as error:
            response = _error(error)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            failure = internal_error(exc)
            response = _error(ApiError(500, "InternalServerErrorException", failure.message))
        else:
            response = Response(status_code=empty_status) if result is None else _reply(result, status)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return response

    return wrapper


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_limited(request, CONFIG_BODY_MAX, lambda: bad_request("Request body too large"))
    if not raw:
        return {}
    try:
        document = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise bad_request("Invalid JSON in request body") from None
    if not isinstance(document, dict):
        raise bad_request("Invalid JSON in request body")
    return document


async def _definition(request: Request) -> str:
    raw = await read_limited(request, DEFINITION_MAX, lambda: bad_request("The API definition is over 6 MB"))
    try:
        document = msgspec.json.decode(raw) if raw else {}
    except (msgspec.DecodeError, RecursionError):
        raise bad_request("Invalid JSON in request body") from None
    body = document.get("body") if isinstance(document, dict) else None
    if not isinstance(body, str) or not body:
        raise bad_request("Body is required: the OpenAPI definition as a string")
    return body


def _required(document: dict[str, Any], *names: str) -> None:
    for name in names:
        if document.get(name) in (None, ""):
            raise bad_request(f"{name} is required")


class ApiGatewayV2Routes:
    """The apigatewayv2 operations Stratus serves."""

    def __init__(self, apis: HttpApis):
        self.apis = apis

    def routes(self) -> list[Route]:
        base = "/v2/apis/{api}"
        routes = [
            Route("/v2/apis", _operation(self.create_api, 201), methods=["POST"]),
            Route("/v2/apis", _operation(self.get_apis), methods=["GET"]),
            Route("/v2/apis", _operation(self.import_api, 201), methods=["PUT"]),
            Route(base, _operation(self.get_api), methods=["GET"]),
            Route(base, _operation(self.reimport_api, 201), methods=["PUT"]),
            Route(base, _operation(self.update_api), methods=["PATCH"]),
            Route(base, _operation(self.delete_api), methods=["DELETE"]),
            Route(base + "/integrations", _operation(self.create_integration, 201), methods=["POST"]),
            Route(base + "/routes", _operation(self.create_route, 201), methods=["POST"]),
            Route(base + "/stages", _operation(self.create_stage, 201), methods=["POST"]),
            Route(base + "/authorizers", _operation(self.create_authorizer, 201), methods=["POST"]),
        ]
        for collection in ("integrations", "routes", "stages", "authorizers"):
            routes += [
                Route(f"{base}/{collection}", _operation(self._lister(collection)), methods=["GET"]),
                Route(f"{base}/{collection}/{{item}}", _operation(self._getter(collection)), methods=["GET"]),
                Route(f"{base}/{collection}/{{item}}", _operation(self._deleter(collection)), methods=["DELETE"]),
            ]
        return routes

    async def create_api(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "name", "protocolType")
        return await self.apis.create_api(body["name"], body["protocolType"], target=body.get("target"),
                                          route_key=body.get("routeKey"), cors=body.get("corsConfiguration"),
                                          description=body.get("description"), tags=body.get("tags"))

    async def import_api(self, request: Request) -> Any:
        """ImportApi: `{"body": "<OpenAPI definition, JSON or YAML>"}` (frontdoor/api_import.py)."""
        return await self.apis.import_api(await _definition(request))

    async def reimport_api(self, request: Request) -> Any:
        return await self.apis.reimport_api(request.path_params["api"], await _definition(request))

    async def update_api(self, request: Request) -> Any:
        body = await _body(request)
        cors = body.get("corsConfiguration")
        if cors is not None and not isinstance(cors, dict):
            raise bad_request("corsConfiguration must be an object")
        return await self.apis.update_api(request.path_params["api"], name=body.get("name"),
                                          description=body.get("description"), cors=cors)

    async def get_apis(self, request: Request) -> Any:
        return {"items": self.apis.list_apis()}

    async def get_api(self, request: Request) -> Any:
        return self.apis.get_api(request.path_params["api"])

    async def delete_api(self, request: Request) -> Any:
        await self.apis.delete_api(request.path_params["api"])

    async def create_integration(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "integrationType", "integrationUri")
        timeout = body.get("timeoutInMillis", 30000)
        if isinstance(timeout, bool) or not isinstance(timeout, int):
            raise bad_request("timeoutInMillis must be an integer")
        return await self.apis.create_integration(request.path_params["api"], body["integrationUri"],
                                                  body.get("payloadFormatVersion") or "2.0", body["integrationType"],
                                                  timeout)

    async def create_route(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "routeKey")
        if body.get("authorizationType") not in (None, "NONE", "CUSTOM"):
            raise bad_request("Only NONE and CUSTOM (Lambda authorizer) authorization types are supported.")
        return await self.apis.create_route(request.path_params["api"], body["routeKey"], body.get("target"),
                                            body.get("authorizerId"))

    async def create_stage(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "stageName")
        return await self.apis.create_stage(request.path_params["api"], body["stageName"],
                                            bool(body.get("autoDeploy", False)), body.get("stageVariables"))

    async def create_authorizer(self, request: Request) -> Any:
        body = await _body(request)
        _required(body, "name", "authorizerType", "identitySource")
        return await self.apis.create_authorizer(
            request.path_params["api"], body["name"], body.get("authorizerUri") or "", body["identitySource"],
            authorizer_type=body["authorizerType"],
            payload_format_version=body.get("authorizerPayloadFormatVersion") or "2.0",
            ttl_s=int(body.get("authorizerResultTtlInSeconds") or 0),
            simple_responses=bool(body.get("enableSimpleResponses", False)))

    def _lister(self, collection: str) -> Handler:
        async def list_items(request: Request) -> Any:
            return {"items": self.apis.list_items(request.path_params["api"], collection)}
        return list_items

    def _getter(self, collection: str) -> Handler:
        async def get_item(request: Request) -> Any:
            return self.apis.get_item(request.path_params["api"], collection, request.path_params["item"])
        return get_item

    def _deleter(self, collection: str) -> Handler:
        async def delete_item(request: Request) -> Any:
            await self.apis.delete_item(request.path_params["api"], collection, request.path_params["item"])
        return delete_item
