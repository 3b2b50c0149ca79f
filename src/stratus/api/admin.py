"""Stratus's own admin routes the `stratus` CLI reads (docs/stacks-api.md, "Admin routes"): what the Lambda API
does not tell.

- `GET /_stratus/environments` → the warm execution environments of each function version, from the invoker's
  pools: `{"Environments": [{"FunctionName", "Version", "Total", "Idle", "Busy", "Provisioned"}]}`.
- `GET /_stratus/runtimes` → each runtime name and the interpreter serving it on the server's host, per sandbox
  (what `stratus runtimes --local --json` prints on that host), plus the sandbox the server runs.

Both need an admin principal (a server key): a function role's credentials get 403 AccessDeniedException.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import json_response, operation
from stratus.auth.errors import AccessDeniedException
from stratus.auth.principal import ANONYMOUS_ADMIN
from stratus.config import Settings
from stratus.invoke.service import Invoker


def require_admin(request: Request) -> None:
    """Refuse a principal that is not the server's admin (a function's role credentials)."""
    principal = request.scope.get("stratus.principal", ANONYMOUS_ADMIN)
    if principal.kind != "admin":
        raise AccessDeniedException(f"{request.url.path} is for the server's admin keys only")


class AdminRoutes:
    def __init__(self, settings: Settings, invoker: Invoker, sandbox_name: str):
        self.settings = settings
        self.invoker = invoker
        self.sandbox_name = sandbox_name

    def routes(self) -> list[Route]:
        return [Route("/_stratus/environments", operation(self.environments), methods=["GET"]),
                Route("/_stratus/runtimes", operation(self.runtimes), methods=["GET"])]

    async def environments(self, request: Request) -> Response:
        require_admin(request)
        return json_response({"Environments": self.invoker.environment_counts()})

    async def runtimes(self, request: Request) -> Response:
        require_admin(request)
        from stratus.cli.runtimes import report

        data = await asyncio.to_thread(report, self.settings)
        data["sandbox"] = self.sandbox_name
        return json_response(data)
