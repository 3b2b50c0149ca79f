"""Layer version ARNs as AWS checks them, and the small value types of a function's layers."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

from stratus.errors import ValidationException
from stratus.shapes import Layer

# AWS's own pattern for a function's `Layers` entries (stricter than botocore's), quoted in its errors.
LAYER_VERSION_ARN_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
    r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)
LAYER_VERSION_ARN = re.compile(LAYER_VERSION_ARN_PATTERN)
LAYER_REF = re.compile(
    r"(?:arn:(?P<partition>[a-zA-Z0-9-]+):lambda:(?P<region>[a-zA-Z0-9-]+):(?P<account>\d{12}):layer:)?"
    r"(?P<name>[a-zA-Z0-9-_]+)(?::(?P<version>[0-9]+))?"
)


def check_layer_version_arn(arn: str) -> None:
    """GetLayerVersionByArn's Arn must be a layer version ARN (ValidationException in AWS's words)."""
    if not LAYER_VERSION_ARN.fullmatch(arn):
        raise ValidationException(
            f"1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}")


@dataclasses.dataclass(frozen=True)
class AttachedLayers:
    """A function's checked `Layers`: the configuration entries, their unzipped total, the merged /opt."""

    layers: list[Layer]
    unzipped_size: int
    opt_dir: Path | None


def merged_name(shas: list[str]) -> str:
    """The name of the merged /opt folder of layers with these contents, in this order."""
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()
