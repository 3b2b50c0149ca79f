"""Lambda's platform log lines (START / END / REPORT), the per-invoke tail, and the on-disk log sink
(one folder per log group, one file per log stream)."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import threading
import urllib.parse
from pathlib import Path


def start_line(request_id: str, version: str) -> bytes:
    return f"START RequestId: {request_id} Version: {version}\n".encode()


def end_line(request_id: str) -> bytes:
    return f"END RequestId: {request_id}\n".encode()


def billed_duration_ms(duration_ms: float) -> int:
    """Lambda bills each invoke in 1 ms increments, rounding up (at least 1 ms)."""
    return max(1, math.ceil(duration_ms))


def report_line(request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int,
                init_duration_ms: float | None) -> bytes:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_duration_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_used_mb} MB\t"
    )
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    return (line + "\n").encode()


def tail_header(log: bytes, limit: int) -> str:
    """`X-Amz-Log-Result`: base64 of the last `limit` bytes of an invocation's log."""
    return base64.b64encode(log[-limit:]).decode()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FUNCTION_GROUP = re.compile(r"/aws/lambda/([A-Za-z0-9_-]{1,140})")
GROUP_NAME_FILE = ".group"  # in a custom group's folder: the group's name


def group_folder(group: str) -> str:
    """The folder (under the logs folder) of log group `group`: a function's default group
    /aws/lambda/<name> is `<name>`; any other group is `=` + its name percent-encoded (too long a name:
    `=` + a digest), which no function name can be. A custom group's folder also holds its name in
    GROUP_NAME_FILE, so the folders list the groups."""
    match = _FUNCTION_GROUP.fullmatch(group)
    if match:
        return match.group(1)
    folder = "=" + urllib.parse.quote(group, safe="-_.#")
    return folder if len(folder) <= 200 else "=" + hashlib.sha256(group.encode()).hexdigest()


def folder_group(folder: Path) -> str | None:
    """The log group whose streams `folder` holds (group_folder's inverse); None if it is none."""
    if not folder.name.startswith("="):
        return f"/aws/lambda/{folder.name}"
    try:
        return (folder / GROUP_NAME_FILE).read_text()
    except OSError:
        return None


class LogSink:
    """Appends every environment's output and platform lines to `logs/<group folder>/<stream>.log`
    (`group_folder`: `logs/<function>/` for a function's default log group).

    Writes are buffered in memory and written by a background thread, so the event loop never
    waits on the disk. Each stream's file is capped: one that would grow past `max_bytes` is rotated
    first (`<stream>.log` → `<stream>.log.1` → ... → `<stream>.log.<rotations>`, the oldest dropped), so
    a stream never takes more than (rotations + 1) × max_bytes. `max_bytes` 0: no cap.
    """

    def __init__(self, logs_dir: Path, flush_interval_s: float = 0.5, max_bytes: int = 0, rotations: int = 1):
        self.logs_dir = logs_dir
        self.max_bytes = max_bytes
        self.rotations = max(0, rotations)
        self._sizes: dict[Path, int] = {}  # the size of each stream's current file, as written here
        self._pending: dict[tuple[str, str], list[bytes]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._interval = flush_interval_s
        self._thread = threading.Thread(target=self._run, name="log-sink", daemon=True)
        self._thread.start()

    def write(self, group: str, stream: str, data: bytes) -> None:
        """Append `data` to log stream `stream` of log group `group` (soon, not now)."""
        key = (group, stream)
        with self._lock:
            chunks = self._pending.get(key)
            if chunks is None:
                self._pending[key] = [data]
            else:
                chunks.append(data)

    def path(self, group: str, stream: str) -> Path:
        return self.logs_dir / group_folder(group) / (_UNSAFE.sub("_", stream) + ".log")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (group, stream), chunks in pending.items():
            self._append(self.path(group, stream), b"".join(chunks), group)

    def _append(self, target: Path, data: bytes, group: str = "") -> None:
        limit = self.max_bytes
        if limit and len(data) > limit:  # more than a whole file at once: its end is what matters
            data = data[-limit:]
        size = self._sizes.get(target)
        if size is None:
            if len(self._sizes) > 10_000:  # one entry per stream: forget old streams now and then
                self._sizes.clear()
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.parent.name.startswith("="):
                (target.parent / GROUP_NAME_FILE).write_text(group)
            try:
                size = target.stat().st_size
            except FileNotFoundError:
                size = 0
        if limit and size and size + len(data) > limit:
            self._rotate(target)
            size = 0
        try:
            out = open(target, "ab")
        except FileNotFoundError:  # the folder was removed meanwhile
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(target, "ab")
        with out:
            out.write(data)
        self._sizes[target] = size + len(data)

    def _rotate(self, target: Path) -> None:
        """`x.log` → `x.log.1`, `x.log.1` → `x.log.2`, ...; the oldest beyond `rotations` is dropped."""
        if self.rotations == 0:
            target.unlink(missing_ok=True)
            return
        for number in range(self.rotations - 1, 0, -1):
            older = target.with_name(f"{target.name}.{number}")
            if older.exists():
                os.replace(older, target.with_name(f"{target.name}.{number + 1}"))
        os.replace(target, target.with_name(f"{target.name}.1"))

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            try:
                self.flush()
            except OSError:
                pass

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()

