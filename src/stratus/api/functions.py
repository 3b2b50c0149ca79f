"""The function operations of the Lambda control API (REST paths and shapes of botocore's model)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from stratus.api.asgi import internal_error
from stratus.api.validation import validate
from stratus.errors import (
    InvalidRequestContentException,
    LambdaError,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
)
from stratus.shapes import (
    CreateFunctionRequest,
    FunctionCodeLocation,
    GetFunctionResponse,
    ListFunctionsResponse,
    UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
)

_encode = msgspec.json.encode


def json_response(shape: Any, status: int = 200) -> Response:
    return Response(_encode(shape), status_code=status, media_type="application/json")


def error_response(error: LambdaError, request_id: str) -> Response:
    response = Response(error.body(), status_code=error.status, media_type="application/json")
    response.headers["x-amzn-ErrorType"] = error.error_type
    response.headers["x-amzn-RequestId"] = request_id
    return response


def operation(endpoint):
    """Map LambdaError to AWS's error response, and anything unexpected to ServiceException."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            response = await endpoint(request)
        except LambdaError as error:
            return error_response(error, request_id)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            return error_response(internal_error(exc), request_id)
        response.headers["x-amzn-RequestId"] = request_id
        return response

    return wrapper


async def json_body(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object; InvalidRequestContentException if it is not one."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise RequestEntityTooLargeException(f"Request must be smaller than {limit} bytes for the operation")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLargeException(f"Request must be smaller than {limit} bytes for the operation")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        return {}
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException("Could not parse request body into json: expected a JSON object")
    return document


def convert(document: dict[str, Any], shape: type):
    try:
        return msgspec.convert(document, shape)
    except msgspec.ValidationError as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None


def query(request: Request, name: str) -> str | None:
    return request.query_params.get(name)


def query_params(request: Request, params: dict[str, Any], *names: str) -> dict[str, Any]:
    """Add the query-string members `names` that are present to `params` (MaxItems as an integer)."""
    for name in names:
        value = query(request, name)
        if value is None:
            continue
        if name == "MaxItems":
            try:
                value = int(value)
            except ValueError:
                raise InvalidRequestContentException("MaxItems must be an integer") from None
        params[name] = value
    return params


class FunctionRoutes:
    """CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
    UpdateFunctionConfiguration, DeleteFunction, GetAccountSettings, and the code download."""

    def __init__(self, functions, settings):
        self.functions = functions
        self.settings = settings

    def routes(self) -> list[Route]:
        return [
            Route("/2015-03-31/functions", operation(self.create), methods=["POST"]),
            Route("/2015-03-31/functions/", operation(self.list), methods=["GET"]),
            Route("/2015-03-31/functions", operation(self.list), methods=["GET"]),
            Route("/2015-03-31/functions/{name}", operation(self.get), methods=["GET"]),
            Route("/2015-03-31/functions/{name}", operation(self.delete), methods=["DELETE"]),
            Route("/2015-03-31/functions/{name}/configuration", operation(self.get_configuration), methods=["GET"]),
            Route("/2015-03-31/functions/{name}/configuration", operation(self.update_configuration), methods=["PUT"]),
            Route("/2015-03-31/functions/{name}/code", operation(self.update_code), methods=["PUT"]),
            Route("/2016-08-19/account-settings", operation(self.account_settings), methods=["GET"]),
            Route("/2016-08-19/account-settings/", operation(self.account_settings), methods=["GET"]),
            Route("/_stratus/code/{sha}", operation(self.download_code), methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        document = await json_body(request, self.settings.control_request_max_bytes)
        validate("CreateFunction", document)
        config = await self.functions.create(convert(document, CreateFunctionRequest))
        return json_response(config, 201)

    async def get(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        validate("GetFunction", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        record = await self.functions.get(name, qualifier)
        location = f"{request.url.scheme}://{request.url.netloc}/_stratus/code/{record.code_sha256_hex}"
        return json_response(GetFunctionResponse(
            Configuration=record.config,
            Code=FunctionCodeLocation(RepositoryType="S3", Location=location),
            Tags=record.tags or None,
            Concurrency=None if (reserved := self.functions.invoker.concurrency.reserved(record.name)) is None
            else {"ReservedConcurrentExecutions": reserved},
        ))

    async def get_configuration(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        validate("GetFunctionConfiguration", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        record = await self.functions.get(name, qualifier)
        return json_response(record.config)

    async def list(self, request: Request) -> Response:
        params = query_params(request, {}, "Marker", "MaxItems", "FunctionVersion", "MasterRegion")
        validate("ListFunctions", params)
        configs, next_marker = await self.functions.list(params.get("Marker"), params.get("MaxItems"),
                                                         all_versions=params.get("FunctionVersion") == "ALL")
        return json_response(ListFunctionsResponse(Functions=configs, NextMarker=next_marker))

    async def update_code(self, request: Request) -> Response:
        name = request.path_params["name"]
        document = await json_body(request, self.settings.control_request_max_bytes)
        validate("UpdateFunctionCode", dict(document, FunctionName=name))
        config = await self.functions.update_code(name, convert(document, UpdateFunctionCodeRequest))
        return json_response(config)

    async def update_configuration(self, request: Request) -> Response:
        name = request.path_params["name"]
        document = await json_body(request, 1024 * 1024)
        validate("UpdateFunctionConfiguration", dict(document, FunctionName=name))
        config = await self.functions.update_configuration(name, convert(document, UpdateFunctionConfigurationRequest))
        return json_response(config)

    async def delete(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        validate("DeleteFunction", _without_none({"FunctionName": name, "Qualifier": qualifier}))
        await self.functions.delete(name, qualifier)
        return Response(status_code=204)

    async def account_settings(self, request: Request) -> Response:
        return json_response(self.functions.account_settings())

    async def download_code(self, request: Request) -> Response:
        sha = request.path_params["sha"]
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ResourceNotFoundException("Code not found")
        path = self.functions.blobs.path(sha)
        if not path.exists():
            raise ResourceNotFoundException("Code not found")
        return FileResponse(path, media_type="application/zip", filename=f"{sha}.zip")


def _without_none(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}
