"""IAM and STS over AWS's query protocol on `POST /` (form body `Action=...&Version=...`, XML answers),
sharing the path with EventBridge's JSON 1.1 surface (told apart by X-Amz-Target) — `root_route`.

IAM and STS are told apart by the SigV4 credential scope's service (iam / sts); without a signature
(STRATUS_AUTH=off) by the action. Member names and result wrappers follow botocore's iam and sts models.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.handlers import read_limited
from stratus.auth.principal import ANONYMOUS_ADMIN, Principal
from stratus.iam.service import IamError, IamService, InvalidInput

log = logging.getLogger("stratus.iam")

IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
LOGS_TARGET_PREFIX = "Logs_20140328."  # CloudWatch Logs' X-Amz-Target (api/logs.py)
_BODY_MAX = 1 << 20
_ROLE_FIELDS = ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument", "Description",
                "MaxSessionDuration")

Xml = str


def _element(name: str, value: Any) -> Xml:
    return f"<{name}>{escape(str(value))}</{name}>"


def _role_xml(role: dict[str, Any]) -> Xml:
    parts = []
    for field in _ROLE_FIELDS:
        if field not in role:
            continue
        value = role[field]
        if field == "AssumeRolePolicyDocument":
            value = quote(value, safe="")
        parts.append(_element(field, value))
    return "".join(parts)


def _members(items: list[Xml]) -> Xml:
    return "".join(f"<member>{item}</member>" for item in items)


def credential_service(headers: Any, query: str = "") -> str:
    """The service named in a request's SigV4 credential scope ("" when it has none)."""
    authorization = headers.get("authorization", "")
    _, _, credential = authorization.partition("Credential=")
    if not credential:
        for name, value in parse_qsl(query):
            if name == "X-Amz-Credential":
                credential = value
    parts = credential.split(",")[0].strip().split("/")
    return parts[3] if len(parts) == 5 else ""


def error_xml(code: str, message: str, request_id: str, xmlns: str = IAM_XMLNS, sender: bool = True) -> bytes:
    return (f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{"Sender" if sender else "Receiver"}</Type>'
            f"{_element('Code', code)}{_element('Message', message)}</Error>"
            f"{_element('RequestId', request_id)}</ErrorResponse>").encode()


def _page(params: dict[str, str], items: list[Xml], wrapper: str) -> Xml:
    """One page of `items` (MaxItems, Marker: the index to continue from), with IsTruncated and Marker."""
    max_items = params.get("MaxItems", "100")
    if not max_items.isdigit() or not 1 <= int(max_items) <= 1000:
        raise InvalidInput(f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to satisfy "
                           "constraint: Member must have value between 1 and 1000")
    marker = params.get("Marker", "0")
    start = int(marker) if marker.isdigit() else -1
    if not 0 <= start <= len(items):
        raise InvalidInput("Invalid Marker.")
    end = start + int(max_items)
    xml = f"<{wrapper}>{_members(items[start:end])}</{wrapper}>"
    if end < len(items):
        return xml + "<IsTruncated>true</IsTruncated>" + _element("Marker", end)
    return xml + "<IsTruncated>false</IsTruncated>"


class IamRoutes:
    """The IAM operations and STS GetCallerIdentity; `dispatch` answers one query-protocol request."""

    def __init__(self, service: IamService, account_id: str):
        self.service = service
        self.account_id = account_id
        self.operations: dict[str, Callable[[dict[str, str]], Awaitable[Xml]]] = {
            "CreateRole": self._create_role, "GetRole": self._get_role, "ListRoles": self._list_roles,
            "DeleteRole": self._delete_role, "PutRolePolicy": self._put_role_policy,
            "GetRolePolicy": self._get_role_policy, "ListRolePolicies": self._list_role_policies,
            "DeleteRolePolicy": self._delete_role_policy, "AttachRolePolicy": self._attach_role_policy,
            "DetachRolePolicy": self._detach_role_policy, "ListAttachedRolePolicies": self._list_attached,
        }

    async def _create_role(self, params: dict[str, str]) -> Xml:
        return f"<Role>{_role_xml(await self.service.create_role(params))}</Role>"

    async def _get_role(self, params: dict[str, str]) -> Xml:
        return f"<Role>{_role_xml(self.service.role(params.get('RoleName')))}</Role>"

    async def _list_roles(self, params: dict[str, str]) -> Xml:
        roles = self.service.list_roles(params.get("PathPrefix"))
        return _page(params, [_role_xml(role) for role in roles], "Roles")

    async def _delete_role(self, params: dict[str, str]) -> Xml:
        await self.service.delete_role(params.get("RoleName", ""))
        return ""

    async def _put_role_policy(self, params: dict[str, str]) -> Xml:
        await self.service.put_role_policy(params)
        return ""

    async def _get_role_policy(self, params: dict[str, str]) -> Xml:
        role, name, document = self.service.get_role_policy(params.get("RoleName", ""), params.get("PolicyName", ""))
        return (_element("RoleName", role["RoleName"]) + _element("PolicyName", name)
                + _element("PolicyDocument", quote(document, safe="")))

    async def _list_role_policies(self, params: dict[str, str]) -> Xml:
        names = sorted(self.service.role(params.get("RoleName"))["Inline"])
        return _page(params, [escape(name) for name in names], "PolicyNames")

    async def _delete_role_policy(self, params: dict[str, str]) -> Xml:
        await self.service.delete_role_policy(params.get("RoleName", ""), params.get("PolicyName", ""))
        return ""

    async def _attach_role_policy(self, params: dict[str, str]) -> Xml:
        await self.service.attach_role_policy(params.get("RoleName", ""), params.get("PolicyArn", ""))
        return ""

    async def _detach_role_policy(self, params: dict[str, str]) -> Xml:
        await self.service.detach_role_policy(params.get("RoleName", ""), params.get("PolicyArn", ""))
        return ""

    async def _list_attached(self, params: dict[str, str]) -> Xml:
        attached = self.service.attached(params.get("RoleName", ""))
        return _page(params, [_element("PolicyName", name) + _element("PolicyArn", arn) for name, arn in attached],
                     "AttachedPolicies")

    def _caller_identity(self, principal: Principal) -> Xml:
        """Who signed: a function's role session (UserId `<RoleId>:<session>`, the assumed-role ARN), else the
        account's root (the admin keys)."""
        if principal.kind == "role":
            role_name = principal.role_arn.rsplit("/", 1)[-1]
            role_id = self.service.roles.get(role_name.lower(), {}).get("RoleId", principal.access_key_id)
            account = principal.role_arn.split(":")[4] if principal.role_arn.count(":") >= 5 else self.account_id
            return (_element("UserId", f"{role_id}:{principal.session_name()}") + _element("Account", account)
                    + _element("Arn", principal.session_arn()))
        return (_element("UserId", principal.access_key_id or self.account_id) + _element("Account", self.account_id)
                + _element("Arn", f"arn:aws:iam::{self.account_id}:root"))

    async def dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        xmlns = IAM_XMLNS
        try:
            body = await read_limited(request, _BODY_MAX, lambda: InvalidInput("Request body too large."))
            params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            action = params.get("Action", "")
            service = credential_service(request.headers, request.url.query) or (
                "sts" if action == "GetCallerIdentity" else "iam")
            if service == "sts":
                xmlns = STS_XMLNS
                if action != "GetCallerIdentity":
                    raise _invalid_action(action)
                result = self._caller_identity(request.scope.get("stratus.principal", ANONYMOUS_ADMIN))
            else:
                handler = self.operations.get(action)
                if handler is None:
                    raise _invalid_action(action)
                result = await handler(params)
        except IamError as error:
            return Response(error_xml(error.code, error.message, request_id, xmlns), status_code=error.status,
                            media_type="text/xml")
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            log.error("internal error in IAM", exc_info=exc)
            return Response(error_xml("ServiceFailure", "An internal error occurred in Stratus; see the server log.",
                                      request_id, xmlns, sender=False), status_code=500, media_type="text/xml")
        wrapped = f"<{action}Result>{result}</{action}Result>" if result else ""
        xml = (f'<{action}Response xmlns="{xmlns}">{wrapped}<ResponseMetadata>{_element("RequestId", request_id)}'
               f"</ResponseMetadata></{action}Response>")
        return Response(xml.encode(), media_type="text/xml", headers={"x-amzn-RequestId": request_id})


class _InvalidAction(IamError):
    code, status = "InvalidAction", 400


def _invalid_action(action: str) -> IamError:
    return _InvalidAction(f"Could not find operation {action or '(no Action)'} for this version of the service.")


def root_route(eventbridge: Callable[[Request], Awaitable[Response]],
               query: Callable[[Request], Awaitable[Response]],
               logs: Callable[[Request], Awaitable[Response]] | None = None) -> Route:
    """`POST /`: EventBridge or CloudWatch Logs (X-Amz-Target) or a query-protocol form (IAM, STS)."""

    async def post_root(request: Request) -> Response:
        # A signed request goes where its credential scope says (the gate checked the signature, and authorizes,
        # for that service): an events-scoped signature never reaches IAM, nor an iam-scoped one EventBridge.
        scoped = credential_service(request.headers, request.url.query)
        if scoped in ("iam", "sts"):
            return await query(request)
        if logs is not None and (scoped == "logs" or scoped == "" and request.headers.get(
                "x-amz-target", "").startswith(LOGS_TARGET_PREFIX)):
            return await logs(request)
        if scoped == "" and "x-amz-target" not in request.headers and \
                request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return await query(request)
        return await eventbridge(request)

    return Route("/", post_root, methods=["POST"])
