"""The Runtime API (2018-06-01) of one environment: `/next`, `/response`, `/error`, `/init/error`.

Turns follow the RIE: a runtime asks for work with `/next` (its first one ends INIT), answers the
invocation it was given once, and a second answer (or one for another request id) is refused
without changing anything. Extensions API calls on the same endpoint go to the environment's
extensions phase (invoke/extensions.py). A streamed `/response` for a caller that streams
(`Invocation.stream`) is taken at the end of its head by a `StreamedResponse`, which passes its body on
as it arrives (invoke/streaming.py); for any other caller it is buffered like any response.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from typing import TYPE_CHECKING

import msgspec

from stratus.invoke.extensions import ExtensionsPhase
from stratus.invoke.placement import peer_pid
from stratus.invoke.types import Invocation, Outcome, State, platform_error
from stratus.runtime import api as runtime_api
from stratus.runtime import extensions as ext_api
from stratus.runtime.http import RESPONSE_MODE, BodySink, HttpServerProtocol, Request

if TYPE_CHECKING:
    from stratus.invoke.environment import Environment

_ERROR_TYPE_PASS_THROUGH = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def sanitize_error_type(value: str | None) -> str:
    """AWS's rule for `Lambda-Runtime-Function-Error-Type`: Runtime.X / Function.X pass, else Unknown."""
    if value and _ERROR_TYPE_PASS_THROUGH.search(value):
        return value
    if value and value.startswith("Function."):
        return "Function.Unknown"
    return "Runtime.Unknown"


def _error_outcome(request: Request) -> Outcome:
    """The error a runtime posted (`/error`, `/init/error`): its body, its sanitised error type."""
    raw = request.headers.get(b"lambda-runtime-function-error-type") or b""
    return Outcome(bytes(request.body), function_error="Unhandled",
                   error_type=sanitize_error_type(raw.decode("utf-8", "replace")))


def _trailer_error_body(request: Request, error_type: bytes) -> bytes:
    """The error a streamed response reported in its trailers (the body trailer is base64 JSON)."""
    encoded = request.headers.get(b"lambda-runtime-function-error-body")
    if encoded:
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            pass
    return msgspec.json.encode({"errorType": error_type.decode("utf-8", "replace"),
                                "errorMessage": "The function reported an error while streaming its response."})


def _too_large_outcome(limit: int = runtime_api.MAX_RESPONSE_BYTES) -> Outcome:
    # AWS's words (its recorded answer): the size itself is not told.
    body = msgspec.json.encode({
        "errorMessage": f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    })
    return Outcome(body, function_error="Unhandled", error_type="Function.ResponseSizeTooLarge")


class RuntimeApiHandlers:
    """Serves one environment's Runtime API endpoint (runtime/api.py routes each request here)."""

    __slots__ = ("env", "parked", "answered_id")

    def __init__(self, env: Environment):
        self.env = env
        self.parked: HttpServerProtocol | None = None  # a /next waiting for work
        self.answered_id = ""  # until the next /next, a repeat post for this request id is out of turn

    def dispatch(self, conn: HttpServerProtocol, request: Request) -> None:
        runtime_api.dispatch(self, conn, request)

    def stream(self, conn: HttpServerProtocol, request: Request) -> BodySink | None:
        """At the end of a head that names a response mode: a sink for a streamed `/response` of the current
        invocation when its caller streams; None for everything else (answered once its body is read)."""
        if request.method != b"POST" or request.headers.get(RESPONSE_MODE, b"").lower() != b"streaming":
            return None
        request_id = runtime_api.response_request_id(request.path)
        env = self.env
        inv = env.current
        if inv is None or inv.stream is None or env.state != State.RUNNING or inv.request_id != request_id:
            return None
        self.answered_id = request_id
        env.state = State.RESPONDED
        return StreamedResponse(env, inv, conn, request)

    # ------------------------------------------------------------------ /next
    def runtime_next(self, conn: HttpServerProtocol) -> None:
        env = self.env
        state = env.state
        if state == State.INIT:
            if not self._end_init(conn):
                return
        elif state in (State.INIT_ERROR, State.RUNNING):
            conn.send(403, runtime_api.transition_error(state.value, State.READY.value))
            return
        elif state == State.DEAD:
            conn.close()
            return
        env.state = State.READY
        inv = env.current
        if inv is not None and not inv.delivered_at and (env.ext is None or env.ext.post is None):
            self.deliver(conn, inv)
        else:
            if self.parked is not None:  # a runtime re-asking on a new connection replaces the old ask
                self.parked.close()
            conn.parked = True
            self.parked = conn
        if state == State.INIT and env.state == State.READY:
            env.init_complete()

    def _end_init(self, conn: HttpServerProtocol) -> bool:
        """The runtime's first /next: INIT ends (False while extensions have not all asked for an event)."""
        env = self.env
        ext = env.ext
        if ext is not None and not ext.runtime_ready(conn):
            return False
        env.init_duration_ms = (time.perf_counter() - env.init_started) * 1000.0
        env.cancel_init_timer()
        env.runtime_pid = peer_pid(getattr(conn, "transport", None))  # for invoke/placement.py
        if env.runtime_pid == os.getpid():  # a forked environment's connection, made by the server and handed over
            runtime_host_pid = getattr(env.process, "runtime_host_pid", None)
            env.runtime_pid = runtime_host_pid() if runtime_host_pid is not None else 0
        if env.process is not None:  # else start() applies it once spawn() has returned
            env.process.init_done()
        return True

    def deliver(self, conn: HttpServerProtocol, inv: Invocation) -> None:
        """Answer the runtime's /next with `inv` (the invocation's duration starts now)."""
        env = self.env
        spec = env.spec
        deadline_ms = int((time.time() + spec.timeout_s) * 1000)
        headers = [
            (b"Lambda-Runtime-Aws-Request-Id", inv.request_id.encode()),
            (b"Lambda-Runtime-Deadline-Ms", str(deadline_ms).encode()),
            (b"Lambda-Runtime-Invoked-Function-Arn", inv.invoked_arn.encode()),
        ]
        if inv.trace_id:
            headers.append((b"Lambda-Runtime-Trace-Id", inv.trace_id))
        if inv.client_context:
            headers.append((b"Lambda-Runtime-Client-Context", inv.client_context))
        if inv.cognito_identity:
            headers.append((b"Lambda-Runtime-Cognito-Identity", inv.cognito_identity))
        if inv.tenant_id:
            headers.append((b"Lambda-Runtime-Aws-Tenant-Id", inv.tenant_id))
        env.state = State.RUNNING
        start = env.platform_log.start(inv.request_id, spec.version)
        output = env.output
        if inv.want_log:
            inv.log += output.init_log
            inv.log += start
        if output.init_log:
            output.init_log = bytearray()
        if start:
            output.write_platform(start)
        inv.delivered_at = time.perf_counter()
        if env.debug is None:
            inv.timer = env.loop.call_later(spec.timeout_s, env.on_timeout, inv)
        else:  # debug mode: no timer while a debugger is attached (invoke/debug.py)
            env.debug.deliver(inv)
        if env.ext is not None:  # the extensions registered for INVOKE get it first, as the RIE does
            env.ext.registry.dispatch_invoke(
                ext_api.invoke_event(inv.request_id, deadline_ms, inv.invoked_arn, inv.trace_id))
        conn.send(200, inv.payload, headers, inv.content_type)

    # ------------------------------------------------------------------ /response, /error
    def _check_turn(self, conn: HttpServerProtocol, request_id: str, target: str) -> Invocation | None:
        """The current invocation if `request_id` may post now; else answer as the RIE does."""
        env = self.env
        if env.state == State.RESPONDED and request_id == self.answered_id:
            conn.send(403, runtime_api.transition_error(State.RESPONDED.value, target))
            return None
        inv = env.current
        if inv is None or not inv.delivered_at or inv.request_id != request_id:
            conn.send(400, runtime_api.INVALID_REQUEST_ID)
            return None
        self.answered_id = request_id
        env.state = State.RESPONDED
        return inv

    def runtime_response(self, conn: HttpServerProtocol, request_id: str, request: Request) -> None:
        inv = self._check_turn(conn, request_id, "InvocationResponse")
        if inv is None:
            return
        env = self.env
        if request.too_large:
            limit = runtime_api.MAX_RESPONSE_BYTES
            conn.send(413, runtime_api.error_body(
                "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} bytes)."))
            env.finish(_too_large_outcome())
            # Runtimes (awslambdaric included) treat the 413 as fatal: start the next invoke afresh.
            env.reset("failure")
            return
        mode = request.headers.get(b"lambda-runtime-function-response-mode")
        if mode is not None and mode.lower() != b"streaming":
            conn.send(400, runtime_api.error_body("InvalidFunctionResponseMode", "Invalid function response mode"))
            message = f"Invalid Lambda-Runtime-Function-Response-Mode: {mode.decode(errors='replace')}"
            env.finish(platform_error(inv.request_id, "Runtime.InvalidResponseModeHeader", message))
            return
        conn.send(202, runtime_api.ACCEPTED)
        if mode is not None:
            # A streamed (chunked) response may end in error trailers; the body then is the error.
            error_type = request.headers.get(b"lambda-runtime-function-error-type")
            if error_type:
                env.finish(Outcome(_trailer_error_body(request, error_type), function_error="Unhandled",
                                   error_type=sanitize_error_type(error_type.decode("utf-8", "replace"))))
                return
        content_type = request.headers.get(b"content-type") or b"application/json"
        env.finish(Outcome(bytes(request.body), content_type))

    def runtime_error(self, conn: HttpServerProtocol, request_id: str, request: Request) -> None:
        if self._check_turn(conn, request_id, "InvocationErrorResponse") is None:
            return
        conn.send(202, runtime_api.ACCEPTED)
        self.env.finish(_error_outcome(request))

    def runtime_init_error(self, conn: HttpServerProtocol, request: Request) -> None:
        env = self.env
        if env.state != State.INIT:
            conn.send(403, runtime_api.transition_error(env.state.value, State.INIT_ERROR.value))
            return
        conn.send(202, runtime_api.ACCEPTED)
        env.init_duration_ms = (time.perf_counter() - env.init_started) * 1000.0
        env.cancel_init_timer()
        env.init_error = _error_outcome(request)
        env.state = State.INIT_ERROR
        if env.current is not None:
            env.finish(env.init_error_outcome(env.current))
        # The runtime is expected to exit; make sure it does.
        env.loop.create_task(env.shutdown("init error"))

    # ------------------------------------------------------------------ Extensions API
    def extension_register(self, conn: HttpServerProtocol, request: Request) -> None:
        env = self.env
        phase = env.ext
        if phase is None:  # internal extensions only: they may register until the runtime's first /next
            phase = ExtensionsPhase(env, ext_api.Extensions([], registration_open=env.state == State.INIT))
        phase.register(conn, request)

    def extension_next(self, conn: HttpServerProtocol, request: Request) -> None:
        self._phase().next(conn, request)

    def extension_init_error(self, conn: HttpServerProtocol, request: Request) -> None:
        self._phase().error(conn, request, "Extension.InitError")

    def extension_exit_error(self, conn: HttpServerProtocol, request: Request) -> None:
        self._phase().error(conn, request, "Extension.ExitError")

    def _phase(self) -> ExtensionsPhase:
        """The environment's extensions (none registered: an empty registry that refuses every call)."""
        return self.env.ext or ExtensionsPhase(self.env, ext_api.Extensions([], registration_open=False))


class StreamedResponse:
    """A runtime's streamed `/response`, passed on to the invocation's stream as it arrives; trailers
    (`Lambda-Runtime-Function-Error-Type` / `-Body`) turn it into the function's error at the end."""

    __slots__ = ("env", "inv", "conn")

    def __init__(self, env: Environment, inv: Invocation, conn: HttpServerProtocol, request: Request):
        self.env = env
        self.inv = inv
        self.conn = conn
        assert inv.stream is not None
        inv.stream.begin(conn, request.headers.get(b"content-type"))

    def data(self, chunk: bytes) -> None:
        stream = self.inv.stream
        assert stream is not None
        if stream.push(chunk):
            return
        limit = stream.limits.max_bytes  # over AWS's maximum: 413 to the runtime, the caller gets the error
        self.conn.refuse(413, runtime_api.error_body(
            "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} bytes)."))
        self._finish(_too_large_outcome(limit))

    def complete(self, request: Request) -> None:
        self.conn.send(202, runtime_api.ACCEPTED)
        error_type = request.headers.get(b"lambda-runtime-function-error-type")
        if error_type:
            outcome = Outcome(_trailer_error_body(request, error_type), function_error="Unhandled",
                              error_type=sanitize_error_type(error_type.decode("utf-8", "replace")))
        else:
            outcome = Outcome(b"", self.inv.stream.content_type if self.inv.stream is not None else b"")
        self._finish(outcome)

    def lost(self) -> None:
        """The runtime's connection ended mid-body (the RIE's truncated response)."""
        self._finish(platform_error(self.inv.request_id, "Runtime.TruncatedResponse",
                                    "The runtime closed its streamed response before it was complete."))

    def _finish(self, outcome: Outcome) -> None:
        if self.inv.stream is not None:
            self.inv.stream.detach()
        if self.env.current is self.inv:  # else it ended already (timed out, the environment was reset)
            self.env.finish(outcome)
