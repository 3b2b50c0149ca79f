"""PutEvents: entries are checked one by one (a bad entry fails alone), become events, and go to the
targets of every enabled rule on their bus whose pattern matches. An unknown bus accepts and drops its
events, as AWS does."""

from __future__ import annotations

import asyncio
import datetime
import json
import time
import uuid
from collections.abc import Awaitable
from typing import Any

from stratus.errors import EventBridgeValidationException
from stratus.events.eventbridge.catalog import Catalog
from stratus.events.eventbridge.delivery import Delivery
from stratus.events.patterns import flatten
from stratus.timestamps import iso_seconds

PUT_EVENTS_MAX_BYTES = 256 * 1024  # total entry size of one PutEvents (AWS's calculation)


class EventIntake:
    """Accepts PutEvents entries and delivers the events that match rules."""

    def __init__(self, catalog: Catalog, delivery: Delivery):
        self.catalog = catalog
        self.delivery = delivery

    async def put_events(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Accept events (PutEvents entries), deliver each to the targets of every enabled rule whose
        pattern matches; the result entries, in order: {"EventId"} or {"ErrorCode", "ErrorMessage"}.
        Returns once every delivery is in the durable async queue."""
        if sum(_entry_size(entry) for entry in entries) > PUT_EVENTS_MAX_BYTES:
            raise EventBridgeValidationException("Total size of the entries in the request is over the limit.")
        results: list[dict[str, Any]] = []
        deliveries: list[Awaitable[None]] = []
        for entry in entries:
            problem = _entry_problem(entry)
            if problem is not None:
                results.append(problem)
                continue
            event = self._event(entry)
            results.append({"EventId": event["id"]})
            bus = self.catalog.bus_name(entry.get("EventBusName"))
            if bus not in self.catalog.buses:  # an unknown bus accepts and drops the event, as AWS does
                continue
            leaves = flatten(event)
            for _, rule in self.catalog.rules_on(bus):
                if rule.enabled and rule.pattern is not None and rule.pattern.matches(event, leaves):
                    deliveries += [self.delivery.to_target(rule, target, event)
                                   for target in list(rule.targets.values())]
        if deliveries:
            await asyncio.gather(*deliveries)
        return results

    def _event(self, entry: dict[str, Any]) -> dict[str, Any]:
        when = entry.get("Time")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.catalog.account,
            "time": iso_seconds(_epoch(when) if when is not None else time.time()),
            "region": self.catalog.region,
            "resources": list(entry.get("Resources") or []),
            "detail": json.loads(entry["Detail"]),
        }


def _epoch(value: Any) -> float:
    """An entry's Time: epoch seconds (what boto3 sends for JSON protocols) or an ISO 8601 text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _entry_size(entry: dict[str, Any]) -> int:
    """AWS's PutEvents entry size: 14 bytes for Time, plus the UTF-8 sizes of the other fields."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        if isinstance(entry.get(name), str):
            size += len(entry[name].encode())
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


def _entry_problem(entry: dict[str, Any]) -> dict[str, str] | None:
    """The result entry of an entry AWS refuses (missing or malformed fields), or None."""
    for name in ("Source", "DetailType", "Detail"):
        if not entry.get(name):
            return {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {name} is not valid. Reason: {name} is a required argument."}
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    if entry.get("Time") is not None:
        try:
            _epoch(entry["Time"])
        except (ValueError, TypeError, OverflowError):
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Time is not valid."}
    return None
