"""The sandbox interface: start an environment's process tree, observe it, destroy it."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path
from typing import Callable, Protocol


@dataclasses.dataclass
class SandboxSpec:
    """What an environment needs from its sandbox."""

    env_id: str
    argv: list[str]
    env: dict[str, str]
    task_root: Path
    memory_mb: int
    ephemeral_storage_mb: int
    output_fd: int  # stdout and stderr of the environment go here


class SandboxProcess(Protocol):
    pid: int
    tmp_dir: Path

    def signal_main(self, signum: int) -> None:
        """Send `signum` to the environment's main process (the runtime)."""

    def kill_all(self) -> None:
        """SIGKILL every process of the environment."""

    def max_memory_used_mb(self, max_age_s: float = 0.0) -> int: ...

    def cleanup(self) -> None:
        """Remove what the sandbox created on the host (tmp dir, cgroups, mounts). Idempotent."""


class Sandbox(Protocol):
    name: str

    async def spawn(self, spec: SandboxSpec, on_exit: Callable[[int], None]) -> SandboxProcess:
        """Start the environment; `on_exit(returncode)` is called when its main process ends."""

    def cleanup_leftovers(self) -> None:
        """Remove what earlier runs left behind (after a crash of the server)."""


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
