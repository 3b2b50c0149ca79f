"""OpenAPI definitions (swagger 2.0 or OpenAPI 3, JSON or YAML) read for API Gateway's import operations:
the parts every importer needs (the document, its paths and operations, its security schemes); what each
API kind makes of them is in rest_import.py (REST APIs) and api_import.py (HTTP APIs).

Every malformed definition raises BadRequestException "Errors found during import: <what and where>" (one
line), as API Gateway answers an import it cannot read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import yaml

from stratus.frontdoor.apis import ApiError, bad_request

Resource = dict[str, Any]
OPERATIONS = {"get": "GET", "put": "PUT", "post": "POST", "delete": "DELETE", "patch": "PATCH",
              "options": "OPTIONS", "head": "HEAD", "x-amazon-apigateway-any-method": "ANY"}
INTEGRATION = "x-amazon-apigateway-integration"
AUTHORIZER = "x-amazon-apigateway-authorizer"


def invalid(detail: str) -> ApiError:
    return bad_request(f"Errors found during import: {detail}")


def load(body: bytes | str) -> Resource:
    """The definition as a dict (JSON, else YAML), checked to be swagger 2.0 or OpenAPI 3 with paths."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid("the definition is not UTF-8 text") from None
    if not body.strip():
        raise invalid("the definition is empty")
    document: Any
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        try:
            document = yaml.safe_load(body)
        except (yaml.YAMLError, RecursionError) as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            raise invalid(f"the definition is neither JSON nor YAML{at}") from None
    if not isinstance(document, dict):
        raise invalid("the definition must be an object (an OpenAPI document)")
    version = document.get("swagger") or document.get("openapi")
    if not isinstance(version, str | int | float) or not (str(version).startswith("2") or
                                                          str(version).startswith("3")):
        raise invalid("the definition must declare 'swagger: \"2.0\"' or 'openapi: 3.x'")
    paths = document.get("paths", {})
    if paths is None:
        paths = {}
    if not isinstance(paths, dict):
        raise invalid("'paths' must be an object")
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise invalid(f"path {path!r} must start with '/'")
        if not isinstance(item, dict):
            raise invalid(f"path {path} must be an object of operations")
    return document


def title(document: Resource) -> str | None:
    info = document.get("info")
    name = info.get("title") if isinstance(info, dict) else None
    return str(name) if isinstance(name, str | int | float) and str(name) else None


def operations(document: Resource) -> Iterator[tuple[str, str, Resource]]:
    """(path, HTTP method or ANY, operation object) for every operation of the definition."""
    for path, item in (document.get("paths") or {}).items():
        for key, operation in item.items():
            method = OPERATIONS.get(str(key).lower())
            if method is None:
                continue  # parameters, summary, servers, other extensions
            if not isinstance(operation, dict):
                raise invalid(f"operation {key} of path {path} must be an object")
            yield path, method, operation


def security_schemes(document: Resource) -> dict[str, Resource]:
    """securityDefinitions (swagger 2.0) or components.securitySchemes (OpenAPI 3), checked to be objects."""
    schemes = document.get("securityDefinitions")
    if schemes is None:
        components = document.get("components") or {}
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    schemes = schemes or {}
    if not isinstance(schemes, dict) or not all(isinstance(s, dict) for s in schemes.values()):
        raise invalid("security schemes must be objects")
    return schemes


def security_names(where: str, requirements: Any, schemes: dict[str, Resource]) -> list[str]:
    """The scheme names of a `security` list ([{name: [scopes]}]), each checked to be defined."""
    if not isinstance(requirements, list) or not all(isinstance(r, dict) for r in requirements):
        raise invalid(f"'security' of {where} must be a list of objects")
    names = [str(name) for requirement in requirements for name in requirement]
    for name in names:
        if name not in schemes:
            raise invalid(f"{where} uses security scheme {name}, which the definition does not define")
    return names


def text_map(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(f"{where} must be a map of strings")
    return {str(k): v for k, v in value.items()}


def integer(where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(f"{where} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{where} must be an integer") from None
