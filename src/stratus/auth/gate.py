"""Authentication in front of every route on the port (`AuthGate`), and the `Authenticator` the
Invoke front doors call directly (their body is hashed as it arrives, on the hot path)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stratus.api.logs import request_target as logs_request_target
from stratus.auth.authorizer import IamAuthorizer, ResourceStatements, RolePolicySource
from stratus.auth.errors import AuthError, MissingAuthenticationTokenException
from stratus.auth.principal import ANONYMOUS_ADMIN, AdminOnly, Authorizer, Principal
from stratus.auth.routes import LambdaRoutes
from stratus.auth.sessions import SessionCredentials
from stratus.auth.sigv4 import EMPTY_SHA256, Pending, Verifier
from stratus.errors import LambdaError, RequestEntityTooLargeException
from stratus.iam.api import IAM_XMLNS, STS_XMLNS, credential_service, error_xml

PUBLIC_PATHS = ("/_stratus/health",)
# Code downloads carry their own permission (api/code_urls.py: a presigned, expiring URL, as on AWS).
PUBLIC_PREFIXES = ("/_stratus/code/",)
ROOT_SERVICES = ("events", "iam", "sts", "logs")  # the credential scopes `POST /` accepts
# IAM's and STS's names for the signature refusals (the query protocol's XML errors).
QUERY_ERROR_CODES = {"InvalidSignatureException": "SignatureDoesNotMatch",
                     "UnrecognizedClientException": "InvalidClientTokenId",
                     "MissingAuthenticationTokenException": "MissingAuthenticationToken"}




class Authenticator:
    """SigV4 verification with the configured keys (None: STRATUS_AUTH=off) and the authorization hook."""

    def __init__(self, verifier: Verifier | None, region: str, authorizer: Authorizer | None = None,
                 routes: LambdaRoutes | None = None, account_id: str = "000000000000"):
        self.verifier = verifier
        self.region = region
        self.account_id = account_id  # the account of the resources' ARNs (the server's setting)
        self.authorizer: Authorizer = authorizer or AdminOnly()
        self.routes = routes  # a Lambda request's operation (IAM action) and resource
        self.sessions: SessionCredentials | None = None  # functions' role credentials (None: none issued)

    def begin(self, method: str, raw_path: str, query: str, headers: dict[bytes, bytes],
              service: str = "lambda") -> Pending | None:
        """The head's check (raises AuthError); None when authentication is off."""
        if self.verifier is None:
            return None
        return self.verifier.begin(method, raw_path, query, headers, service)

    def finish(self, pending: Pending | None, digest: Any) -> Principal:
        """Complete `begin`'s check with the body's running SHA-256 (a hashlib object, or None for no body)."""
        if pending is None:
            return ANONYMOUS_ADMIN
        return pending.finish(digest.hexdigest() if digest is not None else EMPTY_SHA256)

    def authorize(self, principal: Principal, action: str, resource: str,
                  conditions: dict[str, str] | None = None) -> None:
        """THE authorization hook (IAM plugs in here as `authorizer`); `conditions` are request-specific
        condition keys (e.g. lambda:FunctionUrlAuthType)."""
        self.authorizer.authorize(principal, action, resource, conditions)

    def use_resource_policies(self, statements: ResourceStatements) -> None:
        """Functions' resource-based policies (their statements by function ARN) for the authorizer."""
        if isinstance(self.authorizer, IamAuthorizer):
            self.authorizer.resource_statements = statements

    def use_role_policies(self, roles: RolePolicySource) -> None:
        """The IAM service's roles (their inline and attached policies) for the authorizer."""
        if isinstance(self.authorizer, IamAuthorizer):
            self.authorizer.roles = roles

    def operation(self, method: str, path: str, query: str, service: str) -> tuple[str, str]:
        """(IAM action, resource) of a request: per Lambda operation; `<service>:*` on `*` otherwise."""
        if service == "lambda" and self.routes is not None:
            found = self.routes.resolve(method, path, query)
            if found is not None:
                return found
        return f"{service}:*", "*"


def header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """ASGI headers as one dict; repeated headers joined with commas, as SigV4 canonicalises them."""
    result: dict[bytes, bytes] = {}
    for name, value in headers:
        result[name] = result[name] + b"," + value if name in result else value
    return result


class AuthGate:
    """ASGI middleware: a request runs only once its signature (body included) checked out.

    The body is read here (within `body_limit`) and handed on unchanged; the principal is left in
    `scope["stratus.principal"]`. `POST /` is the EventBridge JSON 1.1 surface (its error shape)."""

    def __init__(self, app: ASGIApp, auth: Authenticator, body_limit: int):
        self.app = app
        self.auth = auth
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.auth.verifier is None or scope["path"] in PUBLIC_PATHS \
                or scope["path"].startswith(PUBLIC_PREFIXES):
            return await self.app(scope, receive, send)
        json11 = scope["path"] == "/"
        service = _root_service(scope) if json11 else \
            "apigateway" if scope["path"].startswith(("/v2/", "/restapis")) else "lambda"
        try:
            raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            headers = header_map(scope["headers"])
            pending = self.auth.begin(scope["method"], raw_path, scope["query_string"].decode("latin-1"),
                                      headers, service)
            messages, digest = await self._read_body(receive, scope, service)
            principal = self.auth.finish(pending, digest)
            # The admin may do everything; STS here is GetCallerIdentity, which needs no permission (AWS's words).
            if principal.kind != "admin" and service != "sts":
                if service == "logs":  # logs:<Operation> on the log group (or stream) the body names
                    action, resource = logs_request_target(
                        headers.get(b"x-amz-target", b"").decode("latin-1"),
                        b"".join(m.get("body", b"") for m in messages), self.auth.region, self.auth.account_id)
                else:
                    action, resource = self.auth.operation(scope["method"], scope["path"],
                                                           scope["query_string"].decode("latin-1"), service)
                self.auth.authorize(principal, action, resource)
        except LambdaError as error:
            return await _send_error(send, error, json11, service)
        scope["stratus.principal"] = principal

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, scope: Scope, service: str) -> tuple[list[Message], Any]:
        messages: list[Message] = []
        digest = hashlib.sha256()
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.body_limit:
                raise RequestEntityTooLargeException(
                    f"Request must be smaller than {self.body_limit} bytes{self._for_operation(scope, service)}")
            digest.update(body)
            if not message.get("more_body", False):
                break
        return messages, digest

    def _for_operation(self, scope: Scope, service: str) -> str:
        """" for the <Operation> operation" of a Lambda request (AWS's words name it), else ""."""
        action, _ = self.auth.operation(scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
                                        service)
        prefix, _, name = action.partition(":")
        return f" for the {name} operation" if prefix == "lambda" and name != "*" else ""


def _root_service(scope: Scope) -> str:
    """`POST /` serves EventBridge, IAM and STS: the credential scope says which one a request is for."""
    scoped = credential_service({name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]},
                                scope["query_string"].decode("latin-1"))
    return scoped if scoped in ROOT_SERVICES else "events"


async def _send_error(send: Send, error: LambdaError, json11: bool, service: str = "lambda") -> None:
    if service in ("iam", "sts"):  # the query protocol's XML errors
        request_id = str(uuid.uuid4())
        code = QUERY_ERROR_CODES.get(error.error_type, error.error_type)
        body = error_xml(code, error.message, request_id, STS_XMLNS if service == "sts" else IAM_XMLNS)
        headers = [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode()),
                   (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if json11 and isinstance(error, AuthError):
        body = error.json11_body()
        # The JSON 1.x services answer a bad signature or key with 400, a missing one with 403.
        missing = isinstance(error, MissingAuthenticationTokenException)
        status = 400 if error.status == 403 and not missing else error.status
        content_type = b"application/x-amz-json-1.1"
    else:
        body, status, content_type = error.body(), error.status, b"application/json"
    headers = [(b"content-type", content_type), (b"x-amzn-errortype", error.error_type.encode()),
               (b"x-amzn-requestid", str(uuid.uuid4()).encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
