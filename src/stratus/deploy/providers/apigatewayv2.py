"""AWS::ApiGatewayV2::* (HTTP APIs) through Stratus's own apigatewayv2 API (loopback, the internal admin key).

Ref and GetAtt as CloudFormation documents them: Api → API id (ApiId, ApiEndpoint); Stage → stage name;
Route → route id; Integration → integration id; Authorizer → authorizer id (AuthorizerId).

An Api with a `Body` (what SAM writes for AWS::Serverless::HttpApi) is ImportApi, ReimportApi on update;
without one it is CreateApi (a quick create with `Target`: its `$default` route and stage come with it, and the
Api reports the Endpoint). `Name` and `CorsConfiguration` apply over the definition (UpdateApi). A Stage reports
the stack's Endpoint: the Api's logical id, kind HTTP, the local base URL (`$default` at the root) and routes
as (METHOD, path) (`$default` as ("ANY", "/{proxy+}")).
"""

from __future__ import annotations

import json
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, Endpoint, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import boolean, call, changed, delete_call, integer, tag_map


def _client(ctx: DeployContext) -> Any:
    return ctx.client("apigatewayv2")


def _cors(properties: dict[str, Any]) -> dict[str, Any] | None:
    cors = properties.get("CorsConfiguration")
    if cors is None:
        return None
    if not isinstance(cors, dict):
        raise ResourceFailed("BadRequestException: CorsConfiguration must be an object")
    out = dict(cors)
    if "MaxAge" in out:
        out["MaxAge"] = integer(out["MaxAge"], "CorsConfiguration.MaxAge")
    if "AllowCredentials" in out:
        out["AllowCredentials"] = boolean(out["AllowCredentials"])
    return out


def _body(properties: dict[str, Any]) -> str:
    if properties.get("BodyS3Location"):
        raise ResourceFailed("BadRequestException: BodyS3Location is not supported by Stratus: put the definition "
                             "in Body")
    body = properties["Body"]
    return body if isinstance(body, str) else json.dumps(body)


def _routes(client: Any, api_id: str) -> list[tuple[str, str]]:
    routes = []
    for route in call(client, "get_routes", ApiId=api_id).get("Items", []):
        key = route["RouteKey"]
        method, _, path = key.partition(" ")
        routes.append(("ANY", "/{proxy+}") if key == "$default" else (method, path))
    return sorted(routes)


def _settings(client: Any, api_id: str, properties: dict[str, Any]) -> None:
    """Name, Description and CorsConfiguration over what the definition said."""
    cors = _cors(properties)
    if properties.get("Name") or properties.get("Description") or cors is not None:
        call(client, "update_api", ApiId=api_id, Name=properties.get("Name"),
             Description=properties.get("Description"), CorsConfiguration=cors)


@provider("AWS::ApiGatewayV2::Api")
class ApiProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        if properties.get("Body") is not None or properties.get("BodyS3Location"):
            api = call(client, "import_api", Body=_body(properties))
            _settings(client, api["ApiId"], properties)
        else:
            api = call(client, "create_api", Name=str(properties.get("Name") or ctx.physical_name(logical_id)),
                       ProtocolType=str(properties.get("ProtocolType") or "HTTP"), Target=properties.get("Target"),
                       RouteKey=properties.get("RouteKey"), CorsConfiguration=_cors(properties),
                       Description=properties.get("Description"), Tags=tag_map(properties.get("Tags")) or None)
        return self._applied(ctx, client, logical_id, api, properties)

    @staticmethod
    def _applied(ctx: DeployContext, client: Any, logical_id: str, api: dict[str, Any],
                 properties: dict[str, Any]) -> Applied:
        api_id = api["ApiId"]
        endpoint = None
        if properties.get("Target"):  # the quick create's $default stage serves it
            endpoint = Endpoint(logical_id, "HTTP", ctx.api_base_url(api_id, None), _routes(client, api_id))
        return Applied(api_id, {"ApiId": api_id, "ApiEndpoint": api.get("ApiEndpoint", "")}, endpoint)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        old = current.properties
        client = _client(ctx)
        api_id = current.physical_id
        if changed(old, properties, "ProtocolType", "Target", "RouteKey") or \
                (old.get("Body") is None) != (properties.get("Body") is None):
            return self.create(ctx, current.logical_id, properties)  # a replacement
        if properties.get("Body") is not None:
            call(client, "reimport_api", ApiId=api_id, Body=_body(properties))
        _settings(client, api_id, properties)
        return self._applied(ctx, client, current.logical_id, call(client, "get_api", ApiId=api_id), properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_api", ApiId=current.physical_id)


@provider("AWS::ApiGatewayV2::Stage")
class StageProvider:
    """CreateStage (AutoDeploy recorded: every stage serves the API's current routes); a changed stage is made
    again under the same name."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        api_id, name = str(properties.get("ApiId", "")), str(properties.get("StageName", ""))
        variables = properties.get("StageVariables")
        call(client, "create_stage", ApiId=api_id, StageName=name,
             AutoDeploy=boolean(properties.get("AutoDeploy", False)),
             StageVariables={str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else None)
        endpoint = Endpoint(ctx.logical_id_of(api_id) or api_id, "HTTP",
                            ctx.api_base_url(api_id, None if name == "$default" else name), _routes(client, api_id))
        return Applied(name, {}, endpoint)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if current.properties.get("ApiId") == properties.get("ApiId") and \
                current.properties.get("StageName") == properties.get("StageName"):
            self.delete(ctx, current)
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_stage", ApiId=str(current.properties.get("ApiId", "")),
                    StageName=current.physical_id)


@provider("AWS::ApiGatewayV2::Integration")
class IntegrationProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        timeout = properties.get("TimeoutInMillis")
        integration = call(_client(ctx), "create_integration", ApiId=str(properties.get("ApiId", "")),
                           IntegrationType=str(properties.get("IntegrationType", "")),
                           IntegrationUri=properties.get("IntegrationUri"),
                           PayloadFormatVersion=properties.get("PayloadFormatVersion"),
                           TimeoutInMillis=None if timeout is None else integer(timeout, "TimeoutInMillis"))
        return Applied(integration["IntegrationId"])

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)  # a replacement: routes move to the new id

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_integration", ApiId=str(current.properties.get("ApiId", "")),
                    IntegrationId=current.physical_id)


@provider("AWS::ApiGatewayV2::Route")
class RouteProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        route = call(_client(ctx), "create_route", ApiId=str(properties.get("ApiId", "")),
                     RouteKey=str(properties.get("RouteKey", "")), Target=properties.get("Target"),
                     AuthorizerId=properties.get("AuthorizerId"), AuthorizationType=properties.get("AuthorizationType"))
        return Applied(route["RouteId"])

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        self.delete(ctx, current)  # the route key is unique within its API: the old route goes first
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_route", ApiId=str(current.properties.get("ApiId", "")),
                    RouteId=current.physical_id)


@provider("AWS::ApiGatewayV2::Authorizer")
class AuthorizerProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        ttl = properties.get("AuthorizerResultTtlInSeconds")
        simple = properties.get("EnableSimpleResponses")
        authorizer = call(_client(ctx), "create_authorizer", ApiId=str(properties.get("ApiId", "")),
                          Name=str(properties.get("Name") or logical_id),
                          AuthorizerType=str(properties.get("AuthorizerType", "")),
                          AuthorizerUri=properties.get("AuthorizerUri"),
                          IdentitySource=properties.get("IdentitySource") or [],
                          AuthorizerPayloadFormatVersion=properties.get("AuthorizerPayloadFormatVersion"),
                          AuthorizerResultTtlInSeconds=None if ttl is None else integer(ttl, "AuthorizerResultTtl"),
                          EnableSimpleResponses=None if simple is None else boolean(simple))
        return Applied(authorizer["AuthorizerId"], {"AuthorizerId": authorizer["AuthorizerId"]})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_authorizer", ApiId=str(current.properties.get("ApiId", "")),
                    AuthorizerId=current.physical_id)
