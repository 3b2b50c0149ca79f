"""Constraint checks driven by botocore's Lambda service model, with AWS's ValidationException wording.

The model is the authority for lengths, ranges, patterns and enums; business rules (e.g. the 900 s
timeout cap) live in control/ and raise InvalidParameterValueException as AWS does.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session

from stratus.errors import ValidationException


@functools.lru_cache(maxsize=1)
def service_model():
    """The Lambda service model botocore ships (loaded once)."""
    return botocore.session.get_session().get_service_model("lambda")


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _member_path(parent: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{parent}.{camel}" if parent else camel


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'" + str(value).lower() + "'"
    return f"'{value}'"


def _check(shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    fail = lambda rule: problems.append(f"Value {_describe(value)} at '{path}' failed to satisfy constraint: {rule}")  # noqa: E731
    if kind == "string" and isinstance(value, str):
        if "min" in meta and len(value) < meta["min"]:
            fail(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            fail(f"Member must have length less than or equal to {meta['max']}")
        if "enum" in meta and value not in meta["enum"]:
            fail(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
            fail(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    elif kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            fail(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            fail(f"Member must have value less than or equal to {meta['max']}")
    elif kind == "list" and isinstance(value, list):
        if "min" in meta and len(value) < meta["min"]:
            fail(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            fail(f"Member must have length less than or equal to {meta['max']}")
        for item in value:
            _check(shape.member, item, path, problems)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            _check(shape.key, key, path, problems)
            _check(shape.value, item, path, problems)
    elif kind == "structure" and isinstance(value, dict):
        for name in meta.get("required", []):
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_member_path(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _member_path(path, name), problems)


def validate(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every model constraint `params` breaks for `operation`."""
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ValidationException(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))
