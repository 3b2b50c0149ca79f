"""Resource-based policies of functions (AddPermission, RemovePermission, GetPolicy), as Lambda keeps them.

The function, each version and each alias has its own policy: a store document of kind "policy" keyed
`"<function>:<version or alias, empty for the function>"`, holding the statements in order and the
policy's RevisionId (a new one on every change). Policies are stored faithfully; enforcing them on
callers comes with authentication. The statement helpers here (principal, statement, Sid checks,
document) serve layer version permissions too (control/layers.py).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from stratus.control.registry import LATEST
from stratus.errors import (
    InvalidParameterValueException,
    PolicyLengthExceededException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from stratus.shapes import AddPermissionRequest

if TYPE_CHECKING:  # functions import layers, which use the statement helpers here
    from stratus.control.functions import FunctionService

POLICY_KIND = "policy"
MAX_POLICY_BYTES = 20480  # Lambda's limit on a function's resource-based policy

_ACCOUNT = re.compile(r"\d{12}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazon(aws)?\.com(\.cn)?")
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:\S+")
_ALIAS_NAME = re.compile(r"[a-zA-Z0-9_-]+")

_REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. "
                      "Call the GetPolicy API to retrieve the latest Revision Id")
_NO_SUCH_RESOURCE = "The resource you requested does not exist."


class StoredPolicy(msgspec.Struct):
    """A policy at rest: its statements (each kept as the ordered JSON object AWS returns) and revision."""

    RevisionId: str
    Statement: list[dict[str, Any]]

    def document(self) -> bytes:
        """The policy exactly as GetPolicy returns it (compact JSON, AWS's member order)."""
        return policy_document(self.Statement)


def policy_document(statements: list[dict[str, Any]]) -> bytes:
    """A resource-based policy (of a function, version, alias or layer version) as AWS returns it: compact
    JSON, members in AWS's order."""
    return msgspec.json.encode({"Version": "2012-10-17", "Id": "default", "Statement": statements})


def statement_json(statement: dict[str, Any]) -> str:
    """One statement as the JSON string AddPermission and AddLayerVersionPermission answer with."""
    return msgspec.json.encode(statement).decode()


def allow_statement(sid: str, principal: str, action: str, resource: str,
                    condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Allow statement with its members in AWS's order (Condition only when there is one)."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal_element(principal),
        "Action": action,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def check_new_statement_id(statements: list[dict[str, Any]], sid: str) -> None:
    """ResourceConflictException if a statement of the policy already has this Sid."""
    if any(statement.get("Sid") == sid for statement in statements):
        raise ResourceConflictException(
            f"The statement id ({sid}) provided already exists. "
            "Please provide a new statement id, or remove the existing statement.")


def without_statement(statements: list[dict[str, Any]], sid: str) -> list[dict[str, Any]]:
    """The statements but the one with this Sid; ResourceNotFoundException if there is none."""
    remaining = [statement for statement in statements if statement.get("Sid") != sid]
    if len(remaining) == len(statements):
        raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
    return remaining


def policy_key(function_name: str, qualifier: str | None) -> str:
    """The store key of the policy of a function (qualifier None), a version or an alias."""
    return f"{function_name}:{qualifier or ''}"


def principal_element(principal: str) -> str | dict[str, str]:
    """The Principal element Lambda writes for an AddPermission Principal."""
    if principal == "*":
        return "*"
    if _ACCOUNT.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _SERVICE.fullmatch(principal):
        return {"Service": principal}
    if _IAM_ARN.fullmatch(principal):
        return {"AWS": principal}
    raise InvalidParameterValueException(
        "The provided principal was invalid. Please check the principal and try again.")


def build_statement(request: AddPermissionRequest, resource_arn: str) -> dict[str, Any]:
    """The policy statement AddPermission adds, with its members and conditions in AWS's order."""
    if request.FunctionUrlAuthType is not None and request.Action != "lambda:InvokeFunctionUrl":
        raise InvalidParameterValueException(
            "FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action")
    if request.InvokedViaFunctionUrl and request.Action != "lambda:InvokeFunction":
        raise InvalidParameterValueException(
            "InvokedViaFunctionUrl is only supported for lambda:InvokeFunction action")
    string_equals = {}
    if request.SourceAccount is not None:
        string_equals["AWS:SourceAccount"] = request.SourceAccount
    if request.FunctionUrlAuthType is not None:
        string_equals["lambda:FunctionUrlAuthType"] = request.FunctionUrlAuthType
    if request.PrincipalOrgID is not None:
        string_equals["aws:PrincipalOrgID"] = request.PrincipalOrgID
    if request.EventSourceToken is not None:
        string_equals["lambda:EventSourceToken"] = request.EventSourceToken
    condition: dict[str, Any] = {}
    if string_equals:
        condition["StringEquals"] = string_equals
    if request.SourceArn is not None:
        condition["ArnLike"] = {"AWS:SourceArn": request.SourceArn}
    if request.InvokedViaFunctionUrl:
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    return allow_statement(request.StatementId, request.Principal, request.Action, resource_arn, condition)


class PolicyService:
    """AddPermission, RemovePermission and GetPolicy on the policies of functions, versions and aliases."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.store = functions.store
        self.arns = functions.arns
        functions.owned_kinds.append(POLICY_KIND)
        functions.on_function_deleted.append(self._uncache_function)
        # Every policy by policy key, mirrored from the store (authorization reads it and does not wait).
        self._policies: dict[str, StoredPolicy] = {}

    async def load(self) -> None:
        """Read every policy into memory."""
        for key, body in await self.store.list_documents(POLICY_KIND):
            self._policies[key] = msgspec.json.decode(body, type=StoredPolicy)

    def statements_for(self, function_arn: str) -> list[dict[str, Any]]:
        """The statements of the policy an invocation of this function ARN (qualified or not) is checked against."""
        parts = function_arn.split(":")
        if len(parts) < 7:
            return []
        qualifier = parts[7] if len(parts) > 7 and parts[7] != LATEST else None
        policy = self._policies.get(policy_key(parts[6], qualifier))
        return policy.Statement if policy is not None else []

    def _uncache_function(self, name: str) -> None:
        self._policies = {key: value for key, value in self._policies.items() if key.split(":")[0] != name}

    # ------------------------------------------------------------------ operations
    async def add_permission(self, reference: str, qualifier: str | None, request: AddPermissionRequest) -> str:
        """Add a statement; returns the statement as the JSON string AWS answers with."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        if qualifier == LATEST:
            raise InvalidParameterValueException("We currently do not support adding policies for $LATEST.")
        async with self.functions.lock:
            qualifier, target_revision = self._target(
                name, qualifier, missing_function=f"Function not found: {self.arns.function(name)}")
            key = policy_key(name, qualifier)
            policy = self._policies.get(key)
            current_revision = policy.RevisionId if policy else target_revision
            if request.RevisionId and request.RevisionId != current_revision:
                raise PreconditionFailedException(_REVISION_MISMATCH)
            statements = policy.Statement if policy else []
            check_new_statement_id(statements, request.StatementId)
            statement = build_statement(request, self.arns.function(name, qualifier))
            updated = StoredPolicy(RevisionId=str(uuid.uuid4()), Statement=[*statements, statement])
            size = len(updated.document())
            if size > MAX_POLICY_BYTES:
                raise PolicyLengthExceededException(
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).")
            await self.store.apply(puts=[(POLICY_KIND, key, msgspec.json.encode(updated))])
            self._policies[key] = updated
            return statement_json(statement)

    async def remove_permission(self, reference: str, statement_id: str, qualifier: str | None,
                                revision_id: str | None) -> None:
        """Remove a statement; a policy left without statements is deleted."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        async with self.functions.lock:
            qualifier, _ = self._target(
                name, qualifier, missing_function=f"No policy found for: {self.arns.function(name)}")
            key = policy_key(name, qualifier)
            policy = self._policies.get(key)
            if policy is None:
                raise ResourceNotFoundException("No policy is associated with the given resource.")
            remaining = without_statement(policy.Statement, statement_id)
            if revision_id and revision_id != policy.RevisionId:
                raise PreconditionFailedException(_REVISION_MISMATCH)
            if remaining:
                updated = StoredPolicy(RevisionId=str(uuid.uuid4()), Statement=remaining)
                await self.store.apply(puts=[(POLICY_KIND, key, msgspec.json.encode(updated))])
                self._policies[key] = updated
            else:
                await self.store.apply(deletes=[(POLICY_KIND, key)])
                self._policies.pop(key, None)

    async def get_policy(self, reference: str, qualifier: str | None) -> tuple[str, str]:
        """(policy JSON string, its RevisionId); ResourceNotFoundException when there is none."""
        try:
            name, qualifier = self.arns.resolve(reference, qualifier)
            qualifier, _ = self._target(name, qualifier, missing_function=_NO_SUCH_RESOURCE)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(_NO_SUCH_RESOURCE) from None
        policy = self._policies.get(policy_key(name, qualifier))
        if policy is None:
            raise ResourceNotFoundException(_NO_SUCH_RESOURCE)
        return policy.document().decode(), policy.RevisionId

    async def forget(self, function_name: str, qualifier: str) -> None:
        """Drop the policy of a deleted version or alias (the function's own goes with DeleteFunction)."""
        await self.store.apply(deletes=[(POLICY_KIND, policy_key(function_name, qualifier))])
        self._policies.pop(policy_key(function_name, qualifier), None)

    # ------------------------------------------------------------------ helpers
    def _target(self, name: str, qualifier: str | None, missing_function: str) -> tuple[str | None, str | None]:
        """(canonical qualifier or None, RevisionId of the function, version or alias the policy belongs to)."""
        functions = self.functions
        try:
            latest, _, _ = functions.lookup(name)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(missing_function) from None
        if qualifier in (None, LATEST):
            return None, latest.config.RevisionId
        try:
            record, _, alias = functions.lookup(name, qualifier)
        except ResourceNotFoundException:
            arn = self.arns.function(name, qualifier)
            if _ALIAS_NAME.fullmatch(qualifier) and not qualifier.isdigit():
                raise ResourceNotFoundException(f"Cannot find alias arn: {arn}") from None
            raise ResourceNotFoundException(f"Function not found: {arn}") from None
        if alias is not None:
            return alias.Name, alias.RevisionId
        return record.config.Version, record.config.RevisionId
