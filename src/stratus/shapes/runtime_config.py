"""Per-function settings of how a function runs that have operations of their own: the recursion config
(Get/PutFunctionRecursionConfig) and the runtime management config (Get/PutRuntimeManagementConfig)."""

from __future__ import annotations

from stratus.shapes.base import Shape


class FunctionRecursionConfig(Shape):
    """Put/GetFunctionRecursionConfig's request body and answer; also what the store keeps."""

    RecursiveLoop: str | None = None


class PutRuntimeManagementConfigRequest(Shape):
    UpdateRuntimeOn: str | None = None
    RuntimeVersionArn: str | None = None


class RuntimeManagementConfig(Shape):
    """Put/GetRuntimeManagementConfig's answer (RuntimeVersionArn only under Manual, as AWS answers)."""

    UpdateRuntimeOn: str | None = None
    RuntimeVersionArn: str | None = None
    FunctionArn: str | None = None


class RuntimeManagementDocument(Shape):
    """What the store keeps per function version (kind "runtime-management", key "<function>:<version>")."""

    UpdateRuntimeOn: str
    RuntimeVersionArn: str | None = None
