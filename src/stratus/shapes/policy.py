"""Resource-based policy shapes (AddPermission, GetPolicy) and tag shapes (TagResource, ListTags)."""

from __future__ import annotations

from stratus.shapes.base import Shape


class AddPermissionRequest(Shape):
    StatementId: str
    Action: str
    Principal: str
    SourceArn: str | None = None
    SourceAccount: str | None = None
    EventSourceToken: str | None = None
    RevisionId: str | None = None
    PrincipalOrgID: str | None = None
    FunctionUrlAuthType: str | None = None
    InvokedViaFunctionUrl: bool | None = None


class AddPermissionResponse(Shape):
    Statement: str  # the statement as a JSON document in a string, as AWS returns it


class GetPolicyResponse(Shape):
    Policy: str  # the policy as a JSON document in a string
    RevisionId: str


class TagResourceRequest(Shape):
    Tags: dict[str, str] | None = None


class ListTagsResponse(Shape):
    Tags: dict[str, str]
