"""Read a server's function logs the way a user does: through its CloudWatch Logs API (boto3 `logs`)."""

from __future__ import annotations

import time

import boto3
from botocore.config import Config


def logs_client(server, **config):
    """A boto3 CloudWatch Logs client for `server` (host prefix injection off, as StartLiveTail needs)."""
    return boto3.client(
        "logs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120, inject_host_prefix=False, **config))


def group_events(server, group: str, **filters) -> list[dict]:
    """Every event of log group `group` (FilterLogEvents, all pages); [] when the group does not exist."""
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
