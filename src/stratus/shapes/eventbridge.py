"""EventBridge shapes (botocore's `events` model): event buses and rules as stored and described.

Targets are kept as the caller sent them (a Target has a dozen optional parameter blocks for other
services); they are plain dicts checked against the model by api/eventbridge.py.
"""

from __future__ import annotations

from stratus.shapes.base import Shape


class EventBus(Shape):
    Name: str
    Arn: str
    Description: str | None = None
    CreationTime: float | None = None  # epoch seconds, as the JSON protocol sends timestamps
    LastModifiedTime: float | None = None


class EventRule(Shape):
    """A rule as DescribeRule returns it (ListRules omits CreatedBy)."""

    Name: str
    Arn: str
    EventBusName: str
    State: str
    EventPattern: str | None = None
    ScheduleExpression: str | None = None
    Description: str | None = None
    RoleArn: str | None = None
    ManagedBy: str | None = None
    CreatedBy: str | None = None
