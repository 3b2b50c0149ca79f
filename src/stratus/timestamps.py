"""The timestamp formats AWS writes, in one place (epoch seconds in, text out; now when omitted)."""

from __future__ import annotations

import time


def _seconds_and_millis(t: float | None) -> tuple[time.struct_time, int]:
    moment = time.time() if t is None else t
    return time.gmtime(moment), int(moment * 1000) % 1000


def lambda_time(t: float | None = None) -> str:
    """Lambda's LastModified / CreatedDate format: 2024-01-31T12:34:56.789+0000."""
    parts, millis = _seconds_and_millis(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", parts) + f".{millis:03d}+0000"


def iso_millis(t: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds, as destination records and Kinesis events write it: …T12:34:56.789Z."""
    parts, millis = _seconds_and_millis(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", parts) + f".{millis:03d}Z"


def iso_seconds(t: float | None = None) -> str:
    """ISO 8601 UTC to the second, as EventBridge and DynamoDB Streams batch info write it: …T12:34:56Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))
