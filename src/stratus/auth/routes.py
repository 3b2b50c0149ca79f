"""Which Lambda operation a request is, and on what: the IAM action (lambda:<Operation>, Invoke →
lambda:InvokeFunction) and resource (the function's ARN when the path names a function, or a durable execution
of one; the code signing config's or capacity provider's ARN when it names one; else "*").

Built once from botocore's Lambda service model (each operation's `http.method` and `http.requestUri`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

# AWS authorizes InvokeWithResponseStream as lambda:InvokeFunction (its API reference says so).
_ACTION_OF = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeAsync", "InvokeWithResponseStream": "InvokeFunction"}
_FUNCTION_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[^:]+:\d{12}:function:([^:]+)(?::([^:]+))?")
_PARTIAL_ARN = re.compile(r"\d{12}:function:([^:]+)(?::([^:]+))?")
_SLASHED = {"DurableExecutionArn", "CallbackId"}  # path members whose values contain "/" (sent as %2F, decoded)
_DURABLE_FUNCTION = re.compile(r"arn:[^:]*:lambda:[^:]*:\d{12}:function:([^:/]+):([^/]+)/durable-execution/.*")


_RESOURCE_MEMBERS = ("FunctionName", "CodeSigningConfigArn", "CapacityProviderName", "DurableExecutionArn")


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    query_key: str  # a query parameter the operation is told apart by ("" if none)
    action: str
    resource_member: str  # the path member that names the resource ("" if none: "*")
    literal_length: int  # more literal characters first: the most specific route wins


def _compile(uri: str) -> tuple[re.Pattern[str], str, int]:
    path, _, query = uri.partition("?")
    body = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1].rstrip("+")
            body += f"(?P<{name}>.+)" if part.endswith("+}") or name in _SLASHED else f"(?P<{name}>[^/]+)"
        else:
            body += re.escape(part)
    literal = len(re.sub(r"\{[^}]+\}", "", path))
    return re.compile(body + "/?"), query.partition("=")[0], literal


class LambdaRoutes:
    def __init__(self, region: str, account_id: str):
        import botocore.session  # only at start: the model is read once

        model = botocore.session.get_session().get_service_model("lambda")
        routes: dict[str, list[Route]] = {}
        for name in model.operation_names:
            http = model.operation_model(name).http
            pattern, query_key, literal = _compile(http["requestUri"])
            member = next((m for m in _RESOURCE_MEMBERS if f"(?P<{m}>" in pattern.pattern), "")
            routes.setdefault(http["method"], []).append(Route(
                pattern, query_key, "lambda:" + _ACTION_OF.get(name, name), member, literal))
        for candidates in routes.values():  # a query-told route before its plain twin, then the most literal first
            candidates.sort(key=lambda r: (not r.query_key, -r.literal_length))
        self.routes = routes
        self.region = region
        self.account_id = account_id

    def resolve(self, method: str, path: str, query: str) -> tuple[str, str] | None:
        """(action, resource) of a Lambda API request, or None when no operation has this method and path."""
        params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        for route in self.routes.get(method.upper(), ()):
            if route.query_key and route.query_key not in params:
                continue
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            return route.action, self._resource(route.resource_member, match, params)
        return None

    def _resource(self, member: str, match: re.Match[str], params: dict[str, str]) -> str:
        value = match[member] if member else ""
        if member == "FunctionName":
            return self.function_arn(value, params.get("Qualifier"))
        if member == "CodeSigningConfigArn":
            return value
        if member == "CapacityProviderName":
            return value if value.startswith("arn:") else \
                f"arn:aws:lambda:{self.region}:{self.account_id}:capacity-provider:{value}"
        if member == "DurableExecutionArn" and (durable := _DURABLE_FUNCTION.fullmatch(value)) is not None:
            return self.function_arn(durable[1], durable[2])
        return "*"

    def function_arn(self, reference: str, qualifier: str | None) -> str:
        """The ARN a function name, partial or full ARN (with a qualifier or not) stands for."""
        name, own_qualifier = reference, None
        if (full := _FUNCTION_ARN.fullmatch(reference)) is not None:
            name, own_qualifier = full[1], full[2]
        elif (partial := _PARTIAL_ARN.fullmatch(reference)) is not None:
            name, own_qualifier = partial[1], partial[2]
        elif ":" in reference:
            name, _, own_qualifier = reference.partition(":")
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        qualifier = qualifier or own_qualifier
        return f"{arn}:{qualifier}" if qualifier else arn
