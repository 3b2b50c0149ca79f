"""Create/Get/List/Update/DeleteEventSourceMapping: REST paths and status codes of botocore's model."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.functions import convert, json_body, json_response, operation, query_params
from stratus.api.validation import validate
from stratus.control.event_source_mappings import STARTING_POSITIONS
from stratus.errors import ValidationException
from stratus.shapes import CreateEventSourceMappingRequest, UpdateEventSourceMappingRequest

_BODY_LIMIT = 256 * 1024


def _check_starting_position(document: dict[str, Any]) -> None:
    # AWS lists the enum in its own order (not the model's) when StartingPosition is wrong.
    position = document.get("StartingPosition")
    if isinstance(position, str) and position not in STARTING_POSITIONS:
        raise ValidationException(
            f"1 validation error detected: Value '{position}' at 'startingPosition' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(STARTING_POSITIONS)}]")


class EventSourceMappingRoutes:
    """The event source mapping operations."""

    def __init__(self, mappings):
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
        document = await json_body(request, _BODY_LIMIT)
        _check_starting_position(document)
        validate("CreateEventSourceMapping", document)
        config = await self.mappings.create(convert(document, CreateEventSourceMappingRequest))
        return json_response(config, 202)

    async def get(self, request: Request) -> Response:
        mapping_id = request.path_params["uuid"]
        validate("GetEventSourceMapping", {"UUID": mapping_id})
        return json_response(await self.mappings.get(mapping_id))

    async def list(self, request: Request) -> Response:
        params = query_params(request, {}, "EventSourceArn", "FunctionName", "Marker", "MaxItems")
        validate("ListEventSourceMappings", params)
        return json_response(await self.mappings.list(
            params.get("EventSourceArn"), params.get("FunctionName"), params.get("Marker"), params.get("MaxItems")))

    async def update(self, request: Request) -> Response:
        mapping_id = request.path_params["uuid"]
        document = await json_body(request, _BODY_LIMIT)
        validate("UpdateEventSourceMapping", dict(document, UUID=mapping_id))
        config = await self.mappings.update(mapping_id, convert(document, UpdateEventSourceMappingRequest))
        return json_response(config, 202)

    async def delete(self, request: Request) -> Response:
        mapping_id = request.path_params["uuid"]
        validate("DeleteEventSourceMapping", {"UUID": mapping_id})
        return json_response(await self.mappings.delete(mapping_id), 202)
