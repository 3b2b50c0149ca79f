"""Function URL shapes (Create/Get/Update/Delete/ListFunctionUrlConfigs) and what the store keeps for them."""

from __future__ import annotations

from stratus.shapes.base import Shape


class Cors(Shape):
    AllowCredentials: bool | None = None
    AllowHeaders: list[str] | None = None
    AllowMethods: list[str] | None = None
    AllowOrigins: list[str] | None = None
    ExposeHeaders: list[str] | None = None
    MaxAge: int | None = None


class FunctionUrlConfigRequest(Shape):
    """The body of Create- and UpdateFunctionUrlConfig (AuthType is required by Create only)."""

    AuthType: str | None = None
    Cors: Cors | None = None
    InvokeMode: str | None = None


class FunctionUrlConfig(Shape):
    """One URL as Create/Get/Update/ListFunctionUrlConfigs answer it (members in botocore's order)."""

    FunctionUrl: str
    FunctionArn: str
    AuthType: str
    Cors: Cors | None = None
    CreationTime: str | None = None
    LastModifiedTime: str | None = None
    InvokeMode: str | None = None


class ListFunctionUrlConfigsResponse(Shape):
    FunctionUrlConfigs: list[FunctionUrlConfig]
    NextMarker: str | None = None


class FunctionUrlDocument(Shape):
    """A Function URL at rest (kind "function-url", key "<function>:<alias or empty>")."""

    url_id: str
    function_name: str
    qualifier: str | None  # an alias, or None for the unqualified function
    AuthType: str
    CreationTime: str
    LastModifiedTime: str
    created_ms: int  # the function's: a URL never outlives a function deleted and re-created under its name
    Cors: Cors | None = None
    InvokeMode: str | None = None  # as last set (None: never set; reported as BUFFERED by Get and List)
