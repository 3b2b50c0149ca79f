"""Function states and update statuses as AWS reports them (Lambda Developer Guide, "Lambda function states").

On AWS a function is `Pending` while its resources are created, then `Active`; an update is `InProgress`,
then `Successful` (or `Failed`). Each transition changes the function's RevisionId. Stratus prepares a
function's code before CreateFunction / UpdateFunction* answer, so the transition happens at once: the
answer shows the state AWS answers with (`Pending` / `InProgress`, with AWS's reasons), the stored function
is already `Active` / `Successful` under a newer RevisionId — as GetFunction shows on AWS once the
`function_active_v2` / `function_updated_v2` waiters return.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from stratus.errors import InvalidParameterValueException, ValidationException
from stratus.shapes.function import SNAPSTART_OFF, FunctionConfiguration, SnapStartResponse

CREATING_REASON = "The function is being created."
CREATING_CODE = "Creating"


def creating(stored: FunctionConfiguration) -> FunctionConfiguration:
    """CreateFunction's answer for the function (or version) stored as `stored`: Pending, with the RevisionId
    it had before it became Active (a different one than the stored)."""
    return msgspec.structs.replace(
        stored, State="Pending", StateReason=CREATING_REASON, StateReasonCode=CREATING_CODE, LastUpdateStatus=None,
        LastUpdateStatusReason=None, LastUpdateStatusReasonCode=None, RevisionId=str(uuid.uuid4()))


def updating(stored: FunctionConfiguration) -> FunctionConfiguration:
    """UpdateFunctionCode / UpdateFunctionConfiguration's answer: the update InProgress (AWS's reason names
    creation for updates too), with the RevisionId it had before the update completed."""
    return msgspec.structs.replace(
        stored, LastUpdateStatus="InProgress", LastUpdateStatusReason=CREATING_REASON,
        LastUpdateStatusReasonCode=CREATING_CODE, RevisionId=str(uuid.uuid4()))


# AWS: "SnapStart is available for Java 11 and later, Python 3.12 and later, .NET 8 and later" (of those, Stratus
# runs the Python ones; other runtimes get AWS's refusal).
SNAPSTART_RUNTIMES = ("python3.12", "python3.13", "python3.14", "java11", "java17", "java21", "java25", "dotnet8",
                      "dotnet10")


def snap_start(requested: dict[str, Any] | None, runtime: str | None = None) -> SnapStartResponse:
    """The SnapStart setting of $LATEST: ApplyOn as asked ("None" by default), not optimized. A runtime SnapStart
    does not support is refused as AWS refuses it."""
    apply_on = (requested or {}).get("ApplyOn") or "None"
    if apply_on not in ("PublishedVersions", "None"):
        raise ValidationException(f"1 validation error detected: Value '{apply_on}' at 'snapStart.applyOn' failed to "
                                  "satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]")
    if apply_on == "PublishedVersions" and runtime is not None and runtime not in SNAPSTART_RUNTIMES:
        raise InvalidParameterValueException(f"{runtime} is not supported for SnapStart enabled functions.")
    return SNAPSTART_OFF if apply_on == "None" else SnapStartResponse(ApplyOn=apply_on, OptimizationStatus="Off")


def published_snap_start(latest: SnapStartResponse | None) -> SnapStartResponse:
    """A published version's SnapStart: optimized ("On") when $LATEST applies it to published versions. Stratus
    starts every environment the same way; the status is reported, not acted on."""
    if latest is not None and latest.ApplyOn == "PublishedVersions":
        return SnapStartResponse(ApplyOn="PublishedVersions", OptimizationStatus="On")
    return latest or SNAPSTART_OFF


def listed(config: FunctionConfiguration, **changes: Any) -> FunctionConfiguration:
    """An entry of ListFunctions / ListVersionsByFunction: AWS leaves out the state fields and the runtime version
    there ("use GetFunction to get them", the API reference says)."""
    return msgspec.structs.replace(
        config, State=None, StateReason=None, StateReasonCode=None, LastUpdateStatus=None,
        LastUpdateStatusReason=None, LastUpdateStatusReasonCode=None, RuntimeVersionConfig=None, **changes)
