"""SnapStart for Python in the namespaced sandbox: a version's INIT run once, its process kept as the version's
zygote, new environments of the version forked from it (runtime/bootstraps/python/snapshot.py is the inside).

The runtime zygote (sandbox/zygote.py) is asked for a clone of kind "snapshot": it becomes pid 1 of the
version's pid namespace, builds what the version's environments share (its code, layers, SDK, variables)
and forks the version zygote, which runs INIT as a host uid of its own, with capabilities only in a user
namespace of its own (where a block of host uids, one per environment, is mapped), so that it can still
give each environment it forks a pid, mount, ipc, uts, cgroup and network namespace, a /tmp, a uid, a
Runtime API and the seccomp filter of its own. Its environments' network namespaces are made by it (they
must belong to its user namespace to be entered) and equipped by the server (sandbox/network.py `adopt`).

The block of uids: SNAP_UID_BASE + block × BLOCK; the zygote is the first, its environments the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratus.sandbox import seccomp
from stratus.sandbox.base import SandboxSpec
from stratus.sandbox.cgroups import EnvironmentCgroup
from stratus.sandbox.network import PreparedNetwork
from stratus.sandbox.zygote import FORK_UID_BASE, FORK_UID_SLOTS, ExitReader, fork_request

if TYPE_CHECKING:
    from stratus.sandbox.namespaced import NamespacedSandbox

log = logging.getLogger("stratus.sandbox")

SNAP_UID_BASE = FORK_UID_BASE + FORK_UID_SLOTS + 1
BLOCK = 1024  # uids per version zygote: itself and up to BLOCK - 1 live environments
BLOCKS = 4096
INSIDE_BASE = 1000  # environments' uids inside the version's user namespace (snapshot.py)
SPARE_NETWORKS = 2  # prepared networks (pasta attached) kept per version at least...
MAX_SPARE_NETWORKS = 16  # ...and at most, sized between the two by recent demand (STRATUS_SNAPSTART_SPARE_NETWORKS)
DEMAND_WINDOW_S = 300.0  # recent demand: the most restores begun within one second, over the last five minutes
NAMESPACE_BATCH = 8  # bare network namespaces the version zygote makes per request (at least)
BARE_NAMESPACES = 64  # kept made ahead per version (~125 KB of kernel memory each, no process): a burst takes them
REFILL_PAUSE_S = 0.5  # spares are prepared once no restore has begun for this long
_blocks: set[int] = set()


class SnapshotFailed(Exception):
    """The version's INIT failed (or its zygote could not be built): `error` is what the runtime reported."""

    def __init__(self, message: str, error: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.error = error


class VersionZygote:
    """One version's initialized process, forking its environments."""

    def __init__(self, key: str, block: int, cgroup: EnvironmentCgroup) -> None:
        self.key = key
        self.block = block
        self.cgroup = cgroup
        self.control: socket.socket | None = None
        self.net: PreparedNetwork | None = None
        self.api_server: asyncio.AbstractServer | None = None
        self.exit_reader: ExitReader | None = None
        self.alive = False
        self.restores = 0
        self.init_ms = 0.0
        self.on_dead: Callable[[VersionZygote], None] | None = None
        self._ready: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._nets: list[asyncio.Future[int]] = []  # waiting for a bare namespace from the zygote
        self._requested = 0  # bare namespaces asked of the zygote for environments waiting, not yet received
        self._requested_ahead = 0  # and asked ahead of demand
        self._bare: list[int] = []  # received, not yet wanted
        self._spares: list[PreparedNetwork] = []  # prepared ahead of demand, pasta attached
        self._restores: list[float] = []  # when recent restores began (demand)
        self.max_spares = MAX_SPARE_NETWORKS
        self._refill: asyncio.Task[None] | None = None
        self._slots: set[int] = set()
        self._next_slot = 0
        self._sandbox: NamespacedSandbox | None = None

    @property
    def uid(self) -> int:
        return SNAP_UID_BASE + self.block * BLOCK

    # ------------------------------------------------------------------ uids
    def allocate(self) -> int:
        """A slot for a new environment (its uid inside is INSIDE_BASE + slot, on the host uid + 1 + slot)."""
        for _ in range(BLOCK - 1):
            slot = self._next_slot
            self._next_slot = (self._next_slot + 1) % (BLOCK - 1)
            if slot not in self._slots:
                self._slots.add(slot)
                return slot
        raise RuntimeError("every uid of this SnapStart version is in use")

    def release(self, slot: int) -> None:
        self._slots.discard(slot)

    # ------------------------------------------------------------------ control messages
    def _on_readable(self) -> None:
        assert self.control is not None
        try:
            message, ancillary, _, _ = self.control.recvmsg(1 << 20, socket.CMSG_SPACE(64 * 4))
        except BlockingIOError:
            return
        except OSError:
            message, ancillary = b"", []
        fds = [fd for level, kind, data in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
               for fd in struct.unpack(f"{len(data) // 4}i", data[:len(data) - len(data) % 4])]
        if message in (b"net", b"netahead") and fds:
            for fd in fds:
                if message == b"net":
                    self._requested = max(0, self._requested - 1)
                else:
                    self._requested_ahead = max(0, self._requested_ahead - 1)
                waiting = self._nets.pop(0) if self._nets else None
                if waiting is not None and not waiting.done():
                    waiting.set_result(fd)
                elif self.alive:
                    self._bare.append(fd)
                else:
                    os.close(fd)
        elif message.startswith(b"nonet"):
            self._requested = self._requested_ahead = 0
            failed, self._nets = self._nets, []
            for waiting in failed:
                if not waiting.done():
                    waiting.set_exception(OSError(message[5:].decode(errors="replace")))
        elif message.startswith((b"ready", b"error")):
            if not self._ready.done():
                self._ready.set_result(message)
        elif not message:
            for fd in fds:
                os.close(fd)
            self.stop()

    def _died(self, returncode: int) -> None:
        if self.alive or not self._ready.done():
            log.warning("the SnapStart zygote of %s ended; its next environment runs INIT again", self.key)
        self.stop()

    # ------------------------------------------------------------------ networks
    async def take_network(self) -> tuple[PreparedNetwork, bool]:
        """A network for a new environment, and whether it is complete. A spare prepared ahead of demand is; else a
        bare namespace is equipped now (loopback, the Runtime API, Stratus's API: a fraction of a ms) and pasta is
        attached in the background: the environment does not wait for it (its runtime waits at its first outbound
        connection: runtime/bootstraps/python/snapshot.py `wait_for_network`)."""
        now = time.monotonic()
        self._restores.append(now)
        while self._restores and self._restores[0] < now - DEMAND_WINDOW_S:
            self._restores.pop(0)
        if self._spares:
            net, complete = self._spares.pop(0), True
        else:
            assert self._sandbox is not None
            net = await self._sandbox.network.adopt(await self._bare_namespace(), wait=False, background=True)
            complete = net.pasta_ready is None
        self._refill_later()
        return net, complete

    def demand(self) -> int:
        """The spares to keep: the most restores begun within one second recently, between SPARE_NETWORKS and
        max_spares (pasta costs ~20 ms of CPU and ~20 MB each)."""
        times, peak, start = self._restores, 0, 0
        for end in range(len(times)):
            while times[end] - times[start] > 1.0:
                start += 1
            peak = max(peak, end - start + 1)
        return max(min(SPARE_NETWORKS, self.max_spares), min(peak, self.max_spares))

    def _refill_later(self) -> None:
        if self._refill is None or self._refill.done():
            self._refill = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        """Once restores have paused: bare namespaces made ahead (BARE_NAMESPACES), then spares prepared one at a time
        (pasta at the lowest CPU priority) up to the recent demand."""
        while self.alive:
            last = self._restores[-1] if self._restores else 0.0
            pause = last + REFILL_PAUSE_S - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            missing = BARE_NAMESPACES - len(self._bare) - self._requested - self._requested_ahead
            if self.control is not None and missing >= NAMESPACE_BATCH:
                self._requested_ahead += missing
                with contextlib.suppress(OSError):
                    self.control.send(json.dumps({"op": "net", "count": missing, "ahead": True}).encode())
            if len(self._spares) >= self.demand():
                return
            try:
                assert self._sandbox is not None
                net = await self._sandbox.network.adopt(await self._bare_namespace(), wait=True, background=True)
            except (OSError, RuntimeError, AssertionError) as exc:
                log.warning("could not prepare a network for %s: %s", self.key, exc)
                return
            if not self.alive:
                self._release_network(net)
                return
            self._spares.append(net)

    async def _bare_namespace(self) -> int:
        """A network namespace of the version's user namespace (made by the zygote, NAMESPACE_BATCH at a time)."""
        if self._bare:
            return self._bare.pop(0)
        if not self.alive or self.control is None:
            raise OSError("the SnapStart zygote is not running")
        waiting: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._nets.append(waiting)
        if len(self._nets) > self._requested:
            count = max(NAMESPACE_BATCH, len(self._nets) - self._requested)
            self._requested += count
            await asyncio.get_running_loop().sock_sendall(self.control, json.dumps({"op": "net", "count": count})
                                                          .encode())
        return await asyncio.wait_for(waiting, 10)

    def _release_network(self, net: PreparedNetwork) -> None:
        if self._sandbox is not None:
            self._sandbox.network.release(net)

    # ------------------------------------------------------------------ end
    def stop(self) -> None:
        """Kill the zygote (and, with its pid namespace, the environments it forked) and free what it holds."""
        was_alive = self.alive or self.control is not None
        self.alive = False
        if self.control is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.control.fileno())
            self.control.close()
            self.control = None
        for waiting in self._nets:
            if not waiting.done():
                waiting.set_exception(OSError("the SnapStart zygote ended"))
        self._nets.clear()
        if not self._ready.done():
            self._ready.set_result(b"")
        if self._refill is not None:
            self._refill.cancel()
        for net in self._spares:
            self._release_network(net)
        self._spares.clear()
        for fd in self._bare:
            os.close(fd)
        self._bare.clear()
        if self.exit_reader is not None:
            self.exit_reader.close()
            self.exit_reader = None
        self.cgroup.kill_all()
        if self.api_server is not None:
            self.api_server.close()
            self.api_server = None
        if self.net is not None:
            self._release_network(self.net)
            self.net = None
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().run_in_executor(None, self.cgroup.remove)
        _blocks.discard(self.block)
        if was_alive and self.on_dead is not None:
            self.on_dead(self)


def _allocate_block() -> int:
    for block in range(BLOCKS):
        if block not in _blocks:
            _blocks.add(block)
            return block
    raise RuntimeError("too many SnapStart versions have a zygote")


def reason_not_to_snapshot(sandbox: NamespacedSandbox, spec: SandboxSpec) -> str:
    """Why this version's environments cannot be restored from a snapshot here ("" when they can)."""
    if sandbox.zygotes is None:
        return "Python environments are not forked from a zygote here"
    return sandbox.zygotes.reason_to_spawn(spec)


async def snapshot(sandbox: NamespacedSandbox, key: str, spec: SandboxSpec, timeout_s: float) -> VersionZygote:
    """Run the version's INIT once in a new zygote of its own; raises SnapshotFailed (INIT failed, or no zygote)."""
    zygotes = sandbox.zygotes
    if zygotes is None:
        raise SnapshotFailed("Python environments are not forked from a zygote here")
    zygote = await zygotes.zygote_for(spec)
    if zygote is None:
        raise SnapshotFailed("the Python runtime's zygote is not available")
    block = _allocate_block()
    cgroup = sandbox.cgroups.create(spec.env_id, spec.memory_mb, sandbox.host_cpus)
    version = VersionZygote(key, block, cgroup)
    version._sandbox = sandbox
    request = fork_request(zygote, spec, version.uid)
    if request is None:
        version.stop()
        raise SnapshotFailed("the function's folders are not visible to the zygote")
    request.update(kind="snapshot", uids=BLOCK - 1, seccomp_zygote=seccomp.compiled(namespaces=True).hex()
                   if sandbox.seccomp_file is not None else "")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    opened: list[int] = []
    loop = asyncio.get_running_loop()
    try:
        version.net = net = await sandbox.network.take()
        if net.api_listener is not None and sandbox.api_protocol is not None:
            version.api_server = await loop.create_server(sandbox.api_protocol, sock=net.api_listener, backlog=64)
        opened = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in cgroup.procs_files()]
        zygote.fork(request, [status_theirs.fileno(), spec.output_fd, theirs.fileno(), net.ns_fd, *opened])
    except BaseException:
        ours.close()
        status.close()
        version.stop()
        raise
    finally:
        for fd in opened:
            os.close(fd)
        theirs.close()
        status_theirs.close()
    ours.setblocking(False)
    version.control = ours
    version.exit_reader = ExitReader(status, version._died)
    loop.add_reader(ours.fileno(), version._on_readable)
    try:
        message = await asyncio.wait_for(asyncio.shield(version._ready), timeout_s)
    except TimeoutError:
        version.stop()
        raise SnapshotFailed(f"INIT did not end within {timeout_s:.0f} seconds") from None
    if message.startswith(b"ready"):
        version.alive = True
        with contextlib.suppress(ValueError):
            version.init_ms = float(json.loads(message[5:]).get("initMs", 0.0))
        version._refill_later()
        return version
    version.stop()
    if message.startswith(b"error"):
        report = json.loads(message[5:])
        raise SnapshotFailed(f"INIT failed ({report.get('errorType')})", report.get("error"))
    raise SnapshotFailed("the version's zygote ended during INIT")
