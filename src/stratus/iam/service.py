"""IAM roles: trust policy, inline policies and attached AWS managed policies, with IAM's rules and errors.

Each role is one store document (kind "iam-role", key the role name) holding everything about it, loaded
at start and kept in memory. Policy documents are kept as the caller sent them (IAM returns them as sent,
URL-encoded on the wire; api.py does the encoding).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from typing import Any

import msgspec

from stratus.iam.managed import MANAGED_POLICIES, managed_policy_arn
from stratus.store.base import Store
from stratus.timestamps import iso_seconds

ROLE_KIND = "iam-role"
_NAME = re.compile(r"[\w+=,.@-]+")
_PATH = re.compile(r"(/)|(/[\x21-\x7e]+/)")
_POLICY_MAX = 131072
_MANAGED_BY_ARN = {managed_policy_arn(name): name for name in MANAGED_POLICIES}


class IamError(Exception):
    code = "ServiceFailure"
    status = 500
    sender = True

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NoSuchEntity(IamError):
    code, status = "NoSuchEntity", 404


class EntityAlreadyExists(IamError):
    code, status = "EntityAlreadyExists", 409


class MalformedPolicyDocument(IamError):
    code, status = "MalformedPolicyDocument", 400


class DeleteConflict(IamError):
    code, status = "DeleteConflict", 409


class ValidationError(IamError):
    code, status = "ValidationError", 400


class InvalidInput(IamError):
    code, status = "InvalidInput", 400


def _check(value: Any, member: str, pattern: re.Pattern[str], max_len: int, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError(f"1 validation error detected: Value null at '{member}' failed to satisfy "
                                  "constraint: Member must not be null")
        return None
    if len(value) > max_len:
        raise ValidationError(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
                              f"constraint: Member must have length less than or equal to {max_len}")
    if not pattern.fullmatch(value):
        raise ValidationError(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
                              f"constraint: Member must satisfy regular expression pattern: {pattern.pattern}")
    return str(value)


def check_policy_document(document: Any, member: str = "policyDocument") -> str:
    """The document as given, once it is a JSON policy (an object with Statement); else IAM's refusals."""
    if not document:
        raise ValidationError(f"1 validation error detected: Value null at '{member}' failed to satisfy "
                              "constraint: Member must not be null")
    if len(document) > _POLICY_MAX:
        raise ValidationError(f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
                              f"Member must have length less than or equal to {_POLICY_MAX}")
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument("Syntax errors in policy.") from None
    if not isinstance(parsed, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    statements = parsed.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument("Policy document must contain a Statement.")
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicyDocument("Syntax errors in policy.")
    return str(document)


def _role_id() -> str:
    return "AROA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17))


class IamService:
    def __init__(self, store: Store, account_id: str):
        self.store = store
        self.account_id = account_id
        self.roles: dict[str, dict[str, Any]] = {}  # lower-cased name -> role document (IAM names ignore case)

    async def load(self) -> None:
        for _key, body in await self.store.list_documents(ROLE_KIND):
            role = msgspec.json.decode(body)
            self.roles[role["RoleName"].lower()] = role

    async def _save(self, role: dict[str, Any]) -> None:
        await self.store.apply(puts=[(ROLE_KIND, role["RoleName"], msgspec.json.encode(role))])

    def role(self, name: Any) -> dict[str, Any]:
        _check(name, "roleName", _NAME, 64)
        role = self.roles.get(str(name).lower())
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    async def create_role(self, params: dict[str, str]) -> dict[str, Any]:
        name = str(_check(params.get("RoleName"), "roleName", _NAME, 64))
        path = _check(params.get("Path"), "path", _PATH, 512, required=False) or "/"
        trust = check_policy_document(params.get("AssumeRolePolicyDocument"), "assumeRolePolicyDocument")
        description = params.get("Description")
        if description is not None and len(description) > 1000:
            raise ValidationError("1 validation error detected: Value at 'description' failed to satisfy "
                                  "constraint: Member must have length less than or equal to 1000")
        max_session = params.get("MaxSessionDuration", "3600")
        if not max_session.isdigit() or not 3600 <= int(max_session) <= 43200:
            raise ValidationError(f"1 validation error detected: Value '{max_session}' at 'maxSessionDuration' "
                                  "failed to satisfy constraint: Member must have value between 3600 and 43200")
        if name.lower() in self.roles:
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        role: dict[str, Any] = {
            "Path": path, "RoleName": name, "RoleId": _role_id(),
            "Arn": f"arn:aws:iam::{self.account_id}:role{path}{name}", "CreateDate": iso_seconds(time.time()),
            "AssumeRolePolicyDocument": trust, "MaxSessionDuration": int(max_session),
            "Inline": {}, "Attached": [],
        }
        if description is not None:
            role["Description"] = description
        self.roles[name.lower()] = role
        try:
            await self._save(role)
        except BaseException:
            self.roles.pop(name.lower(), None)
            raise
        return role

    def list_roles(self, path_prefix: str | None) -> list[dict[str, Any]]:
        prefix = _check(path_prefix, "pathPrefix", re.compile(r"/[\x21-\x7e]*"), 512, required=False) or "/"
        return sorted((role for role in self.roles.values() if role["Path"].startswith(prefix)),
                      key=lambda role: role["RoleName"])

    async def delete_role(self, name: str) -> None:
        role = self.role(name)
        if role["Inline"] or role["Attached"]:
            raise DeleteConflict("Cannot delete entity, must delete policies first." if role["Inline"]
                                 else "Cannot delete entity, must detach all policies first.")
        await self.store.apply(deletes=[(ROLE_KIND, role["RoleName"])])
        self.roles.pop(role["RoleName"].lower(), None)

    async def _change(self, role: dict[str, Any], key: str, value: Any) -> None:
        old = role[key]
        role[key] = value
        try:
            await self._save(role)
        except BaseException:
            role[key] = old
            raise

    async def put_role_policy(self, params: dict[str, str]) -> None:
        role = self.role(params.get("RoleName"))
        policy_name = str(_check(params.get("PolicyName"), "policyName", _NAME, 128))
        document = check_policy_document(params.get("PolicyDocument"))
        await self._change(role, "Inline", {**role["Inline"], policy_name: document})

    def get_role_policy(self, role_name: str, policy_name: str) -> tuple[dict[str, Any], str, str]:
        role = self.role(role_name)
        _check(policy_name, "policyName", _NAME, 128)
        for name, document in role["Inline"].items():
            if name == policy_name:
                return role, name, document
        raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")

    async def delete_role_policy(self, role_name: str, policy_name: str) -> None:
        role, name, _document = self.get_role_policy(role_name, policy_name)
        await self._change(role, "Inline", {key: value for key, value in role["Inline"].items() if key != name})

    def _managed(self, arn: Any) -> str:
        if not arn or not isinstance(arn, str) or len(arn) < 20 or not arn.startswith("arn:"):
            raise ValidationError(f"1 validation error detected: Value '{arn}' at 'policyArn' failed to satisfy "
                                  "constraint: Member must have length greater than or equal to 20")
        if arn not in _MANAGED_BY_ARN:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return arn

    async def attach_role_policy(self, role_name: str, arn: str) -> None:
        role = self.role(role_name)
        arn = self._managed(arn)
        if arn not in role["Attached"]:
            await self._change(role, "Attached", [*role["Attached"], arn])

    async def detach_role_policy(self, role_name: str, arn: str) -> None:
        role = self.role(role_name)
        if not arn or arn not in role["Attached"]:
            self._managed(arn)
            raise NoSuchEntity(f"Policy {arn} was not found.")
        await self._change(role, "Attached", [item for item in role["Attached"] if item != arn])

    def attached(self, role_name: str) -> list[tuple[str, str]]:
        """(PolicyName, PolicyArn) of the role's attached managed policies."""
        return [(_MANAGED_BY_ARN[arn], arn) for arn in self.role(role_name)["Attached"]]

    def policies_for_role(self, role_arn: str) -> list[dict] | None:
        """The role's inline and attached managed policy documents (parsed); None when no role has this ARN."""
        for role in self.roles.values():
            if role["Arn"] == role_arn:
                documents = [json.loads(document) for document in role["Inline"].values()]
                return documents + [MANAGED_POLICIES[_MANAGED_BY_ARN[arn]] for arn in role["Attached"]]
        return None
