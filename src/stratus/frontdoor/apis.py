"""HTTP APIs (API Gateway v2, protocol HTTP): the route table and its Python interface.

`HttpApis` is the interface other parts of Stratus call (the SAM deploy creates APIs through it) and that
the apigatewayv2 control API (api/apigatewayv2.py) wraps:

    api = await apis.create_api(name, target=function_arn)        # quick create: $default route and stage
    api = await apis.create_api(name, cors={...})                 # or piece by piece:
    integration = await apis.create_integration(api_id, function_arn, payload_format_version="2.0")
    authorizer = await apis.create_authorizer(api_id, name, function_arn, ["$request.header.Authorization"],
                                              ttl_s=300, simple_responses=True)
    route = await apis.create_route(api_id, "GET /items/{id}", integration["integrationId"],
                                    authorizer_id=authorizer["authorizerId"])
    await apis.create_stage(api_id, "$default", auto_deploy=True, variables={...})
    await apis.delete_route(api_id, route_id)  # … delete_integration / _stage / _authorizer / _api

Every method returns the resource as apigatewayv2 answers it (its JSON member names) and raises
`ApiError` (NotFoundException, BadRequestException, ConflictException) as AWS does. An API is one store
document (kind "http-api", key = API id) holding its integrations, routes, stages and authorizers; all are
kept in memory with each API's routes compiled for matching. Every stage serves the API's current routes
(deployments are not modelled: AutoDeploy is recorded and reported).
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import msgspec

from stratus.config import Settings
from stratus.store.base import Store

KIND = "http-api"
_ALPHABET = string.ascii_lowercase + string.digits
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY")
_PARAM = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")

Resource = dict[str, Any]


class ApiError(Exception):
    """An apigatewayv2 error: HTTP status, error type (x-amzn-ErrorType) and message."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def not_found(kind: str, key: str) -> ApiError:
    return ApiError(404, "NotFoundException", f"Invalid {kind} identifier specified {key}")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequestException", message)


def _id(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def function_arn_of(uri: str) -> str:
    """The function ARN in an integration or authorizer URI (a function ARN, or API Gateway's
    arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations)."""
    marker = ":lambda:path/2015-03-31/functions/"
    if marker in uri:
        inner = uri.split(marker, 1)[1]
        return inner[:-len("/invocations")] if inner.endswith("/invocations") else inner
    return uri


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """A route ready to match: its method, its path as a regex, and what it sends the request to."""

    route: Resource
    method: str  # "ANY" or an HTTP method; "" for $default
    pattern: re.Pattern[str] | None  # None for $default
    names: tuple[str, ...]
    rank: tuple[int, int, int, int]  # lower is more specific

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.pattern is None:
            return {}
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in zip(self.names, found.groups(), strict=True)}


def compile_route(route: Resource) -> CompiledRoute:
    """A route key (`$default`, `GET /items/{id}`, `ANY /{proxy+}`) as a matcher."""
    key = route["routeKey"]
    if key == "$default":
        return CompiledRoute(route, "", None, (), (9, 0, 0, 0))
    method, _, path = key.partition(" ")
    parts, names, literals, greedy = [], [], 0, 0
    for segment in path.strip("/").split("/") if path.strip("/") else []:
        param = _PARAM.match(segment)
        if param is None:
            parts.append(re.escape(segment))
            literals += 1
        elif param.group(2):
            parts.append("(.+)")
            names.append(param.group(1))
            greedy = 1
        else:
            parts.append("([^/]+)")
            names.append(param.group(1))
    pattern = re.compile("/" + "/".join(parts) + ("/?" if parts else ""))
    segments = len(parts)
    return CompiledRoute(route, method, pattern, tuple(names),
                         (greedy, -literals, -segments, 1 if method == "ANY" else 0))


def check_route_key(key: str) -> None:
    if key == "$default":
        return
    method, _, path = key.partition(" ")
    if method not in _METHODS or not path.startswith("/"):
        raise bad_request(f"Unable to create route {key}: the route key must be $default or 'METHOD /path'.")
    segments = path.strip("/").split("/")
    for index, segment in enumerate(segments):
        param = _PARAM.match(segment)
        if param is not None and param.group(2) and index != len(segments) - 1:
            raise bad_request(f"Unable to create route {key}: a greedy path variable must be the last segment.")


class HttpApis:
    """HTTP APIs with their integrations, routes, stages and authorizers (the Python interface above)."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._apis: dict[str, Resource] = {}
        self._routes: dict[str, list[CompiledRoute]] = {}

    async def load(self) -> None:
        for api_id, body in await self.store.list_documents(KIND):
            self._apis[api_id] = msgspec.json.decode(body)
            self._compile(api_id)

    def endpoint(self, api_id: str) -> str:
        scheme = "https" if self.settings.tls_cert else "http"
        return f"{scheme}://{api_id}.execute-api.localhost:{self.settings.port}"

    # ------------------------------------------------------------------ reads (the front door's)
    def api(self, api_id: str) -> Resource | None:
        return self._apis.get(api_id)

    def route_for(self, api_id: str, method: str, path: str) -> tuple[Resource, dict[str, str]] | None:
        """The most specific route of the API for a request (exact before variables before greedy, a method
        before ANY, `$default` last) and its path parameters; None when none matches."""
        for compiled in self._routes.get(api_id, ()):
            params = compiled.match(method, path)
            if params is not None:
                return compiled.route, params
        return None

    # ------------------------------------------------------------------ APIs
    async def create_api(self, name: str, protocol_type: str = "HTTP", *, target: str | None = None,
                         route_key: str | None = None, cors: Resource | None = None, description: str | None = None,
                         tags: dict[str, str] | None = None) -> Resource:
        """CreateApi; with `target` (a function ARN) the quick create: integration, route and $default stage."""
        if protocol_type != "HTTP":
            raise bad_request("Only HTTP APIs are supported by Stratus (protocolType HTTP).")
        api_id = _id(10)
        while api_id in self._apis:
            api_id = _id(10)
        api: Resource = {"apiEndpoint": self.endpoint(api_id), "apiId": api_id,
                         "apiKeySelectionExpression": "$request.header.x-api-key", "createdDate": _now(),
                         "disableExecuteApiEndpoint": False, "name": name, "protocolType": "HTTP",
                         "routeSelectionExpression": "$request.method $request.path", "tags": tags or {},
                         "integrations": {}, "routes": {}, "stages": {}, "authorizers": {}}
        if cors is not None:
            api["corsConfiguration"] = cors
        if description is not None:
            api["description"] = description
        if target is not None:
            integration = self._new_integration(target, "2.0")
            api["integrations"][integration["integrationId"]] = integration
            route = self._new_route(route_key or "$default", integration["integrationId"], None)
            api["routes"][route["routeId"]] = route
            api["stages"]["$default"] = self._new_stage("$default", True, None)
        elif route_key is not None:
            raise bad_request("RouteKey can only be given with Target (quick create).")
        await self._save(api_id, api)
        return self.describe_api(api)

    def describe_api(self, api: Resource) -> Resource:
        return {key: value for key, value in api.items()
                if key not in ("integrations", "routes", "stages", "authorizers")}

    def get_api(self, api_id: str) -> Resource:
        return self.describe_api(self._api(api_id))

    def list_apis(self) -> list[Resource]:
        return [self.describe_api(api) for api in self._apis.values()]

    async def delete_api(self, api_id: str) -> None:
        self._api(api_id)
        await self.store.apply(deletes=[(KIND, api_id)])
        del self._apis[api_id]
        self._routes.pop(api_id, None)

    # ------------------------------------------------------------------ integrations
    def _new_integration(self, uri: str, payload_format_version: str, timeout_ms: int = 30000) -> Resource:
        if payload_format_version not in ("1.0", "2.0"):
            raise bad_request("PayloadFormatVersion must be 1.0 or 2.0 for a Lambda proxy integration.")
        if not 50 <= timeout_ms <= 30000:
            raise bad_request("Timeout must be between 50 and 30000 milliseconds.")
        return {"connectionType": "INTERNET", "integrationId": _id(7), "integrationMethod": "POST",
                "integrationType": "AWS_PROXY", "integrationUri": uri, "payloadFormatVersion": payload_format_version,
                "timeoutInMillis": timeout_ms}

    async def create_integration(self, api_id: str, uri: str, payload_format_version: str = "2.0",
                                 integration_type: str = "AWS_PROXY", timeout_ms: int = 30000) -> Resource:
        """CreateIntegration: a Lambda proxy integration; the request is answered 503 (as HTTP APIs do) when the
        function has not answered within `timeout_ms` (50 to 30000, 30000 by default)."""
        if integration_type != "AWS_PROXY":
            raise bad_request("Only AWS_PROXY (Lambda proxy) integrations are supported by Stratus.")
        api = self._api(api_id)
        integration = self._new_integration(uri, payload_format_version, timeout_ms)
        return await self._put(api_id, api, "integrations", integration["integrationId"], integration)

    # ------------------------------------------------------------------ routes
    def _new_route(self, route_key: str, integration_id: str | None, authorizer_id: str | None) -> Resource:
        check_route_key(route_key)
        route: Resource = {"apiKeyRequired": False, "authorizationType": "CUSTOM" if authorizer_id else "NONE",
                           "routeId": _id(7), "routeKey": route_key}
        if authorizer_id:
            route["authorizerId"] = authorizer_id
        if integration_id:
            route["target"] = f"integrations/{integration_id}"
        return route

    async def create_route(self, api_id: str, route_key: str, integration_id: str | None = None,
                           authorizer_id: str | None = None) -> Resource:
        """CreateRoute; `integration_id` also accepts the `integrations/<id>` target form."""
        api = self._api(api_id)
        if integration_id and integration_id.startswith("integrations/"):
            integration_id = integration_id[len("integrations/"):]
        if integration_id and integration_id not in api["integrations"]:
            raise not_found("Integration", integration_id)
        if authorizer_id and authorizer_id not in api["authorizers"]:
            raise not_found("Authorizer", authorizer_id)
        if any(route["routeKey"] == route_key for route in api["routes"].values()):
            raise ApiError(409, "ConflictException", f"Unable to create route {route_key}. Route key already exists.")
        route = self._new_route(route_key, integration_id, authorizer_id)
        return await self._put(api_id, api, "routes", route["routeId"], route)

    # ------------------------------------------------------------------ stages
    def _new_stage(self, name: str, auto_deploy: bool, variables: dict[str, str] | None) -> Resource:
        now = _now()
        stage: Resource = {"autoDeploy": auto_deploy, "createdDate": now, "defaultRouteSettings": {},
                           "lastUpdatedDate": now, "routeSettings": {}, "stageName": name, "tags": {}}
        if variables:
            stage["stageVariables"] = variables
        return stage

    async def create_stage(self, api_id: str, name: str, auto_deploy: bool = False,
                           variables: dict[str, str] | None = None) -> Resource:
        api = self._api(api_id)
        if name in api["stages"]:
            raise ApiError(409, "ConflictException", f"Stage already exists: {name}")
        return await self._put(api_id, api, "stages", name, self._new_stage(name, auto_deploy, variables))

    # ------------------------------------------------------------------ authorizers
    async def create_authorizer(self, api_id: str, name: str, uri: str, identity_source: list[str], *,
                                authorizer_type: str = "REQUEST", payload_format_version: str = "2.0",
                                ttl_s: int = 0, simple_responses: bool = False) -> Resource:
        """A Lambda REQUEST authorizer (`uri`: a function ARN or API Gateway's invocation URI)."""
        if authorizer_type != "REQUEST":
            raise bad_request("Only REQUEST (Lambda) authorizers are supported by Stratus.")
        api = self._api(api_id)
        authorizer = self._new_authorizer(name, uri, identity_source, payload_format_version, ttl_s, simple_responses)
        return await self._put(api_id, api, "authorizers", authorizer["authorizerId"], authorizer)

    @staticmethod
    def _new_authorizer(name: str, uri: str, identity_source: list[str], payload_format_version: str, ttl_s: int,
                        simple_responses: bool) -> Resource:
        if payload_format_version not in ("1.0", "2.0"):
            raise bad_request("AuthorizerPayloadFormatVersion must be 1.0 or 2.0.")
        if simple_responses and payload_format_version != "2.0":
            raise bad_request("EnableSimpleResponses is only supported for payload format version 2.0.")
        return {"authorizerId": _id(6), "authorizerPayloadFormatVersion": payload_format_version,
                "authorizerResultTtlInSeconds": ttl_s, "authorizerType": "REQUEST", "authorizerUri": uri,
                "enableSimpleResponses": simple_responses, "identitySource": list(identity_source), "name": name}

    # ------------------------------------------------------------------ imports (api_import.py)
    def _definition(self, body: str | bytes) -> Resource:
        from stratus.frontdoor import api_import, openapi  # they build on this module's errors and factories

        return api_import.definition(openapi.load(body), self._new_integration, self._new_route,
                                     self._new_authorizer)

    async def import_api(self, body: str | bytes) -> Resource:
        """ImportApi: a new HTTP API from an OpenAPI definition (no stage: add one, e.g. `$default`)."""
        parts = self._definition(body)
        api = await self.create_api(parts["name"] or "imported", cors=parts["corsConfiguration"],
                                    description=parts["description"])
        return await self._reimported(api["apiId"], parts)

    async def reimport_api(self, api_id: str, body: str | bytes) -> Resource:
        """ReimportApi: the API's routes, integrations, authorizers and CORS replaced by the definition's."""
        self._api(api_id)
        return await self._reimported(api_id, self._definition(body))

    async def _reimported(self, api_id: str, parts: Resource) -> Resource:
        api = copy.deepcopy(self._api(api_id))
        for collection in ("integrations", "routes", "authorizers"):
            api[collection] = parts[collection]
        if parts["name"]:
            api["name"] = parts["name"]
        if parts["description"] is not None:
            api["description"] = parts["description"]
        if parts["corsConfiguration"] is None:
            api.pop("corsConfiguration", None)
        else:
            api["corsConfiguration"] = parts["corsConfiguration"]
        await self._save(api_id, api)
        return self.describe_api(api)

    async def update_api(self, api_id: str, *, name: str | None = None, description: str | None = None,
                         cors: Resource | None = None, remove_cors: bool = False) -> Resource:
        """UpdateApi: the name, description and CORS configuration."""
        api = copy.deepcopy(self._api(api_id))
        if name is not None:
            if not name:
                raise bad_request("Name cannot be empty")
            api["name"] = name
        if description is not None:
            api["description"] = description
        if cors is not None:
            from stratus.frontdoor.api_import import cors_of

            api["corsConfiguration"] = cors_of(cors) or {}
        elif remove_cors:
            api.pop("corsConfiguration", None)
        await self._save(api_id, api)
        return self.describe_api(api)

    # ------------------------------------------------------------------ the sub-resources alike
    def get_item(self, api_id: str, collection: str, item_id: str) -> Resource:
        item = self._api(api_id)[collection].get(item_id)
        if item is None:
            raise not_found(_KINDS[collection], item_id)
        return copy.deepcopy(item)

    def list_items(self, api_id: str, collection: str) -> list[Resource]:
        return [copy.deepcopy(item) for item in self._api(api_id)[collection].values()]

    async def delete_item(self, api_id: str, collection: str, item_id: str) -> None:
        api = self._api(api_id)
        if item_id not in api[collection]:
            raise not_found(_KINDS[collection], item_id)
        updated = copy.deepcopy(api)
        del updated[collection][item_id]
        await self._save(api_id, updated)

    async def delete_route(self, api_id: str, route_id: str) -> None:
        await self.delete_item(api_id, "routes", route_id)

    async def delete_integration(self, api_id: str, integration_id: str) -> None:
        await self.delete_item(api_id, "integrations", integration_id)

    async def delete_stage(self, api_id: str, name: str) -> None:
        await self.delete_item(api_id, "stages", name)

    async def delete_authorizer(self, api_id: str, authorizer_id: str) -> None:
        await self.delete_item(api_id, "authorizers", authorizer_id)

    # ------------------------------------------------------------------ internals
    def _api(self, api_id: str) -> Resource:
        api = self._apis.get(api_id)
        if api is None:
            raise not_found("API", api_id)
        return api

    async def _put(self, api_id: str, api: Resource, collection: str, item_id: str, item: Resource) -> Resource:
        updated = copy.deepcopy(api)
        updated[collection][item_id] = item
        await self._save(api_id, updated)
        return copy.deepcopy(item)

    async def _save(self, api_id: str, api: Resource) -> None:
        await self.store.apply(puts=[(KIND, api_id, msgspec.json.encode(api))])
        self._apis[api_id] = api
        self._compile(api_id)

    def _compile(self, api_id: str) -> None:
        compiled = [compile_route(route) for route in self._apis[api_id]["routes"].values()]
        compiled.sort(key=lambda route: route.rank)
        self._routes[api_id] = compiled


_KINDS = {"integrations": "Integration", "routes": "Route", "stages": "Stage", "authorizers": "Authorizer"}
