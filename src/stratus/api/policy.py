"""AddPermission, RemovePermission and GetPolicy (REST paths and shapes of botocore's model)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import CONFIG_BODY_MAX, check, json_response, operation, parse_body, query
from stratus.control.policy import PolicyService
from stratus.shapes import AddPermissionRequest, AddPermissionResponse, GetPolicyResponse


class PolicyRoutes:
    """The resource-based policy operations of functions, versions and aliases."""

    def __init__(self, policies: PolicyService):
        self.policies = policies

    def routes(self) -> list[Route]:
        base = "/2015-03-31/functions/{name}/policy"
        return [
            Route(base, operation(self.add_permission), methods=["POST"]),
            Route(base, operation(self.get_policy), methods=["GET"]),
            Route(base + "/{sid}", operation(self.remove_permission), methods=["DELETE"]),
        ]

    async def add_permission(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        body = await parse_body(request, "AddPermission", AddPermissionRequest, CONFIG_BODY_MAX,
                                FunctionName=name, Qualifier=qualifier)
        statement = await self.policies.add_permission(name, qualifier, body)
        return json_response(AddPermissionResponse(Statement=statement), 201)

    async def remove_permission(self, request: Request) -> Response:
        name, sid = request.path_params["name"], request.path_params["sid"]
        qualifier, revision_id = query(request, "Qualifier"), query(request, "RevisionId")
        check("RemovePermission", FunctionName=name, StatementId=sid, Qualifier=qualifier, RevisionId=revision_id)
        await self.policies.remove_permission(name, sid, qualifier, revision_id)
        return Response(status_code=204)

    async def get_policy(self, request: Request) -> Response:
        name, qualifier = request.path_params["name"], query(request, "Qualifier")
        check("GetPolicy", FunctionName=name, Qualifier=qualifier)
        policy, revision_id = await self.policies.get_policy(name, qualifier)
        return json_response(GetPolicyResponse(Policy=policy, RevisionId=revision_id))
