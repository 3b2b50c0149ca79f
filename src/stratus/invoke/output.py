"""An environment's output: one pipe carries the stdout and stderr of its runtime (and extensions).

Every byte goes to the environment's log stream. Output written while an invocation runs is also
kept for that invocation's log tail (`LogType: Tail`); output of INIT is kept for the first
invocation's tail. Each kept tail is bounded (the newest bytes win).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from stratus.invoke.types import Invocation
from stratus.observe.logs import LogSink

LOG_KEEP_BYTES = 64 * 1024  # per-invocation log kept in memory for the tail


def keep_tail(buffer: bytearray, data: bytes) -> None:
    """Append `data` to `buffer`, keeping at most the last LOG_KEEP_BYTES."""
    buffer += data
    if len(buffer) > LOG_KEEP_BYTES:
        del buffer[: len(buffer) - LOG_KEEP_BYTES]


class OutputRouter:
    """The read end of an environment's output pipe, and INIT's kept output."""

    __slots__ = ("_loop", "_sink", "_function_name", "_log_stream", "_fd", "init_log")

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: LogSink, function_name: str, log_stream: str):
        self._loop = loop
        self._sink = sink
        self._function_name = function_name
        self._log_stream = log_stream
        self._fd = -1
        self.init_log = bytearray()  # INIT's output (and EXTENSION lines), for the first invocation's tail

    def open(self, on_readable: Callable[[], None]) -> int:
        """Make the pipe; `on_readable` runs when output arrives. Returns the write end (the caller closes it)."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self._fd = read_fd
        self._loop.add_reader(read_fd, on_readable)
        return write_fd

    def write_platform(self, data: bytes) -> None:
        """A platform line (START, END, REPORT, EXTENSION) into the log stream."""
        self._sink.write(self._function_name, self._log_stream, data)

    def drain(self, invocation: Invocation | None, during_init: bool) -> None:
        """Read everything written so far into the log stream; keep it for `invocation`'s tail when
        that one is running (and wants its log), else for INIT's while `during_init`."""
        fd = self._fd
        if fd < 0:
            return
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # BlockingIOError: nothing more for now
                break
            if not data:
                self._loop.remove_reader(fd)
                break
            chunks.append(data)
        if not chunks:
            return
        data = b"".join(chunks)
        self._sink.write(self._function_name, self._log_stream, data)
        if invocation is not None and invocation.delivered_at:
            if invocation.want_log:
                keep_tail(invocation.log, data)
        elif during_init:
            keep_tail(self.init_log, data)

    def close(self, invocation: Invocation | None, during_init: bool) -> None:
        """Read what is left, then close the pipe."""
        fd = self._fd
        if fd >= 0:
            self.drain(invocation, during_init)
            self._loop.remove_reader(fd)
            os.close(fd)
            self._fd = -1
