"""REST API deployments (snapshots of the API) and the stages that serve them; mixed into RestApis."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import msgspec

from stratus.frontdoor.apis import ApiError, _id, bad_request
from stratus.frontdoor.rest_routes import RouteTable

KIND = "rest-api"
DEPLOYMENT_KIND = "rest-api-deployment"
Resource = dict[str, Any]
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFoundException", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "ConflictException", message)


def _check_variables(variables: dict[str, str] | None) -> None:
    for name, value in (variables or {}).items():
        if not _VARIABLE_NAME.match(name) or not isinstance(value, str):
            raise bad_request(f"Stage variable {name} is invalid: names are a-zA-Z0-9_ (at most 64), values strings")


class StageOperations:
    """CreateDeployment / Get / Delete, CreateStage / Get / Update / Delete over the API documents."""

    _apis: dict[str, Resource]
    _deployments: dict[str, dict[str, Resource]]
    _tables: dict[tuple[str, str], RouteTable]
    store: Any

    def _api(self, api_id: str) -> Resource:
        raise NotImplementedError

    async def _save(self, api_id: str, api: Resource, puts: list[tuple[str, str, bytes]] | None = None,
                    deletes: list[tuple[str, str]] | None = None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ deployments
    async def create_deployment(self, api_id: str, *, stage_name: str | None = None, description: str | None = None,
                                stage_description: str | None = None,
                                variables: dict[str, str] | None = None) -> Resource:
        """CreateDeployment: a snapshot of the API now; with `stage_name`, that stage (created if new) serves it."""
        api = copy.deepcopy(self._api(api_id))
        methods = [(r, m) for r in api["resources"].values() for m in r.get("resourceMethods", {}).values()]
        if not methods:
            raise bad_request("The REST API doesn't contain any methods")
        if any("methodIntegration" not in method for _, method in methods):
            raise bad_request("No integration defined for method")
        _check_variables(variables)
        if stage_name is not None and not _STAGE_NAME.match(stage_name):
            raise bad_request("Stage name only allows a-zA-Z0-9_-")
        deployment: Resource = {"id": _id(6)}
        if description is not None:
            deployment["description"] = description
        deployment["createdDate"] = int(time.time())
        snapshot = {"resources": api["resources"], "authorizers": api["authorizers"],
                    "binaryMediaTypes": api.get("binaryMediaTypes", [])}
        stored = {**deployment, "snapshot": snapshot}
        if stage_name:
            stage = api["stages"].get(stage_name)
            if stage is None:
                api["stages"][stage_name] = self._new_stage(stage_name, deployment["id"], stage_description, variables)
            else:
                stage["deploymentId"] = deployment["id"]
                if variables:
                    stage["variables"] = {**stage.get("variables", {}), **variables}
                stage["lastUpdatedDate"] = int(time.time())
        await self._save(api_id, api, puts=[(DEPLOYMENT_KIND, f"{api_id}/{deployment['id']}",
                                             msgspec.json.encode(stored))])
        self._deployments[api_id][deployment["id"]] = stored
        return deployment

    def get_deployments(self, api_id: str) -> list[Resource]:
        self._api(api_id)
        return [self._describe_deployment(d) for d in self._deployments[api_id].values()]

    def get_deployment(self, api_id: str, deployment_id: str) -> Resource:
        self._api(api_id)
        return self._describe_deployment(self._deployment(api_id, deployment_id))

    @staticmethod
    def _describe_deployment(deployment: Resource) -> Resource:
        return {key: value for key, value in deployment.items() if key != "snapshot"}

    def _deployment(self, api_id: str, deployment_id: str) -> Resource:
        deployment = self._deployments[api_id].get(deployment_id)
        if deployment is None:
            raise not_found("Invalid Deployment identifier specified")
        return deployment

    async def delete_deployment(self, api_id: str, deployment_id: str) -> None:
        api = self._api(api_id)
        self._deployment(api_id, deployment_id)
        if any(stage["deploymentId"] == deployment_id for stage in api["stages"].values()):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        await self.store.apply(deletes=[(DEPLOYMENT_KIND, f"{api_id}/{deployment_id}")])
        del self._deployments[api_id][deployment_id]
        self._tables.pop((api_id, deployment_id), None)

    # ------------------------------------------------------------------ stages
    @staticmethod
    def _new_stage(name: str, deployment_id: str, description: str | None, variables: dict[str, str] | None,
                   tags: dict[str, str] | None = None) -> Resource:
        now = int(time.time())
        stage: Resource = {"deploymentId": deployment_id, "stageName": name}
        if description:
            stage["description"] = description
        stage.update({"cacheClusterEnabled": False, "cacheClusterStatus": "NOT_AVAILABLE", "methodSettings": {}})
        if variables:
            stage["variables"] = dict(variables)
        stage["tracingEnabled"] = False
        if tags:
            stage["tags"] = dict(tags)
        stage.update({"createdDate": now, "lastUpdatedDate": now})
        return stage

    async def create_stage(self, api_id: str, stage_name: str, deployment_id: str, *, description: str | None = None,
                           variables: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> Resource:
        """CreateStage: a stage serving an existing deployment."""
        api = copy.deepcopy(self._api(api_id))
        if not _STAGE_NAME.match(stage_name or ""):
            raise bad_request("Stage name only allows a-zA-Z0-9_-")
        self._deployment(api_id, deployment_id)
        if stage_name in api["stages"]:
            raise conflict("Stage already exists")
        _check_variables(variables)
        stage = api["stages"][stage_name] = self._new_stage(stage_name, deployment_id, description, variables, tags)
        await self._save(api_id, api)
        return copy.deepcopy(stage)

    def get_stage(self, api_id: str, stage_name: str) -> Resource:
        return copy.deepcopy(self._stage(self._api(api_id), stage_name))

    def get_stages(self, api_id: str, deployment_id: str | None = None) -> list[Resource]:
        return [copy.deepcopy(stage) for stage in self._api(api_id)["stages"].values()
                if deployment_id is None or stage["deploymentId"] == deployment_id]

    @staticmethod
    def _stage(api: Resource, stage_name: str) -> Resource:
        stage: Resource | None = api["stages"].get(stage_name)
        if stage is None:
            raise not_found("Invalid Stage identifier specified")
        return stage

    async def update_stage(self, api_id: str, stage_name: str, operations: list[Resource]) -> Resource:
        """UpdateStage's patch operations on what Stratus keeps: /variables/<name> (add, replace, remove),
        /deploymentId and /description (replace)."""
        api = copy.deepcopy(self._api(api_id))
        stage = self._stage(api, stage_name)
        for operation in operations:
            op, path, value = operation.get("op"), operation.get("path") or "", operation.get("value")
            if op not in ("add", "remove", "replace", "move", "copy", "test"):
                raise bad_request("Invalid patch operation specified. Must be 'add'|'remove'|'replace'")
            if path.startswith("/variables/") and op in ("add", "replace", "remove"):
                name = path[len("/variables/"):]
                variables = stage.setdefault("variables", {})
                if op == "remove":
                    variables.pop(name, None)
                else:
                    _check_variables({name: value if isinstance(value, str) else ""})
                    variables[name] = value
                if not variables:
                    del stage["variables"]
            elif path == "/deploymentId" and op == "replace":
                self._deployment(api_id, str(value))
                stage["deploymentId"] = value
            elif path == "/description" and op == "replace":
                stage["description"] = value
            else:
                raise bad_request(f"Invalid patch path {path}")
        stage["lastUpdatedDate"] = int(time.time())
        await self._save(api_id, api)
        return copy.deepcopy(stage)

    async def delete_stage(self, api_id: str, stage_name: str) -> None:
        api = copy.deepcopy(self._api(api_id))
        self._stage(api, stage_name)
        del api["stages"][stage_name]
        await self._save(api_id, api)
