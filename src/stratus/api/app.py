"""The ASGI application: the Invoke fast path, then Starlette routing for everything else."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from stratus.api.code_urls import CodeUrls
from stratus.api.functions import FunctionRoutes
from stratus.api.handlers import error_response
from stratus.api.invoke import InvokeEndpoint, is_invoke
from stratus.api.stream_invoke import StreamInvokeEndpoint, is_stream_invoke
from stratus.auth.gate import Authenticator, AuthGate
from stratus.config import Settings
from stratus.control.functions import FunctionService
from stratus.errors import LambdaError, UnknownOperationException
from stratus.frontdoor.door import FrontDoor


def build_asgi(invoke: InvokeEndpoint, functions: FunctionService, settings: Settings, code_urls: CodeUrls,
               lifespan: Callable[[Any], AbstractAsyncContextManager[None]],
               extra_routes: Sequence[Route] = (), auth: Authenticator | None = None,
               frontdoor: FrontDoor | None = None,
               stream_invoke: StreamInvokeEndpoint | None = None) -> ASGIApp:
    """The one ASGI callable `stratus serve` runs (Invoke usually takes api/fastpath.py instead).

    `extra_routes` are the other resources' operations (versions, aliases, layers, ...). Every request
    passes the web-origin check (api/origins.py) before it is routed; no response carries CORS headers.
    Every route but the health check and the presigned code downloads runs behind `auth` (Invoke checks
    its signature itself, as its body arrives; so does InvokeWithResponseStream, `stream_invoke`). Requests for
    Function URLs and APIs (by Host or path, frontdoor/door.py) go to the front door before any of that: they
    are not control API requests.
    """
    origins = invoke.origins

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        error = UnknownOperationException("Unknown operation: no Lambda API operation matches this path and method.")
        await error_response(error, str(uuid.uuid4()))(scope, receive, send)

    router = Router(
        routes=FunctionRoutes(functions, settings, code_urls).routes() + list(extra_routes)
        + [Route("/_stratus/health", health, methods=["GET"])],
        lifespan=lifespan,
        default=not_found,
    )
    routed: ASGIApp = router if auth is None else AuthGate(router, auth, settings.control_request_max_bytes)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if frontdoor is not None:
                raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
                match = frontdoor.match(_host(scope), raw_path)
                if match is not None:
                    await frontdoor.asgi(match, scope, receive, send)
                    return
            try:
                origins.check_scope(scope)
            except LambdaError as refused:
                await error_response(refused, str(uuid.uuid4()))(scope, receive, send)
                return
            if is_invoke(scope["method"], scope["path"]):
                await invoke(scope, receive, send)
                return
            if stream_invoke is not None and is_stream_invoke(scope["method"], scope["path"]):
                await stream_invoke(scope, receive, send)
                return
        await routed(scope, receive, send)

    return app


def _host(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value
    return None
