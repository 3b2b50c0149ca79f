"""The platform's own records in a function's log, in the function's LogFormat.

Text: the START / END / REPORT / EXTENSION lines Lambda prints. JSON: AWS's JSON platform records in
their place (`platform.start`, `platform.runtimeDone`, `platform.report` with its `metrics`,
`platform.extension`), each at the level AWS assigns it; the SystemLogLevel (DEBUG < INFO < WARN)
drops those below it. With INFO (the default) START and REPORT are kept, runtimeDone of a
successful invoke is not.
"""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec

from stratus.observe import logs

SYSTEM_LEVELS = {"DEBUG": 1, "INFO": 2, "WARN": 3}
_encode = msgspec.json.Encoder().encode


def invocation_status(error_type: str | None) -> str:
    """An invocation's status as the platform records name it: success, error, timeout or failure."""
    if error_type is None:
        return "success"
    if error_type == "Sandbox.Timedout":
        return "timeout"
    if error_type in ("Runtime.ExitError", "Runtime.OutOfMemory") or error_type.startswith("Extension."):
        return "failure"  # the runtime (or an extension) failed rather than the function reporting an error
    return "error"


class TextPlatformLog:
    """LogFormat Text: Lambda's START / END / REPORT / EXTENSION lines."""

    __slots__ = ()

    start = staticmethod(logs.start_line)  # (request_id, version): no call in between on the warm path

    def end(self, request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int,
            init_duration_ms: float | None, error_type: str | None, produced_bytes: int,
            restore_duration_ms: float | None = None) -> bytes:
        return logs.end_line(request_id) + logs.report_line(request_id, duration_ms, memory_mb, max_memory_used_mb,
                                                           init_duration_ms, restore_duration_ms)

    def extension(self, name: str, state: str, events: list[str], error_type: str) -> bytes:
        line = f"EXTENSION\tName: {name}\tState: {state}\tEvents: [{','.join(events)}]"
        if error_type:
            line += f"\tError Type: {error_type}"
        return (line + "\n").encode()

    def warning(self, message: str) -> bytes:
        """A warning of Stratus's own (e.g. the runtime runs on another version), as one line."""
        return (message + "\n").encode()


class JsonPlatformLog:
    """LogFormat JSON: AWS's JSON platform records, those below `system_level` left out."""

    __slots__ = ("minimum",)

    def __init__(self, system_level: str):
        self.minimum = SYSTEM_LEVELS.get(system_level.upper(), SYSTEM_LEVELS["INFO"])

    def _record(self, level: str, kind: str, record: dict[str, Any]) -> bytes:
        if SYSTEM_LEVELS[level] < self.minimum:
            return b""
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        return _encode({"time": stamp, "type": kind, "record": record}) + b"\n"

    def start(self, request_id: str, version: str) -> bytes:
        return self._record("INFO", "platform.start", {"requestId": request_id, "version": version})

    def end(self, request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int,
            init_duration_ms: float | None, error_type: str | None, produced_bytes: int,
            restore_duration_ms: float | None = None) -> bytes:
        status = invocation_status(error_type)
        # The platform names the error of a timeout or a crash (the function's own errors are in its log).
        failed = {"errorType": error_type} if status in ("timeout", "failure") else {}
        done = self._record("DEBUG" if status == "success" else "WARN", "platform.runtimeDone", {
            "requestId": request_id, "status": status, **failed,
            "metrics": {"durationMs": round(duration_ms, 3), "producedBytes": produced_bytes}})
        metrics: dict[str, Any] = {
            "durationMs": round(duration_ms, 3), "billedDurationMs": logs.billed_duration_ms(duration_ms),
            "memorySizeMB": memory_mb, "maxMemoryUsedMB": max_memory_used_mb}
        if init_duration_ms is not None:
            metrics["initDurationMs"] = round(init_duration_ms, 3)
        if restore_duration_ms is not None:
            metrics["restoreDurationMs"] = round(restore_duration_ms, 3)
            metrics["billedRestoreDurationMs"] = math.ceil(restore_duration_ms)
        report = self._record("INFO", "platform.report", {
            "requestId": request_id, "metrics": metrics, "status": status, **failed})
        return done + report

    def extension(self, name: str, state: str, events: list[str], error_type: str) -> bytes:
        record: dict[str, Any] = {"name": name, "state": state, "events": events}
        if error_type:
            record["errorType"] = error_type
        return self._record("WARN" if error_type else "INFO", "platform.extension", record)

    def warning(self, message: str) -> bytes:
        """A warning of Stratus's own as a JSON record at WARN. AWS has no such record, so its type is
        `stratus.warning`, not a `platform.*` name a consumer could mistake for AWS's."""
        return self._record("WARN", "stratus.warning", {"message": message})


PlatformLog = TextPlatformLog | JsonPlatformLog
TEXT = TextPlatformLog()


def platform_log(log_format: str, system_level: str) -> PlatformLog:
    """The platform records of a function with this LoggingConfig."""
    return JsonPlatformLog(system_level) if log_format == "JSON" else TEXT
