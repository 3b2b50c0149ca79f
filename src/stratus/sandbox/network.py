"""Each namespaced environment's own network namespace, and what it may reach from there.

Every environment runs in a network namespace of its own, made by the server (unshare in the event
loop thread, ~0.5 ms), which the sandbox enters (`nsenter --net` in front of bwrap). Its Runtime API
is `127.0.0.1:9001` in there, as on AWS: the server binds that listener inside the namespace while
it makes it and serves it like any other, so no Runtime API listens on the host's network and no
process of the environment stands in between. A server that may not make namespaces (not root)
lets bwrap make them, and a small forwarder in the sandbox bridges 127.0.0.1:9001 to the
environment's Unix socket (runtime/bootstraps/netproxy.py); functions then get loopback only.

Stratus's own API (Lambda, EventBridge, IAM, STS: the AWS_ENDPOINT_URL_* of invoke/endpoints.py) is
reached the same way in `outbound` and `none` modes: the server binds a second listener inside the
namespace, `127.0.0.1:<API port>`, and serves the API on it (plain HTTP: it never leaves the machine).

What else the environment reaches, per `STRATUS_FUNCTION_NETWORK`:
- `outbound` (default): the outside world through pasta (passt's user-mode network stack, attached
  to the namespace), no route to the host's loopback (`--no-map-gw`) except `STRATUS_FUNCTION_HOST_PORTS`
  and the loopback ports of STRATUS_SERVICE_ENDPOINTS, which a function reaches as 127.0.0.1:PORT.
- `none`: loopback only (and Stratus's API, served inside).
- `host`: like outbound, and every TCP port the host's loopback listens on when the environment
  starts (pasta `-T auto`; pasta 2023-03 does not pick up ports opened later). Opt-in, warned about.
pasta takes 15-30 ms to start (most of it its own set-up), so in `outbound` mode a few namespaces
are kept ready (`SPARES`), pasta attached, and a cold start takes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import fcntl
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import IO

log = logging.getLogger("stratus.sandbox")

MODES = ("outbound", "none", "host")
RUNTIME_API_PORT = 9001
RUNTIME_API_ADDRESS = f"127.0.0.1:{RUNTIME_API_PORT}"
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PASTA_START_TIMEOUT_S = 10.0
REFILL_DELAY_S = 0.3

_libc = ctypes.CDLL(None, use_errno=True)


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """The server's choice (see the module's doc): mode, allowed host ports, Stratus's own API port (served
    inside each namespace), the loopback ports of the configured service endpoints (forwarded too)."""

    mode: str = "outbound"
    host_ports: tuple[int, ...] = ()
    api_port: int | None = None
    service_ports: tuple[int, ...] = ()

    @classmethod
    def parse(cls, mode: str, host_ports: str, api_port: int | None, isolated: bool = False,
              service_ports: tuple[int, ...] = ()) -> NetworkConfig:
        """From the settings (STRATUS_ISOLATED_NETWORK=1 is the old name of `none`); ValueError if invalid."""
        mode = "none" if isolated else (mode.strip().lower() or "outbound")
        if mode not in MODES:
            raise ValueError(f"STRATUS_FUNCTION_NETWORK must be one of {', '.join(MODES)}, not {mode!r}")
        ports: list[int] = []
        for item in host_ports.split(","):
            if not item.strip():
                continue
            if not item.strip().isdigit() or not 0 < int(item) < 65536:
                raise ValueError(f"STRATUS_FUNCTION_HOST_PORTS: {item.strip()!r} is not a TCP port number")
            if int(item) == RUNTIME_API_PORT:
                raise ValueError(f"STRATUS_FUNCTION_HOST_PORTS: {RUNTIME_API_PORT} is the function's own Runtime API")
            ports.append(int(item))
        return cls(mode, tuple(sorted(set(ports))), api_port, service_ports)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def _may_setns() -> bool:
    """Whether this process may enter network namespaces (CAP_SYS_ADMIN): try its own."""
    fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _has_ipv6_default_route() -> bool:
    try:
        with open("/proc/net/ipv6_route") as routes:
            # a default route (::/0) that is not the kernel's unreachable one on lo
            return any(line.startswith("0" * 32 + " 00 ") and line.split()[-1] != "lo" for line in routes)
    except OSError:
        return False


@dataclasses.dataclass
class PreparedNetwork:
    """A network namespace made for one environment: the server's handle on it, its Runtime API listener
    (127.0.0.1:9001 inside), Stratus's API listener in there (127.0.0.1:<API port>; None in `host` mode, where
    pasta forwards the host's) and the pasta attached to it (None in `none` mode)."""

    key: str
    ns_fd: int
    listener: socket.socket
    api_listener: socket.socket | None = None
    pasta_pid: int | None = None
    pasta: Pasta | None = None  # the server's child
    pasta_ready: asyncio.Future[None] | None = None  # pasta still being attached (adopt without wait): done when it is


class FunctionNetwork:
    """Makes environments' network namespaces (and keeps a few ready when pasta is in use)."""

    SPARES = 2

    def __init__(self, config: NetworkConfig, work_dir: Path) -> None:
        self.config = config
        self.mode = config.mode
        self.pasta = shutil.which("pasta")
        self.pid_dir = work_dir / "net"
        # else: bwrap makes the namespace, netproxy bridges the Runtime API
        self.setpriv = shutil.which("setpriv")  # util-linux: pasta dies with the server
        self.nsenter = shutil.which("nsenter") or ""  # an absolute path: the function's PATH is not ours
        self.in_server = _may_setns() and bool(self.nsenter)
        if self.mode != "none" and self.pasta is None:
            log.warning("STRATUS_FUNCTION_NETWORK=%s needs pasta (apt-get install passt): functions get loopback "
                        "only (as with STRATUS_FUNCTION_NETWORK=none), no outbound network", self.mode)
            self.mode = "none"
        elif self.mode != "none" and not self.in_server:
            log.warning("STRATUS_FUNCTION_NETWORK=%s needs a server that may make network namespaces (root): "
                        "functions get loopback only", self.mode)
            self.mode = "none"
        if self.mode == "host":
            log.warning("STRATUS_FUNCTION_NETWORK=host: functions reach EVERY port the host's loopback listens on "
                        "(databases, other servers); use outbound with STRATUS_FUNCTION_HOST_PORTS instead")
        self.ipv4_only = not _has_ipv6_default_route()
        self._host_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY) if self.in_server else -1
        self._spares: list[PreparedNetwork] = []
        self._refill: asyncio.Task[None] | None = None
        log.info("functions' network: %s", self.describe())

    def describe(self) -> str:
        if self.mode == "outbound":
            return f"outbound (host ports {', '.join(map(str, self.forwarded_ports())) or 'none'})"
        return self.mode

    @property
    def serves_api(self) -> bool:
        """Whether Stratus's API is served inside each namespace (else, in `host` mode, pasta forwards it)."""
        return self.in_server and self.mode != "host" and self.config.api_port is not None

    def forwarded_ports(self) -> list[int]:
        """The host loopback ports pasta forwards in `outbound` mode: the allowed ones and the service
        endpoints' (not Stratus's API port, served inside; never 9001, the Runtime API's)."""
        ports = {*self.config.host_ports, *self.config.service_ports} - {RUNTIME_API_PORT}
        if self.serves_api or not self.in_server:
            ports.discard(self.config.api_port or 0)
        return sorted(ports)

    # ------------------------------------------------------------------ namespaces
    async def take(self) -> PreparedNetwork:
        """A namespace for a new environment: a spare if one is ready, else one made now."""
        net = self._spares.pop(0) if self._spares else await self._prepare()
        # Refilled a little later: pasta's start-up would compete for the CPU with the INIT just begun.
        asyncio.get_running_loop().call_later(REFILL_DELAY_S, self.refill)
        return net

    def enter_argv(self, net: PreparedNetwork) -> list[str]:
        """Put in front of bwrap: enters the namespace (the server's handle, read as root)."""
        return [self.nsenter, f"--net=/proc/{os.getpid()}/fd/{net.ns_fd}", "--"]

    def refill(self) -> None:
        """Keep SPARES namespaces ready in the background: in `outbound` mode only (without pasta making one
        costs ~0.5 ms; in `host` mode pasta forwards the host ports open when it starts, and this pasta does
        not rescan them later, so it starts with the environment)."""
        if self.mode != "outbound" or not self.in_server or (self._refill is not None and not self._refill.done()):
            return
        self._refill = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while len(self._spares) < self.SPARES and self._host_ns >= 0:
            try:
                net = await self._prepare()
            except (OSError, RuntimeError) as exc:
                log.warning("could not prepare a function network: %s", exc)
                return
            if self._host_ns < 0:  # closed meanwhile
                self.release(net)
                return
            self._spares.append(net)

    async def _prepare(self) -> PreparedNetwork:
        ns_fd, listener, api_listener = self._new_namespace()
        net = PreparedNetwork(os.urandom(8).hex(), ns_fd, listener, api_listener)
        try:
            net.pasta_pid = await self._attach(net)
        except BaseException:
            self.release(net)
            raise
        return net

    def _new_namespace(self) -> tuple[int, socket.socket, socket.socket | None]:
        """A new network namespace with loopback up, a listener on 127.0.0.1:9001 and one on 127.0.0.1:<API
        port> when the API is served inside (made in this thread, which goes straight back to the host's
        namespace: the sockets stay in the new one)."""
        if _libc.unshare(CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"unshare: {os.strerror(error)}")
        try:
            ns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _loopback_up()
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                api_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM) if self.serves_api else None
            except BaseException:
                os.close(ns_fd)
                raise
        finally:
            self._return_to_host()
        try:
            for sock, port in ((listener, RUNTIME_API_PORT), (api_listener, self.config.api_port)):
                if sock is not None:
                    sock.bind(("127.0.0.1", port or 0))
                    sock.listen(64)
                    sock.setblocking(False)
        except BaseException:
            listener.close()
            if api_listener is not None:
                api_listener.close()
            os.close(ns_fd)
            raise
        return ns_fd, listener, api_listener

    async def adopt(self, ns_fd: int, wait: bool = True, background: bool = False) -> PreparedNetwork:
        """Equip a namespace made elsewhere (a SnapStart version zygote's, sandbox/snapshot.py; this takes its fd)
        as `_prepare` does a new one: loopback up, the listeners, pasta as the mode says (not waited for unless
        `wait`: `pasta_ready` is done once it is attached). `background`: pasta runs at the lowest CPU priority
        (a network prepared ahead of demand must not slow the environments starting meanwhile)."""
        try:
            _setns(ns_fd)
        except OSError:
            os.close(ns_fd)
            raise
        try:
            _loopback_up()
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            api_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM) if self.serves_api else None
        finally:
            self._return_to_host()
        net = PreparedNetwork(os.urandom(8).hex(), ns_fd, listener, api_listener)
        try:
            for sock, port in ((listener, RUNTIME_API_PORT), (api_listener, self.config.api_port)):
                if sock is not None:
                    sock.bind(("127.0.0.1", port or 0))
                    sock.listen(64)
                    sock.setblocking(False)
            if wait:
                net.pasta_pid = await self._attach(net, background)
        except BaseException:
            self.release(net)
            raise
        if not wait and self.mode != "none":
            net.pasta_ready = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._attach_later(net, background))
        return net

    async def _attach_later(self, net: PreparedNetwork, background: bool) -> None:
        try:
            net.pasta_pid = await self._attach(net, background)
        except (OSError, RuntimeError) as exc:
            log.warning("could not attach a function's network: %s", exc)
        finally:
            if net.pasta_ready is not None and not net.pasta_ready.done():
                net.pasta_ready.set_result(None)
        if net.ns_fd < 0:  # released meanwhile
            self._stop_pasta(net)

    def socket_in(self, net: PreparedNetwork) -> socket.socket:
        """A TCP socket made in `net`'s namespace (this thread goes straight back to the host's)."""
        if net.ns_fd < 0:
            raise OSError("the environment's network namespace is gone")
        _setns(net.ns_fd)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            self._return_to_host()

    def _return_to_host(self) -> None:
        """Back to the host's network namespace, or stop the server: this thread would make every later socket in
        the wrong namespace."""
        try:
            _setns(self._host_ns)
        except OSError:
            log.critical("could not return to the host's network namespace; stopping")
            os.abort()

    def release(self, net: PreparedNetwork) -> None:
        """The environment is gone: close the server's handles (the namespace goes) and stop its pasta."""
        net.listener.close()  # closed by its server if served; closing twice is harmless
        if net.api_listener is not None:
            net.api_listener.close()
        if net.ns_fd >= 0:
            os.close(net.ns_fd)
            net.ns_fd = -1
        self._stop_pasta(net)

    # ------------------------------------------------------------------ pasta
    def pasta_argv(self, netns: str, pidfile: Path) -> list[str]:
        assert self.pasta is not None
        # host: every port the host listens on (when pasta starts); outbound: the allowed ones
        forward = "auto" if self.mode == "host" else ",".join(map(str, self.forwarded_ports())) or "none"
        argv = [self.pasta, "--quiet", "--foreground", "--config-net", "--no-map-gw", "-t", "none", "-u", "none",
                "-T", forward, "-U", "none", "--pid", str(pidfile)]
        if os.geteuid() == 0:
            # pasta 2023-03 drops to `nobody` before it opens the target namespace, which `nobody` may
            # not: it stays uid 0 (it still gives up its capabilities and confines itself in
            # namespaces of its own).
            argv += ["--runas", "0"]
        if self.ipv4_only:
            argv.append("-4")  # no IPv6 route on the host: skip IPv6 set-up
        # The network namespace only (pasta confines itself in a user namespace of its own). It does not
        # notice the namespace's end: release() stops it.
        return argv + ["--netns", netns, "--netns-only", "--no-netns-quit"]

    async def _attach(self, net: PreparedNetwork, background: bool = False) -> int | None:
        """Attach pasta to the namespace as the mode says; its pid (None in `none` mode).

        pasta runs in the foreground as the server's child with a parent-death signal (setpriv), so it
        ends with the server even when the server is killed; it is ready once it writes its pid file."""
        if self.mode == "none":
            return None
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.pid_dir / f"{net.key}.pid"
        errors = self.pid_dir / f"{net.key}.err"
        prefix = [self.setpriv, "--pdeathsig", "KILL", "--"] if self.setpriv else []
        with open(errors, "wb") as stderr:
            # Given as its own fd: pasta, which keeps few capabilities, may not open the server's.
            process = Pasta([*prefix, *self.pasta_argv(f"/proc/self/fd/{net.ns_fd}", pidfile)], stderr, net.ns_fd)
        net.pasta = process
        if background:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, process.pid, 19)
        deadline = time.monotonic() + PASTA_START_TIMEOUT_S
        try:
            while not _read_pid(pidfile):
                if process.returncode is not None:
                    raise RuntimeError("pasta could not set up the function's network: "
                                       + errors.read_text(errors="replace").strip())
                if time.monotonic() > deadline:
                    raise RuntimeError("pasta did not set up the function's network in time")
                await asyncio.sleep(0.002)
        finally:
            errors.unlink(missing_ok=True)
        return process.pid

    def _stop_pasta(self, net: PreparedNetwork) -> None:
        if net.pasta is not None and net.pasta.returncode is None:  # (reaped: its pid may be another's now)
            with contextlib.suppress(ProcessLookupError):
                net.pasta.kill()
        net.pasta = None
        net.pasta_pid = None
        (self.pid_dir / f"{net.key}.pid").unlink(missing_ok=True)

    def stop_leftovers(self) -> int:
        """Stop the pastas an earlier run of this server left (after a crash); how many."""
        stopped = 0
        for pidfile in self.pid_dir.glob("*.pid") if self.pid_dir.is_dir() else []:
            pid = _read_pid(pidfile)
            if pid is not None and _is_pasta(pid, pidfile):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    stopped += 1
        return stopped

    def close(self) -> None:
        """At server stop: the spares go, and the server's handle on the host's namespace."""
        if self._refill is not None:
            self._refill.cancel()
        for net in self._spares:
            self.release(net)
        self._spares.clear()
        if self._host_ns >= 0:
            os.close(self._host_ns)
            self._host_ns = -1


class Pasta:
    """A pasta process, the server's child, started with vfork (subprocess.Popen; the event loop's own spawn forks the
    whole server: ~20 ms of page-table copying each, measured, with dozens of environments starting at once) and
    reaped when it ends (a pidfd watched by the loop)."""

    def __init__(self, argv: list[str], stderr: IO[bytes], ns_fd: int) -> None:
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                        pass_fds=(ns_fd,))
        self.pid = self.process.pid
        self._loop = asyncio.get_running_loop()
        self._pidfd = os.pidfd_open(self.pid)
        self._loop.add_reader(self._pidfd, self._reap)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def _reap(self) -> None:
        if self.process.poll() is not None and self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


def _loopback_up() -> None:
    """Bring `lo` up in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_pasta(pid: int, pidfile: Path) -> bool:
    """Whether `pid` is still the pasta that wrote `pidfile` (pids are reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return str(pidfile).encode() in cmdline.read().split(b"\0")
    except OSError:
        return False
