"""Each namespaced environment's own network namespace, and what it may reach from there.

Every environment gets a network namespace of its own (bwrap `--unshare-net`). Its Runtime API is
`127.0.0.1:9001` inside that namespace, as on AWS: the server creates the listening socket in the
environment's namespace (setns from the event loop thread, a few microseconds) and serves it like
any other, so no Runtime API listens on the host's network and no process of the environment
stands in between. Where the server may not setns (no CAP_SYS_ADMIN), a small forwarder in the
sandbox bridges 127.0.0.1:9001 to the environment's Unix socket (runtime/bootstraps/netproxy.py).

What else the environment reaches, per `STRATUS_FUNCTION_NETWORK`:
- `outbound` (default): the outside world through pasta (passt's user-mode network stack, attached
  to the namespace), no route to the host's loopback (`--no-map-gw`) except the Stratus API port
  and `STRATUS_FUNCTION_HOST_PORTS`, which a function reaches as 127.0.0.1:PORT.
- `none`: loopback only.
- `host`: like outbound, and every TCP port the host's loopback listens on (pasta `-T auto`,
  rescanned every second). Opt-in, warned about at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import shutil
import signal
import socket
from pathlib import Path

log = logging.getLogger("stratus.sandbox")

MODES = ("outbound", "none", "host")
RUNTIME_API_PORT = 9001
RUNTIME_API_ADDRESS = f"127.0.0.1:{RUNTIME_API_PORT}"
CLONE_NEWNET = 0x40000000
IP_FREEBIND = 15  # bind 127.0.0.1 before bwrap has brought the namespace's loopback up
PASTA_START_TIMEOUT_S = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """The server's choice (see the module's doc): mode, allowed host ports, Stratus's own API port."""

    mode: str = "outbound"
    host_ports: tuple[int, ...] = ()
    api_port: int | None = None

    @classmethod
    def parse(cls, mode: str, host_ports: str, api_port: int | None, isolated: bool = False) -> NetworkConfig:
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
        return cls(mode, tuple(sorted(set(ports))), api_port)


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
            return any(line.startswith("0" * 32 + " 00 ") for line in routes)
    except OSError:
        return False


class FunctionNetwork:
    """Sets up one environment's network namespace once bwrap has created it (before the function runs)."""

    def __init__(self, config: NetworkConfig, work_dir: Path) -> None:
        self.config = config
        self.mode = config.mode
        self.pasta = shutil.which("pasta")
        self.pid_dir = work_dir / "net"
        if self.mode != "none" and self.pasta is None:
            log.warning("STRATUS_FUNCTION_NETWORK=%s needs pasta (apt-get install passt): functions get loopback "
                        "only (as with STRATUS_FUNCTION_NETWORK=none), no outbound network", self.mode)
            self.mode = "none"
        if self.mode == "host":
            log.warning("STRATUS_FUNCTION_NETWORK=host: functions reach EVERY port the host's loopback listens on "
                        "(databases, other servers); use outbound with STRATUS_FUNCTION_HOST_PORTS instead")
        self.in_server = _may_setns()  # else: the netproxy forwarder in the sandbox
        self.ipv4_only = not _has_ipv6_default_route()
        self._host_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY) if self.in_server else -1
        log.info("functions' network: %s", self.describe())

    def describe(self) -> str:
        if self.mode == "outbound":
            ports = sorted({*self.config.host_ports, *([self.config.api_port] if self.config.api_port else [])})
            return f"outbound (host ports {', '.join(map(str, ports)) or 'none'})"
        return self.mode

    def listen_inside(self, pid: int) -> socket.socket:
        """A listening socket on 127.0.0.1:9001 in the network namespace of `pid` (served by the caller)."""
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                try:
                    _setns(self._host_ns)
                except OSError:  # this thread would serve every later socket from the wrong namespace
                    log.critical("could not return to the host's network namespace; stopping")
                    os.abort()
        finally:
            os.close(target)
        try:  # the socket belongs to the namespace it was created in, whatever the thread's now
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind(("127.0.0.1", RUNTIME_API_PORT))
            sock.listen(64)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def pasta_argv(self, pid: int, pidfile: Path) -> list[str]:
        assert self.pasta is not None
        if self.mode == "host":
            forward = "auto"  # every port the host listens on, rescanned every second
        else:
            ports = {*self.config.host_ports, *([self.config.api_port] if self.config.api_port else [])}
            forward = ",".join(map(str, sorted(ports))) or "none"
        argv = [self.pasta, "--quiet", "--config-net", "--no-map-gw", "-t", "none", "-u", "none",
                "-T", forward, "-U", "none", "--pid", str(pidfile)]
        if os.geteuid() == 0:
            # pasta 2023-03 drops to `nobody` before it opens the target namespaces, which a
            # root-created sandbox keeps from `nobody`: it stays uid 0 (it still gives up its
            # capabilities and confines itself in namespaces of its own).
            argv += ["--runas", "0"]
        if self.ipv4_only:
            argv.append("-4")  # no IPv6 route on the host: skip IPv6 setup (~5 ms)
        # The network namespace only: the sandbox's user namespace forbids new ones (bwrap --disable-userns),
        # which pasta makes to confine itself. It is killed with the environment (detach).
        return argv + ["--netns", f"/proc/{pid}/ns/net", "--netns-only", "--no-netns-quit"]

    async def attach(self, pid: int, env_id: str) -> int | None:
        """Connect the namespace of `pid` as the mode says; the pid of its pasta (to stop it), if any."""
        if self.mode == "none":
            return None
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.pid_dir / f"{env_id}.pid"
        errors = self.pid_dir / f"{env_id}.err"  # a file: pasta's daemon keeps its stderr open
        with open(errors, "wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *self.pasta_argv(pid, pidfile), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
        try:  # pasta returns once the namespace is configured, leaving its daemon behind
            await asyncio.wait_for(process.wait(), PASTA_START_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise RuntimeError("pasta did not set up the function's network in time") from None
        finally:
            message = errors.read_text(errors="replace").strip()
            errors.unlink(missing_ok=True)
        if process.returncode != 0:
            raise RuntimeError(f"pasta could not set up the function's network: {message}")
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def detach(self, env_id: str, pasta_pid: int | None) -> None:
        """Stop the environment's pasta (it does not notice on its own that the namespace is gone)."""
        pidfile = self.pid_dir / f"{env_id}.pid"
        if pasta_pid is None:  # its start failed or timed out: it may still have daemonized
            with contextlib.suppress(OSError, ValueError):
                pasta_pid = int(pidfile.read_text().strip())
        if pasta_pid is not None and _is_pasta(pasta_pid, pidfile):
            try:
                os.kill(pasta_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pidfile.unlink(missing_ok=True)

    def stop_leftovers(self) -> int:
        """Stop the pastas an earlier run of this server left (after a crash); how many."""
        stopped = 0
        for pidfile in self.pid_dir.glob("*.pid") if self.pid_dir.is_dir() else []:
            try:
                pid = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                continue
            if _is_pasta(pid, pidfile):
                try:
                    os.kill(pid, signal.SIGKILL)
                    stopped += 1
                except ProcessLookupError:
                    pass
        return stopped

    def close(self) -> None:
        if self._host_ns >= 0:
            os.close(self._host_ns)
            self._host_ns = -1


def _is_pasta(pid: int, pidfile: Path) -> bool:
    """Whether `pid` is still the pasta that wrote `pidfile` (pids are reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return str(pidfile).encode() in cmdline.read().split(b"\0")
    except OSError:
        return False
