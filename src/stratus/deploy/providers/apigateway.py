"""AWS::ApiGateway::* (REST APIs) through Stratus's own apigateway API (loopback, the internal admin key).

Ref and GetAtt as CloudFormation documents them: RestApi → API id (RestApiId, RootResourceId); Deployment →
deployment id (DeploymentId); Stage → stage name; Resource → resource id (ResourceId); Method →
"<api>/<resource>/<METHOD>"; Authorizer → authorizer id (AuthorizerId).

A RestApi with a `Body` (what SAM writes for AWS::Serverless::Api) is ImportRestApi, and PutRestApi
(overwrite) on update; `Name`, `Description` and `BinaryMediaTypes` (`~1` for `/`, as CloudFormation writes
them) are applied through the definition (info.title, info.description, x-amazon-apigateway-binary-media-types).
After an update, each existing stage is redeployed so it serves the new definition (SAM names a new Deployment
only when the unresolved Body changes: a replaced function would otherwise stay behind a stage). A Stage reports
the stack's Endpoint: the RestApi's logical id, kind REST, its local base URL and the API's routes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, Endpoint, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import call, delete_call, integer, tag_map


def _client(ctx: DeployContext) -> Any:
    return ctx.client("apigateway")


def _media_types(properties: dict[str, Any]) -> list[str]:
    types = properties.get("BinaryMediaTypes") or []
    if not isinstance(types, list):
        raise ResourceFailed("BadRequestException: BinaryMediaTypes must be a list of media types")
    return [str(t).replace("~1", "/") for t in types]


def _definition(properties: dict[str, Any]) -> bytes:
    """The Body (an object or JSON/YAML text) with Name, Description and BinaryMediaTypes folded in."""
    body = properties["Body"]
    if properties.get("BodyS3Location"):
        raise ResourceFailed("BadRequestException: BodyS3Location is not supported by Stratus: put the definition "
                             "in Body")
    if isinstance(body, str):
        if not (properties.get("Name") or properties.get("BinaryMediaTypes") or properties.get("Description")):
            return body.encode()
        import yaml

        try:
            body = yaml.safe_load(body)
        except yaml.YAMLError:
            return str(properties["Body"]).encode()  # the import names what is wrong with it
    if not isinstance(body, dict):
        raise ResourceFailed("BadRequestException: Body must be an OpenAPI definition (an object)")
    body = copy.deepcopy(body)
    info = body.setdefault("info", {}) if isinstance(body.get("info", {}), dict) else {}
    if properties.get("Name"):
        info["title"] = str(properties["Name"])
    if properties.get("Description"):
        info["description"] = str(properties["Description"])
    types = _media_types(properties)
    if types:
        existing = body.get("x-amazon-apigateway-binary-media-types")
        existing = existing if isinstance(existing, list) else []
        body["x-amazon-apigateway-binary-media-types"] = list(dict.fromkeys(existing + types))
    return json.dumps(body).encode()


def _endpoint_types(properties: dict[str, Any]) -> list[str] | None:
    config = properties.get("EndpointConfiguration")
    types = config.get("Types") if isinstance(config, dict) else None
    return [str(t) for t in types] if isinstance(types, list) and types else None


def _api_applied(api: dict[str, Any]) -> Applied:
    return Applied(api["id"], {"RestApiId": api["id"], "RootResourceId": api["rootResourceId"]})


@provider("AWS::ApiGateway::RestApi")
class RestApiProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        if properties.get("Body") is not None or properties.get("BodyS3Location"):
            types = _endpoint_types(properties)
            parameters = {"endpointConfigurationTypes": types[0]} if types else None
            return _api_applied(call(client, "import_rest_api", body=_definition(properties), parameters=parameters))
        name = properties.get("Name") or ctx.physical_name(logical_id)
        endpoint = {"types": _endpoint_types(properties)} if _endpoint_types(properties) else None
        return _api_applied(call(client, "create_rest_api", name=str(name), description=properties.get("Description"),
                                 binaryMediaTypes=_media_types(properties) or None, endpointConfiguration=endpoint,
                                 tags=tag_map(properties.get("Tags")) or None))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        api_id = current.physical_id
        if properties.get("Body") is not None or properties.get("BodyS3Location"):
            api = call(client, "put_rest_api", restApiId=api_id, mode="overwrite", body=_definition(properties))
        elif current.properties.get("Body") is not None:
            # The definition is gone from the template: the API keeps no imported resources.
            api = call(client, "put_rest_api", restApiId=api_id, mode="overwrite", body=_definition(
                {**properties, "Body": {"swagger": "2.0", "info": {"title": properties.get("Name") or api_id},
                                        "paths": {}}}))
        else:
            settings = {"swagger": "2.0", "info": {}, "paths": {}}
            api = call(client, "put_rest_api", restApiId=api_id, mode="merge",
                       body=_definition({**properties, "Body": settings}))
        for stage in call(client, "get_stages", restApiId=api_id).get("item", []):
            try:
                call(client, "create_deployment", restApiId=api_id, stageName=stage["stageName"])
            except ResourceFailed:
                pass  # an API without methods cannot be deployed: its stages keep serving what they served
        return _api_applied(api)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_rest_api", restApiId=current.physical_id)


@provider("AWS::ApiGateway::Deployment")
class DeploymentProvider:
    """CreateDeployment (with StageName: that stage serves it). Every property change makes a new deployment."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        described = properties.get("StageDescription")
        stage: dict[str, Any] = described if isinstance(described, dict) else {}
        variables = stage.get("Variables") if isinstance(stage.get("Variables"), dict) else None
        deployment = call(_client(ctx), "create_deployment", restApiId=str(properties.get("RestApiId", "")),
                          stageName=properties.get("StageName") or None, description=properties.get("Description"),
                          stageDescription=stage.get("Description"),
                          variables={str(k): str(v) for k, v in variables.items()} if variables else None)
        return Applied(deployment["id"], {"DeploymentId": deployment["id"]})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        client = _client(ctx)
        api_id = str(current.properties.get("RestApiId", ""))
        stage_name = current.properties.get("StageName")
        if stage_name:  # the stage this deployment created goes with it, unless it serves another one now
            try:
                stage = call(client, "get_stage", restApiId=api_id, stageName=str(stage_name))
            except ResourceFailed:
                stage = None
            if stage is not None and stage.get("deploymentId") == current.physical_id:
                delete_call(client, "delete_stage", restApiId=api_id, stageName=str(stage_name))
        delete_call(client, "delete_deployment", restApiId=api_id, deploymentId=current.physical_id)


def rest_routes(client: Any, api_id: str) -> list[tuple[str, str]]:
    resources = call(client, "get_resources", restApiId=api_id, embed=["methods"]).get("items", [])
    return sorted((method, resource["path"]) for resource in resources
                  for method in resource.get("resourceMethods", {}))


@provider("AWS::ApiGateway::Stage")
class StageProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        api_id, name = str(properties.get("RestApiId", "")), str(properties.get("StageName", ""))
        variables = {str(k): str(v) for k, v in (properties.get("Variables") or {}).items()}
        existing = {s["stageName"]: s for s in call(client, "get_stages", restApiId=api_id).get("item", [])}
        if name in existing:  # made by a Deployment's StageName: CloudFormation's Stage takes it over
            self._patch(client, api_id, name, existing[name], properties, variables)
        else:
            call(client, "create_stage", restApiId=api_id, stageName=name,
                 deploymentId=str(properties.get("DeploymentId", "")), description=properties.get("Description"),
                 variables=variables or None, tags=tag_map(properties.get("Tags")) or None)
        return self._applied(ctx, client, api_id, name)

    @staticmethod
    def _applied(ctx: DeployContext, client: Any, api_id: str, name: str) -> Applied:
        endpoint = Endpoint(ctx.logical_id_of(api_id) or api_id, "REST", ctx.api_base_url(api_id, name),
                            rest_routes(client, api_id))
        return Applied(name, {}, endpoint)

    @staticmethod
    def _patch(client: Any, api_id: str, name: str, stage: dict[str, Any], properties: dict[str, Any],
               variables: dict[str, str]) -> None:
        operations = [{"op": "replace", "path": "/deploymentId", "value": str(properties.get("DeploymentId", ""))}]
        if properties.get("Description") is not None:
            operations.append({"op": "replace", "path": "/description", "value": str(properties["Description"])})
        old = stage.get("variables") or {}
        operations += [{"op": "remove", "path": f"/variables/{key}"} for key in old if key not in variables]
        operations += [{"op": "replace", "path": f"/variables/{key}", "value": value}
                       for key, value in variables.items() if old.get(key) != value]
        call(client, "update_stage", restApiId=api_id, stageName=name, patchOperations=operations)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        old = current.properties
        if old.get("RestApiId") != properties.get("RestApiId") or old.get("StageName") != properties.get("StageName"):
            return self.create(ctx, current.logical_id, properties)
        client = _client(ctx)
        api_id, name = str(properties["RestApiId"]), str(properties["StageName"])
        stage = call(client, "get_stage", restApiId=api_id, stageName=name)
        variables = {str(k): str(v) for k, v in (properties.get("Variables") or {}).items()}
        self._patch(client, api_id, name, stage, properties, variables)
        return self._applied(ctx, client, api_id, name)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_stage", restApiId=str(current.properties.get("RestApiId", "")),
                    stageName=current.physical_id)


@provider("AWS::ApiGateway::Resource")
class ResourceProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        resource = call(_client(ctx), "create_resource", restApiId=str(properties.get("RestApiId", "")),
                        parentId=str(properties.get("ParentId", "")), pathPart=str(properties.get("PathPart", "")))
        return Applied(resource["id"], {"ResourceId": resource["id"]})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)  # every change is a replacement

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_resource", restApiId=str(current.properties.get("RestApiId", "")),
                    resourceId=current.physical_id)


@provider("AWS::ApiGateway::Method")
class MethodProvider:
    """PutMethod with its Integration (AWS_PROXY or MOCK, with IntegrationResponses) and MethodResponses."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        api_id, resource_id = str(properties.get("RestApiId", "")), str(properties.get("ResourceId", ""))
        method = str(properties.get("HttpMethod", "")).upper()
        call(client, "put_method", restApiId=api_id, resourceId=resource_id, httpMethod=method,
             authorizationType=str(properties.get("AuthorizationType") or "NONE"),
             authorizerId=properties.get("AuthorizerId"), apiKeyRequired=properties.get("ApiKeyRequired"),
             operationName=properties.get("OperationName"))
        integration = properties.get("Integration")
        if isinstance(integration, dict):
            timeout = integration.get("TimeoutInMillis")
            call(client, "put_integration", restApiId=api_id, resourceId=resource_id, httpMethod=method,
                 type=str(integration.get("Type", "")), uri=integration.get("Uri"),
                 integrationHttpMethod=integration.get("IntegrationHttpMethod"),
                 requestTemplates=integration.get("RequestTemplates"),
                 passthroughBehavior=integration.get("PassthroughBehavior"),
                 timeoutInMillis=None if timeout is None else integer(timeout, "TimeoutInMillis"))
            for response in integration.get("IntegrationResponses") or []:
                call(client, "put_integration_response", restApiId=api_id, resourceId=resource_id,
                     httpMethod=method, statusCode=str(response.get("StatusCode", "")),
                     selectionPattern=response.get("SelectionPattern"),
                     responseParameters=response.get("ResponseParameters"),
                     responseTemplates=response.get("ResponseTemplates"))
        for response in properties.get("MethodResponses") or []:
            parameters = response.get("ResponseParameters")
            call(client, "put_method_response", restApiId=api_id, resourceId=resource_id, httpMethod=method,
                 statusCode=str(response.get("StatusCode", "")), responseModels=response.get("ResponseModels"),
                 responseParameters={str(k): str(v).lower() == "true" for k, v in parameters.items()}
                 if isinstance(parameters, dict) else None)
        return Applied(f"{api_id}/{resource_id}/{method}")

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        self.delete(ctx, current)
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        api_id, resource_id, method = current.physical_id.split("/", 2)
        delete_call(_client(ctx), "delete_method", restApiId=api_id, resourceId=resource_id, httpMethod=method)


@provider("AWS::ApiGateway::Authorizer")
class AuthorizerProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        ttl = properties.get("AuthorizerResultTtlInSeconds")
        authorizer = call(_client(ctx), "create_authorizer", restApiId=str(properties.get("RestApiId", "")),
                          name=str(properties.get("Name") or logical_id), type=str(properties.get("Type", "")),
                          authorizerUri=properties.get("AuthorizerUri"),
                          identitySource=properties.get("IdentitySource"),
                          identityValidationExpression=properties.get("IdentityValidationExpression"),
                          authorizerResultTtlInSeconds=None if ttl is None else integer(ttl, "AuthorizerResultTtl"))
        return Applied(authorizer["id"], {"AuthorizerId": authorizer["id"]})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)  # a replacement: methods move to the new id

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_authorizer", restApiId=str(current.properties.get("RestApiId", "")),
                    authorizerId=current.physical_id)
