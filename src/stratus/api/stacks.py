"""The stacks API (docs/stacks-api.md): artifacts and stacks, for `stratus deploy` and any HTTP client.

SigV4 like every route (the auth gate); on top of that every operation here needs an admin principal: a role's
credentials (a function's) are refused with 403 AccessDeniedException, whatever its policies allow.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import json_response, operation
from stratus.auth.errors import AccessDeniedException
from stratus.deploy.artifacts import ArtifactError, Artifacts
from stratus.deploy.engine import DeployFailed
from stratus.deploy.intrinsics import ValidationError
from stratus.deploy.stacks import StackBusy, StackService, describe, summary
from stratus.deploy.template import TemplateError
from stratus.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaError,
    ResourceConflictException,
    ResourceNotFoundException,
)


class StackValidationError(LambdaError):
    """A template, parameter or stack name that cannot be deployed: nothing changed."""

    status = 400
    error_type = "ValidationError"
    fault = "User"
    message_key = "message"


class DeployFailedError(LambdaError):
    """A resource failed and the stack was rolled back; the body carries the stack after the rollback."""

    status = 400
    error_type = "DeployFailed"
    fault = "User"
    message_key = "message"

    def __init__(self, message: str, stack: dict[str, Any]):
        super().__init__(message)
        self.stack = stack

    def body(self) -> bytes:
        return msgspec.json.encode({"Type": self.fault, "message": self.message, "Stack": self.stack})


class StackRoutes:
    def __init__(self, stacks: StackService, artifacts: Artifacts):
        self.stacks = stacks
        self.artifacts = artifacts

    def routes(self) -> list[Route]:
        return [
            Route("/_stratus/artifacts/{sha256}", operation(self.head_artifact), methods=["HEAD"]),
            Route("/_stratus/artifacts/{sha256}", operation(self.put_artifact), methods=["PUT"]),
            Route("/_stratus/stacks", operation(self.list), methods=["GET"]),
            Route("/_stratus/stacks/{name}", operation(self.get), methods=["GET"]),
            Route("/_stratus/stacks/{name}", operation(self.deploy), methods=["PUT"]),
            Route("/_stratus/stacks/{name}", operation(self.delete), methods=["DELETE"]),
            Route("/_stratus/stacks/{name}/template", operation(self.template), methods=["GET"]),
        ]

    @staticmethod
    def _admin(request: Request) -> None:
        principal = request.scope.get("stratus.principal")
        if principal is not None and principal.kind != "admin":
            raise AccessDeniedException(f"User: {principal.session_arn()} is not authorized to manage stacks and "
                                        "deploy artifacts: they need Stratus's admin credentials")

    async def head_artifact(self, request: Request) -> Response:
        self._admin(request)
        found = await asyncio.to_thread(self.artifacts.exists, request.path_params["sha256"])
        return Response(status_code=200 if found else 404)

    async def put_artifact(self, request: Request) -> Response:
        self._admin(request)
        sha256 = request.path_params["sha256"]
        data = await request.body()
        try:
            size = await asyncio.to_thread(self.artifacts.put, sha256, data)
        except ArtifactError as error:
            raise InvalidParameterValueException(str(error)) from None
        return json_response({"Sha256": sha256, "Size": size})

    async def list(self, request: Request) -> Response:
        self._admin(request)
        records = await self.stacks.list()
        return json_response({"Stacks": [summary(record) for record in records]})

    async def _record(self, request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        record = await self.stacks.get(name)
        if record is None:
            raise ResourceNotFoundException(f"Stack with id {name} does not exist")
        return record

    async def get(self, request: Request) -> Response:
        self._admin(request)
        return json_response(describe(await self._record(request)))

    async def template(self, request: Request) -> Response:
        self._admin(request)
        record = await self._record(request)
        return json_response({"TemplateBody": record.get("TemplateBody", ""),
                              "Parameters": record.get("ParameterValues", {})})

    async def deploy(self, request: Request) -> Response:
        self._admin(request)
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError as error:
            raise InvalidRequestContentException(f"Could not parse request body into json: {error}") from None
        if not isinstance(body, dict) or not isinstance(body.get("TemplateBody"), str):
            raise StackValidationError("TemplateBody (the template's text) is required")
        parameters = body.get("Parameters") or {}
        if not isinstance(parameters, dict):
            raise StackValidationError("Parameters must be an object of parameter names to values")
        try:
            record = await self.stacks.deploy(request.path_params["name"], body["TemplateBody"], parameters)
        except (ValidationError, TemplateError) as error:
            raise StackValidationError(str(error)) from None
        except DeployFailed as failed:
            raise DeployFailedError(str(failed), describe(failed.stack)) from None
        except StackBusy as busy:
            raise ResourceConflictException(str(busy)) from None
        return json_response(describe(record))

    async def delete(self, request: Request) -> Response:
        self._admin(request)
        name = request.path_params["name"]
        try:
            record = await self.stacks.delete(name)
        except ValidationError as error:
            raise StackValidationError(str(error)) from None
        except StackBusy as busy:
            raise ResourceConflictException(str(busy)) from None
        if record is None:
            raise ResourceNotFoundException(f"Stack with id {name} does not exist")
        if record["Status"] != "DELETE_COMPLETE":
            raise DeployFailedError(f"Stack {name} could not be deleted: {record.get('StatusReason', '')}",
                                    describe(record))
        return json_response({"StackName": name, "Status": "DELETE_COMPLETE"})
