"""ImportRestApi / PutRestApi: an OpenAPI definition applied to a REST API document (rest_apis.py's form).

What a definition becomes, as API Gateway imports it:
- each path → the resources along it (`{param}`, greedy `{proxy+}` last); each operation → a method
  (`x-amazon-apigateway-any-method` → ANY) with its `responses` as method responses;
- `x-amazon-apigateway-integration`: `aws_proxy` (a Lambda proxy: `uri`, `httpMethod` POST, `timeoutInMillis`)
  or `mock` (`requestTemplates`, `responses` keyed by selection pattern or `default`, each with `statusCode`,
  `responseParameters`, `responseTemplates`); other types are refused (Stratus serves these two);
- securityDefinitions / components.securitySchemes with `x-amazon-apigateway-authorizer` (`token` or
  `request`: authorizerUri, identitySource, authorizerResultTtlInSeconds, identityValidationExpression) →
  Lambda authorizers; an operation's `security` (else the document's) naming one → authorizationType CUSTOM;
  naming an API key scheme → apiKeyRequired (recorded; API keys are not enforced by Stratus);
- `x-amazon-apigateway-binary-media-types` → binaryMediaTypes; `info.title` → the name.
`overwrite` replaces the API's resources, methods and authorizers (the root resource keeps its id; stages and
deployments stay: clients see the new definition after the next deployment); `merge` adds to them.
"""

from __future__ import annotations

from typing import Any

from stratus.frontdoor import openapi
from stratus.frontdoor.apis import _id
from stratus.frontdoor.openapi import invalid
from stratus.frontdoor.rest_routes import is_greedy, valid_path_part

Resource = dict[str, Any]
DEFAULT_TIMEOUT_MS = 29_000


def check_proxy_uri(uri: Any, where: str) -> str:
    if not isinstance(uri, str) or not uri:
        raise invalid(f"the aws_proxy integration of {where} has no uri")
    if ":lambda:path/" not in uri and not uri.startswith("arn:aws:lambda:") and "${stageVariables." not in uri:
        raise invalid(f"the aws_proxy integration of {where} must invoke a Lambda function "
                      "(arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations)")
    return uri


def _authorizers(document: Resource, existing: dict[str, Resource]) -> dict[str, Resource]:
    """The definition's Lambda authorizers keyed by scheme name (ids kept for names `existing` has)."""
    by_name = {authorizer["name"]: authorizer for authorizer in existing.values()}
    out: dict[str, Resource] = {}
    for name, scheme in openapi.security_schemes(document).items():
        spec = scheme.get(openapi.AUTHORIZER)
        if spec is None:
            continue
        where = f"authorizer {name}"
        if not isinstance(spec, dict):
            raise invalid(f"{where} must be an object")
        kind = str(spec.get("type", "")).lower()
        if kind not in ("token", "request"):
            raise invalid(f"{where} has type {spec.get('type')!r}: Stratus supports Lambda authorizers "
                          "(token, request)")
        uri = spec.get("authorizerUri")
        if not isinstance(uri, str) or not uri:
            raise invalid(f"{where} has no authorizerUri")
        source = spec.get("identitySource")
        if source is None and kind == "token":
            header = scheme.get("name") if scheme.get("in", "header") == "header" else None
            source = f"method.request.header.{header or 'Authorization'}"
        if source is not None and not isinstance(source, str):
            raise invalid(f"{where}: identitySource must be a string")
        if kind == "token" and not (source or "").startswith("method.request.header."):
            raise invalid(f"{where}: a token authorizer's identitySource must be method.request.header.<name>")
        ttl = openapi.integer(f"{where}: authorizerResultTtlInSeconds", spec.get("authorizerResultTtlInSeconds"))
        if ttl is not None and not 0 <= ttl <= 3600:
            raise invalid(f"{where}: authorizerResultTtlInSeconds must be between 0 and 3600")
        authorizer: Resource = {"id": by_name[name]["id"] if name in by_name else _id(6), "name": name,
                                "type": kind.upper(), "authType": str(scheme.get("x-amazon-apigateway-authtype",
                                                                                 "custom")),
                                "authorizerUri": uri}
        if source:
            authorizer["identitySource"] = source
        expression = spec.get("identityValidationExpression")
        if isinstance(expression, str) and expression:
            authorizer["identityValidationExpression"] = expression
        if ttl is not None:
            authorizer["authorizerResultTtlInSeconds"] = ttl
        out[name] = authorizer
    return out


def _integration(spec: Any, where: str, resource_id: str) -> Resource:
    if not isinstance(spec, dict):
        raise invalid(f"the integration of {where} must be an object")
    kind = str(spec.get("type", "")).lower()
    timeout = openapi.integer(f"timeoutInMillis of {where}", spec.get("timeoutInMillis"))
    timeout = DEFAULT_TIMEOUT_MS if timeout is None else timeout
    if not 50 <= timeout <= DEFAULT_TIMEOUT_MS:
        raise invalid(f"timeoutInMillis of {where} must be between 50 and 29000")
    passthrough = str(spec.get("passthroughBehavior") or "when_no_match").upper()
    if kind == "aws_proxy":
        return {"type": "AWS_PROXY", "httpMethod": str(spec.get("httpMethod") or "POST").upper(),
                "uri": check_proxy_uri(spec.get("uri"), where), "passthroughBehavior": passthrough,
                "timeoutInMillis": timeout, "cacheNamespace": resource_id, "cacheKeyParameters": []}
    if kind == "mock":
        integration: Resource = {"type": "MOCK", "requestTemplates": openapi.text_map(
            f"requestTemplates of {where}", spec.get("requestTemplates")), "passthroughBehavior": passthrough,
            "timeoutInMillis": timeout, "cacheNamespace": resource_id, "cacheKeyParameters": []}
        responses = spec.get("responses") or {}
        if not isinstance(responses, dict):
            raise invalid(f"the integration responses of {where} must be an object")
        integration_responses: dict[str, Resource] = {}
        for pattern, response in responses.items():
            if not isinstance(response, dict):
                raise invalid(f"integration response {pattern} of {where} must be an object")
            status = str(response.get("statusCode") or "")
            if not status.isdigit() or len(status) != 3:
                raise invalid(f"integration response {pattern} of {where} needs a statusCode (e.g. \"200\")")
            entry: Resource = {"statusCode": status}
            if pattern != "default":
                entry["selectionPattern"] = str(pattern)
            for key in ("responseParameters", "responseTemplates"):
                if response.get(key) is not None:
                    entry[key] = openapi.text_map(f"{key} of {where}", response[key])
            integration_responses[status] = entry
        if integration_responses:
            integration["integrationResponses"] = integration_responses
        return integration
    raise invalid(f"the integration of {where} has type {spec.get('type')!r}: Stratus serves aws_proxy "
                  "(Lambda proxy) and mock integrations")


def _method_responses(operation: Resource, where: str) -> dict[str, Resource]:
    responses = operation.get("responses") or {}
    if not isinstance(responses, dict):
        raise invalid(f"responses of {where} must be an object")
    out: dict[str, Resource] = {}
    for status, response in responses.items():
        status = str(status)
        if not status.isdigit():
            continue
        entry: Resource = {"statusCode": status}
        headers = response.get("headers") if isinstance(response, dict) else None
        if isinstance(headers, dict) and headers:
            entry["responseParameters"] = {f"method.response.header.{name}": False for name in headers}
        out[status] = entry
    return out


def _resource_for(api: Resource, path: str) -> Resource:
    """The resource for `path` in the API document, created (with its ancestors) when missing."""
    resources = api["resources"]
    current = resources[api["rootResourceId"]]
    parts = [p for p in path.split("/") if p]
    for index, part in enumerate(parts):
        if not valid_path_part(part):
            raise invalid(f"path {path} has an invalid part {part!r} (a-zA-Z0-9._- , {{name}} or {{name+}})")
        if is_greedy(part) and index != len(parts) - 1:
            raise invalid(f"path {path}: a greedy path variable ({part}) must be the last part")
        child = next((r for r in resources.values()
                      if r.get("parentId") == current["id"] and r["pathPart"] == part), None)
        if child is None:
            siblings = [r for r in resources.values() if r.get("parentId") == current["id"]]
            if part.startswith("{") and any(s["pathPart"].startswith("{") for s in siblings):
                raise invalid(f"path {path}: another path already has a variable at {current['path']} "
                              "(only one is allowed)")
            child = {"id": _id(6), "parentId": current["id"], "pathPart": part,
                     "path": current["path"].rstrip("/") + "/" + part}
            resources[child["id"]] = child
        current = child
    return current


def apply(api: Resource, document: Resource, mode: str) -> None:
    """Apply a loaded definition (openapi.load) to an API document in place (`overwrite` or `merge`)."""
    if mode == "overwrite":
        root = api["rootResourceId"]
        api["resources"] = {root: {"id": root, "path": "/"}}
        authorizers = _authorizers(document, {})
        api["authorizers"] = {a["id"]: a for a in authorizers.values()}
    else:
        authorizers = _authorizers(document, api["authorizers"])
        api["authorizers"].update({a["id"]: a for a in authorizers.values()})
    schemes = openapi.security_schemes(document)
    default_security = document.get("security")
    for path, method, operation in openapi.operations(document):
        where = f"{method} {path}"
        resource = _resource_for(api, path)
        requirements = operation.get("security", default_security)
        names = openapi.security_names(where, requirements, schemes) if requirements is not None else []
        entry: Resource = {"httpMethod": method, **_authorization(where, names, schemes, authorizers)}
        if isinstance(operation.get("operationId"), str):
            entry["operationName"] = operation["operationId"]
        responses = _method_responses(operation, where)
        if responses:
            entry["methodResponses"] = responses
        if openapi.INTEGRATION in operation:
            entry["methodIntegration"] = _integration(operation[openapi.INTEGRATION], where, resource["id"])
        resource.setdefault("resourceMethods", {})[method] = entry
    _api_settings(api, document, mode)


def _authorization(where: str, names: list[str], schemes: dict[str, Resource],
                   authorizers: dict[str, Resource]) -> Resource:
    """A method's authorizationType / authorizerId / apiKeyRequired from the security schemes it names."""
    entry: Resource = {"authorizationType": "NONE", "apiKeyRequired": False}
    for name in names:
        scheme = schemes[name]
        if name in authorizers:
            entry["authorizationType"] = "CUSTOM"
            entry["authorizerId"] = authorizers[name]["id"]
        elif str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
            raise invalid(f"{where} uses IAM authorization ({name}): Stratus serves NONE and Lambda authorizers")
        elif str(scheme.get("type", "")).lower() == "apikey":
            entry["apiKeyRequired"] = True
        else:
            raise invalid(f"{where} uses security scheme {name}, which is not a Lambda authorizer or an API key")
    return entry


def _api_settings(api: Resource, document: Resource, mode: str) -> None:
    """binaryMediaTypes, name and description from the definition."""
    binary = document.get("x-amazon-apigateway-binary-media-types")
    if binary is not None:
        if not isinstance(binary, list) or not all(isinstance(t, str) for t in binary):
            raise invalid("x-amazon-apigateway-binary-media-types must be a list of media types")
        if mode == "overwrite":
            api["binaryMediaTypes"] = list(binary)
        else:
            api["binaryMediaTypes"] = list(dict.fromkeys(api.get("binaryMediaTypes", []) + binary))
    elif mode == "overwrite":
        api.pop("binaryMediaTypes", None)
    name = openapi.title(document)
    if name:
        api["name"] = name
    info = document.get("info")
    description = info.get("description") if isinstance(info, dict) else None
    if isinstance(description, str) and description:
        api["description"] = description
