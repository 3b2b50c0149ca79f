"""The fork path of the namespaced sandbox: Python environments forked from a runtime zygote.

A cold start of a Python function does not spawn bubblewrap and a fresh interpreter: it asks the zygote
of the function's interpreter (one per interpreter, built on first use, rebuilt if it dies) to fork
one. The zygote (runtime/bootstraps/python/zygote.py) has the bootstrap loaded and no user code; it runs
as root without a user namespace (so its children can become a uid of their own: bubblewrap as root
maps only uid 0 in the user namespace it makes), in mount, pid, ipc, uts and network namespaces of its
own, seeing only what every environment sees plus, read-only under SOURCES, the host folders code,
layers and SDKs come from. Each environment is one raw clone() into new pid, mount, ipc and uts
namespaces that, before any user code runs, joins its cgroups (created here, opened here: the zygote
has no /sys), enters its network namespace (sandbox/network.py's, handed over as an fd), mounts its
code, layers, SDK, /tmp, /dev/shm, /dev/pts and /proc, covers SOURCES, becomes a host uid of its own
(FORK_UID_BASE + slot) seen as 993 in a user namespace of its own, with no capabilities, no_new_privs
and the seccomp filter; then it forks the runtime (pid 2) and stays as its reaper (pid 1), as under
bubblewrap. The runtime's Runtime API connection is made here and handed over; its exit status comes
back on a socket of its own.

Blank environments (`Blank`): each zygote keeps `prefork` environments made ahead of demand, in pre-created
cgroups (the cgroup v1 memory join, 10-15 ms after a pause, happens there), network entered, privileges
dropped, waiting for a function; a cold start renames the cgroups after the environment, writes its limits,
and has the zygote mount its files in the blank and hand it its variables and fds. Without a ready blank,
the environment is forked on demand as above.

What does not fork (spawned as before): extensions, exec wrappers, debug mode, PYTHON* variables the
interpreter reads at start-up, another LANG or LC_*, code outside the data dir, a host where the server
is not root or cannot make network namespaces, STRATUS_PYTHON_ZYGOTE=0, and a zygote that cannot be
built (one warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stratus.runtime import runtimes
from stratus.sandbox.base import SandboxSpec, exit_description

if TYPE_CHECKING:
    from stratus.sandbox.cgroups import EnvironmentCgroup
    from stratus.sandbox.namespaced import NamespacedSandbox
    from stratus.sandbox.network import PreparedNetwork

log = logging.getLogger("stratus.sandbox")

SOURCES = "/var/stratus-sources"  # in the zygote: the host folders environments' files come from
ZYGOTE_SCRIPT = "zygote.py"
# Environments' host uids (and gids): after the plain sandbox's range (sandbox/plain.py), in the range systemd
# documents as unused by distributions; one per live environment. Inside, each is 993 (sbx_user1051).
FORK_UID_BASE = 1879048192 + 65536
FORK_UID_SLOTS = 65535
READY_TIMEOUT_S = 10.0
# The interpreter is started with these (as a spawned runtime is: runtime/runtimes.py, invoke/specs.py).
ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
              "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"}
# Variables the interpreter reads only at start-up: a function that sets one is spawned.
_STARTUP_ONLY = ("PYTHON", "LC_")
# The zygote starts with this much room for an environment's variables where /proc/PID/environ shows them.
ENVIRON_RESERVE = 32768
_AFTER_START = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
# Blank environments are topped up this long after one is taken, unless its INIT ends first (then at once):
# making one costs CPU the cold start just begun needs more.
BLANK_REFILL_DELAY_S = 0.25
BLANK_FAILURES = 5  # blanks that end before their assignment, in a row, before no more are made


class Zygote:
    """One runtime zygote: a bubblewrap sandbox running zygote.py on `interpreter`."""

    def __init__(self, interpreter: str, prefix: str, roots: dict[str, Path]) -> None:
        self.interpreter = interpreter
        self.prefix = prefix
        self.roots = roots  # name → host folder, shown at SOURCES/name
        self.process: asyncio.subprocess.Process | None = None
        self.control: socket.socket | None = None
        self.alive = False
        self.forks = 0  # environments forked (the admin route and tests read it)
        self.blanks: list[Blank] = []  # environments made ahead of demand, oldest first
        self.assigned = 0  # cold starts served by a blank
        self.extra_argv: list[str] = []  # more of its sandbox (a Node zygote's: Node and its bootstrap)

    def visible(self, host_path: Path | None) -> str | None:
        """Where a host path under one of the roots is in the zygote (None: under none)."""
        if host_path is None:
            return None
        for name, root in self.roots.items():
            try:
                relative = str(host_path.relative_to(root))
            except ValueError:
                continue
            return f"{SOURCES}/{name}" if relative == "." else f"{SOURCES}/{name}/{relative}"
        return None

    async def start(self, sandbox: NamespacedSandbox) -> None:
        from stratus.sandbox.namespaced import PYTHON_SDK_DIR, RUNTIME_DIR, TASK_ROOT, _interpreter_mount

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sandbox.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                "--hostname", "localhost", "--die-with-parent", "--new-session", "--cap-add", "ALL",
                "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                "--ro-bind", str(sandbox.etc_dir), "/etc", "--perms", "0755", "--dir", "/var",
                *_interpreter_mount(self.prefix),
                "--ro-bind", str(runtimes.BOOTSTRAPS / "python"), RUNTIME_DIR,
                "--dir", TASK_ROOT, "--dir", "/opt", "--dir", PYTHON_SDK_DIR, "--dir", "/tmp", "--tmpfs", SOURCES]
        for name, root in self.roots.items():
            argv += ["--ro-bind", str(root), f"{SOURCES}/{name}"]
        argv += self.extra_argv
        argv += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/", "--chdir", "/", "--",
                 self.interpreter, "-S", "-u", f"{RUNTIME_DIR}/{ZYGOTE_SCRIPT}", str(theirs.fileno())]
        pass_fds = [theirs.fileno()]
        seccomp_fd = -1
        if sandbox.seccomp_file is not None:
            seccomp_fd = os.open(sandbox.seccomp_file, os.O_RDONLY)
            pass_fds.append(seccomp_fd)
            argv.append(str(seccomp_fd))
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, pass_fds=pass_fds, cwd="/",
                env=dict(ZYGOTE_ENV, _STRATUS_ENVIRON_RESERVE="x" * ENVIRON_RESERVE),
                start_new_session=True)
        finally:
            theirs.close()
            if seccomp_fd >= 0:
                os.close(seccomp_fd)
        ours.setblocking(False)
        self.control = ours
        loop = asyncio.get_running_loop()
        try:
            ready = await asyncio.wait_for(loop.sock_recv(ours, 16), READY_TIMEOUT_S)
        except (TimeoutError, OSError) as exc:
            self.stop()
            raise RuntimeError(f"the zygote did not start: {exc or 'timed out'}") from None
        if ready != b"ready":
            returncode = await self.process.wait()
            self.stop()
            raise RuntimeError(f"the zygote of {self.interpreter} ended at start ({exit_description(returncode)})")
        self.alive = True
        loop.add_reader(ours.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        """The zygote never writes after `ready`: readable means it ended."""
        try:
            data = self.control.recv(16) if self.control is not None else b""
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            log.warning("the Python zygote of %s ended; the next cold start builds a new one", self.interpreter)
            self.stop()

    def fork(self, request: dict[str, object], fds: list[int]) -> None:
        """Send the zygote a request: an environment, a blank one, a blank's assignment or its drop (raises
        OSError when the zygote is gone)."""
        if not self.alive or self.control is None:
            raise OSError("the zygote is not running")
        if fds:
            socket.send_fds(self.control, [json.dumps(request).encode()], fds)
        else:
            self.control.send(json.dumps(request).encode())
        if "assign" not in request and "drop" not in request:
            self.forks += 1

    def stop(self) -> None:
        """Kill the zygote's sandbox, and with it (its pid namespace) every environment it forked."""
        self.alive = False
        if self.control is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.control.fileno())
            self.control.close()
            self.control = None
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class Blank:
    """An environment forked ahead of demand: in its cgroups (generic name, no memory limit yet) and network
    namespace, both its processes unprivileged, its runtime-to-be waiting for its function."""

    def __init__(self, zygote: Zygote, cgroup: EnvironmentCgroup, net: PreparedNetwork, uid: int,
                 status: socket.socket) -> None:
        self.zygote = zygote
        self.id = ""  # the zygote's name for it
        self.cgroup = cgroup
        self.net = net
        self.uid = uid
        self.exit_reader = ExitReader(status, self._ended)
        self.ended: int | None = None  # its exit status, if it ended while being assigned
        self.output_fd = -1  # a Node blank's: the read end of its output pipe (the environment's from assignment)
        self.on_end: Callable[[Blank], None] | None = None  # while waiting: the pool drops it

    def _ended(self, code: int) -> None:
        self.ended = code
        if self.on_end is not None:
            self.on_end(self)

    def assign(self, job: dict[str, object], fds: list[int], on_exit: Callable[[int], None]) -> None:
        """Hand the function over (raises OSError when the blank or its zygote is gone): the zygote mounts its
        files in the blank's mount namespace and passes it the rest. From now on its exit is the environment's."""
        self.on_end = None
        if self.ended is not None:
            raise OSError("the blank environment ended")
        self.zygote.fork(dict(job, assign=self.id), fds)
        self.exit_reader.on_exit = on_exit


class PythonZygotes:
    """The zygotes of one namespaced sandbox, by interpreter, the environments' uids, and the blank
    environments kept ready per zygote (`prefork` each; 0: none)."""

    def __init__(self, sandbox: NamespacedSandbox, prefork: int = 2) -> None:
        self.sandbox = sandbox
        # In `host` network mode pasta forwards the host ports open when the environment starts: not ahead.
        self.prefork = max(0, prefork) if sandbox.network.mode != "host" else 0
        self._filling: dict[Zygote, asyncio.Task[None]] = {}
        self._blank_failures = 0  # blanks ended before their assignment since the last assignment
        data_dir = sandbox.work_dir.parent
        self.roots = {"code": data_dir / "code", "opt": data_dir / "opt"}
        self.zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Future[Zygote | None]] = {}
        self._failed: set[str] = set()
        self._uids: set[int] = set()
        self._next_uid = 0

    @staticmethod
    def unavailable(sandbox: NamespacedSandbox) -> str:
        """Why this host cannot fork environments ("" when it can)."""
        if os.geteuid() != 0:
            return "the server is not root (environments could not become uids of their own)"
        if not sandbox.network.in_server:
            return "the server cannot make network namespaces"
        return ""

    def reason_to_spawn(self, spec: SandboxSpec) -> str:
        """Why this environment is spawned rather than forked ("" when it can be forked)."""
        if spec.runtime_dir != runtimes.BOOTSTRAPS / "python" or len(spec.argv) != 4 \
                or tuple(spec.argv[1:3]) != ("-S", "-u") or not spec.argv[3].endswith("/bootstrap.py"):
            return "not the bundled Python runtime"
        if spec.launcher or spec.stdin_fd is not None:
            return "extensions or an exec wrapper"
        if spec.debug_dir is not None:
            return "debug mode"
        for key, value in spec.env.items():
            if key.startswith(_STARTUP_ONLY) and key not in _AFTER_START \
                    or key == "LANG" and value != ZYGOTE_ENV["LANG"]:
                return f"{key} is read by the interpreter at start-up"
        if spec.runtime_socket is None:
            return "no Runtime API socket"
        if spec.interpreter_prefix.startswith(str(self.sandbox.work_dir.parent)):
            return "an interpreter in the data dir"
        return ""

    async def zygote_for(self, spec: SandboxSpec) -> Zygote | None:
        """The running zygote of the spec's interpreter (built now if needed), or None: spawn instead."""
        interpreter = spec.argv[0]
        zygote = self.zygotes.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote
        if interpreter in self._failed:
            return None
        starting = self._starting.get(interpreter)
        if starting is None:
            starting = self._starting[interpreter] = asyncio.get_running_loop().create_future()
            try:
                zygote = await self._build(interpreter, spec)
            finally:
                del self._starting[interpreter]
            starting.set_result(zygote)
            return zygote
        return await asyncio.shield(starting)

    async def _build(self, interpreter: str, spec: SandboxSpec) -> Zygote | None:
        roots = {name: path for name, path in self.roots.items()}
        if spec.sdk_dir is not None:
            roots["sdk"] = spec.sdk_dir.parent
        self.roots["opt"].mkdir(parents=True, exist_ok=True)
        zygote = Zygote(interpreter, spec.interpreter_prefix, {name: path for name, path in roots.items()
                                                               if path.is_dir()})
        try:
            await zygote.start(self.sandbox)
        except (OSError, RuntimeError) as exc:
            self._failed.add(interpreter)
            log.warning("\n%s\nPython cold starts on %s are SPAWNED, not forked: its zygote could not be built "
                        "(%s). Set STRATUS_PYTHON_ZYGOTE=0 to silence this.\n%s", "!" * 100, interpreter, exc,
                        "!" * 100)
            return None
        old = self.zygotes.get(interpreter)
        if old is not None:
            old.stop()
        self.zygotes[interpreter] = zygote
        log.info("Python zygote of %s ready: cold starts fork from it", interpreter)
        self._blank_failures = 0  # (the blanks of a zygote that died ended with it)
        self.refill(zygote)
        return zygote

    # ------------------------------------------------------------------ blank environments
    def take_blank(self, zygote: Zygote) -> Blank | None:
        """A blank environment of `zygote` (None: none ready); the pool is topped up in the background."""
        if not self.prefork:
            return None
        blank = zygote.blanks.pop(0) if zygote.blanks else None
        if blank is not None:
            blank.on_end = None  # its end is now the assigner's to see (Blank.assign)
        asyncio.get_running_loop().call_later(BLANK_REFILL_DELAY_S, self.refill, zygote)
        return blank

    def blank_assigned(self) -> None:
        self._blank_failures = 0

    def refill(self, zygote: Zygote) -> None:
        """Top `zygote`'s blanks up to `prefork` (one task at a time per zygote)."""
        filling = self._filling.get(zygote)
        if self._blank_failures >= BLANK_FAILURES:
            return
        if not self.prefork or not zygote.alive or len(zygote.blanks) >= self.prefork \
                or filling is not None and not filling.done():
            return
        self._filling[zygote] = asyncio.get_running_loop().create_task(self._fill(zygote))

    async def _fill(self, zygote: Zygote) -> None:
        try:
            while zygote.alive and len(zygote.blanks) < self.prefork:
                try:
                    blank = await self._make_blank(zygote)
                except (OSError, RuntimeError) as exc:
                    if zygote.alive:
                        log.warning("could not prepare a blank Python environment: %s", exc)
                    return
                if blank is None:
                    return
                zygote.blanks.append(blank)
        finally:
            if self._filling.get(zygote) is asyncio.current_task():
                del self._filling[zygote]

    async def _make_blank(self, zygote: Zygote) -> Blank | None:
        sandbox = self.sandbox
        uid = self.allocate_uid()
        cgroup, net, opened = None, None, []
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        blank_id = os.urandom(8).hex()
        try:
            cgroup = await asyncio.to_thread(sandbox.cgroups.create_blank)
            net = await sandbox.network.take()
            if not zygote.alive:
                raise OSError("the zygote ended")
            opened = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in cgroup.procs_files()]
            zygote.fork({"blank": True, "id": blank_id, "uid": uid, "gid": uid},
                        [status_theirs.fileno(), net.ns_fd, *opened])
        except BaseException:
            status.close()
            if net is not None:
                sandbox.network.release(net)
            if cgroup is not None:
                asyncio.get_running_loop().run_in_executor(None, cgroup.remove)
            self.release_uid(uid)
            raise
        finally:
            for fd in opened:
                os.close(fd)
            status_theirs.close()
        blank = Blank(zygote, cgroup, net, uid, status)
        blank.id = blank_id
        blank.on_end = self._blank_ended
        return blank

    def _blank_ended(self, blank: Blank) -> None:
        """A blank ended while waiting (its zygote died, it was killed, or it could not be set up): drop it,
        and make another (not after BLANK_FAILURES such ends in a row: something is wrong, say so once)."""
        with contextlib.suppress(ValueError):
            blank.zygote.blanks.remove(blank)
        self.discard(blank)
        asyncio.get_running_loop().run_in_executor(None, blank.cgroup.remove)
        self._blank_failures += 1
        if self._blank_failures < BLANK_FAILURES:
            self.refill(blank.zygote)
        elif self._blank_failures == BLANK_FAILURES and blank.zygote.alive:
            log.warning("%d blank Python environments ended before their assignment: no more are made until a "
                        "cold start succeeds (see the zygote's messages above)", BLANK_FAILURES)

    def discard(self, blank: Blank, remove_cgroup: bool = False) -> None:
        """Give a blank's resources back (its cgroup is removed by the caller, or here if asked)."""
        blank.on_end = None
        blank.exit_reader.close()
        if blank.zygote.alive:  # the zygote forgets it (its runtime-to-be then ends)
            with contextlib.suppress(OSError):
                blank.zygote.fork({"drop": blank.id}, [])
        self.sandbox.network.release(blank.net)
        self.release_uid(blank.uid)
        if remove_cgroup:
            blank.cgroup.remove()

    def allocate_uid(self) -> int:
        for _ in range(FORK_UID_SLOTS):
            slot = self._next_uid
            self._next_uid = (self._next_uid + 1) % FORK_UID_SLOTS
            if slot not in self._uids:
                self._uids.add(slot)
                return FORK_UID_BASE + slot
        raise RuntimeError("every environment uid is in use")

    def release_uid(self, uid: int) -> None:
        self._uids.discard(uid - FORK_UID_BASE)

    def close(self) -> None:
        for task in self._filling.values():
            task.cancel()
        self._filling.clear()
        for zygote in self.zygotes.values():
            zygote.stop()  # (its pid namespace ends: every blank with it)
            for blank in zygote.blanks:
                self.discard(blank, remove_cgroup=True)
            zygote.blanks.clear()
        self.zygotes.clear()

    def stats(self) -> dict[str, object]:
        """What the fork path did so far (GET /_stratus/... and tests)."""
        return {"zygotes": {path: {"alive": z.alive, "forks": z.forks, "blanks": len(z.blanks),
                                   "assigned": z.assigned,
                                   "pid": z.process.pid if z.process is not None else None}
                            for path, z in self.zygotes.items()},
                "failed": sorted(self._failed)}


def fork_request(zygote: Zygote, spec: SandboxSpec, uid: int) -> dict[str, object] | None:
    """The zygote's request for `spec` (None: a folder it needs is not under the zygote's roots)."""
    from stratus.sandbox.namespaced import PYTHON_SDK_DIR

    task = zygote.visible(spec.task_root)
    opt = zygote.visible(spec.opt_dir) if spec.opt_dir is not None else ""
    sdk = zygote.visible(spec.sdk_dir) if spec.sdk_dir is not None else ""
    if task is None or opt is None or sdk is None:
        return None
    env = dict(spec.env, HOME="/tmp")
    env.pop("_STRATUS_RUNTIME_API_SOCKET", None)  # the runtime is given its connection
    if sum(len(key) + len(value) + 2 for key, value in env.items()) > ENVIRON_RESERVE:
        return None
    return {"uid": uid, "gid": uid, "task": task, "opt": opt, "sdk": sdk, "sdk_visible": PYTHON_SDK_DIR,
            "tmp_mb": spec.ephemeral_storage_mb, "env": env}


def job_for(request: dict[str, object]) -> dict[str, object]:
    """What a blank environment is told of its function (its uid it has: the rest of `fork_request`)."""
    return {key: value for key, value in request.items() if key not in ("uid", "gid")}


class ExitReader:
    """Reads the runtime's exit status from the environment's status socket (EOF without one: killed)."""

    def __init__(self, sock: socket.socket, on_exit: Callable[[int], None]) -> None:
        self.sock = sock
        self.on_exit = on_exit
        self.loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(4)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.close()
        self.on_exit(struct.unpack("i", data)[0] if len(data) == 4 else -signal.SIGKILL)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            with contextlib.suppress(RuntimeError):  # (the loop is closed: nothing to remove)
                self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
