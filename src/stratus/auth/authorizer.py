"""`IamAuthorizer`: the admin keys may do everything; a function's role credentials what its role's
policies allow (for lambda:InvokeFunction, a function's resource-based policy may allow it too, as on AWS
within one account). A role the IAM service does not know gets STRATUS_UNKNOWN_ROLE_POLICY (a managed
policy's name; empty: nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from stratus.auth.errors import AccessDeniedException
from stratus.auth.policy_eval import Decision, evaluate
from stratus.auth.principal import Principal
from stratus.iam.managed import MANAGED_POLICIES

INVOKE = "lambda:InvokeFunction"
# The actions a function's resource-based policy may allow too (same account: either policy suffices).
RESOURCE_POLICY_ACTIONS = frozenset((INVOKE.lower(), "lambda:invokefunctionurl"))


class RolePolicySource(Protocol):
    def policies_for_role(self, role_arn: str) -> list[dict[str, Any]] | None:
        """The role's policy documents (inline and attached managed); None when the role is unknown."""


class NoRoles:
    """The RolePolicySource until the IAM service is wired: it knows no roles."""

    def policies_for_role(self, role_arn: str) -> list[dict[str, Any]] | None:
        return None


# The statements of the resource-based policy of a function ARN (qualified or not): [] if none.
ResourceStatements = Callable[[str], list[dict[str, Any]]]


def _no_resource_policies(arn: str) -> list[dict[str, Any]]:
    return []


class UnknownManagedPolicy(ValueError):
    """STRATUS_UNKNOWN_ROLE_POLICY names no managed policy Stratus knows."""


def _account(arn: str) -> str:
    return arn.split(":")[4] if arn.count(":") >= 5 else ""


def _principal_matches(element: Any, principal: Principal) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    values = element.get("AWS")
    account = _account(principal.role_arn)
    accepted = {principal.role_arn, principal.session_arn(), account, f"arn:aws:iam::{account}:root", "*"}
    return any(isinstance(v, str) and v in accepted for v in (values if isinstance(values, list) else [values]))


class IamAuthorizer:
    def __init__(self, roles: RolePolicySource | None = None, unknown_role_policy: str = "",
                 resource_statements: ResourceStatements = _no_resource_policies):
        name = unknown_role_policy.strip()
        if name and name not in MANAGED_POLICIES:
            raise UnknownManagedPolicy(f"STRATUS_UNKNOWN_ROLE_POLICY: '{name}' is none of the managed policies "
                                       f"Stratus knows ({', '.join(sorted(MANAGED_POLICIES))})")
        self.roles: RolePolicySource = roles or NoRoles()
        self.unknown_role_policies = [MANAGED_POLICIES[name]] if name else []
        self.resource_statements = resource_statements

    def authorize(self, principal: Principal, action: str, resource: str,
                  conditions: dict[str, str] | None = None) -> None:
        if principal.kind == "admin":
            return
        documents = self.roles.policies_for_role(principal.role_arn) if principal.kind == "role" else []
        if documents is None:
            documents = self.unknown_role_policies
        context = {"aws:PrincipalArn": principal.role_arn, "aws:PrincipalAccount": _account(principal.role_arn),
                   **(conditions or {})}
        decision = evaluate(documents, action, resource, context)
        if decision is Decision.ALLOW:
            return
        if decision is Decision.IMPLICIT_DENY and action.lower() in RESOURCE_POLICY_ACTIONS \
                and self._resource_policy_allows(principal, action, resource, context):
            return
        raise AccessDeniedException(
            f"User: {principal.session_arn()} is not authorized to perform: {action} on resource: {resource} "
            + ("with an explicit deny in an identity-based policy" if decision is Decision.DENY
               else f"because no identity-based policy allows the {action} action"))

    def _resource_policy_allows(self, principal: Principal, action: str, resource: str,
                                context: dict[str, str]) -> bool:
        statements = [s for s in self.resource_statements(resource)
                      if _principal_matches(s.get("Principal"), principal)]
        if not statements:
            return False
        return evaluate([{"Statement": statements}], action, resource, context) is Decision.ALLOW



