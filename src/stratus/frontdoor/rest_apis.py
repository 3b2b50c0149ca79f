"""REST APIs (API Gateway v1): resources, methods, Lambda proxy integrations, authorizers, deployments and
stages, stored, with the Python interface other parts of Stratus call (the SAM deploy) and that the
apigateway control API (api/apigateway.py) wraps:

    api = await rest.create_rest_api("shop", binary_media_types=["image/png"])
    items = await rest.create_path(api["id"], "/items/{id}")             # or create_resource part by part
    auth = await rest.create_authorizer(api["id"], "gate", "TOKEN", uri, "method.request.header.Authorization")
    await rest.put_method(api["id"], items["id"], "GET", "CUSTOM", authorizer_id=auth["id"])
    await rest.put_integration(api["id"], items["id"], "GET", "AWS_PROXY", uri)  # integration method POST
    await rest.create_deployment(api["id"], stage_name="prod", variables={"color": "blue"})

`uri` is API Gateway's `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations`
(a plain function ARN is accepted too). Every method returns the resource as apigateway answers it (its JSON
member names) and raises `ApiError` as AWS does (messages as AWS words them).

Deployments are snapshots, as on AWS: a stage serves the resources, methods, integrations, authorizers and
binary media types of its deployment; later changes reach clients with the next CreateDeployment (or an
UpdateStage to another deployment). An API is one store document (kind "rest-api"); each deployment is
another (kind "rest-api-deployment", key "<api-id>/<deployment-id>"), all kept in memory.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import msgspec

from stratus.config import Settings
from stratus.frontdoor import openapi, rest_import
from stratus.frontdoor.apis import _id, bad_request
from stratus.frontdoor.rest_routes import METHODS, RouteTable, is_greedy, is_variable, valid_path_part
from stratus.frontdoor.rest_stages import DEPLOYMENT_KIND, KIND, Resource, StageOperations, conflict, not_found
from stratus.store.base import Store

DEFAULT_TIMEOUT_MS = 29_000


def _public(document: Resource, hidden: tuple[str, ...]) -> Resource:
    return {key: copy.deepcopy(value) for key, value in document.items() if key not in hidden}


class RestApis(StageOperations):
    """REST APIs and their deployments (the Python interface above); `served` gives the door a stage's view."""

    def __init__(self, settings: Settings, store: Store, taken: Any = None):
        self.settings = settings
        self.store = store
        self.taken = taken or (lambda api_id: False)  # ids in use by HTTP APIs (one execute-api name space)
        self._apis: dict[str, Resource] = {}
        self._deployments: dict[str, dict[str, Resource]] = {}
        self._tables: dict[tuple[str, str], RouteTable] = {}

    async def load(self) -> None:
        for api_id, body in await self.store.list_documents(KIND):
            self._apis[api_id] = msgspec.json.decode(body)
            self._deployments[api_id] = {}
        for key, body in await self.store.list_documents(DEPLOYMENT_KIND):
            api_id, _, deployment_id = key.partition("/")
            if api_id in self._deployments:
                self._deployments[api_id][deployment_id] = msgspec.json.decode(body)

    # ------------------------------------------------------------------ the door's view
    def api(self, api_id: str) -> Resource | None:
        return self._apis.get(api_id)

    def served(self, api_id: str, stage_name: str) -> tuple[Resource, Resource, RouteTable] | None:
        """(stage, deployment snapshot, its route table) for a stage, or None when it does not exist."""
        api = self._apis.get(api_id)
        stage = api["stages"].get(stage_name) if api is not None else None
        if stage is None:
            return None
        deployment = self._deployments[api_id].get(stage["deploymentId"])
        if deployment is None:
            return None
        key = (api_id, deployment["id"])
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = RouteTable(deployment["snapshot"]["resources"])
        return stage, deployment["snapshot"], table

    # ------------------------------------------------------------------ APIs
    async def create_rest_api(self, name: str, *, description: str | None = None,
                              binary_media_types: list[str] | None = None, tags: dict[str, str] | None = None,
                              version: str | None = None, endpoint_types: list[str] | None = None) -> Resource:
        """CreateRestApi: the API with its root resource `/`."""
        if not name:
            raise bad_request("Name cannot be empty")
        if description == "":
            raise bad_request("Description cannot be an empty string")
        types = endpoint_types or ["EDGE"]
        if len(types) != 1:
            raise bad_request("Cannot create an api with multiple Endpoint Types.")
        if types[0] not in ("EDGE", "REGIONAL", "PRIVATE"):
            raise bad_request("Invalid EndpointTypes specified. Valid options are REGIONAL,EDGE,PRIVATE")
        api_id = _id(10)
        while api_id in self._apis or self.taken(api_id):
            api_id = _id(10)
        root = _id(10)
        api: Resource = {"id": api_id, "name": name}
        if description is not None:
            api["description"] = description
        api["createdDate"] = int(time.time())
        if version is not None:
            api["version"] = version
        if binary_media_types:
            api["binaryMediaTypes"] = list(binary_media_types)
        api.update({"apiKeySource": "HEADER", "endpointConfiguration": {"types": types, "ipAddressType": "ipv4"},
                    "disableExecuteApiEndpoint": False, "rootResourceId": root})
        if tags:
            api["tags"] = dict(tags)
        document = {**api, "resources": {root: {"id": root, "path": "/"}}, "authorizers": {}, "stages": {}}
        self._deployments[api_id] = {}
        await self._save(api_id, document)
        return self.describe(document)

    async def import_rest_api(self, body: bytes, endpoint_types: list[str] | None = None) -> Resource:
        """ImportRestApi: a new API from an OpenAPI definition (rest_import.py says what it becomes)."""
        document = openapi.load(body)
        rest_import.apply({"rootResourceId": "-", "resources": {"-": {"id": "-", "path": "/"}}, "authorizers": {}},
                          document, "overwrite")  # refused before anything is created
        created = await self.create_rest_api(openapi.title(document) or "imported", endpoint_types=endpoint_types)
        return await self.put_rest_api(created["id"], body, "overwrite", document=document)

    async def put_rest_api(self, api_id: str, body: bytes, mode: str | None = None, *,
                           document: Resource | None = None) -> Resource:
        """PutRestApi: the API's definition overwritten by, or merged with (the default), an OpenAPI one."""
        mode = mode or "merge"
        if mode not in ("merge", "overwrite"):
            raise bad_request(f"Invalid mode {mode}: use merge or overwrite")
        api = copy.deepcopy(self._api(api_id))
        rest_import.apply(api, document if document is not None else openapi.load(body), mode)
        await self._save(api_id, api)
        return self.describe(api)

    @staticmethod
    def describe(api: Resource) -> Resource:
        return _public(api, ("resources", "authorizers", "stages"))

    def get_rest_api(self, api_id: str) -> Resource:
        return self.describe(self._api(api_id))

    def get_rest_apis(self) -> list[Resource]:
        return [self.describe(api) for api in self._apis.values()]

    async def delete_rest_api(self, api_id: str) -> None:
        self._api(api_id)
        deletes = [(KIND, api_id)] + [(DEPLOYMENT_KIND, f"{api_id}/{d}") for d in self._deployments.get(api_id, {})]
        await self.store.apply(deletes=deletes)
        del self._apis[api_id]
        self._deployments.pop(api_id, None)
        for key in [key for key in self._tables if key[0] == api_id]:
            del self._tables[key]

    # ------------------------------------------------------------------ resources
    def get_resources(self, api_id: str, embed_methods: bool = False) -> list[Resource]:
        return [self._describe_resource(r, embed_methods) for r in self._api(api_id)["resources"].values()]

    def get_resource(self, api_id: str, resource_id: str, embed_methods: bool = False) -> Resource:
        return self._describe_resource(self._resource(self._api(api_id), resource_id), embed_methods)

    @staticmethod
    def _describe_resource(resource: Resource, embed_methods: bool) -> Resource:
        described = _public(resource, ("resourceMethods",))
        methods = resource.get("resourceMethods")
        if methods:
            described["resourceMethods"] = copy.deepcopy(methods) if embed_methods else {m: {} for m in methods}
        return described

    async def create_resource(self, api_id: str, parent_id: str, path_part: str) -> Resource:
        """CreateResource: a child of `parent_id` (a literal path part, `{name}` or greedy `{name+}`)."""
        api = copy.deepcopy(self._api(api_id))
        parent = self._resource(api, parent_id)
        if not valid_path_part(path_part):
            raise bad_request("Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and "
                              "the end and an optional plus sign before the closing brace.")
        if is_greedy(parent.get("pathPart", "")):
            raise bad_request(f"Cannot create a child of a resource with a greedy path variable: {parent['pathPart']}")
        for sibling in api["resources"].values():
            if sibling.get("parentId") != parent_id:
                continue
            if sibling["pathPart"] == path_part:
                raise conflict(f"Another resource with the same parent already has this name: {path_part}")
            if is_variable(path_part) and is_variable(sibling["pathPart"]):
                raise bad_request(f"A sibling ({sibling['pathPart']}) of this resource already has a variable path "
                                  "part -- only one is allowed")
        resource_id = _id(6)
        path = parent["path"].rstrip("/") + "/" + path_part
        resource = {"id": resource_id, "parentId": parent_id, "pathPart": path_part, "path": path}
        api["resources"][resource_id] = resource
        await self._save(api_id, api)
        return copy.deepcopy(resource)

    async def create_path(self, api_id: str, path: str) -> Resource:
        """The resource for a whole path (`/items/{id}`), creating the missing resources along it."""
        api = self._api(api_id)
        current = self._resource(api, api["rootResourceId"])
        for part in [p for p in path.split("/") if p]:
            child = next((r for r in api["resources"].values()
                          if r.get("parentId") == current["id"] and r["pathPart"] == part), None)
            current = child if child is not None else await self.create_resource(api_id, current["id"], part)
            api = self._api(api_id)
        return copy.deepcopy(current)

    async def delete_resource(self, api_id: str, resource_id: str) -> None:
        api = copy.deepcopy(self._api(api_id))
        self._resource(api, resource_id)
        if resource_id == api["rootResourceId"]:
            raise bad_request("Cannot delete root resource")
        doomed, changed = {resource_id}, True
        while changed:
            children = {r["id"] for r in api["resources"].values() if r.get("parentId") in doomed}
            changed = not children <= doomed
            doomed |= children
        for gone in doomed:
            del api["resources"][gone]
        await self._save(api_id, api)

    # ------------------------------------------------------------------ methods and integrations
    async def put_method(self, api_id: str, resource_id: str, http_method: str, authorization_type: str = "NONE",
                         *, authorizer_id: str | None = None, api_key_required: bool = False,
                         operation_name: str | None = None) -> Resource:
        """PutMethod (authorization NONE, or CUSTOM with a Lambda authorizer)."""
        api = copy.deepcopy(self._api(api_id))
        resource = self._resource(api, resource_id)
        if http_method not in METHODS:
            raise bad_request("Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,"
                              "HEAD,ANY")
        authorization_type = (authorization_type or "").upper()
        if authorization_type not in ("NONE", "CUSTOM"):
            raise bad_request(f"Authorization type {authorization_type or '(empty)'} is not supported by Stratus: "
                              "use NONE or CUSTOM (a Lambda authorizer).")
        if authorization_type == "CUSTOM" and (not authorizer_id or authorizer_id not in api["authorizers"]):
            raise bad_request("Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                              "COGNITO_USER_POOLS requires a valid authorizer.")
        methods = resource.setdefault("resourceMethods", {})
        if http_method in methods:
            raise conflict("Method already exists for this resource")
        method: Resource = {"httpMethod": http_method, "authorizationType": authorization_type}
        if authorization_type == "CUSTOM":
            method["authorizerId"] = authorizer_id
        method["apiKeyRequired"] = bool(api_key_required)
        if operation_name:
            method["operationName"] = operation_name
        methods[http_method] = method
        await self._save(api_id, api)
        return copy.deepcopy(method)

    def get_method(self, api_id: str, resource_id: str, http_method: str) -> Resource:
        return copy.deepcopy(self._method(self._api(api_id), resource_id, http_method))

    async def delete_method(self, api_id: str, resource_id: str, http_method: str) -> None:
        api = copy.deepcopy(self._api(api_id))
        self._method(api, resource_id, http_method)
        methods = api["resources"][resource_id]["resourceMethods"]
        del methods[http_method]
        if not methods:
            del api["resources"][resource_id]["resourceMethods"]
        await self._save(api_id, api)

    async def put_integration(self, api_id: str, resource_id: str, http_method: str, integration_type: str,
                              uri: str | None, *, http_method_used: str | None = "POST",
                              timeout_ms: int | None = None, request_templates: dict[str, str] | None = None,
                              passthrough: str | None = None) -> Resource:
        """PutIntegration: an AWS_PROXY (Lambda proxy) integration of the method (`http_method_used`: the
        integration's own method, POST for Lambda), or a MOCK one (its `request_templates` give the status code,
        its integration responses the answer: PutIntegrationResponse)."""
        api = copy.deepcopy(self._api(api_id))
        method = self._method(api, resource_id, http_method)
        if integration_type not in ("HTTP", "MOCK", "AWS_PROXY", "HTTP_PROXY", "AWS"):
            raise bad_request(f"1 validation error detected: Value '{integration_type}' at 'putIntegrationInput.type' "
                              "failed to satisfy constraint: Member must satisfy enum value set: [HTTP, MOCK, "
                              "AWS_PROXY, HTTP_PROXY, AWS]")
        if integration_type == "MOCK":
            timeout = DEFAULT_TIMEOUT_MS if timeout_ms is None else int(timeout_ms)
            if not 50 <= timeout <= DEFAULT_TIMEOUT_MS:
                raise bad_request("Timeout should be between 50 ms and 29000 ms")
            method["methodIntegration"] = {"type": "MOCK", "requestTemplates": dict(request_templates or {}),
                                           "passthroughBehavior": passthrough or "WHEN_NO_MATCH",
                                           "timeoutInMillis": timeout, "cacheNamespace": resource_id,
                                           "cacheKeyParameters": []}
            await self._save(api_id, api)
            return copy.deepcopy(method["methodIntegration"])
        if integration_type != "AWS_PROXY":
            raise bad_request("Only AWS_PROXY (Lambda proxy) and MOCK integrations are supported by Stratus.")
        if not http_method_used:
            raise bad_request("Enumeration value for HttpMethod must be non-empty")
        if not uri:
            raise bad_request("Invalid ARN specified in the request")
        if ":lambda:path/" not in uri and not uri.startswith("arn:aws:lambda:") and "${stageVariables." not in uri:
            raise bad_request("Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose "
                              "stream invocations.")
        timeout = DEFAULT_TIMEOUT_MS if timeout_ms is None else int(timeout_ms)
        if not 50 <= timeout <= DEFAULT_TIMEOUT_MS:
            raise bad_request("Timeout should be between 50 ms and 29000 ms")
        integration = {"type": integration_type, "httpMethod": http_method_used, "uri": uri,
                       "passthroughBehavior": "WHEN_NO_MATCH", "timeoutInMillis": timeout,
                       "cacheNamespace": resource_id, "cacheKeyParameters": []}
        method["methodIntegration"] = integration
        await self._save(api_id, api)
        return copy.deepcopy(integration)

    async def put_integration_response(self, api_id: str, resource_id: str, http_method: str, status_code: str, *,
                                       selection_pattern: str | None = None,
                                       response_parameters: dict[str, str] | None = None,
                                       response_templates: dict[str, str] | None = None) -> Resource:
        """PutIntegrationResponse: how an integration's outcome becomes the method's answer (MOCK integrations:
        static `'quoted'` header values and the response template as the body)."""
        api = copy.deepcopy(self._api(api_id))
        integration = self._method(api, resource_id, http_method).get("methodIntegration")
        if integration is None:
            raise not_found("Invalid Integration identifier specified")
        if not (status_code.isdigit() and len(status_code) == 3):
            raise bad_request("Invalid status code specified")
        response: Resource = {"statusCode": status_code}
        if selection_pattern:
            response["selectionPattern"] = selection_pattern
        if response_parameters:
            response["responseParameters"] = dict(response_parameters)
        if response_templates:
            response["responseTemplates"] = dict(response_templates)
        integration.setdefault("integrationResponses", {})[status_code] = response
        await self._save(api_id, api)
        return copy.deepcopy(response)

    async def put_method_response(self, api_id: str, resource_id: str, http_method: str, status_code: str, *,
                                  response_parameters: dict[str, bool] | None = None,
                                  response_models: dict[str, str] | None = None) -> Resource:
        """PutMethodResponse: recorded (the answers Stratus serves come from the integration responses)."""
        api = copy.deepcopy(self._api(api_id))
        method = self._method(api, resource_id, http_method)
        if not (status_code.isdigit() and len(status_code) == 3):
            raise bad_request("Invalid status code specified")
        response: Resource = {"statusCode": status_code}
        if response_parameters:
            response["responseParameters"] = dict(response_parameters)
        if response_models:
            response["responseModels"] = dict(response_models)
        method.setdefault("methodResponses", {})[status_code] = response
        await self._save(api_id, api)
        return copy.deepcopy(response)

    def get_integration(self, api_id: str, resource_id: str, http_method: str) -> Resource:
        integration = self._method(self._api(api_id), resource_id, http_method).get("methodIntegration")
        if integration is None:
            raise not_found("Invalid Integration identifier specified")
        return copy.deepcopy(integration)

    async def delete_integration(self, api_id: str, resource_id: str, http_method: str) -> None:
        api = copy.deepcopy(self._api(api_id))
        method = self._method(api, resource_id, http_method)
        if method.pop("methodIntegration", None) is None:
            raise not_found("Invalid Integration identifier specified")
        await self._save(api_id, api)

    # ------------------------------------------------------------------ authorizers
    async def create_authorizer(self, api_id: str, name: str, authorizer_type: str, uri: str | None,
                                identity_source: str | None, *, validation_expression: str | None = None,
                                ttl_s: int | None = None) -> Resource:
        """CreateAuthorizer: a Lambda TOKEN authorizer (identity source `method.request.header.<Name>`) or
        REQUEST authorizer (comma-separated `method.request.header|querystring.<name>`, `stageVariables.<name>`,
        `context.<name>`)."""
        api = copy.deepcopy(self._api(api_id))
        if authorizer_type not in ("TOKEN", "REQUEST"):
            raise bad_request(f"Authorizer type {authorizer_type} is not supported by Stratus: use TOKEN or REQUEST "
                              "(Lambda authorizers).")
        if not name:
            raise bad_request("Authorizer name must be non-empty")
        if not uri:
            raise bad_request("Authorizer URI must be specified for TOKEN or REQUEST authorizers")
        if authorizer_type == "TOKEN" and not (identity_source or "").startswith("method.request.header."):
            raise bad_request("Invalid identity source for TOKEN authorizer: it must be method.request.header.<name>")
        if validation_expression:
            try:
                re.compile(validation_expression)
            except re.error:
                raise bad_request("Invalid identity validation expression specified") from None
        if ttl_s is not None and not 0 <= ttl_s <= 3600:
            raise bad_request("Authorizer result TTL must be between 0 and 3600 seconds")
        authorizer: Resource = {"id": _id(6), "name": name, "type": authorizer_type, "authType": "custom",
                                "authorizerUri": uri}
        if identity_source:
            authorizer["identitySource"] = identity_source
        if validation_expression:
            authorizer["identityValidationExpression"] = validation_expression
        if ttl_s is not None:
            authorizer["authorizerResultTtlInSeconds"] = ttl_s
        api["authorizers"][authorizer["id"]] = authorizer
        await self._save(api_id, api)
        return copy.deepcopy(authorizer)

    def get_authorizers(self, api_id: str) -> list[Resource]:
        return copy.deepcopy(list(self._api(api_id)["authorizers"].values()))

    def get_authorizer(self, api_id: str, authorizer_id: str) -> Resource:
        authorizer = self._api(api_id)["authorizers"].get(authorizer_id)
        if authorizer is None:
            raise not_found(f"Invalid Authorizer identifier specified {self._account()}:{api_id}/{authorizer_id}")
        return copy.deepcopy(authorizer)

    async def delete_authorizer(self, api_id: str, authorizer_id: str) -> None:
        api = copy.deepcopy(self._api(api_id))
        self.get_authorizer(api_id, authorizer_id)
        for resource in api["resources"].values():
            for method in resource.get("resourceMethods", {}).values():
                if method.get("authorizerId") == authorizer_id:
                    raise conflict("Cannot delete authorizer, is referenced in method: "
                                   f"{resource['path']}/{method['httpMethod']}")
        del api["authorizers"][authorizer_id]
        await self._save(api_id, api)

    # ------------------------------------------------------------------ internals
    def _account(self) -> str:
        return self.settings.account_id

    def _api(self, api_id: str) -> Resource:
        api = self._apis.get(api_id)
        if api is None:
            raise not_found(f"Invalid API identifier specified {self._account()}:{api_id}")
        return api

    @staticmethod
    def _resource(api: Resource, resource_id: str) -> Resource:
        resource: Resource | None = api["resources"].get(resource_id)
        if resource is None:
            raise not_found("Invalid Resource identifier specified")
        return resource

    def _method(self, api: Resource, resource_id: str, http_method: str) -> Resource:
        method: Resource | None = self._resource(api, resource_id).get("resourceMethods", {}).get(http_method)
        if method is None:
            raise not_found("Invalid Method identifier specified")
        return method

    async def _save(self, api_id: str, api: Resource, puts: list[tuple[str, str, bytes]] | None = None,
                    deletes: list[tuple[str, str]] | None = None) -> None:
        await self.store.apply(puts=[(KIND, api_id, msgspec.json.encode(api))] + (puts or []), deletes=deletes or [])
        self._apis[api_id] = api

