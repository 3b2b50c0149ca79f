"""Reading function logs through the server's CloudWatch Logs API: the interface a `stratus logs` command uses.

It holds a boto3 `logs` client pointed at the server (the CLI goes through the HTTP API like any other
client, never into the store). `logs_client` makes one with host prefix injection off: StartLiveTail's
model asks for a `stream-` host prefix, which no custom endpoint resolves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config


def logs_client(endpoint: str, region: str, access_key_id: str, secret_access_key: str) -> Any:
    """A boto3 CloudWatch Logs client for the Stratus server at `endpoint`."""
    return boto3.client("logs", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key_id,
                        aws_secret_access_key=secret_access_key,
                        config=Config(inject_host_prefix=False, read_timeout=3600))


def function_group(function_name: str) -> str:
    """A function's default log group (its LoggingConfig.LogGroup may name another)."""
    return f"/aws/lambda/{function_name}"


class LogReader:
    """Log groups, streams and events of one server, read through its API."""

    def __init__(self, client: Any):
        self.client = client

    def groups(self, prefix: str = "") -> Iterator[dict]:
        """Every log group (LogGroup shapes), in name order."""
        arguments = {"logGroupNamePrefix": prefix} if prefix else {}
        for page in self.client.get_paginator("describe_log_groups").paginate(**arguments):
            yield from page["logGroups"]

    def streams(self, group: str, newest_first: bool = True) -> Iterator[dict]:
        """The group's log streams (LogStream shapes), the most recently written first by default."""
        arguments = {"orderBy": "LastEventTime", "descending": True} if newest_first else {}
        for page in self.client.get_paginator("describe_log_streams").paginate(logGroupName=group, **arguments):
            yield from page["logStreams"]

    def events(self, group: str, start_ms: int | None = None, end_ms: int | None = None, pattern: str = "",
               streams: list[str] | None = None) -> Iterator[dict]:
        """The group's events in time order (FilteredLogEvent shapes: logStreamName, timestamp, message, ...)."""
        arguments: dict[str, Any] = {"logGroupName": group}
        if start_ms is not None:
            arguments["startTime"] = start_ms
        if end_ms is not None:
            arguments["endTime"] = end_ms
        if pattern:
            arguments["filterPattern"] = pattern
        if streams:
            arguments["logStreamNames"] = streams
        for page in self.client.get_paginator("filter_log_events").paginate(**arguments):
            yield from page["events"]

    def follow(self, groups: list[str], pattern: str = "") -> Iterator[dict]:
        """New events of `groups` as they are written (StartLiveTail), until the session ends or the caller stops."""
        arguments: dict[str, Any] = {"logGroupIdentifiers": groups}
        if pattern:
            arguments["logEventFilterPattern"] = pattern
        stream = self.client.start_live_tail(**arguments)["responseStream"]
        try:
            for event in stream:
                yield from event.get("sessionUpdate", {}).get("sessionResults", [])
        finally:
            stream.close()
