"""Application log-level filtering by the platform (LogFormat JSON), as Lambda does it.

With a JSON log format Lambda keeps a function's output line by line at or above its
ApplicationLogLevel: a JSON object's `"level"` names its level (AWS's runtime clients write one in
every record; Python's uncaught-error record names it `"log_level"`), and a line without a valid
level (plain `print` output included) is INFO. The runtimes filter their own records before writing
them; this catches the rest (prints, custom runtimes, JSON written by hand).
"""

from __future__ import annotations

from typing import Any

import msgspec

APP_LEVELS = {"TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "WARNING": 4, "ERROR": 5, "FATAL": 6, "CRITICAL": 6}
INFO = APP_LEVELS["INFO"]


class _Levelled(msgspec.Struct):
    level: Any = None
    log_level: Any = None


_decode = msgspec.json.Decoder(_Levelled).decode


def line_level(line: bytes) -> int:
    """The level of one output line (without its newline): its JSON `level`, else INFO."""
    if not line.lstrip().startswith(b"{"):
        return INFO
    try:
        record = _decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return INFO
    name = record.level if record.level is not None else record.log_level
    return APP_LEVELS.get(name.upper(), INFO) if isinstance(name, str) else INFO


class ApplicationLogFilter:
    """Keeps the lines of an output stream at or above `level`; a line split across reads waits for
    its end (or for `final`)."""

    __slots__ = ("minimum", "partial")

    def __init__(self, level: str):
        self.minimum = APP_LEVELS.get(level.upper(), INFO)
        self.partial = b""

    def feed(self, data: bytes, final: bool = False) -> bytes:
        """The complete lines of (what was held +) `data` that are kept; with `final`, the unfinished
        last line too."""
        data = self.partial + data if self.partial else data
        end = len(data) if final else data.rfind(b"\n") + 1
        self.partial = data[end:]
        lines = data[:end].split(b"\n")
        last = len(lines) - 1  # after the last newline: b"" (or the unfinished line, when final)
        kept = [line + b"\n" if index < last else line for index, line in enumerate(lines)
                if (line or index < last) and line_level(line.rstrip(b"\r")) >= self.minimum]
        return b"".join(kept)
