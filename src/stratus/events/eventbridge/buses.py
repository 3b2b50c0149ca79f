"""Create/Describe/List/DeleteEventBus. Stratus has no partner event sources; deleting a bus deletes
its rules and their targets, as on AWS."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from stratus.control.paging import paginate_after
from stratus.errors import EventBridgeValidationException, ResourceAlreadyExistsException
from stratus.events.eventbridge.catalog import (
    BUS_KIND,
    DEFAULT_BUS,
    RULE_KIND,
    TARGET_KIND,
    Catalog,
    invalid_token,
    target_key,
)
from stratus.events.eventbridge.scheduled import Delete, ScheduledRules
from stratus.events.schedules import SCHEDULE_KIND
from stratus.shapes import EventBus
from stratus.store.base import Store


class BusOperations:
    """The event bus operations; every write holds the EventBridge writer lock."""

    def __init__(self, catalog: Catalog, store: Store, schedules: ScheduledRules):
        self.catalog = catalog
        self.store = store
        self.schedules = schedules
        self.lock = schedules.lock

    async def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if params.get("EventSourceName") or "/" in name:
            raise EventBridgeValidationException(
                "Stratus has no partner event sources; an event bus name cannot contain '/'.")
        async with self.lock:
            if name in self.catalog.buses:
                raise ResourceAlreadyExistsException(f"Event bus {name} already exists.")
            now = time.time()
            bus = EventBus(Name=name, Arn=self.catalog.bus_arn(name), Description=params.get("Description"),
                           CreationTime=now, LastModifiedTime=now)
            await self.store.apply(puts=[(BUS_KIND, name, msgspec.json.encode(bus))])
            self.catalog.buses[name] = bus
        result = {"EventBusArn": bus.Arn}
        if bus.Description:
            result["Description"] = bus.Description
        return result

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self.catalog.buses[self.catalog.bus(params.get("Name"))]
        return msgspec.to_builtins(bus)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("NamePrefix") or ""
        buses = sorted((bus for name, bus in self.catalog.buses.items() if name.startswith(prefix)),
                       key=lambda bus: bus.Name)
        page, token = paginate_after(buses, params.get("NextToken"), params.get("Limit"), lambda bus: bus.Name,
                                     invalid_token)
        result: dict[str, Any] = {"EventBuses": [msgspec.to_builtins(bus) for bus in page]}
        if token:
            result["NextToken"] = token
        return result

    async def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if name == DEFAULT_BUS:
            raise EventBridgeValidationException("Cannot delete event bus default.")
        async with self.lock:
            if name not in self.catalog.buses:
                return {}
            rules = list(self.catalog.rules_on(name))
            deletes: list[Delete] = [(BUS_KIND, name)]
            for key, rule in rules:  # the bus's rules go with it, as on AWS
                deletes += [(RULE_KIND, key), (SCHEDULE_KIND, key)]
                deletes += [(TARGET_KIND, target_key(key, target_id)) for target_id in rule.targets]
            await self.store.apply(deletes=deletes)
            del self.catalog.buses[name]
            for key, _ in rules:
                del self.catalog.rules[key]
                self.schedules.remove(key)
        return {}
