"""Lambda's platform log lines (START / END / REPORT), the per-invoke tail, and the on-disk log sink."""

from __future__ import annotations

import base64
import math
import os
import re
import threading
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


class LogSink:
    """Appends every environment's output and platform lines to `logs/<function>/<stream>.log`.

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

    def write(self, function_name: str, stream: str, data: bytes) -> None:
        key = (function_name, stream)
        with self._lock:
            chunks = self._pending.get(key)
            if chunks is None:
                self._pending[key] = [data]
            else:
                chunks.append(data)

    def path(self, function_name: str, stream: str) -> Path:
        return self.logs_dir / _UNSAFE.sub("_", function_name) / (_UNSAFE.sub("_", stream) + ".log")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (function_name, stream), chunks in pending.items():
            self._append(self.path(function_name, stream), b"".join(chunks))

    def _append(self, target: Path, data: bytes) -> None:
        limit = self.max_bytes
        if limit and len(data) > limit:  # more than a whole file at once: its end is what matters
            data = data[-limit:]
        size = self._sizes.get(target)
        if size is None:
            if len(self._sizes) > 10_000:  # one entry per stream: forget old streams now and then
                self._sizes.clear()
            target.parent.mkdir(parents=True, exist_ok=True)
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

