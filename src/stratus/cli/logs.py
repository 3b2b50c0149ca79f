"""`stratus logs FUNCTION [--follow] [--since 10m] [--filter PATTERN]`: through the CloudWatch Logs API Stratus serves.

The log group is the function's LoggingConfig.LogGroup, else /aws/lambda/<function>. Past events come from
FilterLogEvents (every page). `--follow` polls FilterLogEvents every POLL_S over a short look-back window and
drops events already shown (by eventId): the server stores a line within its log flush interval (0.2 s), so a
printed line shows within ~0.5 s. (StartLiveTail sends its updates once a second, which is too slow for that.)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from stratus.cli.client import Client
from stratus.cli.output import out

POLL_S = 0.2
LOOKBACK_MS = 10_000  # events reach the store up to a flush interval after their timestamp: look back this far
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> int:
    """`10m`, `1h`, `2d`, `30s`, `1w` ago, or an ISO 8601 time → epoch milliseconds. ValueError if neither."""
    now = time.time() if now is None else now
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        return int((now - float(match.group(1)) * _UNITS[match.group(2)]) * 1000)
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)  # ValueError for anything else
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a naive time is local time
    return int(moment.timestamp() * 1000)


def log_group(client: Client, function: str) -> str:
    """The function's log group (it must exist: a clear error otherwise)."""
    configuration = client.boto("lambda").get_function_configuration(FunctionName=function)
    group = (configuration.get("LoggingConfig") or {}).get("LogGroup")
    return str(group or f"/aws/lambda/{configuration['FunctionName']}")


def events(logs: Any, group: str, start_ms: int, pattern: str) -> Iterator[dict[str, Any]]:
    """Every event of `group` from `start_ms` on (FilterLogEvents, all pages), in time order."""
    arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        arguments["filterPattern"] = pattern
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**arguments):
            yield from page.get("events", [])
    except logs.exceptions.ResourceNotFoundException:
        return  # no line written yet: the group appears with the first


def render(event: dict[str, Any]) -> str:
    """`<time> <stream> <message>`: local time to the millisecond, the stream's short id, the message (a JSON
    log line as its level and message, a platform record as its type and main fields)."""
    stamp = datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC).astimezone()
    when = stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"
    stream = str(event.get("logStreamName", ""))
    short = stream.rsplit("]", 1)[-1][:8] if "]" in stream else stream[-8:]
    version = stream[stream.find("[") + 1:stream.find("]")] if "[" in stream and "]" in stream else ""
    label = f"[{version}]{short}" if version else short
    return f"[dim]{when}[/] [cyan]{label}[/] {_escape(readable(str(event.get('message', ''))))}"


def readable(message: str) -> str:
    message = message.rstrip("\n")
    if not message.startswith("{"):
        return message
    try:
        record = json.loads(message)
    except ValueError:
        return message
    if not isinstance(record, dict):
        return message
    kind = record.get("type")
    if isinstance(kind, str) and kind.startswith("platform."):
        details = record.get("record") or {}
        fields = " ".join(f"{k}={v}" for k, v in (details.items() if isinstance(details, dict) else [])
                          if not isinstance(v, dict | list))
        metrics = details.get("metrics") if isinstance(details, dict) else None
        if isinstance(metrics, dict):
            fields += " " + " ".join(f"{k}={v}" for k, v in metrics.items())
        return f"{kind} {fields}".rstrip()
    if "message" in record and "level" in record:
        return f"{record['level']} {record['message']}"
    return message


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def show(client: Client, function: str, follow: bool, since: str, pattern: str) -> None:
    try:
        start_ms = parse_since(since)
    except ValueError:
        import typer

        raise typer.BadParameter(f"{since!r}: give a duration (30s, 10m, 1h, 2d, 1w) or an ISO 8601 time",
                                 param_hint="--since") from None
    group = log_group(client, function)
    logs = client.boto("logs")
    seen: dict[str, int] = {}  # eventId → timestamp, of the look-back window
    latest = start_ms
    for event in events(logs, group, start_ms, pattern):
        out.print(render(event))
        seen[event["eventId"]] = event["timestamp"]
        latest = max(latest, event["timestamp"])
    out.file.flush()
    if not follow:
        return
    latest = max(latest, int(time.time() * 1000))  # from now on, only the look-back window is read again
    while True:
        time.sleep(POLL_S)
        window = max(start_ms, latest - LOOKBACK_MS)
        fresh = [e for e in events(logs, group, window, pattern) if e["eventId"] not in seen]
        for event in sorted(fresh, key=lambda e: (e["timestamp"], e["eventId"])):
            out.print(render(event))
            seen[event["eventId"]] = event["timestamp"]
            latest = max(latest, event["timestamp"])
        if fresh:
            out.file.flush()
        cutoff = latest - LOOKBACK_MS
        for event_id in [k for k, stamp in seen.items() if stamp < cutoff]:
            del seen[event_id]

