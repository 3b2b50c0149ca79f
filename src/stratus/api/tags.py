"""TagResource, UntagResource and ListTags (REST paths and shapes of botocore's model)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import CONFIG_BODY_MAX, check, json_response, operation, parse_body
from stratus.control.tags import TagService
from stratus.shapes import ListTagsResponse, TagResourceRequest


class TagRoutes:
    """Tag operations; the resource ARN is the rest of the path (a malformed one gets the model's error)."""

    def __init__(self, tags: TagService):
        self.tags = tags

    def routes(self) -> list[Route]:
        path = "/2017-03-31/tags/{arn:path}"
        return [
            Route(path, operation(self.tag_resource), methods=["POST"]),
            Route(path, operation(self.untag_resource), methods=["DELETE"]),
            Route(path, operation(self.list_tags), methods=["GET"]),
        ]

    async def tag_resource(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        body = await parse_body(request, "TagResource", TagResourceRequest, CONFIG_BODY_MAX, Resource=arn)
        await self.tags.tag(arn, body.Tags or {})
        return Response(status_code=204)

    async def untag_resource(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        keys = request.query_params.getlist("tagKeys")
        check("UntagResource", Resource=arn, TagKeys=keys or None)
        await self.tags.untag(arn, keys)
        return Response(status_code=204)

    async def list_tags(self, request: Request) -> Response:
        arn = request.path_params["arn"]
        check("ListTags", Resource=arn)
        return json_response(ListTagsResponse(Tags=await self.tags.list(arn)))
