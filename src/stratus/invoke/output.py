"""An environment's output: one pipe carries the stdout and stderr of its runtime (and extensions).

Every line goes to the environment's log stream (in its log group) as one log event, unless the function's
LogFormat is JSON: then each line below its ApplicationLogLevel is left out, as Lambda does
(observe/app_log_filter.py). A line still unfinished waits for its end (or for the invocation's end, or a
platform line, which take it as it is).
Output written while an invocation runs is also kept for that invocation's log tail (`LogType: Tail`);
output of INIT is kept for the first invocation's tail. Each kept tail is bounded (the newest bytes win).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from stratus.invoke.types import Invocation
from stratus.observe.app_log_filter import ApplicationLogFilter
from stratus.observe.log_store import LogStore

LOG_KEEP_BYTES = 64 * 1024  # per-invocation log kept in memory for the tail


def keep_tail(buffer: bytearray, data: bytes) -> None:
    """Append `data` to `buffer`, keeping at most the last LOG_KEEP_BYTES."""
    buffer += data
    if len(buffer) > LOG_KEEP_BYTES:
        del buffer[: len(buffer) - LOG_KEEP_BYTES]


class OutputRouter:
    """The read end of an environment's output pipe, and INIT's kept output."""

    __slots__ = ("_loop", "_sink", "_log_group", "_log_stream", "_fd", "_filter", "_partial", "init_log")

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: LogStore, log_group: str, log_stream: str,
                 app_filter: ApplicationLogFilter | None = None):
        self._loop = loop
        self._sink = sink
        self._log_group = log_group
        self._log_stream = log_stream
        self._fd = -1
        self._filter = app_filter  # LogFormat JSON: the ApplicationLogLevel's line filter
        self._partial = b""  # output after its last newline: the start of a line not yet ended
        self.init_log = bytearray()  # INIT's output (and EXTENSION lines), for the first invocation's tail

    def open(self, on_readable: Callable[[], None]) -> int:
        """Make the pipe; `on_readable` runs when output arrives. Returns the write end (the caller closes it)."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self._fd = read_fd
        self._loop.add_reader(read_fd, on_readable)
        return write_fd

    def adopt(self, read_fd: int, on_readable: Callable[[], None]) -> None:
        """Read the environment's output from `read_fd` instead (a pre-started runtime's pipe, made before its
        environment was: sandbox/nodepool.py); the pipe made by `open` is closed."""
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
        os.set_blocking(read_fd, False)
        self._fd = read_fd
        self._loop.add_reader(read_fd, on_readable)

    def write_platform(self, data: bytes) -> None:
        """A platform line (START, END, REPORT, EXTENSION, or their JSON records) into the log stream."""
        if self._partial:
            self._sink.write(self._log_group, self._log_stream, self._partial)
            self._partial = b""
        self._sink.write(self._log_group, self._log_stream, data)

    def _to_stream(self, data: bytes, final: bool) -> None:
        """Whole lines into the log stream; the rest waits for its newline (or the end)."""
        data = self._partial + data if self._partial else data
        cut = len(data) if final else data.rfind(b"\n") + 1
        self._partial = data[cut:]
        if cut:
            self._sink.write(self._log_group, self._log_stream, data[:cut])

    def drain(self, invocation: Invocation | None, during_init: bool, final: bool = False) -> None:
        """Read everything written so far into the log stream; keep it for `invocation`'s tail when
        that one is running (and wants its log), else for INIT's while `during_init`. `final`: the
        invocation ends, so a line still unfinished is taken as it is."""
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
        app_filter = self._filter
        if app_filter is not None:
            if not chunks and not (final and app_filter.partial):
                return
            data = app_filter.feed(b"".join(chunks), final)
            if not data:
                return
        elif not chunks:
            if final and self._partial:
                self._to_stream(b"", final)
            return
        else:
            data = b"".join(chunks)
        self._to_stream(data, final)
        if invocation is not None and invocation.delivered_at:
            if invocation.want_log:
                keep_tail(invocation.log, data)
        elif during_init:
            keep_tail(self.init_log, data)

    def close(self, invocation: Invocation | None, during_init: bool) -> None:
        """Read what is left, then close the pipe."""
        fd = self._fd
        if fd >= 0:
            self.drain(invocation, during_init, final=True)
            self._loop.remove_reader(fd)
            os.close(fd)
            self._fd = -1
