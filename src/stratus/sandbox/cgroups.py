"""cgroups for execution environments (v1 or v2, detected): memory, CPU, pids; peak memory; kill-all.

Each environment gets `stratus-<instance>-<env id>` under the server's own cgroup in every
controller, so Stratus never reaches outside the part of the hierarchy it was started in.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "stratus-"
CPU_PERIOD_US = 100_000
MB_PER_VCPU = 1769  # AWS: 1,769 MB of memory buys one vCPU


def _own_cgroups() -> dict[str, str]:
    """controller (or "" for the v2 unified hierarchy) → this process's cgroup path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


class CgroupUnavailable(Exception):
    pass


class Cgroups:
    """Creates, reads and removes environment cgroups on whichever version the host runs.

    Names are `stratus-<instance>-<env id>`: `instance` tells this server's cgroups from those of
    another server started in the same cgroup, so clearing leftovers never touches a neighbour's.
    """

    def __init__(self, instance: str = "default"):
        self.prefix = f"{PREFIX}{instance}-"
        own = _own_cgroups()
        if (ROOT / "cgroup.controllers").exists():
            self.version = 2
            base = ROOT / own.get("", "/").lstrip("/")
            listed = base / "cgroup.controllers"
            controllers = set(listed.read_text().split()) if listed.exists() else set()
            if not {"memory", "pids", "cpu"} <= controllers:
                raise CgroupUnavailable(f"cgroup v2 at {base} lacks memory/pids/cpu controllers ({controllers})")
            self.bases = {"": base}
        else:
            self.version = 1
            self.bases = {}
            for controller in ("memory", "pids", "cpu"):
                mount = ROOT / controller
                if not mount.is_dir():
                    raise CgroupUnavailable(f"cgroup v1 controller {controller} is not mounted at {mount}")
                self.bases[controller] = mount / own.get(controller, "/").lstrip("/")
        for base in self.bases.values():
            if not os.access(base, os.W_OK):
                raise CgroupUnavailable(f"no write access to {base}")

    def create(self, env_id: str, memory_mb: int, host_cpus: int, pids_max: int = 1024) -> EnvironmentCgroup:
        name = self.prefix + env_id
        paths = {controller: base / name for controller, base in self.bases.items()}
        for path in paths.values():
            path.mkdir()
        group = EnvironmentCgroup(self.version, paths)
        try:
            group.configure(memory_mb, host_cpus, pids_max)
        except OSError:
            group.remove()
            raise
        return group

    def create_blank(self, pids_max: int = 1024) -> EnvironmentCgroup:
        """A cgroup for an environment made ahead of demand (sandbox/zygote.py): a generic name and no memory
        limit yet; `assign` names it after its environment and sets its limits."""
        name = self.prefix + "blank-" + os.urandom(6).hex()
        paths = {controller: base / name for controller, base in self.bases.items()}
        for path in paths.values():
            path.mkdir()
        group = EnvironmentCgroup(self.version, paths)
        try:
            _write(group._file("pids", "pids.max"), pids_max)
            if self.version == 1:
                _write(group._file("cpu", "cpu.cfs_period_us"), CPU_PERIOD_US)
        except OSError:
            group.remove()
            raise
        return group

    def cleanup_leftovers(self) -> int:
        """Remove environment cgroups left by an earlier run (e.g. after a crash); returns how many."""
        removed = 0
        for base in self.bases.values():
            for path in base.glob(self.prefix + "*"):
                EnvironmentCgroup(self.version, {"": path}).kill_all()
                if _rmdir(path):
                    removed += 1
        return removed


class EnvironmentCgroup:
    def __init__(self, version: int, paths: dict[str, Path]):
        self.version = version
        self.paths = paths
        self._cpu_quota_us = -1

    def _file(self, controller: str, name: str) -> Path:
        return self.paths["" if self.version == 2 else controller] / name

    def configure(self, memory_mb: int, host_cpus: int, pids_max: int) -> None:
        """Memory and pids limits now; the CPU share waits for limit_cpu() (INIT runs unthrottled,
        as Lambda boosts the Init phase)."""
        limit = memory_mb * 1024 * 1024
        cpus = min(host_cpus, memory_mb / MB_PER_VCPU)
        self._cpu_quota_us = max(1000, int(cpus * CPU_PERIOD_US))
        if self.version == 2:
            _write(self._file("memory", "memory.max"), limit)
            _write(self._file("memory", "memory.swap.max"), 0, optional=True)
            _write(self._file("pids", "pids.max"), pids_max)
        else:
            _write(self._file("memory", "memory.limit_in_bytes"), limit)
            _write(self._file("memory", "memory.memsw.limit_in_bytes"), limit, optional=True)
            _write(self._file("memory", "memory.swappiness"), 0, optional=True)
            _write(self._file("pids", "pids.max"), pids_max)
            _write(self._file("cpu", "cpu.cfs_period_us"), CPU_PERIOD_US)

    def assign(self, name: str, memory_mb: int, host_cpus: int, pids_max: int = 1024) -> None:
        """A blank cgroup becomes an environment's: named `name` (cgroup v1 allows renaming a cgroup in place;
        v2 does not: the generic name stays), with the environment's limits."""
        renamed = {}
        for controller, path in self.paths.items():
            try:
                path.rename(path.with_name(name))
                renamed[controller] = path.with_name(name)
            except OSError:
                renamed[controller] = path
        self.paths = renamed
        self.configure(memory_mb, host_cpus, pids_max)

    def limit_cpu(self) -> None:
        """Apply the CPU share of the memory size: 1,769 MB = one vCPU, at most the host's cores."""
        if self.version == 2:
            _write(self._file("cpu", "cpu.max"), f"{self._cpu_quota_us} {CPU_PERIOD_US}", optional=True)
        else:
            _write(self._file("cpu", "cpu.cfs_quota_us"), self._cpu_quota_us, optional=True)

    def procs_files(self) -> list[Path]:
        """The cgroup.procs files a new process must be written to."""
        return [path / "cgroup.procs" for path in self.paths.values()]

    def peak_memory_bytes(self) -> int:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int(self._file("memory", name).read_text())
        except (OSError, ValueError):
            return 0

    def oom_killed(self) -> bool:
        try:
            if self.version == 2:
                text = self._file("memory", "memory.events").read_text()
            else:
                text = self._file("memory", "memory.oom_control").read_text()
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip() not in ("", "0"):
                return True
        return False

    def pids(self) -> list[int]:
        path = next(iter(self.paths.values())) / "cgroup.procs"
        if self.version == 1 and "pids" in self.paths:
            path = self.paths["pids"] / "cgroup.procs"
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        if self.version == 2:
            kill = next(iter(self.paths.values())) / "cgroup.kill"
            if kill.exists():
                _write(kill, 1, optional=True)
        for _ in range(3):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self) -> None:
        self.kill_all()
        for path in self.paths.values():
            _rmdir(path)


def _write(path: Path, value: int | str, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


def _rmdir(path: Path) -> bool:
    """rmdir a cgroup, waiting briefly for its last processes to be reaped."""
    for _ in range(50):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)
    return False
