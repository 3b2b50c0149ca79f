"""Observe execution environments from the host, whatever the sandbox backend.

An environment is identified as AWS identifies it: by its log stream name
(`AWS_LAMBDA_LOG_STREAM_NAME`, unique per environment). Its processes are found on the host by
that variable in their environment; a pid seen inside a pid namespace would say nothing.
"""

from __future__ import annotations

import os
import time

from tests.support.logs import group_events

STREAM_PROBE = "import os\nSTREAM = os.environ['AWS_LAMBDA_LOG_STREAM_NAME']\n"


def processes_of(stream: str, variable: str = "AWS_LAMBDA_LOG_STREAM_NAME") -> list[int]:
    """Host pids of live (non-zombie) processes of the environment with this log stream (or, with
    variable="AWS_LAMBDA_FUNCTION_NAME", of every environment of a function)."""
    needle = variable.encode() + b"=" + stream.encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle not in environ.read() + b"\0":
                    continue
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(") ", 1)[1][0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def wait_until_gone(stream: str, timeout_s: float = 10.0, variable: str = "AWS_LAMBDA_LOG_STREAM_NAME") -> list[int]:
    """Wait (bounded) for every process of the environment to end; returns those still alive."""
    deadline = time.monotonic() + timeout_s
    alive = processes_of(stream, variable)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = processes_of(stream, variable)
    return alive


def function_log(server, function_name: str) -> str:
    """Everything the function has logged so far (its default log group's events, through the Logs API)."""
    return group_log(server, f"/aws/lambda/{function_name}")


def group_log(server, group: str) -> str:
    """Log group `group`'s events so far, each message as stored (with its newline), joined."""
    return "".join(event["message"] for event in group_events(server, group))


def wait_for_log(server, function_name: str, text: str, timeout_s: float = 10.0) -> str:
    """Wait (bounded) until `text` appears in the function's logs; returns the log."""
    return wait_for_group_log(server, f"/aws/lambda/{function_name}", text, timeout_s)


def wait_for_group_log(server, group: str, text: str, timeout_s: float = 10.0) -> str:
    """Wait (bounded) until `text` appears in log group `group`; returns its log."""
    deadline = time.monotonic() + timeout_s
    log = group_log(server, group)
    while text not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = group_log(server, group)
    return log
