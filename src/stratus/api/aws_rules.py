"""Request members Lambda checks with its own constraints rather than botocore's model (AWS's server model
differs: newer patterns, other enum sets, list members reported for the whole list), in AWS's words.

Each rule takes the member's value and answers the constraint it breaks (the text after "failed to satisfy
constraint: "), or None when the value passes. They are keyed by the member's path in the request, as
AWS's ValidationException names it; api/validation.py applies them instead of the model's checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stratus.control.function_rules import AWS_CREATABLE_RUNTIMES
from stratus.control.layer_refs import LAYER_VERSION_ARN, LAYER_VERSION_ARN_PATTERN

# Every runtime name Lambda knows, in the order its error lists them when ListLayers / ListLayerVersions get an
# unknown CompatibleRuntime (AWS's recorded answer; it includes names botocore's enum lacks).
AWS_KNOWN_RUNTIMES = (
    "ruby3.5", "ruby2.6", "dotnetcore1.0", "python3.7", "nodejs8.10", "nasa", "ruby2.7", "python2.7-greengrass",
    "dotnetcore2.0", "python3.8", "java21", "dotnet6", "dotnetcore2.1", "python3.9", "java11", "nodejs6.10",
    "provided", "dotnetcore3.1", "dotnet8", "java25", "java17", "nodejs", "nodejs4.3", "java8.al2", "go1.x",
    "dotnet10", "nodejs20.x", "go1.9", "byol", "nodejs10.x", "provided.al2023", "nodejs22.x", "python3.10", "java8",
    "nodejs12.x", "python3.11", "nodejs24.x", "nodejs8.x", "python3.12", "nodejs14.x", "nodejs8.9", "nodejs26.x",
    "python3.13", "python3.14", "nodejs16.x", "python3.15", "provided.al2", "nodejs4.3-edge", "nodejs18.x",
    "ruby3.2", "python3.4", "ruby3.3", "ruby3.4", "ruby2.5", "python3.6", "python2.7",
)
# AWS's pattern for a destination ARN (botocore's model predates the `eusc-` partition regions).
DESTINATION_ARN_PATTERN = (
    r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:"
    r"((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)"
)
_DESTINATION_ARN = re.compile(DESTINATION_ARN_PATTERN)


def _enum(values: tuple[str, ...]) -> str:
    return f"Member must satisfy enum value set: [{', '.join(values)}]"


def _one_of(values: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A string member that must be one of `values`."""
    return lambda value: None if not isinstance(value, str) or value in values else _enum(values)


def _list_of_runtimes(value: Any) -> str | None:
    # Any runtime Lambda knows is accepted (deprecated ones too), but AWS words a refusal with the whole list
    # and the runtimes one may create functions with (not "Member must satisfy constraint").
    if not isinstance(value, list) or all(item in AWS_KNOWN_RUNTIMES for item in value):
        return None
    return _enum(AWS_CREATABLE_RUNTIMES)


def _list_of_layer_arns(value: Any) -> str | None:
    if not isinstance(value, list) or all(
            isinstance(item, str) and 1 <= len(item) <= 2048 and LAYER_VERSION_ARN.fullmatch(item) for item in value):
        return None
    return ("Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have "
            "length greater than or equal to 1, Member must satisfy regular expression pattern: "
            f"{LAYER_VERSION_ARN_PATTERN}, Member must not be null]")


def _destination_arn(value: Any) -> str | None:
    if not isinstance(value, str) or _DESTINATION_ARN.fullmatch(value):
        return None
    return f"Member must satisfy regular expression pattern: {DESTINATION_ARN_PATTERN}"


AWS_RULES: dict[str, Callable[[Any], str | None]] = {
    "compatibleRuntime": _one_of(AWS_KNOWN_RUNTIMES),  # ListLayers, ListLayerVersions
    "compatibleRuntimes": _list_of_runtimes,  # PublishLayerVersion
    # A function's Runtime: checked by control/function_rules.py, which AWS words differently (an
    # InvalidParameterValueException naming the runtimes one may create functions with).
    "runtime": lambda value: None,
    "layers": _list_of_layer_arns,  # CreateFunction, UpdateFunctionConfiguration
    "invokeMode": _one_of(("RESPONSE_STREAM", "BUFFERED")),  # Create/UpdateFunctionUrlConfig: AWS's order
    "destinationConfig.onFailure.destination": _destination_arn,
    "destinationConfig.onSuccess.destination": _destination_arn,
}
