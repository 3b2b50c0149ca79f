"""Shared pieces of the bench scripts: a raw keep-alive HTTP/1.1 client, percentiles, server start.

The client is deliberately minimal (one socket, pre-built request bytes, Content-Length or chunked
responses) so that the same code, measuring a bare baseline server and Stratus, cancels out.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.server import StratusServer, free_port, make_zip  # noqa: E402,F401
from tests.support.signing import signed_headers  # noqa: E402

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)


def auth_headers(path: str, port: int, body: bytes, headers: dict[str, str] | None = None) -> dict[str, str]:
    """X-Amz-Date and Authorization for this POST, signed once with the servers' keys (test:test, set by
    StratusServer): AWS accepts a replayed signature for 5 minutes, longer than a bench run."""
    signed = signed_headers("POST", f"http://127.0.0.1:{port}{path}", body, headers)
    return {name: signed[name] for name in ("X-Amz-Date", "Authorization")}


def build_request(path: str, port: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> bytes:
    """A signed Invoke-style POST as raw bytes (the bare baseline server ignores the signature)."""
    headers = dict(headers or {})
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"{name}: {value}" for name, value in auth_headers(path, port, body, headers).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def wrk_auth_lines(path: str, port: int, body: bytes) -> str:
    """Lua lines that add a signature (see auth_headers) to a wrk script's requests."""
    return "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in auth_headers(path, port, body).items())


class KeepAliveClient:
    """One persistent HTTP/1.1 connection; request() sends raw bytes, returns (status, head, body)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        self.sock.sendall(raw)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = self.buffer[:end]
        rest_at = end + 4
        match = _CONTENT_LENGTH.search(head)
        if match is not None:
            stop = rest_at + int(match.group(1))
            while len(self.buffer) < stop:
                self._fill()
            body = self.buffer[rest_at:stop]
            self.buffer = self.buffer[stop:]
        elif _CHUNKED.search(head):
            self.buffer = self.buffer[rest_at:]
            body = self._read_chunked()
        else:
            raise ValueError("response without Content-Length or chunked encoding: " + head.decode(errors="replace"))
        return int(head[9:12]), head, body

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            while (line_end := self.buffer.find(b"\r\n")) < 0:
                self._fill()
            size = int(self.buffer[:line_end].split(b";")[0], 16)
            stop = line_end + 2 + size + 2
            while len(self.buffer) < stop:
                self._fill()
            parts.append(self.buffer[line_end + 2:stop - 2])
            self.buffer = self.buffer[stop:]
            if size == 0:  # (no trailers expected from these servers)
                return b"".join(parts)


class SequentialTarget:
    """Sequential requests of one kind (`raw`, a whole HTTP/1.1 request) over its own keep-alive connection,
    timed client-side; a non-200 answer or a function error counts as an error. Subclasses may look at each
    recorded answer's head (`on_head`)."""

    def __init__(self, label: str, port: int, raw: bytes):
        self.label = label
        self.client = KeepAliveClient(port)
        self.raw = raw
        self.samples: list[int] = []
        self.errors = 0

    def on_head(self, head: bytes) -> None:
        """Called with the head of each recorded answer."""

    def run(self, count: int, record: bool = True) -> None:
        request, raw, perf = self.client.request, self.raw, time.perf_counter_ns
        for _ in range(count):
            start = perf()
            status, head, _ = request(raw)
            elapsed = perf() - start
            if status != 200 or b"x-amz-function-error" in head.lower():
                self.errors += 1
            if record:
                self.samples.append(elapsed)
                self.on_head(head)

    def stats_ms(self) -> dict[str, float]:
        values = sorted(sample / 1e6 for sample in self.samples)
        return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99)}


def header(head: bytes, name: str) -> str | None:
    wanted = name.lower().encode() + b":"
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(wanted):
            return line[len(wanted):].strip().decode()
    return None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def wait_active(client, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        state = client.get_function_configuration(FunctionName=name).get("State")
        if state == "Active":
            return
        if state == "Failed" or time.monotonic() > deadline:
            raise RuntimeError(f"function {name} did not become Active (State={state})")
        time.sleep(0.05)


_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def server_log_problems(server: StratusServer, limit: int = 80) -> list[str]:
    """The server log's WARNING/ERROR/CRITICAL records and tracebacks, each with its continuation lines
    (the last `limit` lines of them)."""
    try:
        lines = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    marks = ("ERROR", "CRITICAL", "WARNING", "Traceback")
    found, keep = [], False
    for line in lines:
        if _LOG_RECORD.match(line):
            keep = any(mark in line for mark in marks)
        elif "Traceback" in line:
            keep = True
        if keep:
            found.append(line)
    return found[-limit:]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live descendant of `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                found.append((child, cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()))
        except OSError:
            continue
        todo.extend(children.get(child, []))
    return found


def machine_busy_percent(seconds: float = 1.0) -> float:
    """Share of all CPUs not idle over `seconds` (from /proc/stat), taken while this run is not
    loading the machine: shows whether other work would skew the figures."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values[:8]), idle
    try:
        total_before, idle_before = sample()
        time.sleep(seconds)
        total_after, idle_after = sample()
    except OSError:
        return float("nan")
    total = total_after - total_before
    return 100.0 * (1 - (idle_after - idle_before) / total) if total else float("nan")


def busy_note(before: float, after: float) -> str:
    text = f"CPU busy with other work: {before:.0f}% just before the run, {after:.0f}% just after"
    if before > 15 or after > 15:
        text += "  <- the machine was not idle: figures are skewed, run again when it is"
    return text


def wait_for_idle(max_s: float, threshold: float = 10.0) -> float:
    """Wait (at most max_s) until the machine's CPUs are < threshold % busy over 2 s; returns the last
    reading (the reading of a 1 s sample when max_s is 0)."""
    if max_s <= 0:
        return machine_busy_percent()
    deadline = time.monotonic() + max_s
    announced = False
    while True:
        busy = machine_busy_percent(2.0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        if not announced:
            print(f"waiting up to {max_s:g} s for the machine to go idle (now {busy:.0f}% busy) ...", flush=True)
            announced = True


class OtherLoad:
    """CPU used by processes outside this benchmark while it measures: machine-wide busy jiffies
    (/proc/stat) minus those of this process, its reaped children, and the live trees under `roots()`."""

    def __init__(self, roots):
        self.roots = roots  # callable -> list of pids whose whole trees belong to the benchmark

    @staticmethod
    def _machine() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
        return sum(values[:8]), values[3] + values[4]

    def _ours(self) -> int:
        pids = {os.getpid()}
        for root in self.roots():
            pids.add(root)
            pids.update(pid for pid, _ in descendants(root))
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
            except (OSError, IndexError, ValueError):
                continue
        return total

    def start(self) -> OtherLoad:
        self.total, self.idle = self._machine()
        self.ours = self._ours()
        return self

    def percent(self) -> float:
        """% of all CPUs busy with other work since start()."""
        total, idle = self._machine()
        ours = self._ours()
        elapsed = total - self.total
        if elapsed <= 0:
            return float("nan")
        busy = (elapsed - (idle - self.idle)) - (ours - self.ours)
        return max(0.0, 100.0 * busy / elapsed)


def stop_and_report(server: StratusServer, label: str = "") -> int:
    """Stop a benchmark's server; print log lines that look like problems and a non-zero exit."""
    problems = server_log_problems(server) if server.log_path.exists() else []
    stop_code = server.stop() if server.process is not None else 0
    name = f"stratus serve{f' ({label})' if label else ''}"
    if problems:
        print(f"\n{name} log lines that look like problems:")
        print("\n".join("    " + line for line in problems))
    if stop_code != 0:
        print(f"\nnote: {name} exited with {stop_code} after SIGTERM (the issue asks for 0)")
    return stop_code


def remove_workdir(workdir, keep: bool, logs) -> None:
    """Delete the benchmark's temp dir, or say where it was kept (--keep)."""
    if keep:
        print(f"\nkept {workdir} (server logs: {', '.join(str(path) for path in logs)})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def distinct_interpreters(candidates: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(label, path, real path) for each distinct binary; labels of the same binary are joined."""
    seen: dict[str, int] = {}
    found: list[tuple[str, str, str]] = []
    for label, path in candidates:
        real = os.path.realpath(path)
        if real in seen:
            index = seen[real]
            found[index] = (found[index][0] + " = " + label, found[index][1], real)
            continue
        seen[real] = len(found)
        found.append((label, path, real))
    return found


def add_run_options(parser, wait_idle_default: float) -> None:
    """The options every benchmark takes: --wait-idle and --keep."""
    parser.add_argument("--wait-idle", type=float, default=wait_idle_default,
                        help=f"wait up to this many seconds for other CPU load to stop before starting "
                             f"(default {wait_idle_default:g}, 0: no wait)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs, data) afterwards")
