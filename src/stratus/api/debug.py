"""Debug mode's routes (docs/stacks-api.md, "Debug mode"): `PUT|GET|DELETE /_stratus/debug/{function}` and
`GET /_stratus/debug`. Admin only: a role's credentials are refused whatever its policies say."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import SETTINGS_BODY_MAX, json_response, operation
from stratus.auth.errors import AccessDeniedException
from stratus.auth.principal import ANONYMOUS_ADMIN, Principal
from stratus.errors import InvalidParameterValueException, InvalidRequestContentException, ResourceNotFoundException
from stratus.invoke.debug import DebugModes
from stratus.invoke.types import FunctionResolver


class DebugRequest(msgspec.Struct, forbid_unknown_fields=True):
    Port: int
    Qualifier: str | None = None


class DebugRoutes:
    def __init__(self, modes: DebugModes, functions: FunctionResolver, reserved_ports: tuple[int, ...] = ()):
        self.modes = modes
        self.functions = functions
        self.reserved_ports = reserved_ports  # the server's own port(s): never a debug port

    def routes(self) -> list[Route]:
        one = "/_stratus/debug/{name}"
        return [
            Route("/_stratus/debug", operation(self.list), methods=["GET"]),
            Route(one, operation(self.put), methods=["PUT"]),
            Route(one, operation(self.get), methods=["GET"]),
            Route(one, operation(self.delete), methods=["DELETE"]),
        ]

    @staticmethod
    def _admin(request: Request) -> None:
        principal: Principal = request.scope.get("stratus.principal", ANONYMOUS_ADMIN)
        if principal.kind != "admin":
            arn = principal.session_arn() if principal.role_arn else principal.access_key_id
            raise AccessDeniedException(f"User: {arn} is not authorized to change debug mode: it needs the "
                                        "server's (admin) credentials")

    async def put(self, request: Request) -> Response:
        self._admin(request)
        body = await request.body()
        if len(body) > SETTINGS_BODY_MAX:
            raise InvalidRequestContentException("The request body is too large.")
        try:
            given = msgspec.json.decode(body or b"{}", type=DebugRequest)
        except msgspec.DecodeError as exc:
            raise InvalidRequestContentException(f"Could not parse request body: {exc}") from None
        if not 1024 <= given.Port <= 65535 or given.Port in self.reserved_ports:
            raise InvalidParameterValueException(
                f"Port {given.Port} cannot be a debug port: use a free port from 1024 to 65535 (not the server's).")
        name = request.path_params["name"]
        target = self.functions.target(name, given.Qualifier)  # ResourceNotFoundException when none
        function_name, qualifier = target.function_name, given.Qualifier
        version = target.spec.version if qualifier else None

        def spec_source():  # the function's current spec when a debugger asks for an environment
            return self.functions.target(function_name, qualifier).spec

        mode = await self.modes.enable(function_name, qualifier, version, target.spec.runtime, given.Port,
                                       spec_source)
        return json_response(mode.describe())

    async def get(self, request: Request) -> Response:
        self._admin(request)
        return json_response(self._mode(request).describe())

    async def delete(self, request: Request) -> Response:
        self._admin(request)
        mode = self._mode(request)
        await self.modes.disable(mode.function_name)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        self._admin(request)
        return json_response({"DebugModes": [mode.describe() for mode in self.modes.modes.values()]})

    def _mode(self, request: Request):  # noqa: ANN202 - a DebugMode
        name = self.functions.target(request.path_params["name"]).function_name
        mode = self.modes.get(name)
        if mode is None:
            raise ResourceNotFoundException(f"Function {name} is not in debug mode.")
        return mode
