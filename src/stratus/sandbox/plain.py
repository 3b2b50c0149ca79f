"""The plain backend: a process group with rlimits, for hosts without namespaces or cgroups."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from stratus.sandbox.base import ExitWatcher, SandboxSpec, exit_description, reset_socket_dir, socket_dir_for

log = logging.getLogger("stratus.sandbox")

# Address space is far larger than resident memory for any runtime (thread stacks, arenas, mmaps),
# so the AS limit is MemorySize plus fixed headroom: it stops runaway allocation, not careful use.
ADDRESS_SPACE_HEADROOM_MB = 1024

# Without a mount namespace there is no /opt of the function's own: the /opt entries of these
# variables are pointed at the merged layers folder, and OPT_DIR_VARIABLE tells the bundled
# bootstraps where it is (the Python bootstrap builds sys.path from it).
OPT_DIR_VARIABLE = "STRATUS_OPT_DIR"
_PATH_LISTS = ("PATH", "LD_LIBRARY_PATH", "NODE_PATH", "PYTHONPATH")


def relocate_opt(env: dict[str, str], opt_dir: str) -> dict[str, str]:
    """`env` with `/opt` (and `/opt/...`) entries of its search paths moved to `opt_dir`."""

    def moved(path: str) -> str:
        return opt_dir + path[4:] if path == "/opt" or path.startswith("/opt/") else path

    env = dict(env)
    for key in _PATH_LISTS:
        value = env.get(key)
        if value and "/opt" in value:
            env[key] = ":".join(moved(entry) for entry in value.split(":"))
    wrapper = env.get("AWS_LAMBDA_EXEC_WRAPPER")
    if wrapper:
        env["AWS_LAMBDA_EXEC_WRAPPER"] = moved(wrapper)
    env[OPT_DIR_VARIABLE] = opt_dir
    return env


class PlainProcess:
    def __init__(self, pid: int, tmp_dir: Path, transport: asyncio.SubprocessTransport) -> None:
        self.pid = pid
        self.tmp_dir = tmp_dir
        self._transport = transport
        self._status_fd: int | None = None
        self._memory_read_at = 0.0
        self._memory_mb = 0
        try:
            self._status_fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        except OSError:
            pass

    def signal_main(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill_all(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def max_memory_used_mb(self, max_age_s: float = 0.0) -> int:
        """Peak resident memory of the runtime process (VmHWM), in MB; a reading up to `max_age_s` old
        may be reused (the peak only grows, and reading /proc costs more than a warm invoke's work)."""
        now = time.monotonic()
        if max_age_s and now - self._memory_read_at < max_age_s:
            return self._memory_mb
        self._memory_read_at = now
        self._memory_mb = self._read_peak_mb()
        return self._memory_mb

    def _read_peak_mb(self) -> int:
        if self._status_fd is None:
            return 0
        try:
            status = os.pread(self._status_fd, 4096, 0)
        except OSError:
            return 0
        start = status.find(b"VmHWM:")
        if start < 0:
            return 0
        kilobytes = int(status[start + 6: status.index(b"kB", start)])
        return (kilobytes + 1023) // 1024

    def init_done(self) -> None:
        pass

    def runtime_started(self, pid: int) -> None:
        """The memory read is the runtime's, not the launcher's (a shell)."""
        try:
            status_fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        except OSError:
            return
        if self._status_fd is not None:
            os.close(self._status_fd)
        self._status_fd = status_fd

    def describe_exit(self, returncode: int) -> str:
        return exit_description(returncode)

    def cleanup(self) -> None:
        self.kill_all()
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None
        shutil.rmtree(self.tmp_dir.parent, ignore_errors=True)  # the environment's folder, not only its tmp


class PlainSandbox:
    """No isolation beyond a process group, an rlimit on memory and a private TMPDIR."""

    name = "plain"

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.socket_dir = socket_dir_for(work_dir)
        self.empty_opt = work_dir / "empty-opt"  # /opt of functions without layers

    def runtime_socket(self, env_id: str) -> tuple[Path, str]:
        path = self.socket_dir / f"{env_id[:20]}.sock"
        return path, str(path)

    def visible_paths(self, task_root: Path, runtime_dir: Path) -> tuple[str, str]:
        return str(task_root), str(runtime_dir)

    def visible_opt(self, opt_dir: Path) -> str:
        return str(opt_dir)

    def close(self) -> None:
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def cleanup_leftovers(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        reset_socket_dir(self.socket_dir)

    async def spawn(self, spec: SandboxSpec, on_exit: Callable[[int], None]) -> PlainProcess:
        tmp_dir = self.work_dir / spec.env_id / "tmp"
        tmp_dir.mkdir(parents=True)
        if spec.opt_dir is None:
            self.empty_opt.mkdir(parents=True, exist_ok=True)
        env = relocate_opt(spec.env, str(spec.opt_dir or self.empty_opt))
        env["TMPDIR"] = str(tmp_dir)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            lambda: ExitWatcher(on_exit),
            *spec.launcher, *spec.argv,
            stdin=asyncio.subprocess.DEVNULL if spec.stdin_fd is None else spec.stdin_fd,
            stdout=spec.output_fd,
            stderr=spec.output_fd,
            env=env,
            cwd=str(spec.task_root),
            start_new_session=True,
        )
        pid = transport.get_pid()
        limit = (spec.memory_mb + ADDRESS_SPACE_HEADROOM_MB) * 1024 * 1024
        try:
            resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
            resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        except (ProcessLookupError, PermissionError, OSError) as exc:
            log.warning("could not set rlimits on environment %s: %s", spec.env_id, exc)
        return PlainProcess(pid, tmp_dir, transport)
