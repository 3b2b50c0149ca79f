"""The sandbox interface: start an environment's process tree, observe it, destroy it."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast


@dataclasses.dataclass
class SandboxSpec:
    """What an environment needs from its sandbox."""

    env_id: str
    argv: list[str]
    env: dict[str, str]
    task_root: Path
    runtime_dir: Path
    memory_mb: int
    ephemeral_storage_mb: int
    output_fd: int  # stdout and stderr of the environment go here
    opt_dir: Path | None = None  # merged layers (empty for now)
    sdk_dir: Path | None = None  # the runtime's AWS SDK folder (read-only, shared by every environment)
    runtime_socket: Path | None = None  # the Runtime API as a Unix socket, on the host
    # Started in the sandbox in front of `argv` (which it runs): the extensions launcher and/or an
    # AWS_LAMBDA_EXEC_WRAPPER; empty for most functions, which then start exactly as before.
    launcher: list[str] = dataclasses.field(default_factory=list)
    stdin_fd: int | None = None  # the environment's stdin (the launcher's control socket), else /dev/null
    # The host folder the runtime's interpreter is installed in (e.g. a pyenv version), when not under /usr:
    # the namespaced sandbox mounts it read-only at the same path.
    interpreter_prefix: str = ""
    # Where memory is bounded by an address-space rlimit (the plain sandbox): MemorySize plus this much.
    address_space_headroom_mb: int = 1024
    debug_dir: Path | None = None  # debug mode: the debugpy folder (namespaced: shown at /var/stratus-debug)


class SandboxProcess(Protocol):
    pid: int
    tmp_dir: Path

    def signal_main(self, signum: int) -> None:
        """Send `signum` to the environment's main process (the runtime)."""

    def kill_all(self) -> None:
        """SIGKILL every process of the environment."""

    def max_memory_used_mb(self, max_age_s: float = 0.0) -> int: ...

    def init_done(self) -> None:
        """INIT finished: apply limits that only hold for the invoke phase (the CPU share)."""

    def runtime_started(self, pid: int) -> None:
        """A launcher (extensions) started the runtime as `pid`, as seen in the sandbox."""

    def describe_exit(self, returncode: int) -> str:
        """Lambda's wording for how the runtime ended (`exit status 1`, `signal: killed`)."""

    def cleanup(self) -> None:
        """Remove what the sandbox created on the host (tmp dir, cgroups, mounts). Idempotent."""


class Sandbox(Protocol):
    name: str

    def visible_paths(self, task_root: Path, runtime_dir: Path) -> tuple[str, str]:
        """Where the code and the runtime appear to the function (e.g. /var/task, /var/runtime)."""

    def runtime_socket(self, env_id: str) -> tuple[Path, str]:
        """The Unix socket the Runtime API is also served on: (path on the host, path the function sees)."""

    def visible_opt(self, opt_dir: Path) -> str:
        """Where the merged layers folder `opt_dir` appears to the function (/opt when namespaced)."""

    def visible_sdk(self, sdk_dir: Path) -> str:
        """Where a runtime SDK folder appears to the function."""

    def stratus_endpoint(self, local_url: str) -> str:
        """Stratus's API as a function reaches it (`local_url`: the server's own loopback URL)."""

    async def spawn(self, spec: SandboxSpec, on_exit: Callable[[int], None]) -> SandboxProcess:
        """Start the environment; `on_exit(returncode)` is called when its main process ends."""

    def cleanup_leftovers(self) -> None:
        """Remove what earlier runs left behind (after a crash of the server)."""

    def close(self) -> None:
        """At server stop, after every environment ended: remove the sandbox's own folders."""


def instance_id(work_dir: Path) -> str:
    """Names what one server (one data dir) creates outside its data dir — cgroups, socket folders —
    so a restart finds what a crash left, and never touches another server's."""
    return hashlib.sha1(str(Path(work_dir).resolve()).encode()).hexdigest()[:12]


def socket_dir_for(work_dir: Path) -> Path:
    """A short folder for Runtime API sockets (Unix socket paths are limited to 108 bytes)."""
    return Path(tempfile.gettempdir()) / f"stratus-rt-{instance_id(work_dir)}"


def reset_socket_dir(socket_dir: Path) -> None:
    shutil.rmtree(socket_dir, ignore_errors=True)
    socket_dir.mkdir(mode=0o700, parents=True)


class ExitWatcher(asyncio.SubprocessProtocol):
    """Calls `on_exit(returncode)` when the spawned process ends."""

    def __init__(self, on_exit: Callable[[int], None]) -> None:
        self.on_exit = on_exit
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A SubprocessProtocol is given a subprocess transport; uvloop's does not subclass
        # asyncio.SubprocessTransport (so no isinstance), but has the same methods.
        self.transport = cast(asyncio.SubprocessTransport, transport)

    def process_exited(self) -> None:
        transport = self.transport
        assert transport is not None  # connection_made always comes first
        returncode = transport.get_returncode()
        assert returncode is not None  # set before process_exited is called
        self.on_exit(returncode)
        transport.close()


_SIGNAL_NAMES = {  # Go's names, as Lambda prints them
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGINT: "interrupt",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGPIPE: "broken pipe",
    signal.SIGQUIT: "quit",
    signal.SIGHUP: "hangup",
}


def exit_description(returncode: int) -> str:
    """How Lambda words a runtime's end: `exit status 1`, `signal: killed`."""
    if returncode < 0:
        try:
            name = _SIGNAL_NAMES.get(signal.Signals(-returncode), signal.Signals(-returncode).name.lower())
        except ValueError:
            name = f"signal {-returncode}"
        return f"signal: {name}"
    return f"exit status {returncode}"
