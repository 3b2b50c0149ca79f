"""Create/Get/List/Update/DeleteEventSourceMapping: REST paths and status codes of botocore's model."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import (
    MAPPING_BODY_MAX,
    check,
    checked,
    json_body,
    json_response,
    operation,
    parse_body,
    query_params,
)
from stratus.control.event_source_mappings import STARTING_POSITIONS, EventSourceMappingService
from stratus.errors import ValidationException
from stratus.shapes import CreateEventSourceMappingRequest, UpdateEventSourceMappingRequest


def _check_starting_position(document: dict[str, Any]) -> None:
    # AWS lists the enum in its own order (not the model's) when StartingPosition is wrong.
    position = document.get("StartingPosition")
    if isinstance(position, str) and position not in STARTING_POSITIONS:
        raise ValidationException(
            f"1 validation error detected: Value '{position}' at 'startingPosition' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(STARTING_POSITIONS)}]")


class EventSourceMappingRoutes:
    """The event source mapping operations."""

    def __init__(self, mappings: EventSourceMappingService):
        self.mappings = mappings

    def routes(self) -> list[Route]:
        base = "/2015-03-31/event-source-mappings"
        return [
            Route(base, operation(self.create), methods=["POST"]),
            Route(base + "/", operation(self.create), methods=["POST"]),
            Route(base, operation(self.list), methods=["GET"]),
            Route(base + "/", operation(self.list), methods=["GET"]),
            Route(base + "/{uuid}", operation(self.get), methods=["GET"]),
            Route(base + "/{uuid}", operation(self.update), methods=["PUT"]),
            Route(base + "/{uuid}", operation(self.delete), methods=["DELETE"]),
        ]

    async def create(self, request: Request) -> Response:
        document = await json_body(request, MAPPING_BODY_MAX)
        _check_starting_position(document)
        body = checked("CreateEventSourceMapping", document, CreateEventSourceMappingRequest)
        return json_response(await self.mappings.create(body), 202)

    async def get(self, request: Request) -> Response:
        mapping_id = request.path_params["uuid"]
        check("GetEventSourceMapping", UUID=mapping_id)
        return json_response(await self.mappings.get(mapping_id))

    async def list(self, request: Request) -> Response:
        params = query_params(request, {}, "EventSourceArn", "FunctionName", "Marker", "MaxItems")
        check("ListEventSourceMappings", **params)
        return json_response(await self.mappings.list(
            params.get("EventSourceArn"), params.get("FunctionName"), params.get("Marker"), params.get("MaxItems")))

    async def update(self, request: Request) -> Response:
        mapping_id = request.path_params["uuid"]
        body = await parse_body(request, "UpdateEventSourceMapping", UpdateEventSourceMappingRequest,
                                MAPPING_BODY_MAX, UUID=mapping_id)
        return json_response(await self.mappings.update(mapping_id, body), 202)

    async def delete(self, request: Request) -> Response:
        mapping_id = request.path_params["uuid"]
        check("DeleteEventSourceMapping", UUID=mapping_id)
        return json_response(await self.mappings.delete(mapping_id), 202)
