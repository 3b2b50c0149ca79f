"""Stacks as server state: one store document per stack (kind "stack", key = its name), JSON.

The record holds the template text and parameter values as last deployed, the resources (ResourceState with
physical ids, attributes, endpoints and DeletionPolicy), their order, the outputs, the status and the last
MAX_EVENTS events. Deploys run in a worker thread (boto3 blocks); progress is saved as each resource completes,
so a restart mid-deploy still knows what exists. One deploy or delete per stack at a time: another one meanwhile
is refused (409), as CloudFormation refuses an update of a stack in progress.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from stratus.deploy.engine import DeployFailed, Engine, Services, prepare, stack_id_for
from stratus.deploy.intrinsics import ValidationError
from stratus.store.base import Store

KIND = "stack"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


class StackBusy(Exception):
    """Another deploy or delete of the stack is under way."""


class StackService:
    def __init__(self, store: Store, services: Services, region: str, account_id: str):
        self.store = store
        self.services = services
        self.region = region
        self.account_id = account_id
        self._busy: set[str] = set()

    @staticmethod
    def check_name(name: str) -> None:
        if not _NAME.fullmatch(name):
            raise ValidationError(f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
                                  "constraint: Member must satisfy regular expression pattern: "
                                  "[a-zA-Z][-a-zA-Z0-9]* and have length less than or equal to 128")

    async def get(self, name: str) -> dict[str, Any] | None:
        body = await self.store.get_document(KIND, name)
        return json.loads(body) if body is not None else None

    async def list(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _key, body in await self.store.list_documents(KIND)]

    async def _put(self, body: bytes, name: str) -> None:
        await self.store.apply(puts=[(KIND, name, body)])

    def _claim(self, name: str, doing: str) -> None:
        if name in self._busy:
            raise StackBusy(f"Stack {name} is in an operation already: wait for it to finish before you {doing} it")
        self._busy.add(name)

    async def deploy(self, name: str, body: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """The record after the deploy; ValidationError (nothing changed), DeployFailed (rolled back), StackBusy."""
        self.check_name(name)
        self._claim(name, "deploy")
        try:
            previous = await self.get(name)
            loop = asyncio.get_running_loop()

            def save(record: dict[str, Any]) -> None:  # called in the worker thread
                asyncio.run_coroutine_threadsafe(self._put(json.dumps(record).encode(), name), loop).result()

            engine = Engine(self.services, self.region, self.account_id, save)
            stack_id = stack_id_for(name, previous, self.region, self.account_id)
            # Checked first (no thread needed for a refusal): nothing is saved for a template that does not load.
            prepared = await asyncio.to_thread(prepare, name, body, parameters, self.region, self.account_id,
                                               stack_id)
            try:
                record = await asyncio.to_thread(engine.deploy, name, body, parameters, previous, prepared)
            except DeployFailed as failed:
                await self._put(json.dumps(failed.stack).encode(), name)
                raise
            await self._put(json.dumps(record).encode(), name)
            return record
        finally:
            self._busy.discard(name)

    async def delete(self, name: str) -> dict[str, Any] | None:
        """The record after the delete (DELETE_COMPLETE: the stack is gone), None if there is no such stack."""
        self.check_name(name)
        self._claim(name, "delete")
        try:
            record = await self.get(name)
            if record is None:
                return None
            engine = Engine(self.services, self.region, self.account_id)
            after = await asyncio.to_thread(engine.delete, record)
            if after["Status"] == "DELETE_COMPLETE":
                await self.store.apply(deletes=[(KIND, name)])
            else:
                await self._put(json.dumps(after).encode(), name)
            return after
        finally:
            self._busy.discard(name)


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """A stack record as the API answers it (docs/stacks-api.md)."""
    resources = record.get("Resources", {})
    order = [key for key in record.get("Order", []) if key in resources]
    order += [key for key in resources if key not in order]
    endpoints: dict[str, str] = {}
    apis = []
    for key in order:
        endpoint = resources[key].get("endpoint")
        if endpoint:
            endpoints[endpoint["owner"]] = endpoint["base_url"]
            apis.append({"LogicalResourceId": endpoint["owner"], "Kind": endpoint["kind"],
                         "BaseUrl": endpoint["base_url"],
                         "Routes": [{"Method": method, "Path": path} for method, path in endpoint.get("routes") or []]})
    return {
        "StackName": record["StackName"], "StackId": record["StackId"], "Status": record["Status"],
        "Outputs": record.get("Outputs", {}),
        "Resources": [{"LogicalResourceId": key, "ResourceType": resources[key]["resource_type"],
                       "PhysicalResourceId": resources[key]["physical_id"]} for key in order],
        "Endpoints": endpoints, "Apis": apis, "Changes": record.get("Changes", []),
        "NoChanges": bool(record.get("NoChanges")), "StatusReason": record.get("StatusReason", ""),
        "Parameters": record.get("Parameters", {}), "CreationTime": record.get("CreationTime", ""),
        "LastUpdatedTime": record.get("LastUpdatedTime", ""), "Events": record.get("Events", []),
    }


def summary(record: dict[str, Any]) -> dict[str, Any]:
    return {"StackName": record["StackName"], "Status": record["Status"],
            "LastUpdatedTime": record.get("LastUpdatedTime", ""), "ResourceCount": len(record.get("Resources", {}))}
