"""The durable execution operations (2025-12-01 paths of botocore's model), answered as Lambda does while no
durable execution exists (control/durable.py). An execution ARN and a callback id contain `/` (botocore sends
it as %2F, which arrives decoded): their path parameters take the rest of the path."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import SETTINGS_BODY_MAX, check, checked, json_body, json_response, operation, query
from stratus.control.durable import DurableExecutions
from stratus.errors import InvalidRequestContentException

_EXECUTION = "/2025-12-01/durable-executions/{arn:path}"
_CALLBACK = "/2025-12-01/durable-execution-callbacks/{id:path}"
_BOOLEAN = {"true": True, "false": False}


def _query(request: Request, *names: str) -> dict[str, Any]:
    """The query members `names` that are present, as the model's types (MaxItems, booleans)."""
    params: dict[str, Any] = {}
    for name in names:
        value = query(request, name)
        if value is None:
            continue
        if name == "MaxItems":
            if not value.lstrip("-").isdigit():
                raise InvalidRequestContentException("MaxItems must be an integer")
            params[name] = int(value)
        elif name in ("IncludeExecutionData", "ReverseOrder"):
            params[name] = _BOOLEAN.get(value.lower(), value)
        else:
            params[name] = value
    return params


class DurableExecutionRoutes:
    """Get/GetHistory/GetState/Stop/CheckpointDurableExecution, SendDurableExecutionCallback*, and
    ListDurableExecutionsByFunction."""

    def __init__(self, durable: DurableExecutions):
        self.durable = durable

    def routes(self) -> list[Route]:
        # The suffixed routes first: `{arn:path}` alone would take ".../history" too.
        return [
            Route(_EXECUTION + "/history", operation(self.history), methods=["GET"]),
            Route(_EXECUTION + "/state", operation(self.state), methods=["GET"]),
            Route(_EXECUTION + "/checkpoint", operation(self.checkpoint), methods=["POST"]),
            Route(_EXECUTION + "/stop", operation(self.stop), methods=["POST"]),
            Route(_EXECUTION, operation(self.get), methods=["GET"]),
            Route(_CALLBACK + "/succeed", operation(self.callback("SendDurableExecutionCallbackSuccess")),
                  methods=["POST"]),
            Route(_CALLBACK + "/fail", operation(self.callback("SendDurableExecutionCallbackFailure")),
                  methods=["POST"]),
            Route(_CALLBACK + "/heartbeat", operation(self.callback("SendDurableExecutionCallbackHeartbeat")),
                  methods=["POST"]),
            Route("/2025-12-01/functions/{name}/durable-executions", operation(self.list_by_function),
                  methods=["GET"]),
        ]

    async def get(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        check("GetDurableExecution", DurableExecutionArn=arn)
        raise self.durable.missing(arn)

    async def history(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        check("GetDurableExecutionHistory", DurableExecutionArn=arn,
              **_query(request, "IncludeExecutionData", "MaxItems", "Marker", "ReverseOrder"))
        raise self.durable.missing(arn)

    async def state(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        check("GetDurableExecutionState", DurableExecutionArn=arn,
              **_query(request, "CheckpointToken", "Marker", "MaxItems"))
        raise self.durable.missing(arn)

    async def stop(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        checked("StopDurableExecution", await json_body(request, SETTINGS_BODY_MAX), dict, DurableExecutionArn=arn)
        raise self.durable.missing(arn)

    async def checkpoint(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        checked("CheckpointDurableExecution", await json_body(request, SETTINGS_BODY_MAX), dict,
                DurableExecutionArn=arn)
        raise self.durable.bad_checkpoint(arn)

    def callback(self, operation_name: str):
        async def send(request: Request) -> Response:
            callback_id = request.path_params["id"]
            if operation_name == "SendDurableExecutionCallbackSuccess":  # its body is the result itself (a blob)
                check(operation_name, CallbackId=callback_id)
            else:
                checked(operation_name, await json_body(request, SETTINGS_BODY_MAX), dict, CallbackId=callback_id)
            raise self.durable.bad_callback(callback_id)

        return send

    async def list_by_function(self, request: Request) -> Response:
        name = request.path_params["name"]
        params = _query(request, "Qualifier", "DurableExecutionName", "StartedAfter", "StartedBefore",
                        "ReverseOrder", "Marker", "MaxItems")
        statuses = request.query_params.getlist("Statuses")
        if statuses:
            params["Statuses"] = statuses
        check("ListDurableExecutionsByFunction", FunctionName=name, **params)
        return json_response(await self.durable.list_by_function(name, params.get("Qualifier")))
