"""CPU placement of warm invocations: a lone invocation's runtime runs on the server's own CPU.

Why: a warm invoke is a relay (client → server → runtime → server → client) in which only one process works
at a time. When the runtime is woken on the other CPU, every hand-over is a cross-CPU wake-up (an IPI, and on
a virtual machine an exit to the hypervisor, and the idle CPU's wake from halt); on this 2-core VM that costs
~0.1 ms of latency and ~90 µs of the server's CPU per invoke (measured: bench/invoke_warm.py, sequential
p50 0.66 → 0.51 ms with everything on one CPU). So while the server is not saturated — no invocation has
overlapped another for QUIET_S — the server's event loop thread and the environment's runtime are bound to the
CPU the server runs on (binding the runtime alone does not hold: the woken runtime pushes the server to the
other CPU, and the next binding follows it there); as soon as invocations overlap, the server and the
environments taking them are unbound again (every CPU the server may use), so under load the scheduler
spreads them as before. (Binding whenever no other invocation happens to be running
at that instant is not enough: under load that is often true for a moment, and runtimes bound then compete
with the saturated server for its CPU: -15 % throughput with 8 connections, measured.) A binding changes only
on these transitions: steady sequential traffic costs no system call.

The runtime's host pid comes from its Runtime API connection (SO_PEERCRED on the Unix socket Stratus's own
bootstraps use); a runtime that speaks TCP (another runtime client) is never bound. Binding is advice: any
failure (the process is gone, a cpuset forbids the CPU) leaves the runtime where the scheduler puts it.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time
from collections.abc import Callable

_FREE = -1  # an environment's binding: every CPU the server may use
_UNKNOWN = -2  # a new environment's: it may have inherited the server's binding when it was spawned
QUIET_S = 0.5  # no overlapping invocations for this long: the server is not saturated


def _sched_getcpu() -> Callable[[], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    return function if function() >= 0 else None


def peer_pid(transport: object) -> int:
    """The host pid of the process at the other end of a Unix-socket transport (0: unknown, or not Unix)."""
    get_extra_info = getattr(transport, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    if sock is None or getattr(sock, "family", None) != socket.AF_UNIX:
        return 0
    try:
        pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, struct.error):
        return 0
    return pid if pid > 0 else 0


class Placement:
    """Counts the warm invocations running and binds each new one's runtime as described above."""

    __slots__ = ("running", "_getcpu", "_cpus", "_overlap_at", "_server_cpu")

    def __init__(self, enabled: bool = True) -> None:
        self.running = 0
        self._server_cpu = _FREE  # the event loop's thread is bound to this CPU while the server is quiet
        self._overlap_at = -QUIET_S  # when an invocation last started while another ran
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        self._cpus = cpus
        self._getcpu = _sched_getcpu() if enabled and len(cpus) > 1 else None

    def start(self, pid: int, bound: int) -> int:
        """An invocation starts on the runtime `pid` whose binding is `bound`; returns its new binding."""
        running = self.running
        self.running = running + 1
        getcpu = self._getcpu
        if getcpu is None or pid <= 0:
            return bound
        now = time.monotonic()
        if running:
            self._overlap_at = now
        elif now - self._overlap_at >= QUIET_S:
            cpu = self._server_cpu
            if cpu == _FREE:  # the server stays where it is too: else it moves to the other CPU, and back
                cpu = getcpu()
                if not self._bind(0, {cpu}):
                    return bound
                self._server_cpu = cpu
            if cpu == bound:
                return bound
            return cpu if self._bind(pid, {cpu}) else bound
        self.release_server()
        if bound != _FREE and self._bind(pid, self._cpus):
            return _FREE
        return bound

    def cold(self) -> None:
        """An invocation starts on an environment that is not warm (a cold start, or a retry elsewhere): it counts
        as running, and the server is unbound, so the environments started now inherit every CPU."""
        if self.running:
            self._overlap_at = time.monotonic()
        self.running += 1
        self.release_server()

    def release_server(self) -> None:
        """Unbind the server (an environment is about to be spawned: it inherits the binding). Every thread of
        the process is unbound: a worker thread started while the event loop's was bound inherited it too."""
        if self._server_cpu == _FREE:
            return
        self._server_cpu = _FREE
        try:
            threads = [int(tid) for tid in os.listdir("/proc/self/task")]
        except OSError:
            threads = [0]
        for tid in threads:
            self._bind(tid, self._cpus)

    def end(self) -> None:
        if self.running > 0:
            self.running -= 1

    @staticmethod
    def _bind(pid: int, cpus: set[int]) -> bool:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            return False
        return True


FREE = _FREE
UNKNOWN = _UNKNOWN
