"""Node cold starts from pre-started runtimes: Node blank environments (issue 16, scope 3).

A Node cold start spawned costs a bwrap start and a Node start (`node -e 0` alone is 40-65 ms here), both
before the function's code is even read. Here each Node binary gets a zygote (the Python runtime zygote of
sandbox/zygote.py, run by the host's Python, its sandbox also showing that Node and the Node bootstrap) that
keeps `prefork` **Node blanks**: environments made as a Python blank is (own pid, mount, ipc, uts, cgroup and
network namespaces; pre-created cgroups joined; a host uid of its own seen as 993; no capabilities,
no_new_privs, seccomp) whose pid 2 has exec'd `node /var/runtime/bootstrap.js`, which loads what it needs
and waits on its job socket. Its stdout/stderr are a pipe the server made for it.

A cold start takes one: its cgroups get the environment's name and the function's limits (before any of the
function's code runs), the zygote mounts the function's code, layers, SDK, /tmp and /dev/shm in its mount
namespace, and the runtime is sent the function's variables; it then loads the handler and calls /next on
127.0.0.1:9001 in its own network namespace. The environment's output is read from the blank's pipe.

Spawned as before (a fallback, no setting needed): no blank ready, extensions, an exec wrapper, debug mode,
variables Node reads only at start-up (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, ...), code outside the data dir,
`STRATUS_NODE_PREFORK=0`, the plain sandbox, `host` network mode, a server that is not root.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from stratus.runtime import runtimes
from stratus.sandbox.base import SandboxSpec
from stratus.sandbox.zygote import Blank, PythonZygotes, Zygote

if TYPE_CHECKING:
    from stratus.sandbox.namespaced import NamespacedSandbox

log = logging.getLogger("stratus.sandbox")

NODE_RUNTIME_SOURCE = "/var/stratus-node-runtime"  # in a Node zygote: the Node bootstrap (shown at /var/runtime)
# Variables Node reads only when it starts (a function that sets one is spawned): options, certificates,
# the ICU data, the V8/ICU/OpenSSL start-up settings.
_STARTUP_ONLY = ("NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "NODE_ICU_DATA", "NODE_NO_WARNINGS", "NODE_PENDING_DEPRECATION",
                 "NODE_PRESERVE_SYMLINKS", "NODE_REDIRECT_WARNINGS", "NODE_TLS_REJECT_UNAUTHORIZED",
                 "NODE_V8_COVERAGE", "NODE_DEBUG", "NODE_DEBUG_NATIVE", "NODE_DISABLE_COLORS", "UV_THREADPOOL_SIZE",
                 "OPENSSL_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_COMPILE_CACHE", "NODE_SKIP_PLATFORM_CHECK")


class NodeZygotes(PythonZygotes):
    """Node blank environments, per Node binary (`prefork` each; 0: none, every Node cold start spawns).
    Environment uids come from `uids` (the Python zygotes' allocator, so that no two environments share one)."""

    def __init__(self, sandbox: NamespacedSandbox, prefork: int = 2, uids: PythonZygotes | None = None) -> None:
        super().__init__(sandbox, prefork)
        self._uid_owner = uids

    def allocate_uid(self) -> int:
        return self._uid_owner.allocate_uid() if self._uid_owner is not None else super().allocate_uid()

    def release_uid(self, uid: int) -> None:
        if self._uid_owner is not None:
            self._uid_owner.release_uid(uid)
        else:
            super().release_uid(uid)

    def reason_to_spawn(self, spec: SandboxSpec) -> str:
        """Why this Node environment is spawned rather than taken from a blank ("" when it can be)."""
        if not self.prefork:
            return "no Node blanks are kept"
        if spec.runtime_dir != runtimes.BOOTSTRAPS / "node" or len(spec.argv) != 2 \
                or not spec.argv[1].endswith("/bootstrap.js"):
            return "not the bundled Node runtime"
        if spec.launcher or spec.stdin_fd is not None:
            return "extensions or an exec wrapper"
        if spec.debug_dir is not None:
            return "debug mode"
        for key in spec.env:
            if key in _STARTUP_ONLY or key == "LANG" and spec.env[key] != "en_US.UTF-8":
                return f"{key} is read by Node at start-up"
        if spec.runtime_socket is None:
            return "no Runtime API socket"
        if spec.interpreter_prefix.startswith(str(self.sandbox.work_dir.parent)):
            return "a Node binary in the data dir"
        return ""

    async def zygote_for(self, spec: SandboxSpec) -> Zygote | None:
        return await super().zygote_for(spec)  # (keyed by the Node binary: spec.argv[0])

    async def _build(self, interpreter: str, spec: SandboxSpec) -> Zygote | None:
        from stratus.sandbox.namespaced import LAYER_ESM_DIR, NODE_SDK_DIR, _interpreter_mount

        roots = dict(self.roots)
        if spec.sdk_dir is not None:
            roots["sdk"] = spec.sdk_dir.parent
        self.roots["opt"].mkdir(parents=True, exist_ok=True)
        python = runtimes.host_python()
        zygote = Zygote(python, str(Path(python).resolve().parent.parent),
                        {name: path for name, path in roots.items() if path.is_dir()})
        zygote.node = interpreter  # type: ignore[attr-defined]
        zygote.extra_argv = [*_interpreter_mount(spec.interpreter_prefix),
                             "--ro-bind", str(runtimes.BOOTSTRAPS / "node"), NODE_RUNTIME_SOURCE,
                             "--dir", NODE_SDK_DIR, "--dir", LAYER_ESM_DIR]
        try:
            await zygote.start(self.sandbox)
        except (OSError, RuntimeError) as exc:
            self._failed.add(interpreter)
            log.warning("Node cold starts on %s are spawned: its zygote could not be built (%s). "
                        "Set STRATUS_NODE_PREFORK=0 to silence this.", interpreter, exc)
            return None
        old = self.zygotes.get(interpreter)
        if old is not None:
            old.stop()
        self.zygotes[interpreter] = zygote
        log.info("Node zygote of %s ready: cold starts take pre-started Node runtimes", interpreter)
        self._blank_failures = 0
        self.refill(zygote)
        return zygote

    async def _make_blank(self, zygote: Zygote) -> Blank | None:
        sandbox = self.sandbox
        uid = self.allocate_uid()
        cgroup, net, opened = None, None, []
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        read_fd, write_fd = os.pipe()
        blank_id = os.urandom(8).hex()
        try:
            cgroup = await asyncio.to_thread(sandbox.cgroups.create_blank)
            net = await sandbox.network.take()
            if not zygote.alive:
                raise OSError("the zygote ended")
            opened = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in cgroup.procs_files()]
            zygote.fork({"blank": True, "node": zygote.node, "id": blank_id,  # type: ignore[attr-defined]
                         "uid": uid, "gid": uid}, [status_theirs.fileno(), net.ns_fd, write_fd, *opened])
        except BaseException:
            status.close()
            os.close(read_fd)
            if net is not None:
                sandbox.network.release(net)
            if cgroup is not None:
                asyncio.get_running_loop().run_in_executor(None, cgroup.remove)
            self.release_uid(uid)
            raise
        finally:
            for fd in opened:
                os.close(fd)
            os.close(write_fd)
            status_theirs.close()
        blank = Blank(zygote, cgroup, net, uid, status)
        blank.id = blank_id
        blank.output_fd = read_fd
        blank.on_end = self._blank_ended
        return blank

    def discard(self, blank: Blank, remove_cgroup: bool = False) -> None:
        super().discard(blank, remove_cgroup)
        if blank.output_fd >= 0:
            os.close(blank.output_fd)
            blank.output_fd = -1


def node_request(zygote: Zygote, spec: SandboxSpec) -> dict[str, object] | None:
    """A Node blank's job for `spec` (None: a folder it needs is not under the zygote's roots)."""
    from stratus.sandbox.namespaced import NODE_SDK_DIR

    task = zygote.visible(spec.task_root)
    opt = zygote.visible(spec.opt_dir) if spec.opt_dir is not None else ""
    sdk = zygote.visible(spec.sdk_dir) if spec.sdk_dir is not None else ""
    layer_esm: str | None = ""
    if spec.sdk_dir is not None and spec.opt_dir is not None and (spec.opt_dir / "nodejs/node_modules").is_dir():
        layer_esm = zygote.visible(spec.opt_dir / "nodejs/node_modules")
    if task is None or opt is None or sdk is None or layer_esm is None:
        return None
    env = dict(spec.env, HOME="/tmp")
    env.pop("_STRATUS_RUNTIME_API_SOCKET", None)  # it calls 127.0.0.1:9001 in its own network namespace
    return {"task": task, "opt": opt, "sdk": sdk, "sdk_visible": NODE_SDK_DIR, "layer_esm": layer_esm,
            "tmp_mb": spec.ephemeral_storage_mb, "env": env}
