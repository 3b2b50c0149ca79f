"""The namespaced backend: bubblewrap (mount, pid, ipc, uts, user namespaces) inside a cgroup.

Inside, a function sees only: the host's /usr (read-only, for the interpreters), a few files of
/etc, its code at /var/task and the runtime at /var/runtime (read-only), /opt (read-only), the
runtime's AWS SDK (read-only: boto3 at /var/sdk/python, @aws-sdk at /node_modules), a private
tmpfs /tmp of EphemeralStorage size, and its own /proc and /dev. It runs as an
unprivileged uid with no capabilities and no_new_privs, under a seccomp deny list (seccomp.py), in a
network namespace of its own where its Runtime API is 127.0.0.1:9001 (sandbox/network.py: what else it
reaches). The cgroup holds memory (= MemorySize, no swap), CPU (1,769 MB = one vCPU) and pids (1,024, as AWS).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from stratus.runtime import runtimes
from stratus.sandbox import seccomp, snapshot
from stratus.sandbox.base import ExitWatcher, SandboxSpec, exit_description, reset_socket_dir, socket_dir_for
from stratus.sandbox.cgroups import Cgroups, EnvironmentCgroup
from stratus.sandbox.network import (
    RUNTIME_API_ADDRESS,
    RUNTIME_API_PORT,
    FunctionNetwork,
    NetworkConfig,
    PreparedNetwork,
)
from stratus.sandbox.nodepool import NodeZygotes, node_request
from stratus.sandbox.snapshot import VersionZygote
from stratus.sandbox.zygote import Blank, ExitReader, PythonZygotes, Zygote, fork_request, job_for

log = logging.getLogger("stratus.sandbox")

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
BOOTSTRAPS_DIR = "/var/stratus"  # where the server may not setns: the Runtime API bridge lives here
RUNTIME_SOCKET = "/var/stratus-runtime.sock"
SECCOMP_FD = 9  # the seccomp filter, opened by the shell that execs bwrap
SANDBOX_UID = 993  # the uid functions run as (Lambda's sbx_user1051 is 993 too)
# Where the runtime's SDK appears. Python: on PYTHONPATH (after the code and layers, before the standard
# library). Node: in NODE_PATH for require(), and in a folder above /var/task, where import (ES modules,
# which ignore NODE_PATH) finds it after /var/task/node_modules and a layer's nodejs/node_modules, which
# is shown at /var/node_modules for that reason (the bootstrap keeps both out of require()'s own walk up).
PYTHON_SDK_DIR = "/var/sdk/python"
NODE_SDK_DIR = "/node_modules"
LAYER_ESM_DIR = "/var/node_modules"
DEBUG_DIR = "/var/stratus-debug"  # debug mode: debugpy (invoke/debug.py)
# Host files a runtime needs (name resolution, TLS roots, time zones, the dynamic linker's cache).
ETC_FILES = ("passwd", "group", "hosts", "resolv.conf", "nsswitch.conf", "host.conf", "ssl", "ca-certificates",
             "ca-certificates.conf", "localtime", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives",
             "mime.types", "os-release", "protocols", "services")


def _interpreter_mount(prefix: str) -> list[str]:
    """bwrap arguments that show an interpreter's install folder (e.g. a pyenv Python under /root, a Node.js
    wheel's folder) read-only at its own path; the folders made above it may be crossed, not listed (mode
    0111: the function, their owner in its user namespace, cannot read them either)."""
    if not prefix or prefix == "/usr" or prefix.startswith("/usr/"):
        return []  # /usr is mounted whole
    argv = []
    parts = Path(prefix).parts
    for depth in range(2, len(parts)):
        folder = str(Path(*parts[:depth]))
        if folder != "/var":  # also the parent of /var/task and /var/runtime
            argv += ["--perms", "0111", "--dir", folder]
    return argv + ["--ro-bind", prefix, prefix]


class NamespacedProcess:
    def __init__(self, pid: int, cgroup: EnvironmentCgroup, empty_opt: Path):
        self.pid = pid
        self.tmp_dir = Path("/tmp")
        self.cgroup = cgroup
        self._empty_opt = empty_opt
        # The Runtime API's listener on 127.0.0.1:9001 in the environment's own network namespace
        # (the environment serves it), and the environment's pasta, stopped with it.
        self.runtime_listener: socket.socket | None = None
        self.api_server: asyncio.AbstractServer | None = None  # Stratus's API on 127.0.0.1:<port> in there
        self.network: FunctionNetwork | None = None
        self.net: PreparedNetwork | None = None
        self._cleaned = False
        self._memory_read_at = 0.0
        self._memory_mb = 0

    def signal_main(self, signum: int) -> None:
        """Signal the runtime: the child of the sandbox's pid 1 (bwrap's reaper, itself a child of
        the bwrap process we started)."""
        parents = {}
        for pid in self.cgroup.pids():
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    parents[pid] = int(stat.read().rsplit(") ", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
        reapers = {pid for pid, parent in parents.items() if parent == self.pid}
        for pid, parent in parents.items():
            if parent in reapers:
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass

    def kill_all(self) -> None:
        self.cgroup.kill_all()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def max_memory_used_mb(self, max_age_s: float = 0.0) -> int:
        """The cgroup's peak memory in MB (a reading up to `max_age_s` old may be reused)."""
        now = time.monotonic()
        if not max_age_s or now - self._memory_read_at >= max_age_s:
            self._memory_read_at = now
            self._memory_mb = (self.cgroup.peak_memory_bytes() + (1 << 20) - 1) >> 20
        return self._memory_mb

    def init_done(self) -> None:
        self.cgroup.limit_cpu()

    def open_socket(self) -> socket.socket:
        """A TCP socket in the environment's network namespace (debug mode's relay connects it to the debugger)."""
        if self.network is None or self.net is None:
            raise OSError("the environment has no network namespace of the server's")
        return self.network.socket_in(self.net)

    def runtime_started(self, pid: int) -> None:
        pass  # the cgroup counts every process of the environment

    def describe_exit(self, returncode: int) -> str:
        # bwrap reports a child killed by signal N as exit status 128 + N.
        if self.cgroup.oom_killed():
            return "signal: killed"
        if 128 < returncode < 128 + 65:
            return exit_description(-(returncode - 128))
        return exit_description(returncode)

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        self.kill_all()
        if self.api_server is not None:
            self.api_server.close()
        if self.network is not None and self.net is not None:
            self.network.release(self.net)
        # rmdir of a cgroup waits for its last processes to be reaped: not on the event loop.
        asyncio.get_running_loop().run_in_executor(None, self.cgroup.remove)


class ForkedProcess(NamespacedProcess):
    """An environment forked from a runtime zygote (sandbox/zygote.py): its pid 1 is a reaper, its pid 2
    the runtime; the exit status comes on a socket of its own."""

    forked = True

    def __init__(self, cgroup: EnvironmentCgroup, empty_opt: Path, uid: int, zygotes: PythonZygotes) -> None:
        super().__init__(-1, cgroup, empty_opt)  # (no host pid of its own: the cgroup holds its processes)
        self.uid = uid
        self._zygotes = zygotes
        self.exit_reader: ExitReader | None = None
        self.zygote: Zygote | None = None  # made from one of its blanks: topped up once INIT ends
        self.output_fd = -1  # a Node blank's output pipe (read end): the environment reads its output there

    def init_done(self) -> None:
        super().init_done()
        if self.zygote is not None:
            self._zygotes.refill(self.zygote)

    def signal_main(self, signum: int) -> None:
        """Signal the runtime: pid 2 of the environment's pid namespace."""
        pid = self.runtime_host_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def runtime_host_pid(self) -> int:
        """The host pid of the runtime (pid 2 of the environment's pid namespace), 0 when it is gone. Its Runtime
        API connection cannot tell: the server made that connection and handed it over."""
        for pid in self.cgroup.pids():
            try:
                with open(f"/proc/{pid}/status") as status:
                    nspid = next(line for line in status if line.startswith("NSpid:")).split()
            except (OSError, StopIteration):
                continue
            if nspid[-1] == "2":
                return pid
        return 0

    def kill_all(self) -> None:
        self.cgroup.kill_all()

    def describe_exit(self, returncode: int) -> str:
        if self.cgroup.oom_killed():
            return "signal: killed"
        return exit_description(returncode)

    def cleanup(self) -> None:
        if self._cleaned:
            return
        super().cleanup()
        if self.exit_reader is not None:
            self.exit_reader.close()
        self._zygotes.release_uid(self.uid)


class NamespacedSandbox:
    """bubblewrap + cgroups. Use `available()` to learn whether this host allows it."""

    name = "namespaced"

    private_runtime_api = RUNTIME_API_ADDRESS  # AWS_LAMBDA_RUNTIME_API, in the environment's own network

    def __init__(self, work_dir: Path, cgroups: Cgroups, bwrap: str, network: NetworkConfig | None = None,
                 seccomp_filter: bool = True, python_zygote: bool = True, python_prefork: int = 2,
                 node_prefork: int = 2):
        self.work_dir = work_dir
        # The filter's file (written at start), or None: no filter (a setting, or an architecture without one).
        self.seccomp_file = work_dir / "seccomp.bpf" if seccomp_filter and seccomp.supported() else None
        self.cgroups = cgroups
        self.bwrap = bwrap
        self.network = FunctionNetwork(network or NetworkConfig(), work_dir)
        self.host_cpus = os.cpu_count() or 1
        self.empty_dir = work_dir / "empty"
        self.socket_dir = socket_dir_for(work_dir)
        self.etc_dir = work_dir / "etc"  # the few host /etc files a runtime needs, copied at start
        # Serves Stratus's API on a listener inside an environment's network namespace (the server sets it).
        self.api_protocol: Callable[[], asyncio.BaseProtocol] | None = None
        # Python cold starts fork from a runtime zygote (sandbox/zygote.py) unless turned off or impossible here.
        self.zygotes: PythonZygotes | None = None
        if python_zygote:
            reason = PythonZygotes.unavailable(self)
            if reason:
                log.warning("Python cold starts are spawned, not forked from a zygote: %s", reason)
            else:
                self.zygotes = PythonZygotes(self, python_prefork)
        # Node cold starts take pre-started Node runtimes (sandbox/nodepool.py) unless turned off or impossible.
        self.node_zygotes: NodeZygotes | None = None
        if node_prefork > 0:
            reason = PythonZygotes.unavailable(self)
            if reason:
                log.info("Node cold starts are spawned: %s", reason)
            else:
                self.node_zygotes = NodeZygotes(self, node_prefork, uids=self.zygotes)

    @staticmethod
    def available(instance: str = "default") -> tuple[Cgroups | None, str | None, str]:
        """(cgroups, bwrap path, "") when usable here, else (None, None, the reason)."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return None, None, "bubblewrap (bwrap) is not installed"
        try:
            cgroups = Cgroups(instance)
        except (OSError, Exception) as exc:  # noqa: BLE001 - any failure means: not here
            return None, None, f"cgroups are not usable: {exc}"
        probe = subprocess.run([bwrap, "--unshare-all", "--share-net", "--unshare-user", "--ro-bind", "/usr", "/usr",
                                "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                                "--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true"],
                               capture_output=True, timeout=10)
        if probe.returncode != 0:
            return None, None, f"bwrap cannot create namespaces here: {probe.stderr.decode(errors='replace').strip()}"
        return cgroups, bwrap, ""

    def runtime_socket(self, env_id: str) -> tuple[Path, str]:
        return self.socket_dir / f"{env_id[:20]}.sock", RUNTIME_SOCKET

    def visible_paths(self, task_root: Path, runtime_dir: Path) -> tuple[str, str]:
        """Where the code and the runtime appear inside the sandbox."""
        return TASK_ROOT, RUNTIME_DIR

    def visible_opt(self, opt_dir: Path) -> str:
        return "/opt"

    def visible_sdk(self, sdk_dir: Path) -> str:
        return NODE_SDK_DIR if sdk_dir.name == "node_modules" else PYTHON_SDK_DIR

    def stratus_endpoint(self, local_url: str) -> str:
        """Inside the environment's own network the server serves its API itself, in plain HTTP (it never
        leaves the machine); in `host` mode pasta forwards the host's loopback."""
        if self.network.serves_api:
            return f"http://127.0.0.1:{self.network.config.api_port}"
        return local_url

    def close(self) -> None:
        if self.zygotes is not None:
            self.zygotes.close()
        if self.node_zygotes is not None:
            self.node_zygotes.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        self.network.close()

    def cleanup_leftovers(self) -> None:
        removed = self.cgroups.cleanup_leftovers()
        if removed:
            log.info("removed %d environment cgroups left by an earlier run", removed)
        if self.network.stop_leftovers():
            log.info("stopped the network stacks of environments left by an earlier run")
        shutil.rmtree(self.work_dir, ignore_errors=True)
        reset_socket_dir(self.socket_dir)
        self.empty_dir.mkdir(parents=True, exist_ok=True)
        self._stage_etc()
        if self.seccomp_file is not None:
            self.seccomp_file.write_bytes(seccomp.compiled())
        with contextlib.suppress(RuntimeError):  # (no event loop: nothing to prepare in the background)
            self.network.refill()  # spare function networks, ready for the first cold starts

    def _stage_etc(self) -> None:
        """Copy (symlinks kept) the host's /etc files functions need; refreshed at every start."""
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        for name in ETC_FILES:
            source = Path("/etc") / name
            target = self.etc_dir / name
            try:
                if source.is_symlink():
                    os.symlink(os.readlink(source), target)
                elif source.is_dir():
                    shutil.copytree(source, target, symlinks=True)
                elif source.exists():
                    shutil.copy2(source, target)
            except OSError as exc:
                log.warning("could not give functions /etc/%s: %s", name, exc)
        # The function's user has a name, as on Lambda (getpass.getuser(), whoami and Path.owner() need one).
        for name, line in (("passwd", f"sbx_user1051:x:{SANDBOX_UID}:{SANDBOX_UID}::/tmp:/sbin/nologin\n"),
                           ("group", f"sbx_user1051:x:{SANDBOX_UID}:\n")):
            target = self.etc_dir / name
            try:
                known = target.read_text() if target.exists() else ""
                if target.is_symlink():
                    target.unlink()
                if f":{SANDBOX_UID}:" not in known:
                    target.write_text(known + ("" if not known or known.endswith("\n") else "\n") + line)
            except OSError as exc:
                log.warning("could not name the functions' user in /etc/%s: %s", name, exc)

    def _argv(self, spec: SandboxSpec) -> list[str]:
        argv = [self.bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "localhost",
                "--die-with-parent", "--new-session", "--disable-userns"]
        if not self.network.in_server:  # else the sandbox starts in the namespace made for it (sandbox/network.py)
            argv.append("--unshare-net")
        argv += ["--cap-drop", "ALL"]  # the bounding set too: nothing can be regained inside
        if self.seccomp_file is not None:
            argv += ["--seccomp", str(SECCOMP_FD)]
        argv += ["--bind", str(spec.runtime_socket), RUNTIME_SOCKET]
        argv += ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                 "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
        argv += ["--ro-bind", str(self.etc_dir), "/etc"]  # one mount instead of one per file (~5 ms)
        argv += _interpreter_mount(spec.interpreter_prefix)
        if not self.network.in_server:
            argv += ["--ro-bind", str(runtimes.BOOTSTRAPS), BOOTSTRAPS_DIR]
        argv += ["--ro-bind", str(spec.task_root), TASK_ROOT,
                 "--ro-bind", str(spec.runtime_dir), RUNTIME_DIR,
                 "--ro-bind", str(spec.opt_dir or self.empty_dir), "/opt"]
        argv += self._sdk_mounts(spec)
        if spec.debug_dir is not None:
            argv += ["--ro-bind", str(spec.debug_dir), DEBUG_DIR]
        argv += ["--size", str(spec.ephemeral_storage_mb * 1024 * 1024), "--tmpfs", "/tmp", "--proc", "/proc",
                 "--dev", "/dev", "--chdir", TASK_ROOT, "--"]
        if not self.network.in_server:  # the runtime reaches its Runtime API through a bridge on loopback
            argv += [runtimes.host_python(), "-S", f"{BOOTSTRAPS_DIR}/netproxy.py", RUNTIME_SOCKET, "--"]
        return argv + spec.launcher + list(spec.argv)

    def _sdk_mounts(self, spec: SandboxSpec) -> list[str]:
        """The runtime's SDK, read-only; for Node, also a layer's nodejs/node_modules where import finds it."""
        if spec.sdk_dir is None:
            return []
        visible = self.visible_sdk(spec.sdk_dir)
        argv = ["--ro-bind", str(spec.sdk_dir), visible]
        if visible == NODE_SDK_DIR and spec.opt_dir is not None and (spec.opt_dir / "nodejs/node_modules").is_dir():
            argv += ["--ro-bind", str(spec.opt_dir / "nodejs/node_modules"), LAYER_ESM_DIR]
        return argv

    async def spawn(self, spec: SandboxSpec, on_exit: Callable[[int], None]) -> NamespacedProcess:
        if self.node_zygotes is not None and not self.node_zygotes.reason_to_spawn(spec):
            taken = await self._take_node_blank(self.node_zygotes, spec, on_exit)
            if taken is not None:
                return taken
        reason = self.zygotes.reason_to_spawn(spec) if self.zygotes is not None else "no zygote"
        if self.zygotes is not None and not reason:
            zygote = await self.zygotes.zygote_for(spec)
            if zygote is not None:
                forked = await self._fork(zygote, self.zygotes, spec, on_exit)
                if forked is not None:
                    return forked
        elif self.zygotes is not None:
            log.debug("environment %s spawned: %s", spec.env_id, reason)
        cgroup = self.cgroups.create(spec.env_id, spec.memory_mb, self.host_cpus)
        # The process joins its cgroups before it execs bwrap, so nothing of the function ever runs
        # outside them (dash costs ~1 ms; a preexec_fn in a threaded server could deadlock).
        join = "; ".join(f'echo $$ > "{path}"' for path in cgroup.procs_files())
        # With seccomp, the shell also opens the filter for bwrap, which reads it from that fd and closes it
        # (the fd passes through nsenter).
        script, prefix = f'{join} && exec "$@"', []
        if self.seccomp_file is not None:
            script, prefix = f'{join} && f=$1 && shift && exec "$@" {SECCOMP_FD}<"$f"', [str(self.seccomp_file)]
        argv = ["/bin/sh", "-c", script, "stratus-sandbox", *prefix]
        net, api_server = None, None
        try:
            if self.network.in_server:  # the environment's own network namespace, ready (sandbox/network.py)
                net = await self.network.take()
                argv += self.network.enter_argv(net)
                if net.api_listener is not None and self.api_protocol is not None:
                    api_server = await asyncio.get_running_loop().create_server(
                        self.api_protocol, sock=net.api_listener, backlog=64)
            argv += self._argv(spec)
            transport, _ = await asyncio.get_running_loop().subprocess_exec(
                lambda: ExitWatcher(on_exit), *argv,
                stdin=asyncio.subprocess.DEVNULL if spec.stdin_fd is None else spec.stdin_fd,
                stdout=spec.output_fd, stderr=spec.output_fd,
                env=dict(spec.env, HOME="/tmp"), cwd="/", start_new_session=True,
            )
        except BaseException:
            if api_server is not None:
                api_server.close()
            if net is not None:
                self.network.release(net)
            cgroup.remove()
            raise
        process = NamespacedProcess(transport.get_pid(), cgroup, self.empty_dir)
        if net is not None:
            process.network, process.net, process.runtime_listener = self.network, net, net.listener
            process.api_server = api_server
        return process

    async def _fork(self, zygote: Zygote, zygotes: PythonZygotes, spec: SandboxSpec,
                    on_exit: Callable[[int], None]) -> ForkedProcess | None:
        """Ask `zygote` for the environment (None: it cannot make this one, or is gone: spawn it instead)."""
        blank = zygotes.take_blank(zygote) if fork_request(zygote, spec, 0) is not None else None
        if blank is not None:
            process = await self._assign(blank, zygotes, spec, on_exit)
            if process is not None:
                return process
        uid = zygotes.allocate_uid()
        request = fork_request(zygote, spec, uid)
        if request is None:
            zygotes.release_uid(uid)
            return None
        assert spec.runtime_socket is not None  # (reason_to_spawn checked)
        cgroup = self.cgroups.create(spec.env_id, spec.memory_mb, self.host_cpus)
        net, api_server, opened = None, None, []
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        api = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            net = await self.network.take()
            if net.api_listener is not None and self.api_protocol is not None:
                api_server = await asyncio.get_running_loop().create_server(
                    self.api_protocol, sock=net.api_listener, backlog=64)
            api.connect(str(spec.runtime_socket))  # a listening Unix socket: accepted by the loop later
            opened = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in cgroup.procs_files()]
            zygote.fork(request, [status_theirs.fileno(), spec.output_fd, api.fileno(), net.ns_fd, *opened])
        except OSError as exc:
            if api_server is not None:
                api_server.close()
            if net is not None:
                self.network.release(net)
            cgroup.remove()
            zygotes.release_uid(uid)
            status.close()
            if zygote.alive:
                raise
            log.warning("the Python zygote of %s is gone (%s): this environment is spawned", zygote.interpreter, exc)
            return None
        finally:
            for fd in opened:
                os.close(fd)
            status_theirs.close()
            api.close()
        process = ForkedProcess(cgroup, self.empty_dir, uid, zygotes)
        process.network, process.net, process.runtime_listener = self.network, net, net.listener
        process.api_server = api_server
        process.exit_reader = ExitReader(status, on_exit)
        return process

    async def _assign(self, blank: Blank, zygotes: PythonZygotes, spec: SandboxSpec,
                      on_exit: Callable[[int], None]) -> ForkedProcess | None:
        """Give `spec` to a blank environment: its cgroups take the environment's name and limits (before any
        of the function's code runs), then it is told its files and variables and given its output and
        Runtime API connection (None: the blank is gone or cannot serve this spec; it is dropped)."""
        request = fork_request(blank.zygote, spec, blank.uid)
        assert request is not None  # (checked before the blank was taken)
        api_server = None
        api = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            assert spec.runtime_socket is not None  # (reason_to_spawn checked)
            blank.cgroup.assign(self.cgroups.prefix + spec.env_id, spec.memory_mb, self.host_cpus)
            net = blank.net
            if net.api_listener is not None and self.api_protocol is not None:
                api_server = await asyncio.get_running_loop().create_server(
                    self.api_protocol, sock=net.api_listener, backlog=64)
            api.connect(str(spec.runtime_socket))  # a listening Unix socket: accepted by the loop later
            blank.assign(job_for(request), [spec.output_fd, api.fileno()], on_exit)
        except OSError as exc:
            if api_server is not None:
                api_server.close()
            zygotes.discard(blank)
            asyncio.get_running_loop().run_in_executor(None, blank.cgroup.remove)
            log.debug("blank environment not used (%s): forked now instead", exc)
            return None
        finally:
            api.close()
        blank.zygote.assigned += 1
        zygotes.blank_assigned()
        process = ForkedProcess(blank.cgroup, self.empty_dir, blank.uid, zygotes)
        process.network, process.net, process.runtime_listener = self.network, net, net.listener
        process.api_server = api_server
        process.exit_reader = blank.exit_reader
        process.zygote = blank.zygote
        return process

    async def _take_node_blank(self, pool: NodeZygotes, spec: SandboxSpec,
                               on_exit: Callable[[int], None]) -> ForkedProcess | None:
        """A pre-started Node runtime for `spec` (None: none ready, or it cannot serve it: spawn instead)."""
        zygote = await pool.zygote_for(spec)
        if zygote is None:
            return None
        request = node_request(zygote, spec)
        blank = pool.take_blank(zygote) if request is not None else None
        if blank is None or request is None:
            log.debug("environment %s spawned: no Node blank ready", spec.env_id)
            return None
        api_server = None
        try:
            blank.cgroup.assign(self.cgroups.prefix + spec.env_id, spec.memory_mb, self.host_cpus)
            net = blank.net
            if net.api_listener is not None and self.api_protocol is not None:
                api_server = await asyncio.get_running_loop().create_server(
                    self.api_protocol, sock=net.api_listener, backlog=64)
            blank.assign(request, [], on_exit)
        except OSError as exc:
            if api_server is not None:
                api_server.close()
            pool.discard(blank)
            asyncio.get_running_loop().run_in_executor(None, blank.cgroup.remove)
            log.debug("Node blank not used (%s): spawned instead", exc)
            return None
        blank.zygote.assigned += 1
        pool.blank_assigned()
        process = ForkedProcess(blank.cgroup, self.empty_dir, blank.uid, pool)
        process.network, process.net, process.runtime_listener = self.network, net, net.listener
        process.api_server = api_server
        process.exit_reader = blank.exit_reader
        process.zygote = blank.zygote
        process.output_fd, blank.output_fd = blank.output_fd, -1
        return process

    # ------------------------------------------------------------------ SnapStart (sandbox/snapshot.py)
    async def snapshot(self, key: str, spec: SandboxSpec, timeout_s: float) -> VersionZygote:
        """Run a SnapStart version's INIT once; its initialized process forks the version's environments."""
        return await snapshot.snapshot(self, key, spec, timeout_s)

    def snapshot_unavailable(self, spec: SandboxSpec) -> str:
        return snapshot.reason_not_to_snapshot(self, spec)

    async def restore(self, version: VersionZygote, spec: SandboxSpec,
                      on_exit: Callable[[int], None]) -> RestoredProcess:
        """A new environment forked from the version's zygote (OSError when that zygote is gone)."""
        assert spec.runtime_socket is not None
        slot = version.allocate()
        cgroup = self.cgroups.create(spec.env_id, spec.memory_mb, self.host_cpus)
        net, api_server, opened = None, None, []
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        api = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ready_read, ready_write = os.pipe2(os.O_CLOEXEC)  # closed by the server once pasta is attached
        try:
            net, complete = await version.take_network()
            if net.api_listener is not None and self.api_protocol is not None:
                api_server = await asyncio.get_running_loop().create_server(
                    self.api_protocol, sock=net.api_listener, backlog=64)
            api.connect(str(spec.runtime_socket))
            opened = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in cgroup.procs_files()]
            if version.control is None:
                raise OSError("the SnapStart zygote is gone")
            env = dict(spec.env, HOME="/tmp")
            env.pop("_STRATUS_RUNTIME_API_SOCKET", None)
            served = [RUNTIME_API_PORT] + ([self.network.config.api_port] if net.api_listener is not None
                                           and self.network.config.api_port else [])
            request = {"uid": snapshot.INSIDE_BASE + slot, "tmp_mb": spec.ephemeral_storage_mb, "env": env,
                       "net_pending": not complete, "served_ports": served}
            socket.send_fds(version.control, [json.dumps(request).encode()],
                            [status_theirs.fileno(), spec.output_fd, api.fileno(), net.ns_fd, ready_read, *opened])
            version.restores += 1
            if complete or net.pasta_ready is None:
                os.close(ready_write)
            else:
                net.pasta_ready.add_done_callback(functools.partial(_close_quietly, ready_write))
            ready_write = -1
        except BaseException:
            if ready_write >= 0:
                os.close(ready_write)
            if api_server is not None:
                api_server.close()
            if net is not None:
                self.network.release(net)
            cgroup.remove()
            version.release(slot)
            status.close()
            raise
        finally:
            for fd in opened:
                os.close(fd)
            os.close(ready_read)
            status_theirs.close()
            api.close()
        process = RestoredProcess(cgroup, self.empty_dir, version, slot)
        process.network, process.net, process.runtime_listener = self.network, net, net.listener
        process.api_server = api_server
        process.exit_reader = ExitReader(status, on_exit)
        return process


def _close_quietly(fd: int, _: object) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class RestoredProcess(ForkedProcess):
    """An environment forked from a SnapStart version's zygote: as a forked one, its uid from the version's block."""

    def __init__(self, cgroup: EnvironmentCgroup, empty_opt: Path, version: VersionZygote, slot: int) -> None:
        NamespacedProcess.__init__(self, -1, cgroup, empty_opt)
        self.uid = snapshot.SNAP_UID_BASE + version.block * snapshot.BLOCK + 1 + slot
        self.exit_reader = None
        self.zygote = None  # (restored from the version's zygote: no runtime zygote's blank to top up)
        self._version = version
        self._slot = slot

    def cleanup(self) -> None:
        if self._cleaned:
            return
        NamespacedProcess.cleanup(self)
        if self.exit_reader is not None:
            self.exit_reader.close()
        self._version.release(self._slot)
