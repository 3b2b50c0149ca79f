"""Read a server's function logs the way a user does: through its CloudWatch Logs API (boto3 `logs`)."""

from __future__ import annotations

import sqlite3
import time

import boto3
from botocore.config import Config


def logs_client(server, **config):
    """A boto3 CloudWatch Logs client for `server` (host prefix injection off, as StartLiveTail needs)."""
    return boto3.client(
        "logs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120, inject_host_prefix=False, **config))


def stored_events(server, group: str) -> list[dict]:
    """A stopped server's events of `group`, read from its log store (`<data dir>/logs.db`) in time order."""
    path = server.data_dir / "logs.db"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT s.name, e.ts, e.message FROM log_events e JOIN log_streams s ON s.id = e.stream_id "
                          "JOIN log_groups g ON g.id = e.group_id WHERE g.name = ? ORDER BY e.ts, e.id",
                          (group,)).fetchall()
    return [{"logStreamName": stream, "timestamp": ts, "message": message} for stream, ts, message in rows]


def group_events(server, group: str, **filters) -> list[dict]:
    """Every event of log group `group` (FilterLogEvents, all pages; from the store once the server stopped);
    [] when the group does not exist."""
    if server.process is None and not filters:
        return stored_events(server, group)
    client = logs_client(server)
    events: list[dict] = []
    try:
        for page in client.get_paginator("filter_log_events").paginate(logGroupName=group, **filters):
            events.extend(page["events"])
    except client.exceptions.ResourceNotFoundException:
        return []
    return events


def wait_for_events(server, group: str, predicate, timeout_s: float = 10.0, **filters) -> list[dict]:
    """Wait (bounded) until `predicate(events)` holds for the group's events; returns them."""
    deadline = time.monotonic() + timeout_s
    events = group_events(server, group, **filters)
    while not predicate(events) and time.monotonic() < deadline:
        time.sleep(0.05)
        events = group_events(server, group, **filters)
    return events
