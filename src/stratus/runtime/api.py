"""Routing of the Runtime API (2018-06-01) and the Extensions API (2020-01-01) for one execution
environment, with the RIE's status codes."""

from __future__ import annotations

from typing import Protocol

from stratus.runtime.http import HttpServerProtocol, Request

PREFIX = b"/2018-06-01/runtime/"
EXTENSION_PREFIX = b"/2020-01-01/extension/"
ACCEPTED = b'{"status":"OK"}'
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # AWS: 6 MiB plus 100 bytes of slack


def error_body(error_type: str, message: str) -> bytes:
    import msgspec

    return msgspec.json.encode({"errorMessage": message, "errorType": error_type}) + b"\n"


INVALID_REQUEST_ID = error_body("InvalidRequestID", "Invalid request ID")
NOT_FOUND = b"404 page not found\n"


def response_request_id(path: bytes) -> str | None:
    """The request id of a `.../invocation/{id}/response` path (None for any other path)."""
    path = path.split(b"?", 1)[0]
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX):].split(b"/")
    if len(parts) != 3 or parts[0] != b"invocation" or parts[2] != b"response":
        return None
    return parts[1].decode("utf-8", "replace")


def transition_error(current: str, target: str) -> bytes:
    return error_body(
        "InvalidStateTransition",
        f"State transition from {current} to {target} failed for runtime. Error: State transition is not allowed",
    )


class RuntimeApiHandler(Protocol):
    """What an environment implements to serve its runtime."""

    def runtime_next(self, conn: HttpServerProtocol) -> None: ...

    def runtime_response(self, conn: HttpServerProtocol, request_id: str, request: Request) -> None: ...

    def runtime_error(self, conn: HttpServerProtocol, request_id: str, request: Request) -> None: ...

    def runtime_init_error(self, conn: HttpServerProtocol, request: Request) -> None: ...

    def extension_register(self, conn: HttpServerProtocol, request: Request) -> None: ...

    def extension_next(self, conn: HttpServerProtocol, request: Request) -> None: ...

    def extension_init_error(self, conn: HttpServerProtocol, request: Request) -> None: ...

    def extension_exit_error(self, conn: HttpServerProtocol, request: Request) -> None: ...


_EXTENSION_ROUTES = {  # path after EXTENSION_PREFIX → (method, handler method name)
    b"register": (b"POST", "extension_register"),
    b"event/next": (b"GET", "extension_next"),
    b"init/error": (b"POST", "extension_init_error"),
    b"exit/error": (b"POST", "extension_exit_error"),
}


def dispatch(handler: RuntimeApiHandler, conn: HttpServerProtocol, request: Request) -> None:
    """Route one Runtime API request to `handler`; unknown paths get 404, wrong methods 405."""
    path = request.path.split(b"?", 1)[0]
    if not path.startswith(PREFIX):
        route = _EXTENSION_ROUTES.get(path[len(EXTENSION_PREFIX):]) if path.startswith(EXTENSION_PREFIX) else None
        if route is None:
            conn.send(404, NOT_FOUND, content_type=b"text/plain; charset=utf-8")
        elif request.method != route[0]:
            conn.send(405, b"", [(b"Allow", route[0])])
        else:
            getattr(handler, route[1])(conn, request)
        return
    rest = path[len(PREFIX):]
    method = request.method
    if rest == b"invocation/next":
        if method != b"GET":
            conn.send(405, b"", [(b"Allow", b"GET")])
            return
        handler.runtime_next(conn)
        return
    if rest == b"init/error":
        if method != b"POST":
            conn.send(405, b"", [(b"Allow", b"POST")])
            return
        handler.runtime_init_error(conn, request)
        return
    if rest.startswith(b"invocation/"):
        parts = rest.split(b"/")
        if len(parts) == 3 and parts[2] in (b"response", b"error"):
            if method != b"POST":
                conn.send(405, b"", [(b"Allow", b"POST")])
                return
            request_id = parts[1].decode("utf-8", "replace")
            if parts[2] == b"response":
                handler.runtime_response(conn, request_id, request)
            else:
                handler.runtime_error(conn, request_id, request)
            return
    conn.send(404, NOT_FOUND, content_type=b"text/plain; charset=utf-8")
