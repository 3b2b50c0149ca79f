"""Lambda's platform log lines (START / END / REPORT) and the per-invoke tail (the log store: log_store.py)."""

from __future__ import annotations

import base64
import math


def start_line(request_id: str, version: str) -> bytes:
    return f"START RequestId: {request_id} Version: {version}\n".encode()


def end_line(request_id: str) -> bytes:
    return f"END RequestId: {request_id}\n".encode()


def billed_duration_ms(duration_ms: float) -> int:
    """Lambda bills each invoke in 1 ms increments, rounding up (at least 1 ms)."""
    return max(1, math.ceil(duration_ms))


def report_line(request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int,
                init_duration_ms: float | None, restore_duration_ms: float | None = None) -> bytes:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_duration_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_used_mb} MB\t"
    )
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    if restore_duration_ms is not None:  # SnapStart: a new environment restored from the version's snapshot
        line += (f"Restore Duration: {restore_duration_ms:.2f} ms\t"
                 f"Billed Restore Duration: {math.ceil(restore_duration_ms)} ms\t")
    return (line + "\n").encode()


def tail_header(log: bytes, limit: int) -> str:
    """`X-Amz-Log-Result`: base64 of the last `limit` bytes of an invocation's log."""
    return base64.b64encode(log[-limit:]).decode()
