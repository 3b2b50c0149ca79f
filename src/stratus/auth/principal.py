"""Who a verified request acts as, and the one authorization hook.

Today every principal that passes SigV4 with a configured key is the admin and `AdminOnly` allows
everything. IAM (roles, policies, per-function credentials) replaces `AdminOnly` with an
`Authorizer` that evaluates policies: the callers already pass the action and resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    access_key_id: str
    kind: str = "admin"  # or "role": a function environment's temporary credentials (auth/sessions.py)
    role_arn: str = ""
    function_arn: str = ""  # the function whose environment holds the credentials

    def session_arn(self) -> str:
        """arn:aws:sts::<account>:assumed-role/<role name>/<function name>, as AWS names a function's session."""
        account = self.role_arn.split(":")[4] if self.role_arn.count(":") >= 5 else ""
        role_name = self.role_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{account}:assumed-role/{role_name}/{self.session_name()}"

    def session_name(self) -> str:
        """The role session's name: the function's, or `<name>@lambda_function` for a one-letter name (a session
        name has at least two characters; AWS's recorded answers show this suffix)."""
        name = self.function_arn.split(":")[6] if self.function_arn.count(":") >= 6 else self.function_arn
        return name if len(name) >= 2 else f"{name}@lambda_function"


ANONYMOUS_ADMIN = Principal("", "admin")  # STRATUS_AUTH=off (loopback only)


class Authorizer(Protocol):
    def authorize(self, principal: Principal, action: str, resource: str,
                  conditions: dict[str, str] | None = None) -> None:
        """Return if `principal` may do `action` (e.g. "lambda:InvokeFunction") on `resource` (an ARN or
        "*"); raise auth.errors.AccessDeniedException otherwise."""


class AdminOnly:
    """Every authenticated principal is the admin (until IAM lands)."""

    def authorize(self, principal: Principal, action: str, resource: str,
                  conditions: dict[str, str] | None = None) -> None:
        return None
