"""Constraint checks driven by botocore's Lambda service model, with AWS's ValidationException wording.

The model is the authority for lengths, ranges, patterns and enums; business rules (e.g. the 900 s
timeout cap) live in control/ and raise InvalidParameterValueException as AWS does.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

import botocore.session
import msgspec

from stratus.api.aws_patterns import server_pattern
from stratus.api.aws_rules import AWS_RULES
from stratus.errors import ValidationException, validation_message


@functools.cache
def service_model(service: str = "lambda") -> Any:
    """A service model botocore ships (each loaded once): the authority for shapes and constraints."""
    return botocore.session.get_session().get_service_model(service)


log = logging.getLogger("stratus.api")


@functools.cache
def _compiled(pattern: str) -> re.Pattern | None:
    """A model pattern as a Python regex; None (the pattern is not checked) if it still cannot compile."""
    try:
        return re.compile(translate_properties(pattern))
    except re.error as exc:
        log.warning("model pattern %r cannot be compiled (%s): not checked", pattern, exc)
        return None


_PROPERTY = re.compile(r"\\([pP])\{([A-Z][a-z]?)\}")


def translate_properties(pattern: str) -> str:
    r"""Java/ICU `\p{L}`-style Unicode category classes (botocore's models use them, e.g. EventBridge's
    RunCommandTargetKey; Python's `re` has none) as explicit code-point ranges: exact for the Unicode
    database of this Python, inside a character class (`[\p{L}_]`) and outside (`\p{L}`, `\P{L}`)."""
    if "\\p{" not in pattern and "\\P{" not in pattern:
        return pattern
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        match = _PROPERTY.match(pattern, index) if char == "\\" else None
        if match:
            negated, ranges = match.group(1) == "P", _category_ranges(match.group(2))
            if in_class and negated:
                raise re.error(f"{match.group(0)} inside a character class is not supported")
            out.append(ranges if in_class else f"[{'^' if negated else ''}{ranges}]")
            index = match.end()
            continue
        if char == "\\":
            out.append(pattern[index:index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


@functools.cache
def _category_ranges(category: str) -> str:
    """The code points whose Unicode general category starts with `category` ("L", "Lu", "Z", ...) as the
    ranges of a character class (computed once per category, ~0.1 s)."""
    ranges: list[str] = []
    start = -1
    for code in range(sys.maxunicode + 2):
        inside = code <= sys.maxunicode and unicodedata.category(chr(code)).startswith(category)
        if inside and start < 0:
            start = code
        elif not inside and start >= 0:
            end = code - 1
            ranges.append(f"\\U{start:08x}" if start == end else f"\\U{start:08x}-\\U{end:08x}")
            start = -1
    if not ranges:
        raise re.error(f"unknown Unicode category {category!r}")
    return "".join(ranges)


def _member_path(parent: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{parent}.{camel}" if parent else camel


def _describe(value: Any) -> str:
    """A value as AWS's (Java) validation messages show it: lists `[a, b]`, maps `{k=v}`, booleans lower-case."""
    if value is None:
        return "null"
    return f"'{_java_text(value)}'"


def _java_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java_text(key)}={_java_text(item)}" for key, item in value.items()) + "}"
    return str(value)


_SCALARS = ("string", "integer", "long", "float", "double")


def _constraints(shape: Any) -> list[str]:
    """Every constraint of a scalar shape in AWS's words and order (how it lists a collection member's)."""
    meta, words = shape.metadata, []
    if shape.type_name == "string":
        if "max" in meta:
            words.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta:
            words.append(f"Member must have length greater than or equal to {meta['min']}")
        if "pattern" in meta:
            words.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if "enum" in meta:
            words.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    else:
        if "max" in meta:
            words.append(f"Member must have value less than or equal to {_java_number(meta['max'], shape)}")
        if "min" in meta:
            words.append(f"Member must have value greater than or equal to {_java_number(meta['min'], shape)}")
    if "enum" in meta or shape.type_name != "string":
        words.append("Member must not be null")
    return words


def _java_number(bound: Any, shape: Any) -> str:
    return str(float(bound)) if shape.type_name in ("float", "double") else str(bound)


_JSON_TYPES = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "long": (int,), "float": (int, float),
    "double": (int, float), "timestamp": (int, float, str), "structure": (dict,), "list": (list,), "map": (dict,),
    "blob": (str,),
}


class ModelChecker:
    """Checks request parameters against a model's constraints, in AWS's ValidationException words.

    The defaults are the Lambda API's (REST JSON: wrong JSON types are left to the shape conversion,
    list items keep their list's path). JSON 1.1 services such as EventBridge pass `type_error` (raised
    for a value of the wrong JSON type), `list_item_path` (e.g. `targets.1.member`) and `describe`.
    """

    def __init__(self, service: str = "lambda", *, type_error: Callable[[str], Exception] | None = None,
                 list_item_path: Callable[[str, int], str] | None = None,
                 describe: Callable[[Any], str] = _describe,
                 rules: dict[str, Callable[[Any], str | None]] | None = None):
        self.service = service
        self.type_error = type_error
        # REST JSON services (Lambda) report a list or map whose scalar members break a constraint once, as a
        # whole; the JSON 1.1 ones name each member's path (e.g. `targets.1.member.id`).
        self.whole_collections = list_item_path is None
        self.list_item_path = list_item_path or (lambda path, index: path)
        self.describe = describe
        self.rules = rules or {}  # path → the service's own check of that member, instead of the model's

    def problems(self, operation: str, params: dict[str, Any]) -> list[str]:
        """Every constraint `params` breaks for `operation` (empty when none)."""
        shape = service_model(self.service).operation_model(operation).input_shape
        problems: list[str] = []
        if shape is not None:
            self._check(shape, params, "", problems)
        return problems

    def _check(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        kind = shape.type_name
        if self.type_error is not None:
            expected = _JSON_TYPES.get(kind)
            if expected and (not isinstance(value, expected) or (isinstance(value, bool) and kind != "boolean")):
                raise self.type_error(f"Unexpected value type for '{path or shape.name}': expected {kind}.")
        rule = self.rules.get(path)
        if rule is not None:
            broken = rule(value)
            if broken is not None:
                self._fail(problems, value, path, broken)
            if kind == "list" and isinstance(value, list):
                self._check_length(shape.metadata, value, path, problems)
            return
        check = self._checks.get(kind)
        if check is not None:
            check(self, shape, value, path, problems)

    def _fail(self, problems: list[str], value: Any, path: str, rule: str) -> None:
        problems.append(f"Value {self.describe(value)} at '{path}' failed to satisfy constraint: {rule}")

    def _check_string(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            return
        meta = shape.metadata
        self._check_length(meta, value, path, problems)
        if "enum" in meta and value not in meta["enum"]:
            self._fail(problems, value, path, f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        pattern = server_pattern(self.service, shape.name, meta["pattern"]) if "pattern" in meta else None
        compiled = _compiled(pattern) if pattern is not None else None
        if compiled is not None and not compiled.fullmatch(value):
            self._fail(problems, value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def _check_length(self, meta: dict[str, Any], value: str | list[Any], path: str, problems: list[str]) -> None:
        if "min" in meta and len(value) < meta["min"]:
            self._fail(problems, value, path, f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            self._fail(problems, value, path, f"Member must have length less than or equal to {meta['max']}")

    def _check_number(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        meta = shape.metadata
        if "min" in meta and value < meta["min"]:
            self._fail(problems, value, path,
                       f"Member must have value greater than or equal to {_java_number(meta['min'], shape)}")
        if "max" in meta and value > meta["max"]:
            self._fail(problems, value, path,
                       f"Member must have value less than or equal to {_java_number(meta['max'], shape)}")

    def _check_list(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            return
        self._check_length(shape.metadata, value, path, problems)
        if self.whole_collections and shape.member.type_name in _SCALARS:
            self._check_members(shape.member, value, value, path, "Member", problems)
            return
        for index, item in enumerate(value):
            if item is not None or self.type_error is None:
                self._check(shape.member, item, self.list_item_path(path, index), problems)

    def _check_map(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            return
        if self.whole_collections:
            if shape.value.type_name in ("float", "double"):  # shown as Java prints a Double: 2 → 2.0
                value = {key: float(item) if isinstance(item, int) and not isinstance(item, bool) else item
                         for key, item in value.items()}
            self._check_members(shape.key, list(value), value, path, "Map keys", problems)
            if shape.value.type_name in _SCALARS:
                self._check_members(shape.value, list(value.values()), value, path, "Map value", problems)
                return
        for key, item in value.items():
            if not self.whole_collections:
                self._check(shape.key, key, path, problems)
            if item is not None or self.type_error is None:
                self._check(shape.value, item, path, problems)

    def _check_members(self, member: Any, items: list[Any], whole: Any, path: str, subject: str,
                       problems: list[str]) -> None:
        """AWS's one problem for a collection with a scalar member that breaks a constraint: the whole value, and
        every constraint of the member ("Member must satisfy constraint: [...]")."""
        found: list[str] = []
        for item in items:
            if item is None:
                found.append("null")
            else:
                self._check(member, item, path, found)
            if found:
                self._fail(problems, whole, path,
                           f"{subject} must satisfy constraint: [{', '.join(_constraints(member))}]")
                return

    def _check_structure(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            return
        for name in shape.metadata.get("required", []):
            if value.get(name) is None:
                problems.append(f"Value null at '{_member_path(path, name)}' failed to satisfy constraint: "
                                "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                self._check(member, value[name], _member_path(path, name), problems)

    # One check per kind of shape; other kinds (boolean, blob, timestamp, ...) have no constraints here.
    _checks: dict[str, Callable[[ModelChecker, Any, Any, str, list[str]], None]] = {
        "string": _check_string,
        "integer": _check_number,
        "long": _check_number,
        "float": _check_number,
        "double": _check_number,
        "list": _check_list,
        "map": _check_map,
        "structure": _check_structure,
    }

_LAMBDA = ModelChecker(rules=AWS_RULES)


def validate(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every model constraint `params` breaks for `operation`."""
    problems = _LAMBDA.problems(operation, params)
    if problems:
        raise ValidationException(validation_message(problems))


def _describe_json(value: Any) -> str:
    """A value as the JSON 1.1 services' validation messages show it: lists and maps as JSON."""
    if isinstance(value, (list, dict)):
        return "'" + msgspec.json.encode(value).decode() + "'"
    if isinstance(value, bool):
        return "'" + str(value).lower() + "'"
    return f"'{value}'"


def json11_checker(service: str, type_error: Callable[[str], Exception]) -> ModelChecker:
    """The ModelChecker of a JSON 1.1 service on the port (EventBridge, CloudWatch Logs): a value of the wrong
    JSON type raises `type_error`, list members are named `path.N.member`, values are shown as JSON."""
    return ModelChecker(service, type_error=type_error, describe=_describe_json,
                        list_item_path=lambda path, index: f"{path}.{index + 1}.member")
