"""The plain backend: a process group with rlimits, for hosts without namespaces or cgroups.

Unsafe for untrusted code (no mount, pid or network namespace: a function sees the host's files,
processes and network as its user may), but never root: when the server runs as root, each
environment runs as a uid of its own (from a range nobody uses, see PLAIN_UID_BASE) with the
group PLAIN_GID, no capabilities (bounding set emptied) and no_new_privs, through util-linux's
setpriv; its TMPDIR is a folder only it may write. The data dir (0700) is closed to it: it runs
copies (hard links where possible) of its code, runtime and layers, made in a folder outside the
data dir that only PLAIN_GID may traverse. A server not running as root cannot change users: its
functions run as its own user with no_new_privs (the warning at start says so). Either way, where
the kernel has Landlock, a function writes only under its TMPDIR and /tmp (landlock.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import resource
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stratus.runtime import runtimes
from stratus.sandbox import landlock
from stratus.sandbox.base import ExitWatcher, SandboxSpec, exit_description, reset_socket_dir, socket_dir_for

log = logging.getLogger("stratus.sandbox")

# The uids of environments (when the server is root): systemd documents 1879048192-2147483646 as
# unused by distributions, users and containers. One per live environment, so functions cannot
# signal, trace or read /proc/<pid>/environ of one another; PLAIN_GID is their common group.
PLAIN_UID_BASE = 1879048192
PLAIN_GID = PLAIN_UID_BASE
PLAIN_UID_SLOTS = 65535
SETPRIV_PATHS = ("/usr/bin/setpriv", "/bin/setpriv", "/usr/local/bin/setpriv")  # a fixed place, not PATH's
PRLIMIT_PATHS = ("/usr/bin/prlimit", "/bin/prlimit", "/usr/local/bin/prlimit")

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
    def __init__(self, pid: int, tmp_dir: Path, transport: asyncio.SubprocessTransport,
                 uid: int | None = None, release: Callable[[], None] = lambda: None) -> None:
        self.pid = pid
        self.uid = uid  # the environment's own uid (server as root), else None
        self.tmp_dir = tmp_dir
        self._transport = transport
        self._release = release  # gives the environment's uid back
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
        if self.uid is not None:  # what left the process group (setsid) still has the environment's uid
            kill_processes_of(self.uid)
        shutil.rmtree(self.tmp_dir.parent, ignore_errors=True)
        self._release()
        self._release = lambda: None


def _launcher_python() -> str:
    """A Python for the Landlock launcher that any user may run (a pyenv under /root is not one)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return runtimes.host_python()


def kill_processes_of(uid: int) -> None:
    """SIGKILL every process running as `uid`."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass


def drop_privileges(setpriv: str, uid: int | None) -> list[str]:
    """The command prefix that runs a function as `uid` (None: as the server's own user) with no
    capabilities and no_new_privs."""
    if uid is None:
        return [setpriv, "--no-new-privs", "--"]
    return [setpriv, f"--reuid={uid}", f"--regid={PLAIN_GID}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


def mirror(source: Path, target: Path) -> None:
    """Make `target` a copy of folder `source` (hard links where possible), replacing it at once."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        shutil.copytree(source, staging / "copy", symlinks=True, copy_function=_link_or_copy)
        os.chmod(staging / "copy", 0o755)
        if target.is_dir():
            os.rename(target, staging / "old")
        os.rename(staging / "copy", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def world_readable(folder: Path) -> bool:
    """Whether any user may read `folder`: it and every folder above it readable and traversable by all
    (the install step makes the runtime SDKs' files so)."""
    try:
        path = folder.resolve()
        if os.stat(path).st_mode & 0o005 != 0o005:
            return False
        return all(os.stat(parent).st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False


def _stamp(folder: Path) -> tuple[int, int]:
    """Changes when the folder is made again (the code check unpacks a changed tree anew) or its entries change."""
    status = folder.stat()
    return status.st_ino, status.st_mtime_ns


class PlainSandbox:
    """No isolation beyond a process group, an rlimit on memory, an unprivileged uid and a private TMPDIR."""

    name = "plain"

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.socket_dir = socket_dir_for(work_dir)
        self.as_root = os.geteuid() == 0  # then each environment gets a uid of its own
        # What functions may reach: the data dir when they run as the server's user; else a folder of
        # their own (traversable by PLAIN_GID only) with the sockets, tmp dirs and views of code and layers.
        self.public_dir = self.socket_dir if self.as_root else work_dir
        self.empty_opt = self.public_dir / "empty-opt"  # /opt of functions without layers
        setpriv = next((path for path in SETPRIV_PATHS if os.access(path, os.X_OK)), None)
        self.prlimit = next((path for path in PRLIMIT_PATHS if os.access(path, os.X_OK)), None)
        if setpriv is None and self.as_root:
            raise RuntimeError("the plain sandbox needs setpriv (util-linux) to run functions as an unprivileged "
                               "user; install util-linux, or run Stratus as a user other than root")
        self.setpriv = setpriv
        # Writes confined to TMPDIR and /tmp (Landlock needs no_new_privs, which setpriv sets).
        self.landlock_python = _launcher_python() if setpriv is not None and landlock.abi_version() > 0 else None
        self._uids_in_use: set[int] = set()
        self._views: dict[Path, tuple[Path, tuple[int, int]]] = {}  # view → the folder it copies, its stamp
        self._views_lock = threading.Lock()  # views are made in executor threads
        self._shared: dict[Path, bool] = {}  # runtime SDK folder → whether functions may read it where it is
        # Each server starts at a random slot: uids are not shared between servers on one host, and an ending
        # environment kills every process of its uid (kill_processes_of), so two servers counting from the same
        # slot killed each other's functions (seen as random "signal: killed" while two test servers ran).
        self._next_slot = secrets.randbelow(PLAIN_UID_SLOTS)

    def describe_identity(self) -> str:
        writes = ("they write only to their TMPDIR and /tmp (Landlock)" if self.landlock_python is not None
                  else "Landlock is not available: they write wherever their user may")
        if self.as_root:
            return ("each function runs as an unprivileged uid of its own with no capabilities and no_new_privs, "
                    f"and sees copies of its code and layers, not the data dir; {writes}")
        return (f"functions run as the server's own user (uid {os.geteuid()}) and can read all it can, "
                f"its data dir included; {writes}")

    def _take_uid(self) -> int | None:
        if not self.as_root:
            return None
        for _ in range(PLAIN_UID_SLOTS):
            self._next_slot = self._next_slot % PLAIN_UID_SLOTS + 1
            uid = PLAIN_UID_BASE + self._next_slot
            if uid not in self._uids_in_use:
                self._uids_in_use.add(uid)
                return uid
        raise RuntimeError("every plain-sandbox uid is in use")

    def _view(self, path: Path) -> Path:
        """Where the function finds folder `path` (code, runtime, layers, SDK): itself, or its copy outside the
        data dir (made at spawn) when the function runs as another user (a runtime SDK only when that user could
        not read it where it is)."""
        if not self.as_root or self._readable_in_place(path):
            return path
        return self.public_dir / ("view-" + hashlib.sha256(str(path).encode()).hexdigest()[:32])

    def runtime_socket(self, env_id: str) -> tuple[Path, str]:
        path = self.socket_dir / f"{env_id[:20]}.sock"
        return path, str(path)

    def visible_paths(self, task_root: Path, runtime_dir: Path) -> tuple[str, str]:
        return str(self._view(task_root)), str(self._view(runtime_dir))

    def visible_opt(self, opt_dir: Path) -> str:
        return str(self._view(opt_dir))

    def visible_sdk(self, sdk_dir: Path) -> str:
        if sdk_dir not in self._shared:  # looked at once per folder, not at every spawn
            self._shared[sdk_dir] = world_readable(sdk_dir)
        return str(self._view(sdk_dir))

    def _readable_in_place(self, path: Path) -> bool:
        return self._shared.get(path, False)

    def stratus_endpoint(self, local_url: str) -> str:
        return local_url  # the host's loopback, where the server listens (the plain sandbox requires it)

    def close(self) -> None:
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def cleanup_leftovers(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        reset_socket_dir(self.socket_dir)
        if self.as_root:
            os.chown(self.socket_dir, 0, PLAIN_GID)
            os.chmod(self.socket_dir, 0o710)
        self.empty_opt.mkdir(mode=0o755)

    def _private_tmp(self, env_id: str, uid: int | None) -> Path:
        """The environment's TMPDIR: writable by it alone (its folder's parent only traversable)."""
        tmp_dir = self.public_dir / f"env-{env_id}" / "tmp"
        tmp_dir.mkdir(mode=0o700, parents=True)
        if uid is not None:
            os.chown(tmp_dir.parent, 0, PLAIN_GID)
            os.chmod(tmp_dir.parent, 0o710)
            os.chown(tmp_dir, uid, PLAIN_GID)
        return tmp_dir

    def _make_views(self, spec: SandboxSpec) -> None:
        """Copy what the environment runs outside the data dir, again when the original was made anew (the
        code check before each start heals a changed tree); drop copies of folders since deleted."""
        with self._views_lock:
            for folder in (spec.task_root, spec.runtime_dir, spec.opt_dir, spec.sdk_dir):
                if folder is None or self._view(folder) == folder:
                    continue
                view, stamp = self._view(folder), _stamp(folder)
                if self._views.get(view, (folder, None))[1] != stamp or not view.is_dir():
                    mirror(folder, view)
                    self._views[view] = (folder, stamp)
            for view, (folder, _) in list(self._views.items()):
                if not folder.exists():
                    del self._views[view]
                    shutil.rmtree(view, ignore_errors=True)

    def _link_esm_sdk(self, sdk: Path) -> None:
        """ES modules (import) ignore NODE_PATH and look in node_modules folders above the importer: the
        folder above every code view gets a `node_modules` link to the runtime's @aws-sdk."""
        link = self.public_dir / "node_modules"
        if not link.is_symlink():
            link.symlink_to(sdk)

    async def spawn(self, spec: SandboxSpec, on_exit: Callable[[int], None]) -> PlainProcess:
        uid = self._take_uid()

        def release() -> None:
            if uid is not None:
                self._uids_in_use.discard(uid)

        try:
            return await self._spawn(spec, on_exit, uid, release)
        except BaseException:
            release()
            raise

    async def _spawn(self, spec: SandboxSpec, on_exit: Callable[[int], None], uid: int | None,
                     release: Callable[[], None]) -> PlainProcess:
        tmp_dir = self._private_tmp(spec.env_id, uid)
        loop = asyncio.get_running_loop()
        if uid is not None:
            await loop.run_in_executor(None, self._make_views, spec)
        opt_dir = self._view(spec.opt_dir) if spec.opt_dir is not None else self.empty_opt
        if uid is not None and spec.sdk_dir is not None and spec.sdk_dir.name == "node_modules":
            self._link_esm_sdk(self._view(spec.sdk_dir))
        env = relocate_opt(spec.env, str(opt_dir))
        env["TMPDIR"] = str(tmp_dir)
        if uid is not None:
            env["HOME"] = str(tmp_dir)  # root's home is not the function's
            if spec.runtime_socket is not None:  # the Runtime API's Unix socket: this environment's alone
                os.chown(spec.runtime_socket, uid, PLAIN_GID)
                os.chmod(spec.runtime_socket, 0o600)
        # Address space is far larger than resident memory for any runtime (thread stacks, arenas, mmaps), so
        # the AS limit is MemorySize plus the runtime's headroom: it stops runaway allocation, not careful use.
        limit = (spec.memory_mb + spec.address_space_headroom_mb) * 1024 * 1024
        # The limits are set by the process on itself before it drops root (util-linux's prlimit).
        prefix = [self.prlimit, f"--as={limit}", "--core=0", "--"] if self.prlimit is not None else []
        if self.setpriv is not None:
            prefix += drop_privileges(self.setpriv, uid)
        if self.landlock_python is not None:
            prefix += landlock.launcher(self.landlock_python, str(tmp_dir))
        transport, _ = await loop.subprocess_exec(
            lambda: ExitWatcher(on_exit),
            *prefix, *spec.launcher, *spec.argv,
            stdin=asyncio.subprocess.DEVNULL if spec.stdin_fd is None else spec.stdin_fd,
            stdout=spec.output_fd,
            stderr=spec.output_fd,
            env=env,
            cwd=str(self._view(spec.task_root)),
            start_new_session=True,
        )
        pid = transport.get_pid()
        if self.prlimit is None:  # set from outside (racing the runtime's start; needs the same uid or a capability)
            try:
                resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
                resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
            except (ProcessLookupError, PermissionError, OSError) as exc:
                log.warning("could not set rlimits on environment %s: %s", spec.env_id, exc)
        return PlainProcess(pid, tmp_dir, transport, uid, release)
