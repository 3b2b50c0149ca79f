"""The function operations of the Lambda control API (REST paths and shapes of botocore's model)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from stratus.api.code_urls import CodeUrls
from stratus.api.handlers import (
    CONFIG_BODY_MAX,
    check,
    json_response,
    operation,
    parse_body,
    query,
    query_params,
)
from stratus.config import Settings
from stratus.control.functions import FunctionService
from stratus.errors import ResourceNotFoundException, ServiceException
from stratus.shapes import (
    CreateFunctionRequest,
    FunctionCodeLocation,
    GetFunctionResponse,
    ListFunctionsResponse,
    UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
)
from stratus.store.blobs import BlobUnavailable

log = logging.getLogger("stratus.api")


class FunctionRoutes:
    """CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
    UpdateFunctionConfiguration, DeleteFunction, GetAccountSettings, and the code download."""

    def __init__(self, functions: FunctionService, settings: Settings, code_urls: CodeUrls):
        self.functions = functions
        self.settings = settings
        self.code_urls = code_urls

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
        body = await parse_body(request, "CreateFunction", CreateFunctionRequest,
                                self.settings.control_request_max_bytes)
        return json_response(await self.functions.create(body), 201)

    async def get(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetFunction", FunctionName=name, Qualifier=qualifier)
        record = await self.functions.get(name, qualifier)
        reserved = self.functions.reserved_concurrency(record.name)
        return json_response(GetFunctionResponse(
            Configuration=record.config,
            Code=FunctionCodeLocation(RepositoryType="S3", Location=self.code_urls.url(record.code_sha256_hex)),
            Tags=record.tags or None,
            Concurrency=None if reserved is None else {"ReservedConcurrentExecutions": reserved},
        ))

    async def get_configuration(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetFunctionConfiguration", FunctionName=name, Qualifier=qualifier)
        record = await self.functions.get(name, qualifier)
        return json_response(record.config)

    async def list(self, request: Request) -> Response:
        params = query_params(request, {}, "Marker", "MaxItems", "FunctionVersion", "MasterRegion")
        check("ListFunctions", **params)
        configs, next_marker = await self.functions.list(params.get("Marker"), params.get("MaxItems"),
                                                         all_versions=params.get("FunctionVersion") == "ALL")
        return json_response(ListFunctionsResponse(Functions=configs, NextMarker=next_marker))

    async def update_code(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "UpdateFunctionCode", UpdateFunctionCodeRequest,
                                self.settings.control_request_max_bytes, FunctionName=name)
        return json_response(await self.functions.update_code(name, body))

    async def update_configuration(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await parse_body(request, "UpdateFunctionConfiguration", UpdateFunctionConfigurationRequest,
                                CONFIG_BODY_MAX, FunctionName=name)
        return json_response(await self.functions.update_configuration(name, body))

    async def delete(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("DeleteFunction", FunctionName=name, Qualifier=qualifier)
        await self.functions.delete(name, qualifier)
        return Response(status_code=204)

    async def account_settings(self, request: Request) -> Response:
        return json_response(self.functions.account_settings())

    async def download_code(self, request: Request) -> Response:
        refused = self.code_urls.refusal(request)  # the presigned URL is the permission
        if refused is not None:
            return refused
        sha = request.path_params["sha"]
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ResourceNotFoundException("Code not found")
        try:  # served only if its bytes still match its SHA-256 (the CodeSha256 the caller was given)
            path = await asyncio.to_thread(self.functions.blobs.verified_path, sha)
        except BlobUnavailable as exc:
            if exc.reason == "missing":
                raise ResourceNotFoundException("Code not found") from None
            log.error("code download refused: %s", exc)
            raise ServiceException(f"The {exc}; upload the code again.") from None
        return FileResponse(path, media_type="application/zip", filename=f"{sha}.zip")

