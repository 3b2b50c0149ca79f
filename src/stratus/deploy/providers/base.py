"""The provider interface: the engine calls these; each resource type implements them with AWS API calls.

Conventions (CloudFormation's):
- `physical_id` is what `Ref` returns for the type (a function's name, a queue's URL, a version's ARN, ...).
- `attributes` are what `Fn::GetAtt` returns (`Arn`, `QueueUrl`, `RootResourceId`, `Version`, ...).
- A property change a type cannot apply in place is a replacement: `update` creates the new resource and
  returns its (different) physical id; the engine deletes the old one only after the whole deploy succeeded
  (so a rollback never has to re-create anything).
- `delete` of a resource that no longer exists succeeds (deletes are retried by rollbacks and cleanups).
- Errors: raise `ResourceFailed(reason)` with a one-line reason in AWS's words (e.g. the API's error code and
  message); the engine names the logical id and type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol


class ResourceFailed(Exception):
    """A resource could not be created, updated or deleted; `str()` is the one-line reason."""


@dataclasses.dataclass
class Endpoint:
    """A URL the stack serves, for the deploy's `Endpoints` and `stratus dev`'s router.

    `owner` is the logical id it is reported under (the API's, or the AWS::Lambda::Url's); `kind` is "REST",
    "HTTP" or "URL"; `routes` are (METHOD, path template) pairs as the API declares them ("ANY" for any method;
    `{id}` and `{proxy+}` as API Gateway writes them); empty for a Function URL (it serves every path).
    """

    owner: str
    kind: str
    base_url: str
    routes: list[tuple[str, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Applied:
    """The outcome of a create or an update."""

    physical_id: str
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    endpoint: Endpoint | None = None


@dataclasses.dataclass
class ResourceState:
    """What the stack remembers of one resource: as last applied (properties resolved, no intrinsics left)."""

    logical_id: str
    resource_type: str
    physical_id: str
    properties: dict[str, Any]
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    endpoint: Endpoint | None = None


class DeployContext(Protocol):
    """What a provider may use while it works (deploy/engine.py builds it)."""

    stack_name: str
    stack_id: str
    region: str
    account_id: str
    partition: str

    def client(self, service: str) -> Any:
        """A boto3 client for `service`: Stratus's own API (lambda, iam, sts, events, apigateway, apigatewayv2,
        logs) over loopback with the server's internal admin key, or the STRATUS_SERVICE_ENDPOINTS endpoint
        (sqs, sns, dynamodb, s3, ...). Raises ResourceFailed naming the service when none is configured."""

    def physical_name(self, logical_id: str, max_length: int = 64) -> str:
        """A generated name as CloudFormation makes them: `<stack>-<logical id>-<13 random chars>`, truncated."""

    def logical_id_of(self, physical_id: str) -> str | None:
        """The logical id of this stack's resource with that physical id (providers naming an Endpoint's owner)."""

    def api_base_url(self, api_id: str, stage: str | None) -> str:
        """The local base URL that serves an API Gateway API's stage (None: an HTTP API's `$default`)."""


class Provider(Protocol):
    """One resource type's lifecycle (see the module docstring for the conventions)."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied: ...

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied: ...

    def delete(self, ctx: DeployContext, current: ResourceState) -> None: ...


PROVIDERS: dict[str, Provider] = {}


def provider(*resource_types: str) -> Callable[[type], type]:
    """Register a provider class (instantiated with no arguments) for these CloudFormation resource types."""

    def register(cls: type) -> type:
        instance = cls()
        for resource_type in resource_types:
            PROVIDERS[resource_type] = instance
        return cls

    return register
