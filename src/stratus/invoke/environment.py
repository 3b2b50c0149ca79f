"""One execution environment: a sandboxed runtime process, its Runtime API endpoint, its lifecycle.

Lifecycle as Lambda's: INIT (process started, until the runtime's first `/next`) → INVOKE… (one
invocation at a time) → SHUTDOWN (SIGTERM, a grace period, SIGKILL). A timeout or a crash destroys
the environment; the pool starts a fresh one for the next invoke.

With extensions (Extensions API, 2020-01-01) the phases widen as on AWS: external extensions (files
in /opt/extensions) start first and must register before the runtime starts; INIT ends when the
runtime and every registered extension asked for their next event; an invocation's answer goes to
the caller when the runtime responds, but the next invocation waits until every extension that got
the INVOKE event asked for its next one; SHUTDOWN sends the runtime SIGTERM, then the extensions
their SHUTDOWN event, within AWS's limits. A function without extensions takes none of these paths.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import logging
import os
import re
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import Callable

import msgspec

from stratus.invoke.types import EnvironmentSpec, Invocation, Outcome, platform_error
from stratus.observe import logs
from stratus.runtime import api as runtime_api
from stratus.runtime import extensions as ext_api
from stratus.runtime.http import HttpServerProtocol, Request
from stratus.runtime.runtimes import PROVIDED_RUNTIMES
from stratus.sandbox import Sandbox, SandboxProcess, SandboxSpec, exit_description

log = logging.getLogger("stratus.environment")

RUNTIME_SOCKET_VARIABLE = "_STRATUS_RUNTIME_API_SOCKET"  # read by the bundled bootstraps
_ERROR_TYPE_PASS_THROUGH = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")
_LOG_KEEP_BYTES = 64 * 1024  # per-invocation log kept in memory for the tail
# The SHUTDOWN phase with extensions (AWS's Extensions API guide): 2,000 ms with external extensions,
# of which the runtime gets up to 300 ms after SIGTERM (500 ms when an internal extension is
# registered); 500 ms with internal extensions only.
_SHUTDOWN_EXTERNAL_S = 2.0
_SHUTDOWN_INTERNAL_S = 0.5
_RUNTIME_SHARE_S = 0.3
_RUNTIME_SHARE_INTERNAL_S = 0.5
_SHUTDOWN_REASONS = {"timeout": "timeout", "failure": "failure", "init error": "failure"}  # else "spindown"


def _shell_status(status: int) -> int:
    """A shell's exit status (128 + N for signal N) as a returncode (-N), as describe_exit expects."""
    return -(status - 128) if 128 < status < 128 + 65 else status


def sanitize_error_type(value: str | None) -> str:
    """AWS's rule for `Lambda-Runtime-Function-Error-Type`: Runtime.X / Function.X pass, else Unknown."""
    if value and _ERROR_TYPE_PASS_THROUGH.search(value):
        return value
    if value and value.startswith("Function."):
        return "Function.Unknown"
    return "Runtime.Unknown"


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


class State(enum.Enum):
    INIT = "Started"
    READY = "Ready"
    RUNNING = "Running"
    RESPONDED = "RuntimeResponseSentState"
    INIT_ERROR = "InitError"
    DEAD = "Dead"


class Environment:
    """A runtime process in a sandbox, fed invocations through its own Runtime API endpoint."""

    def __init__(self, spec: EnvironmentSpec, sandbox: Sandbox, log_sink: logs.LogSink, *,
                 init_timeout_s: float, shutdown_grace_s: float,
                 initialization_type: str = "on-demand", on_dead: Callable[["Environment"], None] = lambda env: None):
        self.id = secrets.token_hex(16)
        self.spec = spec
        self.sandbox = sandbox
        self.log_sink = log_sink
        self.init_timeout_s = init_timeout_s
        self.shutdown_grace_s = shutdown_grace_s
        self.initialization_type = initialization_type
        self.on_dead = on_dead
        self.log_stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{spec.version}]{self.id}"

        self.state = State.INIT
        self.process: SandboxProcess | None = None
        self.last_used = time.monotonic()
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.AbstractServer | None = None
        self._unix_server: asyncio.AbstractServer | None = None
        self._socket_path: Path | None = None
        self._parked: HttpServerProtocol | None = None  # a /next waiting for work
        self._current: Invocation | None = None
        self._init_started = 0.0
        self._init_duration_ms: float | None = None
        self._init_reported = False
        self._init_log = bytearray()
        self._init_error: Outcome | None = None
        self._init_timer: asyncio.TimerHandle | None = None
        self._output_fd = -1
        self._exited = self._loop.create_future()
        self._shutting_down = False
        self._answered_id = ""
        # Extensions: None until the function has one (every check on the warm path is this test).
        self._ext: ext_api.Extensions | None = None
        self._control: socket.socket | None = None  # the launcher's control socket (external extensions)
        self._control_buffer = b""
        self._extension_paths: list[str] = []
        self._extension_exits: asyncio.Event | None = None
        self._runtime_started = False  # the launcher was told to start the runtime
        self._runtime_exit: asyncio.Future | None = None  # the runtime's end, when the launcher runs it
        self._init_parked: HttpServerProtocol | None = None  # the runtime's first /next, waiting for extensions
        self._post: Invocation | None = None  # answered; extensions still busy with its INVOKE event
        self._post_done: asyncio.Future | None = None  # resolves when that extension work ends
        self._post_outcome: Outcome | None = None
        self._fatal_type: str | None = None  # Extension.InitError/ExitError reported before the process ended
        self._init_failure: tuple[str, str] | None = None  # (errorType, message) of an INIT the platform failed

    # ------------------------------------------------------------------ start / stop
    async def start(self) -> None:
        """Open the Runtime API endpoint and start the runtime (the INIT phase begins)."""
        names = ext_api.external_names(self.spec.opt_dir)
        if len(names) > ext_api.MAX_EXTENSIONS:
            self._init_started = time.perf_counter()
            self._ext = ext_api.Extensions([])
            self._fail_init("Extension.LaunchError", "ErrTooManyExtensions")  # nothing is started
            return
        self._server = await self._loop.create_server(
            lambda: HttpServerProtocol(self._dispatch, runtime_api.MAX_RESPONSE_BYTES),
            "127.0.0.1", 0, backlog=16,
        )
        port = self._server.sockets[0].getsockname()[1]
        # The same API on a Unix socket: Stratus's own bootstraps use it (cheaper than TCP on
        # loopback); AWS_LAMBDA_RUNTIME_API stays TCP for every other runtime client.
        socket_path, visible_socket = self.sandbox.runtime_socket(self.id)
        self._socket_path = socket_path
        self._unix_server = await self._loop.create_unix_server(
            lambda: HttpServerProtocol(self._dispatch, runtime_api.MAX_RESPONSE_BYTES), str(socket_path))
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self._output_fd = read_fd
        self._loop.add_reader(read_fd, self._on_output)
        env = dict(self.spec.env)
        env.update({
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            RUNTIME_SOCKET_VARIABLE: visible_socket,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": self.initialization_type,
        })
        launcher, control = self._launcher(env, names)
        self._init_started = time.perf_counter()
        try:
            self.process = await self.sandbox.spawn(
                SandboxSpec(
                    env_id=self.id, argv=list(self.spec.argv), env=env, task_root=self.spec.task_root,
                    runtime_dir=self.spec.runtime_dir, runtime_socket=socket_path,
                    memory_mb=self.spec.memory_mb, ephemeral_storage_mb=self.spec.ephemeral_storage_mb,
                    output_fd=write_fd, opt_dir=self.spec.opt_dir, launcher=launcher,
                    stdin_fd=control.fileno() if control is not None else None,
                ),
                self._on_exit,
            )
        except BaseException:
            os.close(write_fd)
            if control is not None:
                control.close()
            self._teardown()
            raise
        os.close(write_fd)
        if control is not None:
            control.close()
            self._loop.add_reader(self._control.fileno(), self._on_control)
        if self.state == State.INIT:
            self._init_timer = self._loop.call_later(self.init_timeout_s, self._on_init_timeout)
        elif self.state != State.DEAD:  # the runtime finished INIT before spawn() returned
            self.process.init_done()

    def _launcher(self, env: dict[str, str], names: list[str]) -> tuple[list[str], socket.socket | None]:
        """What starts in front of the runtime: AWS_LAMBDA_EXEC_WRAPPER and/or the extensions launcher
        (nothing for most functions); with extensions, the launcher's end of the control socket."""
        spec = self.spec
        launcher: list[str] = []
        wrapper = env.get("AWS_LAMBDA_EXEC_WRAPPER")
        if wrapper and spec.runtime not in PROVIDED_RUNTIMES:  # OS-only runtimes ignore it, as on AWS
            task_root, _ = self.sandbox.visible_paths(spec.task_root, spec.runtime_dir)
            if wrapper.startswith("/var/task/") and task_root != "/var/task":  # no mount namespace
                env["AWS_LAMBDA_EXEC_WRAPPER"] = task_root + wrapper[len("/var/task"):]
            launcher = ext_api.wrapper_argv()
        if not names:
            return launcher, None
        self._ext = ext_api.Extensions(names)
        opt = self.sandbox.visible_opt(spec.opt_dir)
        self._extension_paths = [f"{opt}/extensions/{name}" for name in names]
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        self._control = ours  # read once the sandbox is started
        self._runtime_exit = self._loop.create_future()
        self._extension_exits = asyncio.Event()
        return ext_api.launcher_argv(self._extension_paths, ext_api.extension_unset(env)) + launcher, theirs

    @property
    def alive(self) -> bool:
        return self.state not in (State.DEAD, State.INIT_ERROR) and not self._shutting_down

    async def shutdown(self, reason: str = "spindown") -> None:
        """SHUTDOWN phase: SIGTERM to the runtime, a grace period, then SIGKILL of every process
        (with extensions: their SHUTDOWN event after the runtime's SIGTERM, within AWS's limits)."""
        if self._shutting_down or self.state == State.DEAD:
            await asyncio.shield(self._exited)
            return
        self._shutting_down = True
        await self._shut_down(reason)

    def _reset(self, reason: str) -> None:
        """After a timeout or a failure: with extensions, a SHUTDOWN phase (they get the reason);
        without, every process is killed at once."""
        if self._ext is None:
            self.destroy()
        elif not self._shutting_down and self.state != State.DEAD:
            self._shutting_down = True  # not reused from now on, though the phase runs in a task
            self._loop.create_task(self._shut_down(reason))

    async def _shut_down(self, reason: str) -> None:
        log.debug("environment %s of %s shutting down (%s)", self.id, self.spec.function_name, reason)
        if self._ext is not None and self.process is not None:
            await self._shut_down_with_extensions(_SHUTDOWN_REASONS.get(reason, "spindown"))
        elif self.process is not None and not self._exited.done():
            self.process.signal_main(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), self.shutdown_grace_s)
            except asyncio.TimeoutError:
                self.process.kill_all()
                try:
                    await asyncio.wait_for(asyncio.shield(self._exited), 5)
                except asyncio.TimeoutError:
                    log.warning("environment %s did not exit after SIGKILL", self.id)
        self._die()

    async def _shut_down_with_extensions(self, reason: str) -> None:
        ext = self._ext
        registered = ext.registered()
        external = any(extension.external for extension in registered)
        internal = any(not extension.external for extension in registered)
        budget = _SHUTDOWN_EXTERNAL_S if external else _SHUTDOWN_INTERNAL_S
        runtime_share = (_RUNTIME_SHARE_INTERNAL_S if internal else _RUNTIME_SHARE_S) if external else budget
        started = time.monotonic()
        deadline_ms = int((time.time() + budget) * 1000)
        self._abandon_work()
        launcher = self._runtime_exit is not None
        runtime_done = self._runtime_exit if launcher else self._exited
        if (self._runtime_started or not launcher) and not runtime_done.done():
            self.process.signal_main(signal.SIGTERM)  # the launcher passes it on to the runtime
            try:
                await asyncio.wait_for(asyncio.shield(runtime_done), runtime_share)
            except asyncio.TimeoutError:
                pass
        if launcher:
            targets = ext.dispatch_shutdown(ext_api.shutdown_event(reason, deadline_ms))
            while self._control is not None and not all(target.exited for target in targets):
                remaining = budget - (time.monotonic() - started)
                if remaining <= 0:
                    break
                self._extension_exits.clear()
                try:
                    await asyncio.wait_for(self._extension_exits.wait(), remaining)
                except asyncio.TimeoutError:
                    break
        if not self._exited.done():
            self.process.kill_all()
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), 5)
            except asyncio.TimeoutError:
                log.warning("environment %s did not exit after SIGKILL", self.id)

    def _abandon_work(self) -> None:
        """At a SHUTDOWN with extensions: close the invocation still in its extensions' phase, and send
        one assigned but never delivered elsewhere."""
        post, self._post = self._post, None
        if post is not None:
            self._report(post, self._post_outcome)
            self._post_outcome = None
            self._post_ended()
        inv = self._current
        if inv is not None and not inv.delivered_at and self._init_reported:
            self._current = None
            inv.future.set_result(None)

    def destroy(self) -> None:
        """Kill every process now (after a timeout, or when the runtime misbehaves)."""
        if self.process is not None:
            self.process.kill_all()
        self._die()

    def _die(self) -> None:
        if self.state == State.DEAD:
            return
        self.state = State.DEAD
        self._post_ended()  # nothing more will come of it: the caller's slot is free
        if self._init_timer is not None:
            self._init_timer.cancel()
        self._teardown()
        if self.process is None and not self._exited.done():  # nothing was started
            self._exited.set_result(None)
        self.on_dead(self)

    def _teardown(self) -> None:
        if self._output_fd >= 0:
            self._drain_output()
            self._loop.remove_reader(self._output_fd)
            os.close(self._output_fd)
            self._output_fd = -1
        if self._parked is not None:
            self._parked.close()
            self._parked = None
        if self._ext is not None:
            if self._init_parked is not None:
                self._init_parked.close()
                self._init_parked = None
            self._ext.close_waiting()
            self._close_control()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._unix_server is not None:
            self._unix_server.close()
            self._unix_server = None
            self._socket_path.unlink(missing_ok=True)
        if self.process is not None:
            self.process.cleanup()

    # ------------------------------------------------------------------ invoke
    def assign(self, invocation: Invocation) -> asyncio.Future:
        """Give this (idle) environment its next invocation; delivered as soon as the runtime asks.

        The future resolves to the Outcome, or to None when the environment died between invokes
        before the runtime took the invocation (the caller then runs it elsewhere).
        """
        assert self._current is None, "an environment holds one invocation at a time"
        invocation.future = future = self._loop.create_future()
        self._current = invocation
        if self._init_error is not None:
            self._finish(self._init_error_outcome(invocation))
        elif self._parked is not None and self._post is None:
            conn, self._parked = self._parked, None
            self._deliver(conn, invocation)
        elif self.state == State.DEAD:  # it ended before this invocation came (a runtime that exits at once)
            returncode = self._exited.result() if self._exited.done() else None
            if returncode is None:
                returncode = -signal.SIGKILL
            self._runtime_gone(returncode if self._runtime_exit is None else _shell_status(returncode))
        return future

    def _deliver(self, conn: HttpServerProtocol, inv: Invocation) -> None:
        spec = self.spec
        now = time.time()
        deadline_ms = int((now + spec.timeout_s) * 1000)
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
        self.state = State.RUNNING
        start = logs.start_line(inv.request_id, spec.version)
        if inv.want_log:
            inv.log += self._init_log
            inv.log += start
        self._init_log = bytearray()
        self.log_sink.write(spec.function_name, self.log_stream, start)
        inv.delivered_at = time.perf_counter()
        inv.timer = self._loop.call_later(spec.timeout_s, self._on_timeout, inv)
        if self._ext is not None:  # the extensions registered for INVOKE get it first, as the RIE does
            self._ext.dispatch_invoke(ext_api.invoke_event(inv.request_id, deadline_ms, inv.invoked_arn, inv.trace_id))
        conn.send(200, inv.payload, headers, inv.content_type)

    def _finish(self, outcome: Outcome, post: bool = True) -> None:
        """Complete the current invocation with `outcome`: platform log lines, tail, resolve.

        While extensions still work on its INVOKE event (and `post`), the caller gets `outcome` now
        and the invocation ends (END / REPORT, the next one may start) when they are done."""
        if self._current is None:
            return
        # Output written before the runtime answered belongs to this invocation: read it first.
        self._drain_output()
        inv, self._current = self._current, None
        if post and self._ext is not None and inv.delivered_at and self._ext.invoke_busy():
            self.last_used = time.monotonic()
            self._post, self._post_outcome = inv, outcome
            self._post_done = self._loop.create_future()
        else:
            self._report(inv, outcome)
        if inv.want_log:
            outcome.log = bytes(inv.log)
        if not inv.future.done():
            inv.future.set_result(outcome)

    @property
    def extensions_busy(self) -> bool:
        """The last invocation was answered but its extensions still work on it."""
        return self._post_done is not None

    def when_free(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the last invocation is over for this environment: now, or when its
        extensions have finished their INVOKE work (AWS counts that time as the invocation's)."""
        if self._post_done is None:
            callback()
        else:
            self._post_done.add_done_callback(lambda _: callback())

    def _post_ended(self) -> None:
        done, self._post_done = self._post_done, None
        if done is not None and not done.done():
            done.set_result(None)

    def report_init_apart(self) -> None:
        """INIT is not part of the first invocation (provisioned concurrency): no Init Duration in its
        REPORT line, no INIT output in its log tail (that output stays in the log stream)."""
        self._init_reported = True
        self._init_log = bytearray()

    def _report(self, inv: Invocation, outcome: Outcome) -> None:
        """The invocation's END and REPORT lines (its duration ends now)."""
        if inv.timer is not None:
            inv.timer.cancel()
        self.last_used = time.monotonic()
        if inv.delivered_at:
            outcome.duration_ms = (time.perf_counter() - inv.delivered_at) * 1000.0
            if not self._init_reported:
                outcome.init_duration_ms = self._init_duration_ms
                self._init_reported = True
            memory_used = self.process.max_memory_used_mb(0.0 if inv.want_log else 0.25) if self.process else 0
            tail = logs.end_line(inv.request_id) + logs.report_line(
                inv.request_id, outcome.duration_ms, self.spec.memory_mb, memory_used, outcome.init_duration_ms)
            self.log_sink.write(self.spec.function_name, self.log_stream, tail)
            if inv.want_log:
                inv.log += tail

    def _complete_post(self) -> None:
        """Every extension asked for its next event: the invocation ends; the next one may start."""
        inv, outcome = self._post, self._post_outcome
        self._post = self._post_outcome = None
        self._report(inv, outcome)
        self._post_ended()
        queued = self._current
        if queued is not None and not queued.delivered_at and self._parked is not None:
            conn, self._parked = self._parked, None
            self._deliver(conn, queued)

    # ------------------------------------------------------------------ Runtime API
    def _dispatch(self, conn: HttpServerProtocol, request: Request) -> None:
        runtime_api.dispatch(self, conn, request)

    def runtime_next(self, conn: HttpServerProtocol) -> None:
        if self.state == State.INIT:
            ext = self._ext
            if ext is not None:
                ext.registration_open = False  # the runtime's first /next closes registration
                if not ext.all_ready():  # INIT ends when every extension asked for an event too
                    if self._init_parked is not None:
                        self._init_parked.close()
                    conn.parked = True
                    self._init_parked = conn
                    return
                self._log_extensions()
            self._init_duration_ms = (time.perf_counter() - self._init_started) * 1000.0
            if self._init_timer is not None:
                self._init_timer.cancel()
                self._init_timer = None
            if self.process is not None:  # else start() applies it once spawn() has returned
                self.process.init_done()
        elif self.state in (State.INIT_ERROR, State.RUNNING):
            conn.send(403, runtime_api.transition_error(self.state.value, State.READY.value))
            return
        elif self.state == State.DEAD:
            conn.close()
            return
        self.state = State.READY
        inv = self._current
        if inv is not None and not inv.delivered_at and self._post is None:
            self._deliver(conn, inv)
        else:
            if self._parked is not None:  # a runtime re-asking on a new connection replaces the old ask
                self._parked.close()
            conn.parked = True
            self._parked = conn

    def _check_turn(self, conn: HttpServerProtocol, request_id: str, target: str) -> Invocation | None:
        """The current invocation if `request_id` may post now; else answer as the RIE does."""
        if self.state == State.RESPONDED and request_id == self._answered_id:
            conn.send(403, runtime_api.transition_error(State.RESPONDED.value, target))
            return None
        inv = self._current
        if inv is None or not inv.delivered_at or inv.request_id != request_id:
            conn.send(400, runtime_api.INVALID_REQUEST_ID)
            return None
        return inv

    def runtime_response(self, conn: HttpServerProtocol, request_id: str, request: Request) -> None:
        inv = self._check_turn(conn, request_id, "InvocationResponse")
        if inv is None:
            return
        self._answered_id = request_id  # until the next /next, a repeat post is out of turn (403)
        self.state = State.RESPONDED
        if request.too_large:
            limit = runtime_api.MAX_RESPONSE_BYTES
            conn.send(413, runtime_api.error_body(
                "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} bytes)."))
            body = msgspec.json.encode({
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": f"Response payload size ({request.size} bytes) exceeded maximum allowed payload size ({limit} bytes).",
            })
            self._finish(Outcome(body, function_error="Unhandled", error_type="Function.ResponseSizeTooLarge"))
            # Runtimes (awslambdaric included) treat the 413 as fatal: start the next invoke afresh.
            self._reset("failure")
            return
        mode = request.headers.get(b"lambda-runtime-function-response-mode")
        if mode is not None and mode.lower() != b"streaming":
            conn.send(400, runtime_api.error_body("InvalidFunctionResponseMode", "Invalid function response mode"))
            self._finish(platform_error(inv.request_id, "Runtime.InvalidResponseModeHeader",
                                        f"Invalid Lambda-Runtime-Function-Response-Mode: {mode.decode(errors='replace')}"))
            return
        conn.send(202, runtime_api.ACCEPTED)
        if mode is not None:
            # A streamed (chunked) response may end in error trailers; the body then is the error.
            error_type = request.headers.get(b"lambda-runtime-function-error-type")
            if error_type:
                self._finish(Outcome(_trailer_error_body(request, error_type), function_error="Unhandled",
                                     error_type=sanitize_error_type(error_type.decode("utf-8", "replace"))))
                return
        content_type = request.headers.get(b"content-type") or b"application/json"
        self._finish(Outcome(bytes(request.body), content_type))

    def runtime_error(self, conn: HttpServerProtocol, request_id: str, request: Request) -> None:
        inv = self._check_turn(conn, request_id, "InvocationErrorResponse")
        if inv is None:
            return
        self._answered_id = request_id  # until the next /next, a repeat post is out of turn (403)
        self.state = State.RESPONDED
        conn.send(202, runtime_api.ACCEPTED)
        error_type = sanitize_error_type(
            (request.headers.get(b"lambda-runtime-function-error-type") or b"").decode("utf-8", "replace"))
        self._finish(Outcome(bytes(request.body), function_error="Unhandled", error_type=error_type))

    def runtime_init_error(self, conn: HttpServerProtocol, request: Request) -> None:
        if self.state != State.INIT:
            conn.send(403, runtime_api.transition_error(self.state.value, State.INIT_ERROR.value))
            return
        conn.send(202, runtime_api.ACCEPTED)
        self._init_duration_ms = (time.perf_counter() - self._init_started) * 1000.0
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        error_type = sanitize_error_type(
            (request.headers.get(b"lambda-runtime-function-error-type") or b"").decode("utf-8", "replace"))
        self._init_error = Outcome(bytes(request.body), function_error="Unhandled", error_type=error_type)
        self.state = State.INIT_ERROR
        if self._current is not None:
            self._finish(self._init_error_outcome(self._current))
        # The runtime is expected to exit; make sure it does.
        self._loop.create_task(self.shutdown("init error"))

    def _init_error_outcome(self, inv: Invocation) -> Outcome:
        if self._init_failure is not None:
            outcome = platform_error(inv.request_id, *self._init_failure)
        else:
            outcome = Outcome(self._init_error.payload, function_error="Unhandled", error_type=self._init_error.error_type)
        if inv.want_log:
            inv.log += self._init_log
        return outcome

    # ------------------------------------------------------------------ failures
    def _on_timeout(self, inv: Invocation) -> None:
        if self._current is inv:
            seconds = self.spec.timeout_s
            self._finish(platform_error(inv.request_id, "Sandbox.Timedout", f"Task timed out after {seconds:.2f} seconds"),
                         post=False)
        elif self._post is inv:  # answered, but an extension did not finish within the function's timeout
            self._post = None
            self._report(inv, self._post_outcome)
            self._post_outcome = None
            self._post_ended()
        else:
            return
        self._reset("timeout")

    def _on_init_timeout(self) -> None:
        self._init_timer = None
        if self.state != State.INIT:
            return
        self._init_duration_ms = self.init_timeout_s * 1000.0
        inv = self._current
        if inv is not None:
            self._finish(platform_error(
                inv.request_id, "Sandbox.Timedout",
                f"Init timed out after {self.init_timeout_s:.2f} seconds: the runtime never asked for an invocation"
                if self._init_parked is None else
                f"Init timed out after {self.init_timeout_s:.2f} seconds: an extension never asked for its first event"))
        self.state = State.INIT_ERROR
        self._reset("timeout")

    def _on_exit(self, returncode: int) -> None:
        if not self._exited.done():
            self._exited.set_result(returncode)
        if self.state == State.DEAD:
            return
        if self._runtime_exit is None:  # the runtime is the sandbox's main process
            self._runtime_gone(returncode)
        elif not self._runtime_exit.done():  # the launcher ended (or was killed) before the runtime did
            self._runtime_exit.set_result(returncode)
            self._runtime_gone(_shell_status(returncode))
        self._die()

    def _runtime_gone(self, returncode: int) -> None:
        """The runtime process ended: its invocation (if any) fails as AWS reports it."""
        inv = self._current
        if inv is not None and not inv.delivered_at and self._init_reported:
            # Died between invokes, before taking this one: it never ran, so it may run elsewhere.
            self._current = None
            inv.future.set_result(None)
        elif inv is not None:
            self._drain_output()
            if self._init_error is not None:
                self._finish(self._init_error_outcome(inv))
            else:
                reason = (f"Runtime exited with error: {self.process.describe_exit(returncode)}" if returncode
                          else "Runtime exited without providing a reason")
                self._finish(platform_error(inv.request_id, self._fatal_type or "Runtime.ExitError", reason), post=False)
        elif self.state == State.INIT and not self._shutting_down:
            log.warning("runtime of %s exited during init: %s", self.spec.function_name, exit_description(returncode))

    def _fail_init(self, error_type: str, message: str) -> None:
        """INIT failed on the platform's side (an extension): the waiting invocation gets the error."""
        if self.state != State.INIT:
            return
        self._init_duration_ms = (time.perf_counter() - self._init_started) * 1000.0
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        self._init_failure = (error_type, message)
        self._init_error = Outcome(b"", function_error="Unhandled", error_type=error_type)
        self.state = State.INIT_ERROR
        self._log_extensions()
        if self._current is not None:
            self._finish(self._init_error_outcome(self._current))
        self._reset("failure")

    def _fatal(self, error_type: str, message: str) -> None:
        """An extension failed outside SHUTDOWN: AWS resets the environment (INIT fails, or the
        invocation in progress fails, and every process gets the SHUTDOWN phase)."""
        if self._shutting_down or self.state == State.DEAD:
            return
        if self.state == State.INIT:
            self._fail_init(error_type, message)
            return
        inv = self._current
        if inv is not None and inv.delivered_at:
            self._finish(platform_error(inv.request_id, error_type, message), post=False)
        self._reset("failure")

    # ------------------------------------------------------------------ Extensions API
    def extension_register(self, conn: HttpServerProtocol, request: Request) -> None:
        registry = self._ext
        if registry is None:  # internal extensions only: they may register until the runtime's first /next
            registry = ext_api.Extensions([], registration_open=self.state == State.INIT)
        name = (request.headers.get(b"lambda-extension-name") or b"").decode("utf-8", "replace")
        try:
            ext = registry.register(name, bytes(request.body))
        except ext_api.ExtensionApiError as error:
            conn.send(error.status, error.body)
            return
        self._ext = registry
        spec = self.spec
        body = {"functionName": spec.function_name, "functionVersion": spec.version, "handler": spec.handler}
        features = request.headers.get(b"lambda-extension-accept-feature", b"")
        if b"accountId" in (feature.strip() for feature in features.split(b",")):
            body = {"accountId": spec.function_arn.split(":")[4], **body}
        conn.send(200, msgspec.json.encode(body) + b"\n", [(ext_api.IDENTIFIER_HEADER, ext.id.encode())])
        if (ext.external and self._control is not None and not self._runtime_started and self.state == State.INIT
                and registry.all_external_registered()):
            self._runtime_started = True  # every extension registered: the runtime may start (Runtime init)
            try:
                self._control.send(b"go\n")
            except OSError:
                pass

    def extension_next(self, conn: HttpServerProtocol, request: Request) -> None:
        registry = self._ext or ext_api.Extensions([], registration_open=False)
        try:
            ext = registry.find(request.headers)
            registry.ready(ext)
        except ext_api.ExtensionApiError as error:
            conn.send(error.status, error.body)
            return
        if ext.pending is not None:  # an event came while it was busy (SHUTDOWN)
            event, ext.pending = ext.pending, None
            ext.state = ext_api.ExtensionState.RUNNING
            conn.send(200, event)
            return
        ext.conn = conn
        conn.parked = True
        if self.state == State.INIT:
            if self._init_parked is not None and registry.all_ready():
                runtime_conn, self._init_parked = self._init_parked, None
                self.runtime_next(runtime_conn)  # the runtime's first /next again: now INIT completes
        elif self._post is not None and not registry.invoke_busy():
            self._complete_post()

    def extension_init_error(self, conn: HttpServerProtocol, request: Request) -> None:
        self._extension_error(conn, request, "Extension.InitError")

    def extension_exit_error(self, conn: HttpServerProtocol, request: Request) -> None:
        self._extension_error(conn, request, "Extension.ExitError")

    def _extension_error(self, conn: HttpServerProtocol, request: Request, fatal_type: str) -> None:
        """init/error and exit/error: recorded; the environment fails when the extension then exits."""
        registry = self._ext or ext_api.Extensions([], registration_open=False)
        try:
            ext = registry.find(request.headers, "Unknown Lambda-Extension-Identifier", require_error_type=True)
            error_type = request.headers[b"lambda-extension-function-error-type"].decode("utf-8", "replace")
            if fatal_type == "Extension.InitError":
                registry.init_error(ext, error_type)
            else:
                registry.exit_error(ext, error_type)
        except ext_api.ExtensionApiError as error:
            conn.send(error.status, error.body)
            return
        if self._fatal_type is None:  # the first fatal error is the one reported
            self._fatal_type = fatal_type
        conn.send(202, runtime_api.ACCEPTED)

    def _log_extensions(self) -> None:
        """Lambda's EXTENSION lines (one per extension, at the end of INIT) in the function's log."""
        lines = b"".join(ext.log_line() for ext in self._ext.external + self._ext.internal)
        if lines:
            self.log_sink.write(self.spec.function_name, self.log_stream, lines)
            if not self._init_reported:
                self._init_log += lines

    def _on_control(self) -> None:
        """Reports of the extensions launcher: an extension ended or could not start, the runtime ended."""
        try:
            data = self._control.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the launcher and every extension process have ended
            self._close_control()
            return
        *lines, self._control_buffer = (self._control_buffer + data).split(b"\n")
        for line in lines:
            kind, _, rest = line.decode("ascii", "replace").partition(" ")
            fields = rest.split()
            if kind == "p" and fields:
                self.process.runtime_started(int(fields[0]))
            elif kind == "r" and fields:
                self._on_runtime_ended(int(fields[0]))
            elif kind == "x" and len(fields) == 2:
                self._on_extension_exited(int(fields[0]), int(fields[1]))
            elif kind == "l" and fields:
                index = int(fields[0])
                ext = self._ext.external[index]
                ext.state = ext_api.ExtensionState.LAUNCH_ERROR
                ext.error_type = "PermissionDenied"
                self._fatal("Extension.LaunchError", f"fork/exec {self._extension_paths[index]}: permission denied")

    def _on_runtime_ended(self, status: int) -> None:
        if self._runtime_exit.done():
            return
        self._runtime_exit.set_result(status)
        if self.state == State.DEAD:
            return
        self._runtime_gone(_shell_status(status))
        self._reset("failure")  # the extensions get their SHUTDOWN event (unless it is under way)

    def _on_extension_exited(self, index: int, status: int) -> None:
        ext = self._ext.external[index]
        ext.exited = True
        if ext.conn is not None:
            ext.conn.close()
            ext.conn = None
        self._extension_exits.set()
        message = "exit code 0" if status == 0 else self.process.describe_exit(_shell_status(status))
        self._fatal(self._fatal_type or "Extension.Crash", message)

    def _close_control(self) -> None:
        if self._control is not None:
            self._loop.remove_reader(self._control.fileno())
            self._control.close()
            self._control = None
            self._extension_exits.set()

    # ------------------------------------------------------------------ output
    def _on_output(self) -> None:
        self._drain_output()

    def _drain_output(self) -> None:
        """Read everything the environment has written so far and route it to the right log."""
        fd = self._output_fd
        if fd < 0:
            return
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if not data:
                self._loop.remove_reader(fd)
                break
            chunks.append(data)
        if not chunks:
            return
        data = b"".join(chunks)
        self.log_sink.write(self.spec.function_name, self.log_stream, data)
        inv = self._current
        if inv is not None and inv.delivered_at:
            if inv.want_log:
                inv.log += data
                if len(inv.log) > _LOG_KEEP_BYTES:
                    del inv.log[: len(inv.log) - _LOG_KEEP_BYTES]
        elif not self._init_reported:  # INIT's output: shown in the first invocation's tail
            self._init_log += data
            if len(self._init_log) > _LOG_KEEP_BYTES:
                del self._init_log[: len(self._init_log) - _LOG_KEEP_BYTES]
