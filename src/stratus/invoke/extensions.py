"""The extensions phase of one environment (Extensions API, 2020-01-01), owned by the environment
only when the function has extensions (`Environment.ext` is None otherwise).

As on AWS: external extensions (files in /opt/extensions) start first, through a launcher script
(runtime/extensions.py) that reports on a control socket, and must register before the runtime
starts; INIT ends when the runtime and every registered extension asked for their next event; an
invocation's answer goes to the caller when the runtime responds, but the invocation ends (END and
REPORT, the next one may start) when every extension that got its INVOKE event asked for the next
one; SHUTDOWN sends the runtime SIGTERM, then the extensions their SHUTDOWN event, within AWS's limits.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from typing import TYPE_CHECKING

import msgspec

from stratus.invoke.types import Invocation, Outcome, State
from stratus.runtime import api as runtime_api
from stratus.runtime import extensions as ext_api
from stratus.runtime.http import HttpServerProtocol, Request

if TYPE_CHECKING:
    from stratus.invoke.environment import Environment

# The SHUTDOWN phase with extensions (AWS's Extensions API guide): 2,000 ms with external extensions,
# of which the runtime gets up to 300 ms after SIGTERM (500 ms when an internal extension is
# registered); 500 ms with internal extensions only.
_SHUTDOWN_EXTERNAL_S = 2.0
_SHUTDOWN_INTERNAL_S = 0.5
_RUNTIME_SHARE_S = 0.3
_RUNTIME_SHARE_INTERNAL_S = 0.5
_SHUTDOWN_REASONS = {"timeout": "timeout", "failure": "failure", "init error": "failure"}  # else "spindown"


def shell_status(status: int) -> int:
    """A shell's exit status (128 + N for signal N) as a returncode (-N), as describe_exit expects."""
    return -(status - 128) if 128 < status < 128 + 65 else status


class ExtensionsPhase:
    """Extensions' registry, the launcher's control socket, and the invocation they still work on."""

    def __init__(self, env: Environment, registry: ext_api.Extensions):
        self.env = env
        self.registry = registry
        self.paths: list[str] = []  # of the external extensions, as the sandbox sees them
        self.control: socket.socket | None = None  # the launcher's control socket (external extensions)
        self._control_buffer = b""
        self._exits: asyncio.Event | None = None  # set when an external extension (or the launcher) ends
        self.runtime_started = False  # the launcher was told to start the runtime
        self.runtime_exit: asyncio.Future[int] | None = None  # the runtime's end, when the launcher runs it
        self.init_parked: HttpServerProtocol | None = None  # the runtime's first /next, waiting for extensions
        self.post: Invocation | None = None  # answered; extensions still busy with its INVOKE event
        self.post_outcome: Outcome | None = None
        self.post_done: asyncio.Future[None] | None = None  # resolves when that extension work ends
        self.fatal_type: str | None = None  # Extension.InitError/ExitError reported before the process ended
        self.init_failure: tuple[str, str] | None = None  # (errorType, message) of an INIT the platform failed

    # ------------------------------------------------------------------ start
    def launcher(self, names: list[str], env_vars: dict[str, str]) -> tuple[list[str], socket.socket]:
        """The launcher's argv prefix for the external extensions `names`, and its end of the control socket."""
        env = self.env
        opt = env.sandbox.visible_opt(env.spec.opt_dir) if env.spec.opt_dir is not None else "/opt"
        self.paths = [f"{opt}/extensions/{name}" for name in names]
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        self.control = ours  # read once the sandbox is started (watch_control)
        self.runtime_exit = env.loop.create_future()
        self._exits = asyncio.Event()
        return ext_api.launcher_argv(self.paths, ext_api.extension_unset(env_vars)), theirs

    def watch_control(self) -> None:
        if self.control is not None:
            self.env.loop.add_reader(self.control.fileno(), self._on_control)

    def runtime_ready(self, conn: HttpServerProtocol) -> bool:
        """The runtime's first /next: registration closes; True if INIT may end (every extension waits
        for an event), else the /next waits for them."""
        registry = self.registry
        registry.registration_open = False
        if not registry.all_ready():
            if self.init_parked is not None:
                self.init_parked.close()
            conn.parked = True
            self.init_parked = conn
            return False
        self.log_lines()
        return True

    def log_lines(self) -> None:
        """Lambda's EXTENSION lines (one per extension, at the end of INIT) in the function's log."""
        env = self.env
        record = env.platform_log.extension
        lines = b"".join(record(ext.name, ext.state.value, ext.events(), ext.error_type)
                         for ext in self.registry.external + self.registry.internal)
        if lines:
            env.output.write_platform(lines)
            if not env.init_reported:
                env.output.init_log += lines

    # ------------------------------------------------------------------ Extensions API
    def register(self, conn: HttpServerProtocol, request: Request) -> None:
        env = self.env
        registry = self.registry
        name = (request.headers.get(b"lambda-extension-name") or b"").decode("utf-8", "replace")
        try:
            ext = registry.register(name, bytes(request.body))
        except ext_api.ExtensionApiError as error:
            conn.send(error.status, error.body)
            return
        env.ext = self
        spec = env.spec
        body = {"functionName": spec.function_name, "functionVersion": spec.version, "handler": spec.handler}
        features = request.headers.get(b"lambda-extension-accept-feature", b"")
        if b"accountId" in (feature.strip() for feature in features.split(b",")):
            body = {"accountId": spec.function_arn.split(":")[4], **body}
        conn.send(200, msgspec.json.encode(body) + b"\n", [(ext_api.IDENTIFIER_HEADER, ext.id.encode())])
        if (ext.external and self.control is not None and not self.runtime_started and env.state == State.INIT
                and registry.all_external_registered()):
            self.runtime_started = True  # every extension registered: the runtime may start (Runtime init)
            try:
                self.control.send(b"go\n")
            except OSError:
                pass

    def next(self, conn: HttpServerProtocol, request: Request) -> None:
        registry = self.registry
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
        if self.env.state == State.INIT:
            if self.init_parked is not None and registry.all_ready():
                runtime_conn, self.init_parked = self.init_parked, None
                self.env.runtime.runtime_next(runtime_conn)  # the runtime's first /next again: now INIT completes
        elif self.post is not None and not registry.invoke_busy():
            self._complete_post()

    def error(self, conn: HttpServerProtocol, request: Request, fatal_type: str) -> None:
        """init/error and exit/error: recorded; the environment fails when the extension then exits."""
        registry = self.registry
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
        if self.fatal_type is None:  # the first fatal error is the one reported
            self.fatal_type = fatal_type
        conn.send(202, runtime_api.ACCEPTED)

    # ------------------------------------------------------------------ the invocation they work on
    def hold(self, inv: Invocation, outcome: Outcome) -> None:
        """`inv` was answered while extensions still work on its INVOKE event: it ends when they are done."""
        self.post, self.post_outcome = inv, outcome
        self.post_done = self.env.loop.create_future()

    def _complete_post(self) -> None:
        """Every extension asked for its next event: the invocation ends; the next one may start."""
        env = self.env
        self._end_post()
        queued = env.current
        parked = env.runtime.parked
        if queued is not None and not queued.delivered_at and parked is not None:
            env.runtime.parked = None
            env.runtime.deliver(parked, queued)

    def _end_post(self) -> None:
        """Report the held invocation (END / REPORT) and free the environment."""
        inv, outcome = self.post, self.post_outcome
        self.post = self.post_outcome = None
        if inv is not None and outcome is not None:
            self.env.report(inv, outcome)
        self.post_ended()

    def post_timed_out(self, inv: Invocation) -> bool:
        """The function's timeout came while extensions still worked on `inv`: it ends now."""
        if self.post is not inv:
            return False
        self._end_post()
        return True

    def post_ended(self) -> None:
        done, self.post_done = self.post_done, None
        if done is not None and not done.done():
            done.set_result(None)

    # ------------------------------------------------------------------ the launcher's reports
    def _on_control(self) -> None:
        """Reports of the extensions launcher: an extension ended or could not start, the runtime ended."""
        control = self.control
        if control is None:
            return
        try:
            data = control.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the launcher and every extension process have ended
            self.close_control()
            return
        *lines, self._control_buffer = (self._control_buffer + data).split(b"\n")
        for line in lines:
            kind, _, rest = line.decode("ascii", "replace").partition(" ")
            fields = rest.split()
            if kind == "p" and fields and self.env.process is not None:
                self.env.process.runtime_started(int(fields[0]))
            elif kind == "r" and fields:
                self._on_runtime_ended(int(fields[0]))
            elif kind == "x" and len(fields) == 2:
                self._on_extension_exited(int(fields[0]), int(fields[1]))
            elif kind == "l" and fields:
                index = int(fields[0])
                ext = self.registry.external[index]
                ext.state = ext_api.ExtensionState.LAUNCH_ERROR
                ext.error_type = "PermissionDenied"
                self.env.fatal("Extension.LaunchError", f"fork/exec {self.paths[index]}: permission denied")

    def _on_runtime_ended(self, status: int) -> None:
        runtime_exit = self.runtime_exit
        if runtime_exit is None or runtime_exit.done():
            return
        runtime_exit.set_result(status)
        env = self.env
        if env.state == State.DEAD:
            return
        env.runtime_gone(shell_status(status))
        env.reset("failure")  # the extensions get their SHUTDOWN event (unless it is under way)

    def _on_extension_exited(self, index: int, status: int) -> None:
        ext = self.registry.external[index]
        ext.exited = True
        if ext.conn is not None:
            ext.conn.close()
            ext.conn = None
        if self._exits is not None:
            self._exits.set()
        process = self.env.process
        message = ("exit code 0" if status == 0 or process is None
                   else process.describe_exit(shell_status(status)))
        self.env.fatal(self.fatal_type or "Extension.Crash", message)

    def close_control(self) -> None:
        if self.control is not None:
            self.env.loop.remove_reader(self.control.fileno())
            self.control.close()
            self.control = None
            if self._exits is not None:
                self._exits.set()

    def close(self) -> None:
        """At the environment's end: every waiting call is closed, the control socket too."""
        if self.init_parked is not None:
            self.init_parked.close()
            self.init_parked = None
        self.registry.close_waiting()
        self.close_control()

    # ------------------------------------------------------------------ SHUTDOWN
    def abandon_work(self) -> None:
        """At a SHUTDOWN: close the invocation still in its extensions' phase, and send one assigned but
        never delivered elsewhere."""
        if self.post is not None:
            self._end_post()
        env = self.env
        inv = env.current
        if inv is not None and not inv.delivered_at and env.init_reported:
            env.current = None
            if inv.future is not None:
                inv.future.set_result(None)

    async def shut_down(self, reason: str) -> None:
        """The SHUTDOWN phase with extensions: SIGTERM to the runtime, then the SHUTDOWN event to the
        extensions subscribed to it, within AWS's time limits; then SIGKILL of what is left."""
        env = self.env
        process = env.process
        if process is None:
            return
        registered = self.registry.registered()
        external = any(extension.external for extension in registered)
        internal = any(not extension.external for extension in registered)
        budget = _SHUTDOWN_EXTERNAL_S if external else _SHUTDOWN_INTERNAL_S
        runtime_share = (_RUNTIME_SHARE_INTERNAL_S if internal else _RUNTIME_SHARE_S) if external else budget
        started = time.monotonic()
        deadline_ms = int((time.time() + budget) * 1000)
        self.abandon_work()
        launcher = self.runtime_exit is not None
        runtime_done: asyncio.Future[int] | asyncio.Future[int | None] = (
            self.runtime_exit if self.runtime_exit is not None else env.exited)
        if (self.runtime_started or not launcher) and not runtime_done.done():
            process.signal_main(signal.SIGTERM)  # the launcher passes it on to the runtime
            try:
                await asyncio.wait_for(asyncio.shield(runtime_done), runtime_share)
            except TimeoutError:
                pass
        if launcher:
            reason = _SHUTDOWN_REASONS.get(reason, "spindown")
            targets = self.registry.dispatch_shutdown(ext_api.shutdown_event(reason, deadline_ms))
            await self._wait_exits(targets, started, budget)
        await env.kill_and_wait()

    async def _wait_exits(self, targets: list[ext_api.Extension], started: float, budget: float) -> None:
        """Until every extension given the SHUTDOWN event has exited, or the phase's budget is spent."""
        exits = self._exits
        while self.control is not None and exits is not None and not all(target.exited for target in targets):
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0:
                return
            exits.clear()
            try:
                await asyncio.wait_for(exits.wait(), remaining)
            except TimeoutError:
                return
