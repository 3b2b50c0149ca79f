"""One execution environment: a sandboxed runtime process, its Runtime API endpoint, its lifecycle.

Lifecycle as Lambda's: INIT (process started, until the runtime's first `/next`) → INVOKE… (one
invocation at a time) → SHUTDOWN (SIGTERM, a grace period, SIGKILL). A timeout or a crash destroys
the environment; the pool starts a fresh one for the next invoke.

This module holds the process lifecycle and the invocation in progress (assign, finish, report,
timeouts, deaths). Its parts: the Runtime API handlers (invoke/runtime_handlers.py), the extensions
phase (invoke/extensions.py, only for functions with extensions: `ext` is None otherwise, and every
check on the warm path is that test), the output pipe with its log tails (invoke/output.py) and
what the runtime is launched with: endpoints, variables, exec wrapper (invoke/runtime_launch.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratus.invoke.extensions import ExtensionsPhase, shell_status
from stratus.invoke.output import OutputRouter
from stratus.invoke.placement import UNKNOWN
from stratus.invoke.runtime_handlers import RuntimeApiHandlers
from stratus.invoke.runtime_launch import RuntimeEndpoints, exec_wrapper_launcher, launch_variables
from stratus.invoke.snapstart import HIDDEN_VARIABLES, SNAP_START, Snapshots
from stratus.invoke.types import Credentials, EnvironmentSpec, Invocation, Outcome, State, platform_error
from stratus.observe.app_log_filter import ApplicationLogFilter
from stratus.observe.log_store import LogStore
from stratus.observe.platform_log import platform_log
from stratus.runtime import extensions as ext_api
from stratus.runtime.runtimes import address_space_headroom_mb
from stratus.sandbox import Sandbox, SandboxProcess, SandboxSpec, exit_description

if TYPE_CHECKING:
    from stratus.invoke.debug import DebugAttachment

log = logging.getLogger("stratus.environment")


def _ignore(env: Environment) -> None:
    pass


class Environment:
    """A runtime process in a sandbox, fed invocations through its own Runtime API endpoint."""

    def __init__(self, spec: EnvironmentSpec, sandbox: Sandbox, log_sink: LogStore, *,
                 init_timeout_s: float, shutdown_grace_s: float,
                 initialization_type: str = "on-demand", on_dead: Callable[[Environment], None] = _ignore,
                 credentials: Credentials | None = None):
        self.id = secrets.token_hex(16)
        self.spec = spec
        self.sandbox = sandbox
        self.init_timeout_s = init_timeout_s
        self.shutdown_grace_s = shutdown_grace_s
        self.initialization_type = initialization_type
        self.on_dead = on_dead
        self.credentials = credentials
        self.credentials_key = ""  # revoked when the environment ends
        self.log_stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{spec.version}]{self.id}"

        self.state = State.INIT
        self.process: SandboxProcess | None = None
        self.last_used = time.monotonic()
        self.loop = asyncio.get_running_loop()
        self.current: Invocation | None = None  # assigned; delivered once the runtime asks (`delivered_at`)
        self.init_started = 0.0
        self.init_duration_ms: float | None = None
        self.init_reported = False  # INIT's duration and output went to an invocation (or were set apart)
        self.init_error: Outcome | None = None
        self.init_timer: asyncio.TimerHandle | None = None
        self.exited: asyncio.Future[int | None] = self.loop.create_future()
        self.shutting_down = False
        json_logs = spec.log_format == "JSON"
        self.output = OutputRouter(self.loop, log_sink, spec.log_group, self.log_stream,
                                   ApplicationLogFilter(spec.application_log_level) if json_logs else None)
        self.platform_log = platform_log(spec.log_format, spec.system_log_level)  # START, REPORT... or JSON
        self.runtime = RuntimeApiHandlers(self)
        self.ext: ExtensionsPhase | None = None  # only when the function has extensions
        self.endpoints = RuntimeEndpoints(self.loop, sandbox, self.id, self.runtime)
        self.debug: DebugAttachment | None = None  # in debug mode: its timeout waits while a debugger is attached
        self.snapshots: Snapshots | None = None  # SnapStart (invoke/snapstart.py): restored, not initialized
        self.restored = False  # restored from its version's snapshot: INIT's time is a Restore Duration
        self.runtime_pid = 0  # the runtime's host pid, when it speaks the Runtime API over the Unix socket
        self.cpu_binding = UNKNOWN  # invoke/placement.py: the CPU the runtime is bound to, or FREE

    # ------------------------------------------------------------------ start / stop
    async def start(self) -> None:
        """Open the Runtime API endpoint and start the runtime (the INIT phase begins)."""
        names = ext_api.external_names(self.spec.opt_dir)
        if len(names) > ext_api.MAX_EXTENSIONS:
            self.init_started = time.perf_counter()
            self.ext = ExtensionsPhase(self, ext_api.Extensions([]))
            self.fail_init("Extension.LaunchError", "ErrTooManyExtensions")  # nothing is started
            return
        snapshot = None
        if self.snapshots is not None and self.spec.snap_start and self.spec.debug_dir is None:
            snapshot = await self.snapshots.get(self.spec)
            if snapshot is not None:
                self.initialization_type = SNAP_START
        address, socket_path, visible_socket = await self.endpoints.open()
        write_fd = self.output.open(self._drain_output)
        env = launch_variables(self.spec, address=address, visible_socket=visible_socket,
                               log_stream=self.log_stream, initialization_type=self.initialization_type)
        if snapshot is not None:
            for name in HIDDEN_VARIABLES:
                env.pop(name, None)
        if self.credentials is not None and self.spec.role:
            self.credentials_key, variables = self.credentials.issue(self.spec.role, self.spec.function_arn)
            env.update(variables)
        launcher, control = self._launcher(env, names)
        spec = self.spec
        if spec.init_warning:  # the runtime's version is not on this host: said at every INIT, in the log tail too
            line = self.platform_log.warning(spec.init_warning)  # a line in Text, a JSON record in JSON
            self.output.write_platform(line)
            self.output.init_log += line
        self.init_started = time.perf_counter()
        try:
            sandbox_spec = SandboxSpec(
                env_id=self.id, argv=list(spec.argv), env=env, task_root=spec.task_root,
                runtime_dir=spec.runtime_dir, runtime_socket=socket_path,
                memory_mb=spec.memory_mb, ephemeral_storage_mb=spec.ephemeral_storage_mb,
                output_fd=write_fd, opt_dir=spec.opt_dir, sdk_dir=spec.sdk_dir, launcher=launcher,
                stdin_fd=control.fileno() if control is not None else None,
                interpreter_prefix=spec.interpreter_prefix,
                address_space_headroom_mb=address_space_headroom_mb(spec.runtime), debug_dir=spec.debug_dir,
            )
            self.process = process = await self._start_process(snapshot, sandbox_spec)
            self._adopt_output(process)
        except BaseException:
            os.close(write_fd)
            if control is not None:
                control.close()
            self._teardown()
            raise
        os.close(write_fd)
        if self.state != State.DEAD:
            await self.endpoints.serve_private(process)
        if control is not None:
            control.close()
            if self.ext is not None:
                self.ext.watch_control()
        if self.state == State.INIT:
            self.init_timer = self.loop.call_later(self.init_timeout_s, self._on_init_timeout)
        elif self.state != State.DEAD:  # the runtime finished INIT before spawn() returned
            process.init_done()

    def _adopt_output(self, process: SandboxProcess) -> None:
        """A pre-started runtime's output comes on the pipe it was started with (sandbox/nodepool.py)."""
        output_fd = getattr(process, "output_fd", -1)
        if output_fd >= 0:
            process.output_fd = -1  # type: ignore[attr-defined]
            self.output.adopt(output_fd, self._drain_output)

    async def _start_process(self, snapshot: object, spec: SandboxSpec) -> SandboxProcess:
        """Restored from the version's snapshot (SnapStart), else spawned (or forked) to run INIT."""
        if snapshot is not None:
            try:
                process: SandboxProcess = await self.sandbox.restore(snapshot, spec, self._on_exit)  # type: ignore
                self.restored = True
                return process
            except OSError as exc:  # its zygote is gone: this one runs INIT (the next ones get a new snapshot)
                log.warning("environment %s of %s not restored (%s): it runs INIT", self.id, self.spec.function_name,
                            exc)
                self.initialization_type = spec.env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "on-demand"
        return await self.sandbox.spawn(spec, self._on_exit)

    def _launcher(self, env: dict[str, str], names: list[str]) -> tuple[list[str], socket.socket | None]:
        """What starts in front of the runtime: AWS_LAMBDA_EXEC_WRAPPER and/or the extensions launcher
        (nothing for most functions); with extensions, the launcher's end of the control socket."""
        launcher = exec_wrapper_launcher(self.spec, self.sandbox, env)
        if not names:
            return launcher, None
        self.ext = ExtensionsPhase(self, ext_api.Extensions(names))
        extensions, control = self.ext.launcher(names, env)
        return extensions + launcher, control

    @property
    def alive(self) -> bool:
        return self.state not in (State.DEAD, State.INIT_ERROR) and not self.shutting_down

    async def shutdown(self, reason: str = "spindown") -> None:
        """SHUTDOWN phase: SIGTERM to the runtime, a grace period, then SIGKILL of every process
        (with extensions: their SHUTDOWN event after the runtime's SIGTERM, within AWS's limits)."""
        if self.shutting_down or self.state == State.DEAD:
            await asyncio.shield(self.exited)
            return
        self.shutting_down = True
        await self._shut_down(reason)

    def reset(self, reason: str) -> None:
        """After a timeout or a failure: with extensions, a SHUTDOWN phase (they get the reason);
        without, every process is killed at once."""
        if self.ext is None:
            self.destroy()
        elif not self.shutting_down and self.state != State.DEAD:
            self.shutting_down = True  # not reused from now on, though the phase runs in a task
            self.loop.create_task(self._shut_down(reason))

    async def _shut_down(self, reason: str) -> None:
        log.debug("environment %s of %s shutting down (%s)", self.id, self.spec.function_name, reason)
        process = self.process
        if self.ext is not None and process is not None:
            await self.ext.shut_down(reason)
        elif process is not None and not self.exited.done():
            process.signal_main(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), self.shutdown_grace_s)
            except TimeoutError:
                await self.kill_and_wait()
        self._die()

    async def kill_and_wait(self) -> None:
        """SIGKILL every process left, and wait (a little) for the sandbox to report the end."""
        if self.process is not None and not self.exited.done():
            self.process.kill_all()
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), 5)
            except TimeoutError:
                log.warning("environment %s did not exit after SIGKILL", self.id)

    def destroy(self) -> None:
        """Kill every process now (after a timeout, or when the runtime misbehaves)."""
        if self.process is not None:
            self.process.kill_all()
        self._die()

    def _die(self) -> None:
        if self.state == State.DEAD:
            return
        self.state = State.DEAD
        if self.ext is not None:
            self.ext.post_ended()  # nothing more will come of it: the caller's slot is free
        self.cancel_init_timer()
        self._teardown()
        if self.process is None and not self.exited.done():  # nothing was started
            self.exited.set_result(None)
        self.on_dead(self)

    def _teardown(self) -> None:
        if self.credentials is not None and self.credentials_key:
            self.credentials.revoke(self.credentials_key)
            self.credentials_key = ""
        self.output.close(self.current, not self.init_reported)
        if self.runtime.parked is not None:
            self.runtime.parked.close()
            self.runtime.parked = None
        if self.ext is not None:
            self.ext.close()
        self.endpoints.close()
        if self.process is not None:
            self.process.cleanup()

    # ------------------------------------------------------------------ the invocation
    def assign(self, invocation: Invocation) -> asyncio.Future[Outcome | None]:
        """Give this (idle) environment its next invocation; delivered as soon as the runtime asks.

        The future resolves to the Outcome, or to None when the environment died between invokes
        before the runtime took the invocation (the caller then runs it elsewhere).
        """
        assert self.current is None, "an environment holds one invocation at a time"
        invocation.future = future = self.loop.create_future()
        self.current = invocation
        parked = self.runtime.parked
        if self.init_error is not None:
            self.finish(self.init_error_outcome(invocation))
        elif parked is not None and (self.ext is None or self.ext.post is None):
            self.runtime.parked = None
            self.runtime.deliver(parked, invocation)
        elif self.state == State.DEAD:  # it ended before this invocation came (a runtime that exits at once)
            returncode = self.exited.result() if self.exited.done() else None
            if returncode is None:
                returncode = -signal.SIGKILL
            launcher = self.ext is not None and self.ext.runtime_exit is not None
            self.runtime_gone(shell_status(returncode) if launcher else returncode)
        return future

    def finish(self, outcome: Outcome, post: bool = True) -> None:
        """Complete the current invocation with `outcome`: platform log lines, tail, resolve.

        While extensions still work on its INVOKE event (and `post`), the caller gets `outcome` now
        and the invocation ends (END / REPORT, the next one may start) when they are done."""
        inv = self.current
        if inv is None:
            return
        # Output written before the runtime answered belongs to this invocation: read it first.
        self._drain_output(final=True)
        self.current = None
        ext = self.ext
        if post and ext is not None and inv.delivered_at and ext.registry.invoke_busy():
            self.last_used = time.monotonic()
            ext.hold(inv, outcome)
        else:
            self.report(inv, outcome)
        if inv.want_log:
            outcome.log = bytes(inv.log)
        future = inv.future
        if future is not None and not future.done():
            future.set_result(outcome)

    @property
    def extensions_busy(self) -> bool:
        """The last invocation was answered but its extensions still work on it."""
        return self.ext is not None and self.ext.post_done is not None

    def when_free(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the last invocation is over for this environment: now, or when its
        extensions have finished their INVOKE work (AWS counts that time as the invocation's)."""
        done = self.ext.post_done if self.ext is not None else None
        if done is None:
            callback()
        else:
            done.add_done_callback(lambda _: callback())

    def init_complete(self) -> None:
        """INIT ended (the runtime's first `/next`, every extension ready): ProvisionedEnvironment reports it."""

    def report_init_apart(self) -> None:
        """INIT is not part of the first invocation (provisioned concurrency): no Init Duration in its
        REPORT line, no INIT output in its log tail (that output stays in the log stream)."""
        self.init_reported = True
        self.output.init_log = bytearray()

    def report(self, inv: Invocation, outcome: Outcome) -> None:
        """The invocation's END and REPORT lines (its duration ends now)."""
        if inv.timer is not None:
            inv.timer.cancel()
        self.last_used = time.monotonic()
        if inv.delivered_at:
            outcome.duration_ms = (time.perf_counter() - inv.delivered_at) * 1000.0
            restore_ms = None
            if not self.init_reported:
                if self.restored:  # SnapStart: no Init Duration (INIT ran at publish), a Restore Duration
                    restore_ms = self.init_duration_ms
                else:
                    outcome.init_duration_ms = self.init_duration_ms
                self.init_reported = True
            memory_used = self.process.max_memory_used_mb(0.0 if inv.want_log else 0.25) if self.process else 0
            if restore_ms is None:
                tail = self.platform_log.end(inv.request_id, outcome.duration_ms, self.spec.memory_mb, memory_used,
                                             outcome.init_duration_ms, outcome.error_type, len(outcome.payload))
            else:
                tail = self.platform_log.end(inv.request_id, outcome.duration_ms, self.spec.memory_mb, memory_used,
                                             None, outcome.error_type, len(outcome.payload), restore_ms)
            if tail:
                self.output.write_platform(tail)
                if inv.want_log:
                    inv.log += tail

    def init_error_outcome(self, inv: Invocation) -> Outcome:
        """What an invocation gets from an environment whose INIT failed."""
        failure = self.ext.init_failure if self.ext is not None else None
        if failure is not None:
            outcome = platform_error(inv.request_id, *failure)
        else:
            error = self.init_error
            assert error is not None, "only after INIT failed"
            outcome = Outcome(error.payload, function_error="Unhandled", error_type=error.error_type)
        if inv.want_log:
            inv.log += self.output.init_log
        return outcome

    def _drain_output(self, final: bool = False) -> None:
        self.output.drain(self.current, not self.init_reported, final)

    # ------------------------------------------------------------------ failures
    def cancel_init_timer(self) -> None:
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None

    def on_timeout(self, inv: Invocation) -> None:
        if self.current is inv:
            seconds = self.spec.timeout_s
            message = f"Task timed out after {seconds:.2f} seconds"
            self.finish(platform_error(inv.request_id, "Sandbox.Timedout", message), post=False)
        elif self.ext is None or not self.ext.post_timed_out(inv):
            return  # (else: answered, but an extension did not finish within the function's timeout)
        self.reset("timeout")

    def _on_init_timeout(self) -> None:
        self.init_timer = None
        if self.state != State.INIT:
            return
        self.init_duration_ms = self.init_timeout_s * 1000.0
        inv = self.current
        if inv is not None:
            seconds = self.init_timeout_s
            waiting_for_extension = self.ext is not None and self.ext.init_parked is not None
            self.finish(platform_error(
                inv.request_id, "Sandbox.Timedout",
                f"Init timed out after {seconds:.2f} seconds: an extension never asked for its first event"
                if waiting_for_extension else
                f"Init timed out after {seconds:.2f} seconds: the runtime never asked for an invocation"))
        self.state = State.INIT_ERROR
        self.reset("timeout")

    def _on_exit(self, returncode: int) -> None:
        if not self.exited.done():
            self.exited.set_result(returncode)
        if self.state == State.DEAD:
            return
        runtime_exit = self.ext.runtime_exit if self.ext is not None else None
        if runtime_exit is None:  # the runtime is the sandbox's main process
            self.runtime_gone(returncode)
        elif not runtime_exit.done():  # the launcher ended (or was killed) before the runtime did
            runtime_exit.set_result(returncode)
            self.runtime_gone(shell_status(returncode))
        self._die()

    def runtime_gone(self, returncode: int) -> None:
        """The runtime process ended: its invocation (if any) fails as AWS reports it."""
        inv = self.current
        if inv is not None and not inv.delivered_at and self.init_reported:
            # Died between invokes, before taking this one: it never ran, so it may run elsewhere.
            self.current = None
            if inv.future is not None:
                inv.future.set_result(None)
        elif inv is not None:
            self._drain_output()
            if self.init_error is not None:
                self.finish(self.init_error_outcome(inv))
            else:
                process = self.process
                described = process.describe_exit(returncode) if process else exit_description(returncode)
                reason = f"Runtime exited with error: {described}" if returncode else \
                    "Runtime exited without providing a reason"
                fatal_type = self.ext.fatal_type if self.ext is not None else None
                if fatal_type is None and self.spec.missing_entrypoint:
                    fatal_type, reason = "Runtime.InvalidEntrypoint", self.spec.missing_entrypoint
                self.finish(platform_error(inv.request_id, fatal_type or "Runtime.ExitError", reason), post=False)
        elif self.state == State.INIT and not self.shutting_down:
            log.warning("runtime of %s exited during init: %s", self.spec.function_name, exit_description(returncode))

    def fail_init(self, error_type: str, message: str) -> None:
        """INIT failed on the platform's side (an extension): the waiting invocation gets the error."""
        if self.state != State.INIT:
            return
        self.init_duration_ms = (time.perf_counter() - self.init_started) * 1000.0
        self.cancel_init_timer()
        self.init_error = Outcome(b"", function_error="Unhandled", error_type=error_type)
        self.state = State.INIT_ERROR
        if self.ext is not None:
            self.ext.init_failure = (error_type, message)
            self.ext.log_lines()
        if self.current is not None:
            self.finish(self.init_error_outcome(self.current))
        self.reset("failure")

    def fatal(self, error_type: str, message: str) -> None:
        """An extension failed outside SHUTDOWN: AWS resets the environment (INIT fails, or the
        invocation in progress fails, and every process gets the SHUTDOWN phase)."""
        if self.shutting_down or self.state == State.DEAD:
            return
        if self.state == State.INIT:
            self.fail_init(error_type, message)
            return
        inv = self.current
        if inv is not None and inv.delivered_at:
            self.finish(platform_error(inv.request_id, error_type, message), post=False)
        self.reset("failure")
