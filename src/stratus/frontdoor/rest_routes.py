"""A REST API deployment's resources compiled for matching requests, as API Gateway (v1) matches them.

A request's path (within its stage, trailing slash ignored) is matched against every resource that has a
method; the most specific wins segment by segment (a literal part before a `{param}` before a greedy
`{proxy+}`), and among the resources whose path matches, the first that has the request's method (or ANY)
serves it: the method falls through to a less specific resource, as on AWS (a path or method nothing serves
is answered 403 "Missing Authentication Token" by the door).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Resource = dict[str, Any]

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY")
_PART = re.compile(r"^(?:[A-Za-z0-9._:-]+|\{[A-Za-z0-9._-]+\+?\})$")
_VARIABLE = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")


def valid_path_part(part: str) -> bool:
    """Whether a resource's pathPart is one API Gateway accepts (a literal, `{name}` or `{name+}`)."""
    return bool(part) and _PART.match(part) is not None


def is_variable(part: str) -> bool:
    return _VARIABLE.match(part) is not None


def is_greedy(part: str) -> bool:
    found = _VARIABLE.match(part)
    return found is not None and found.group(2) == "+"


@dataclass(frozen=True, slots=True)
class CompiledResource:
    """One resource with methods, ready to match: its path as a regex, its variables and its rank."""

    resource: Resource
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 variable, 2 greedy (lower is more specific)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in zip(self.names, found.groups(), strict=True)}


def compile_resource(resource: Resource) -> CompiledResource:
    parts, names, rank = [], [], []
    for segment in [s for s in resource["path"].split("/") if s]:
        variable = _VARIABLE.match(segment)
        if variable is None:
            parts.append(re.escape(segment))
            rank.append(0)
        elif variable.group(2):
            parts.append("(.+)")
            names.append(variable.group(1))
            rank.append(2)
        else:
            parts.append("([^/]+)")
            names.append(variable.group(1))
            rank.append(1)
    return CompiledResource(resource, re.compile("/" + "/".join(parts)), tuple(names), tuple(rank))


class RouteTable:
    """A deployment's resources in matching order."""

    def __init__(self, resources: dict[str, Resource]):
        compiled = [compile_resource(r) for r in resources.values() if r.get("resourceMethods")]
        compiled.sort(key=lambda c: c.rank)
        self.compiled = compiled

    def match(self, method: str, path: str) -> tuple[Resource, Resource, dict[str, str]] | None:
        """(resource, method, path parameters) serving a request, or None."""
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        for candidate in self.compiled:
            params = candidate.match(path)
            if params is None:
                continue
            methods = candidate.resource["resourceMethods"]
            found = methods.get(method) or methods.get("ANY")
            if found is not None:
                return candidate.resource, found, params
        return None
