"""ImportApi / ReimportApi: an OpenAPI definition applied to an HTTP API document (apis.py's form).

What a definition becomes, as API Gateway imports an HTTP API:
- each operation → a route `METHOD /path` (`x-amazon-apigateway-any-method` → ANY; the path `/$default` with
  any-method → the `$default` route);
- its `x-amazon-apigateway-integration` (`aws_proxy`: uri, payloadFormatVersion — 1.0 when absent —,
  timeoutInMillis) → an integration (operations with the same one share it);
- `x-amazon-apigateway-cors` → corsConfiguration; `info.title` → the name; `info.description`;
- components.securitySchemes (or securityDefinitions) with `x-amazon-apigateway-authorizer` of type `request`
  (authorizerUri, identitySource as a list or a comma-separated string, authorizerPayloadFormatVersion,
  enableSimpleResponses, authorizerResultTtlInSeconds) → Lambda authorizers; an operation's `security` (else
  the document's) naming one → the route's authorizer.
A reimport replaces the routes, integrations, authorizers and CORS configuration; the stages stay.
"""

from __future__ import annotations

from typing import Any

from stratus.frontdoor import openapi
from stratus.frontdoor.apis import ApiError, check_route_key
from stratus.frontdoor.openapi import invalid

Resource = dict[str, Any]
_CORS = {"allowOrigins": list, "allowMethods": list, "allowHeaders": list, "exposeHeaders": list, "maxAge": int,
         "allowCredentials": bool}


def cors_of(spec: Any) -> Resource | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise invalid("x-amazon-apigateway-cors must be an object")
    cors: Resource = {}
    for key, value in spec.items():
        kind = _CORS.get(key)
        if kind is None:
            raise invalid(f"x-amazon-apigateway-cors has an unknown member {key!r}")
        if kind is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid(f"x-amazon-apigateway-cors.{key} must be a list of strings")
        elif kind is int:
            value = openapi.integer(f"x-amazon-apigateway-cors.{key}", value)
        elif not isinstance(value, bool):
            raise invalid(f"x-amazon-apigateway-cors.{key} must be true or false")
        cors[key] = value
    return cors


def _authorizers(schemes: dict[str, Resource], new_authorizer: Any) -> dict[str, Resource]:
    authorizers: dict[str, Resource] = {}
    for name, scheme in schemes.items():
        spec = scheme.get(openapi.AUTHORIZER)
        if spec is None:
            continue
        where = f"authorizer {name}"
        if not isinstance(spec, dict):
            raise invalid(f"{where} must be an object")
        if str(spec.get("type", "")).lower() != "request":
            raise invalid(f"{where} has type {spec.get('type')!r}: Stratus supports Lambda (request) authorizers")
        uri = spec.get("authorizerUri")
        if not isinstance(uri, str) or not uri:
            raise invalid(f"{where} has no authorizerUri")
        sources = spec.get("identitySource", [])
        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",") if s.strip()]
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise invalid(f"{where}: identitySource must be a list of strings")
        ttl = openapi.integer(f"{where}: authorizerResultTtlInSeconds", spec.get("authorizerResultTtlInSeconds"))
        if ttl is not None and not 0 <= ttl <= 3600:
            raise invalid(f"{where}: authorizerResultTtlInSeconds must be between 0 and 3600")
        simple = spec.get("enableSimpleResponses", False)
        if not isinstance(simple, bool):
            raise invalid(f"{where}: enableSimpleResponses must be true or false")
        try:
            authorizers[name] = new_authorizer(name, uri, sources, str(spec.get("authorizerPayloadFormatVersion")
                                                                       or "2.0"), ttl or 0, simple)
        except ApiError as error:
            raise invalid(f"{where}: {error.message}") from None
    return authorizers


def _integration(spec: Any, where: str, integrations: dict[tuple[str, str, int], Resource],
                 new_integration: Any) -> str:
    """The id of the integration an operation's x-amazon-apigateway-integration declares (shared when equal)."""
    if not isinstance(spec, dict):
        raise invalid(f"the integration of {where} must be an object")
    if str(spec.get("type", "")).lower() != "aws_proxy":
        raise invalid(f"the integration of {where} has type {spec.get('type')!r}: Stratus serves aws_proxy "
                      "(Lambda proxy) integrations")
    uri = spec.get("uri")
    if not isinstance(uri, str) or not uri:
        raise invalid(f"the integration of {where} has no uri")
    version = str(spec.get("payloadFormatVersion") or "1.0")
    timeout = openapi.integer(f"timeoutInMillis of {where}", spec.get("timeoutInMillis")) or 30000
    shared = (uri, version, timeout)
    if shared not in integrations:
        try:
            integrations[shared] = new_integration(uri, version, timeout)
        except ApiError as error:
            raise invalid(f"the integration of {where}: {error.message}") from None
    integration_id: str = integrations[shared]["integrationId"]
    return integration_id


def definition(document: Resource, new_integration: Any, new_route: Any, new_authorizer: Any) -> Resource:
    """The parts of an HTTP API a loaded definition declares: {"name", "description", "corsConfiguration",
    "integrations", "routes", "authorizers"} (made with the HttpApis factories, so they are checked alike)."""
    schemes = openapi.security_schemes(document)
    authorizers = _authorizers(schemes, new_authorizer)
    integrations: dict[tuple[str, str, int], Resource] = {}
    routes: dict[str, Resource] = {}
    default_security = document.get("security")
    for path, method, operation in openapi.operations(document):
        key = where = "$default" if path == "/$default" else f"{method} {path}"
        if key in routes:
            raise invalid(f"route {key} is defined twice")
        try:
            check_route_key(key)
        except ApiError as error:
            raise invalid(error.message) from None
        spec = operation.get(openapi.INTEGRATION)
        integration_id = None if spec is None else _integration(spec, where, integrations, new_integration)
        requirements = operation.get("security", default_security)
        names = openapi.security_names(where, requirements, schemes) if requirements is not None else []
        authorizer_id = None
        for name in names:
            if name not in authorizers:
                raise invalid(f"{where} uses security scheme {name}, which is not a Lambda authorizer")
            authorizer_id = authorizers[name]["authorizerId"]
        routes[key] = new_route(key, integration_id, authorizer_id)
    info = document.get("info")
    description = info.get("description") if isinstance(info, dict) else None
    return {"name": openapi.title(document), "description": description if isinstance(description, str) else None,
            "corsConfiguration": cors_of(document.get("x-amazon-apigateway-cors")),
            "integrations": {i["integrationId"]: i for i in integrations.values()},
            "routes": {r["routeId"]: r for r in routes.values()},
            "authorizers": {a["authorizerId"]: a for a in authorizers.values()}}
