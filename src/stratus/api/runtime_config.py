"""Get/PutFunctionRecursionConfig, Get/PutRuntimeManagementConfig and the deprecated InvokeAsync: REST paths
and status codes of botocore's model."""

from __future__ import annotations

import uuid

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import (
    SETTINGS_BODY_MAX,
    check,
    checked,
    json_body,
    json_response,
    operation,
    parse_body,
    query,
    read_limited,
)
from stratus.config import Settings
from stratus.control.recursion import ALLOW, TERMINATE, RecursionService
from stratus.control.runtime_management import RuntimeManagementService
from stratus.errors import InvalidRequestContentException, RequestTooLargeException, ValidationException
from stratus.invoke.entry import InvokeService
from stratus.shapes import FunctionRecursionConfig, PutRuntimeManagementConfigRequest

_check_json = msgspec.json.Decoder(msgspec.Raw).decode


class RuntimeConfigRoutes:
    """A function's recursion config and runtime management config; InvokeAsync."""

    def __init__(self, recursion: RecursionService, runtime_management: RuntimeManagementService,
                 invoke_service: InvokeService, settings: Settings):
        self.recursion = recursion
        self.runtime_management = runtime_management
        self.invoke_service = invoke_service
        self.settings = settings

    def routes(self) -> list[Route]:
        recursion = "/2024-08-31/functions/{name}/recursion-config"
        runtime = "/2021-07-20/functions/{name}/runtime-management-config"
        return [
            Route(recursion, operation(self.get_recursion), methods=["GET"]),
            Route(recursion, operation(self.put_recursion), methods=["PUT"]),
            Route(runtime, operation(self.get_runtime), methods=["GET"]),
            Route(runtime, operation(self.put_runtime), methods=["PUT"]),
            Route("/2014-11-13/functions/{name}/invoke-async", operation(self.invoke_async), methods=["POST"]),
            Route("/2014-11-13/functions/{name}/invoke-async/", operation(self.invoke_async), methods=["POST"]),
        ]

    async def get_recursion(self, request: Request) -> Response:
        name = request.path_params["name"]
        check("GetFunctionRecursionConfig", FunctionName=name)
        return json_response(await self.recursion.get(name))

    async def put_recursion(self, request: Request) -> Response:
        name = request.path_params["name"]
        document = await json_body(request, SETTINGS_BODY_MAX)
        value = document.get("RecursiveLoop")
        if isinstance(value, str) and value not in (ALLOW, TERMINATE):  # AWS lists the values in its own order
            raise ValidationException(
                f"1 validation error detected: Value '{value}' at 'recursiveLoop' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Terminate, Allow]")
        body = checked("PutFunctionRecursionConfig", document, FunctionRecursionConfig, FunctionName=name)
        assert body.RecursiveLoop is not None  # required by the model: checked above
        return json_response(await self.recursion.put(name, body.RecursiveLoop))

    async def get_runtime(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetRuntimeManagementConfig", FunctionName=name, Qualifier=qualifier)
        return json_response(await self.runtime_management.get(name, qualifier))

    async def put_runtime(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "PutRuntimeManagementConfig", PutRuntimeManagementConfigRequest,
                                SETTINGS_BODY_MAX, FunctionName=name, Qualifier=qualifier)
        assert body.UpdateRuntimeOn is not None  # required by the model
        return json_response(await self.runtime_management.put(name, qualifier, body.UpdateRuntimeOn,
                                                               body.RuntimeVersionArn))

    async def invoke_async(self, request: Request) -> Response:
        """InvokeAsync (deprecated): the InvokeArgs body queued as an Event invoke; 202 {"Status": 202}. As AWS
        documents, the caller's trace header is not propagated (the event starts a trace of its own)."""
        name = request.path_params["name"]
        limit = self.settings.invoke_async_payload_max_bytes
        payload = await read_limited(request, limit, lambda: RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeAsync operation")) or b"{}"
        check("InvokeAsync", FunctionName=name, InvokeArgs=payload)
        if payload:
            try:
                _check_json(payload)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise InvalidRequestContentException(
                    f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
        target = self.invoke_service.resolve(name)
        request_id = str(uuid.uuid4())
        await self.invoke_service.invoke(target, payload, invocation_type="Event", request_id=request_id)
        response = json_response({"Status": 202}, 202)
        response.headers["x-amzn-RequestId"] = request_id  # the event's (`operation` keeps it)
        return response
