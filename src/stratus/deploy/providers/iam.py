"""AWS::IAM::Role and AWS::IAM::Policy through Stratus's own IAM API (roles with inline and AWS managed policies).

Role: Ref = role name, GetAtt Arn / RoleId. Stratus's IAM has no UpdateRole / UpdateAssumeRolePolicy / TagRole:
a change of RoleName, Path, AssumeRolePolicyDocument, Description or MaxSessionDuration replaces the role; Tags
are kept in the stack only. Policy (inline policies put on each of its Roles): Ref = a generated id. Users and
Groups do not exist in Stratus's IAM: a Policy naming them fails with that reason.
"""

from __future__ import annotations

import json
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import call, changed, delete_call

ROLE_REPLACING = ("RoleName", "Path", "AssumeRolePolicyDocument", "Description", "MaxSessionDuration",
                  "PermissionsBoundary")


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _inline(properties: dict[str, Any]) -> dict[str, str]:
    policies = properties.get("Policies") or []
    out = {}
    for policy in policies:
        if not isinstance(policy, dict) or "PolicyName" not in policy or "PolicyDocument" not in policy:
            raise ResourceFailed("ValidationError: each of Policies needs a PolicyName and a PolicyDocument")
        out[str(policy["PolicyName"])] = _document(policy["PolicyDocument"])
    return out


@provider("AWS::IAM::Role")
class RoleProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        if properties.get("PermissionsBoundary"):
            raise ResourceFailed("PermissionsBoundary is not supported by Stratus's IAM")
        client = ctx.client("iam")
        name = str(properties.get("RoleName") or ctx.physical_name(logical_id, 64))
        created = call(client, "create_role", RoleName=name, Path=properties.get("Path"),
                       AssumeRolePolicyDocument=_document(properties.get("AssumeRolePolicyDocument", {})),
                       Description=properties.get("Description"),
                       MaxSessionDuration=int(properties["MaxSessionDuration"])
                       if "MaxSessionDuration" in properties else None)["Role"]
        try:
            self._policies(client, name, {}, properties)
        except ResourceFailed:
            self._delete(client, name)
            raise
        return Applied(name, {"Arn": created["Arn"], "RoleId": created["RoleId"]})

    @staticmethod
    def _policies(client: Any, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        old_inline, new_inline = _inline(old), _inline(new)
        for policy, document in new_inline.items():
            if old_inline.get(policy) != document:
                call(client, "put_role_policy", RoleName=name, PolicyName=policy, PolicyDocument=document)
        for policy in old_inline:
            if policy not in new_inline:
                delete_call(client, "delete_role_policy", RoleName=name, PolicyName=policy)
        old_arns, new_arns = list(old.get("ManagedPolicyArns") or []), list(new.get("ManagedPolicyArns") or [])
        for arn in new_arns:
            if arn not in old_arns:
                call(client, "attach_role_policy", RoleName=name, PolicyArn=arn)
        for arn in old_arns:
            if arn not in new_arns:
                delete_call(client, "detach_role_policy", RoleName=name, PolicyArn=arn)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, *ROLE_REPLACING):
            return self.create(ctx, current.logical_id, properties)
        self._policies(ctx.client("iam"), current.physical_id, current.properties, properties)
        return Applied(current.physical_id, dict(current.attributes))

    @staticmethod
    def _delete(client: Any, name: str) -> None:
        try:
            inline = call(client, "list_role_policies", RoleName=name).get("PolicyNames", [])
            attached = call(client, "list_attached_role_policies", RoleName=name).get("AttachedPolicies", [])
        except ResourceFailed as error:
            if str(error).startswith("NoSuchEntity"):
                return
            raise
        for policy in inline:
            delete_call(client, "delete_role_policy", RoleName=name, PolicyName=policy)
        for policy in attached:
            delete_call(client, "detach_role_policy", RoleName=name, PolicyArn=policy["PolicyArn"])
        delete_call(client, "delete_role", RoleName=name)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        self._delete(ctx.client("iam"), current.physical_id)


@provider("AWS::IAM::Policy")
class PolicyProvider:
    """An inline policy (PolicyName, PolicyDocument) put on each role of Roles."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        self._apply(ctx, {}, properties)
        return Applied(ctx.physical_name(logical_id, 64))

    @staticmethod
    def _apply(ctx: DeployContext, old: dict[str, Any], new: dict[str, Any]) -> None:
        if new.get("Users") or new.get("Groups"):
            raise ResourceFailed("Stratus's IAM has roles only: a policy's Users and Groups cannot be set")
        client = ctx.client("iam")
        name, document = str(new.get("PolicyName")), _document(new.get("PolicyDocument", {}))
        for role in new.get("Roles") or []:
            call(client, "put_role_policy", RoleName=role, PolicyName=name, PolicyDocument=document)
        old_name = str(old.get("PolicyName"))
        for role in old.get("Roles") or []:
            if role not in (new.get("Roles") or []) or old_name != name:
                delete_call(client, "delete_role_policy", RoleName=role, PolicyName=old_name)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        self._apply(ctx, current.properties, properties)
        return Applied(current.physical_id)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        client = ctx.client("iam")
        for role in current.properties.get("Roles") or []:
            delete_call(client, "delete_role_policy", RoleName=role,
                        PolicyName=str(current.properties.get("PolicyName")))


@provider("AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup")
class VirtualProvider:
    """SAM's DeploymentPreference resources: accepted and kept in the stack, nothing is created. Stratus moves an
    alias to its new version at once (the traffic shift of `AllAtOnce`), whatever the preference's type."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        name = properties.get("ApplicationName") or properties.get("DeploymentGroupName") or \
            ctx.physical_name(logical_id, 100)
        return Applied(str(name))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return Applied(current.physical_id)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        return None
