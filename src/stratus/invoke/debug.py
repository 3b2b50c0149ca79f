"""Debug mode: one function's environment runs with a debugger listening (debugpy, the Node inspector),
reachable from the host at 127.0.0.1:<port>, and its timeout suspended while a debugger is attached.

The pieces (docs/design-notes.md, "Debug mode", says why):
- `DebugModes` (one per server, held by the Invoker): which functions are in debug mode. The Invoker asks
  it once per invoke (one dict lookup, empty for a server nobody debugs).
- `DebugMode`: one function's. Its invocations run one at a time (a second concurrent one is throttled
  as reserved concurrency 1 throttles: 429 ReservedFunctionConcurrentInvocationLimitExceeded) on at most one
  live environment, started from the function's own spec with the debugger added (`debug_spec`), in a pool
  of its own (its revision id carries a `+debug` suffix), so leaving debug mode drains exactly those.
- The relay: the server listens on the host's 127.0.0.1:<port> and joins each connection to the debugger's
  port inside the environment (its own network namespace, entered by the server; in the plain sandbox a
  private loopback port). A connection open through it is what "a debugger is attached" means: the
  invocation's timeout timer is stopped while one is, and re-armed with the time left when the last closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratus.config import Settings
from stratus.errors import InvalidParameterValueException, TooManyRequestsException
from stratus.invoke.concurrency import RESERVED_LIMIT_REASON, Lease
from stratus.invoke.types import EnvironmentSpec, Invocation, InvokeResult
from stratus.runtime import sdks
from stratus.runtime.runtimes import NODE_RUNTIMES, PYTHON_RUNTIMES
from stratus.sandbox import Sandbox

if TYPE_CHECKING:
    from stratus.invoke.environment import Environment
    from stratus.invoke.pool import EnvironmentPool
    from stratus.invoke.service import Invoker

log = logging.getLogger("stratus.debug")

DEBUG_REVISION = "+debug"  # the debug environments' pool: the function's revision id with this suffix
DEBUGPY_VISIBLE = "/var/stratus-debug"  # where the namespaced sandbox shows the debugpy folder
CONNECT_TIMEOUT_S = 15.0  # a debugger that connects while the environment starts waits this long for it


def supported(runtime: str) -> bool:
    return runtime in PYTHON_RUNTIMES or runtime in NODE_RUNTIMES


class DebugLease(Lease):
    """The concurrency lease of a debug invocation: the function's own (account or reserved), plus the
    debug mode's single slot."""

    __slots__ = ("inner", "mode")

    def __init__(self, inner: Lease, mode: DebugMode):
        super().__init__(None, None, False)
        self.inner = inner
        self.mode = mode

    def release(self) -> None:
        if self.mode.busy is self:
            self.mode.busy = None
        self.inner.release()


class DebugAttachment:
    """An environment's side of its debug mode: arms, stops and re-arms its invocation's timeout timer."""

    __slots__ = ("mode", "env", "deadline", "remaining")

    def __init__(self, mode: DebugMode, env: Environment):
        self.mode = mode
        self.env = env
        self.deadline = 0.0  # loop time at which the running invocation times out (while a timer is armed)
        self.remaining: float | None = None  # while suspended: what was left of the timeout

    def deliver(self, inv: Invocation) -> None:
        """The invocation was just handed to the runtime (runtime_handlers.deliver): its timer, unless a
        debugger is attached (then it starts when the debugger leaves)."""
        timeout = float(self.env.spec.timeout_s)
        if self.mode.attached:
            inv.timer, self.remaining = None, timeout
        else:
            self.remaining = None
            self._arm(inv, timeout)

    def suspend(self) -> None:
        inv = self.env.current
        if inv is not None and inv.delivered_at and inv.timer is not None:
            inv.timer.cancel()
            inv.timer = None
            self.remaining = max(0.0, self.deadline - self.env.loop.time())

    def resume(self) -> None:
        inv = self.env.current
        if inv is not None and inv.delivered_at and inv.timer is None and self.remaining is not None:
            remaining, self.remaining = self.remaining, None
            self._arm(inv, remaining)

    def _arm(self, inv: Invocation, seconds: float) -> None:
        loop = self.env.loop
        self.deadline = loop.time() + seconds
        inv.timer = loop.call_later(seconds, self.env.on_timeout, inv)


class DebugMode:
    """One function (one version, or every version when `version` is None) in debug mode."""

    def __init__(self, modes: DebugModes, function_name: str, qualifier: str | None, version: str | None,
                 runtime: str, port: int, inner_port: int, spec_source: Callable[[], EnvironmentSpec]):
        self.modes = modes
        self.function_name = function_name
        self.qualifier = qualifier
        self.version = version
        self.runtime = runtime
        self.port = port  # on the host's loopback (the relay)
        self.inner_port = inner_port  # where the debugger listens in the environment
        self.spec_source = spec_source  # the function's current spec (for an environment started by a debugger)
        self.environments: list[Environment] = []  # started in debug mode, newest last
        self.busy: DebugLease | None = None
        self.connections = 0  # debugger connections open through the relay
        self.server: asyncio.AbstractServer | None = None
        self._starting: asyncio.Task[Environment] | None = None
        self._specs: dict[tuple[str, str, str], EnvironmentSpec] = {}
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def attached(self) -> bool:
        return self.connections > 0

    def applies(self, spec: EnvironmentSpec) -> bool:
        return self.version is None or spec.version == self.version

    def describe(self) -> dict[str, Any]:
        return {"FunctionName": self.function_name, "Qualifier": self.qualifier, "Port": self.port,
                "Runtime": self.runtime, "Attached": self.attached,
                "Environments": sum(1 for env in self.environments if env.alive),
                "Busy": self.busy is not None}

    # ------------------------------------------------------------------ environments
    def debug_spec(self, spec: EnvironmentSpec) -> EnvironmentSpec:
        """`spec` with the debugger added (cached per pool key)."""
        found = self._specs.get(spec.pool_key)
        if found is not None:
            return found
        env, argv, debug_dir = dict(spec.env), list(spec.argv), None
        if spec.runtime in PYTHON_RUNTIMES:
            debug_dir = self.modes.debugpy_dir(spec.runtime)
            env["_STRATUS_DEBUG_PORT"] = str(self.inner_port)
            env["_STRATUS_DEBUGPY_PATH"] = DEBUGPY_VISIBLE if self.modes.namespaced else str(debug_dir)
            env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # no frozen-modules warning at every start
        else:  # Node: the inspector, on the environment's loopback
            argv.insert(1, f"--inspect=127.0.0.1:{self.inner_port}")
        # The debugger's own processes (debugpy's adapter) need memory beyond the function's.
        debug = dataclasses.replace(spec, argv=tuple(argv), env=env, revision_id=spec.revision_id + DEBUG_REVISION,
                                    memory_mb=spec.memory_mb + self.modes.memory_headroom_mb, debug_dir=debug_dir)
        self._specs = {spec.pool_key: debug}  # an older revision's is not needed again
        return debug

    def made(self, env: Environment) -> None:
        """The Invoker made an environment of this mode's pool."""
        env.debug = DebugAttachment(self, env)
        self.environments = [known for known in self.environments if known.alive] + [env]

    def live_environment(self) -> Environment | None:
        for env in reversed(self.environments):
            if env.alive:
                return env
        return None

    async def environment(self, pool: EnvironmentPool) -> Environment:
        """An idle environment of `pool` for an invocation: the idle one, the one starting, or a new one."""
        while True:
            env = pool.take_idle()
            if env is not None:
                return env
            await self.start(pool)

    async def start(self, pool: EnvironmentPool) -> Environment:
        """Start a debug environment into `pool`'s idle list (or wait for the one starting)."""
        if self._starting is None or self._starting.done():
            self._starting = asyncio.get_running_loop().create_task(self._start(pool))
        return await asyncio.shield(self._starting)

    async def _start(self, pool: EnvironmentPool) -> Environment:
        env = await pool.start_environment()
        pool.release(env)  # idle (its INIT goes on): the next invocation takes it
        return env

    async def warm(self) -> Environment | None:
        """A live environment for a debugger to attach to: the existing one, else one started now."""
        env = self.live_environment()
        if env is not None:
            return env
        spec = self.spec_source()
        if not self.applies(spec):
            return None
        return await self.start(self.modes.invoker.pool_for(self.debug_spec(spec)))

    def drain(self, keep: EnvironmentPool | None = None) -> None:
        """Retire this mode's pools but `keep` (idle environments shut down now, a busy one when done): every
        one when debug mode ends."""
        invoker = self.modes.invoker
        loop = asyncio.get_running_loop()
        for key, pool in list(invoker.pools.items()):
            if key[0] == self.function_name and key[2].endswith(DEBUG_REVISION) and pool is not keep:
                for env in pool.retire():
                    loop.create_task(env.shutdown("debug mode ended"))
                del invoker.pools[key]

    # ------------------------------------------------------------------ invoke
    def submit(self, invoker: Invoker, spec: EnvironmentSpec, invocation: Invocation,
               executed_version: str) -> asyncio.Future[InvokeResult]:
        if self.busy is not None:
            raise TooManyRequestsException("Rate Exceeded.", reason=RESERVED_LIMIT_REASON)
        lease = DebugLease(invoker.concurrency.acquire(spec.function_name), self)
        self.busy = lease
        pool = invoker.pool_for(self.debug_spec(spec))
        self.drain(keep=pool)  # one debug environment: another version's (or revision's) goes
        return asyncio.get_running_loop().create_task(self._run(invoker, pool, invocation, lease, executed_version))

    async def _run(self, invoker: Invoker, pool: EnvironmentPool, invocation: Invocation, lease: DebugLease,
                   executed_version: str) -> InvokeResult:
        return await invoker.run_on(pool, invocation, lease, executed_version, lambda: self.environment(pool))

    # ------------------------------------------------------------------ the relay
    async def open(self) -> None:
        try:
            self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        except OSError as exc:
            raise InvalidParameterValueException(
                f"Port {self.port} cannot be used for debugging on the server's loopback: {exc.strerror}") from None

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._pumps):
            task.cancel()
        self.drain()
        self._attach_changed(0)  # every debugger is gone: timers run again

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pumps.add(task)
        try:
            inner = await self._connect_inside()
            if inner is None:
                return
            inner_reader, inner_writer = inner
            self._attach_changed(self.connections + 1)
            try:
                await _join(reader, writer, inner_reader, inner_writer)
            finally:
                self._attach_changed(self.connections - 1)
                inner_writer.close()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._pumps.discard(task)
            writer.close()

    async def _connect_inside(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the debugger's port in the live environment (started if none), retried while the
        debugger is starting."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                env = await self.warm()
            except Exception as exc:  # noqa: BLE001 - the function cannot start: the debugger's connection ends
                log.warning("debug mode of %s: no environment for the debugger: %s", self.function_name, exc)
                return None
            if env is None:
                return None
            process = env.process
            open_socket = getattr(process, "open_socket", None)
            sock = open_socket() if open_socket is not None else socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.inner_port))
                return await asyncio.open_connection(sock=sock)
            except OSError:
                sock.close()
                await asyncio.sleep(0.05)
        return None

    def _attach_changed(self, connections: int) -> None:
        was = self.attached
        self.connections = max(0, connections)
        if was == self.attached:
            return
        for env in self.environments:
            if env.debug is not None and env.alive:
                env.debug.suspend() if self.attached else env.debug.resume()


async def _join(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                inner_reader: asyncio.StreamReader, inner_writer: asyncio.StreamWriter) -> None:
    """Copy both ways until either side ends."""
    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()

    tasks = [asyncio.ensure_future(pump(reader, inner_writer)), asyncio.ensure_future(pump(inner_reader, writer))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)


def debug_modes(settings: Settings, sandbox: Sandbox, invoker: Invoker) -> DebugModes:
    """The server's DebugModes for its sandbox: namespaced environments are reached in their own network
    namespace, which only a server that makes them itself (root) can enter."""
    network = getattr(sandbox, "network", None)
    namespaced = sandbox.name == "namespaced"
    unavailable = "" if not namespaced or (network is not None and network.in_server) else (
        "Debug mode needs a server that may enter its functions' network namespaces (run it as root), or the "
        "plain sandbox.")
    return DebugModes(invoker, namespaced, sdks.sdk_root(settings.runtime_sdk_dir), unavailable=unavailable)


class DebugModes:
    """The server's functions in debug mode, by name."""

    def __init__(self, invoker: Invoker, namespaced: bool, sdk_root: Path, memory_headroom_mb: int = 256,
                 unavailable: str = ""):
        self.invoker = invoker
        self.namespaced = namespaced
        self.sdk_root = sdk_root
        self.memory_headroom_mb = memory_headroom_mb
        self.unavailable = unavailable  # why debug mode cannot work with this server's sandbox ("": it can)
        self.modes: dict[str, DebugMode] = {}
        self._debugpy: Path | None = None

    def get(self, function_name: str) -> DebugMode | None:
        return self.modes.get(function_name)

    async def enable(self, function_name: str, qualifier: str | None, version: str | None, runtime: str,
                     port: int, spec_source: Callable[[], EnvironmentSpec]) -> DebugMode:
        if self.unavailable:
            raise InvalidParameterValueException(self.unavailable)
        if not supported(runtime):
            raise InvalidParameterValueException(
                f"Debug mode supports the python3.x and nodejs*.x runtimes, not {runtime}.")
        for other in self.modes.values():
            if other.port == port and other.function_name != function_name:
                raise InvalidParameterValueException(
                    f"Port {port} is already the debug port of function {other.function_name}.")
        if runtime in PYTHON_RUNTIMES:
            await asyncio.to_thread(self.debugpy_dir, runtime)  # found (or copied) once, off the event loop
        await self.disable(function_name)
        inner = port if self.namespaced else _free_loopback_port()
        mode = DebugMode(self, function_name, qualifier, version, runtime, port, inner, spec_source)
        await mode.open()
        self.modes[function_name] = mode
        # Environments started before debug mode serve nothing meanwhile (their pool is not the debug one).
        try:
            await mode.warm()  # ready for a debugger before the first invoke
        except Exception as exc:  # noqa: BLE001 - the next invoke reports why it cannot start
            log.warning("debug mode of %s: the environment did not start: %s", function_name, exc)
        return mode

    async def disable(self, function_name: str) -> DebugMode | None:
        mode = self.modes.pop(function_name, None)
        if mode is not None:
            await mode.close()
        return mode

    async def close(self) -> None:
        for name in list(self.modes):
            await self.disable(name)

    def debugpy_dir(self, runtime: str) -> Path:
        """A folder holding the `debugpy` package for `runtime`'s interpreter, readable by every function:
        the install step's (runtime-sdk/debugpy*.txt), else a copy of the server's own debugpy."""
        installed = self.sdk_root / ("debugpy3.9" if runtime == "python3.9" else "debugpy")
        if (installed / "debugpy").is_dir():
            return installed
        if self._debugpy is None:
            self._debugpy = _copy_own_debugpy()
        return self._debugpy


def _copy_own_debugpy() -> Path:
    found = importlib.util.find_spec("debugpy")
    if found is None or not found.submodule_search_locations:
        raise InvalidParameterValueException(
            "debugpy is not installed on the server (scripts/runtime-sdks.sh installs it for functions).")
    source = Path(list(found.submodule_search_locations)[0])
    version = (source / "_version.py").stat().st_mtime_ns
    target = Path(tempfile.gettempdir()) / f"stratus-debugpy-{os.geteuid()}-{version}"
    if target.is_dir() and not target.is_symlink() and target.stat().st_uid == os.geteuid():
        return target
    staging = Path(tempfile.mkdtemp(prefix="stratus-debugpy-"))
    shutil.copytree(source, staging / "debugpy", ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _dirs, files in os.walk(staging):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    try:
        os.rename(staging, target)
    except OSError:  # made meanwhile (another server)
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
