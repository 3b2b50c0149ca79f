"""EventBridge event patterns: validation with AWS's messages, and matching.

The grammar and the messages follow AWS's Event Ruler (the engine behind EventBridge and Lambda
event filtering): a pattern is an object whose leaves are non-empty arrays of alternatives
(values, or one-key match expressions: prefix, suffix, equals-ignore-case, wildcard,
anything-but, numeric, exists, cidr); `$or` takes two or more objects. Keys join with "." (so
`{"a": {"b": ...}}` and `{"a.b": ...}` are the same field), arrays in the event are "crushed"
(any element may match) but two fields never match inside different elements of one array.

    pattern = validate_pattern('{"source": ["shop"], "detail": {"total": [{"numeric": [">", 10]}]}}')
    matches(pattern, event)
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any, NoReturn

from stratus.events.pattern_operators import InvalidEventPattern, Matcher, exact, fail, match_expression

__all__ = ["InvalidEventPattern", "CompiledPattern", "compile_pattern", "flatten", "matches", "validate_pattern"]

_RESERVED_IN_OR = frozenset([
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric", "cidr",
    "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
    "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "cidr",
])


# ------------------------------------------------------------------------------------ fields
class Field:
    """The alternatives for one flattened path: value matchers, and whether presence/absence suffices."""

    __slots__ = ("matchers", "exists", "absent")

    def __init__(self) -> None:
        self.matchers: list[Matcher] = []
        self.exists = False  # {"exists": true}: any leaf value matches
        self.absent = False  # {"exists": false}: the path having no leaf value matches

    def accepts(self, value: Any) -> bool:
        if self.exists:
            return True
        for matcher in self.matchers:
            if matcher(value):
                return True
        return False


def _field(values: list) -> Field:
    if not values:
        fail("Empty arrays are not allowed")
    field = Field()
    for value in values:
        if isinstance(value, dict):
            kind, compiled = match_expression(value)
            if kind == "exists":
                if compiled:
                    field.exists = True
                else:
                    field.absent = True
            else:
                field.matchers.append(compiled)
        elif isinstance(value, list):
            fail("Match value must be String, number, true, false, or null")
        else:
            field.matchers.append(exact(value))
    return field


# ------------------------------------------------------------------------------------ compiling
Rule = dict[str, Field]  # one alternative: every path must match


def _compile_object(pattern: dict, path: str, inside_or: bool) -> list[Rule]:
    if not pattern:
        fail("Empty objects are not allowed")
    alternatives: list[Rule] = [{}]
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list):
                fail("It must be an Array followed with $or.")
            branches: list[Rule] = []
            for item in value:
                if not isinstance(item, dict):
                    fail("Only JSON object is allowed in array of $or relationship.")
                branches += _compile_object(item, path, True)
            if len(value) < 2:
                fail("There must have at least 2 Objects in $or relationship.")
            alternatives = [{**rule, **branch} for rule in alternatives for branch in branches]
            continue
        if inside_or and key in _RESERVED_IN_OR:
            fail(f"{key} is Ruler reserved fieldName which cannot be used inside $or.")
        step = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            nested = _compile_object(value, step, inside_or)
            alternatives = [{**rule, **branch} for rule in alternatives for branch in nested]
        elif isinstance(value, list):
            field = _field(value)
            for rule in alternatives:
                rule[step] = field
        else:
            fail(f'"{key}" must be an object or an array')
    return alternatives


class CompiledPattern:
    """A validated pattern, ready to match many events."""

    __slots__ = ("rules",)

    def __init__(self, rules: list[Rule]):
        self.rules = rules

    def matches(self, event: dict, leaves: dict | None = None) -> bool:
        """Does `event` match? Pass `leaves=flatten(event)` when matching one event against many patterns."""
        leaves = flatten(event) if leaves is None else leaves
        return any(_rule_matches(rule, leaves) for rule in self.rules)


def compile_pattern(pattern: dict) -> CompiledPattern:
    """Compile a pattern object; raises InvalidEventPattern with AWS's reason."""
    if not isinstance(pattern, dict):
        fail("Filter is not an object")
    return CompiledPattern(_compile_object(_exact_numbers(pattern), "", False))


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"Non-standard token '{name}': enable JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS to allow")


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidEventPattern(reason) from None


def validate_pattern(text: str) -> dict:
    """Parse and check an EventPattern (JSON text); the pattern object, or InvalidEventPattern."""
    pattern = _parse(text)
    compile_pattern(pattern)
    return json.loads(text)  # floats as Python floats for callers that keep the dict


def matches(pattern: dict | CompiledPattern, event: dict) -> bool:
    """Does `event` match `pattern` (a pattern object or a CompiledPattern)?"""
    compiled = pattern if isinstance(pattern, CompiledPattern) else compile_pattern(pattern)
    return compiled.matches(event)


def _exact_numbers(value: Any) -> Any:
    """Floats in a pattern built in Python become Decimals of their shortest repr (as parsed text would)."""
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            fail(f"Cannot compare number : {value}")
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _exact_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact_numbers(item) for item in value]
    return value


# ------------------------------------------------------------------------------------- matching
Leaf = tuple[Any, tuple[tuple[int, int], ...]]  # (value, ((array id, index), ...) of the arrays around it)


def flatten(event: Any) -> dict[str, list[Leaf]]:
    """The event's leaf values by dotted path, each with the array elements it sits in."""
    leaves: dict[str, list[Leaf]] = {}
    arrays = 0
    stack: list[tuple[Any, str, tuple]] = [(event, "", ())]
    while stack:
        value, path, membership = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((item, f"{path}.{key}" if path else key, membership))
        elif isinstance(value, list):
            arrays += 1
            for index, item in enumerate(value):
                stack.append((item, path, membership + ((arrays, index),)))
        elif path:
            leaves.setdefault(path, []).append((value, membership))
    return leaves


def _rule_matches(rule: Rule, leaves: dict[str, list[Leaf]]) -> bool:
    constrained: list[list[tuple]] = []
    for path, field in rule.items():
        present = leaves.get(path)
        if not present:
            if field.absent:
                continue
            return False
        candidates = [membership for value, membership in present if field.accepts(value)]
        if not candidates:
            return False
        if all(candidates):  # every candidate sits inside an array: it constrains the others
            constrained.append(list(dict.fromkeys(candidates)))
    if len(constrained) < 2:
        return True
    constrained.sort(key=len)
    return _consistent(constrained, 0, {})


def _consistent(fields: list[list[tuple]], index: int, chosen: dict[int, int]) -> bool:
    """Can one candidate per field be chosen so that no two sit in different elements of one array?"""
    if index == len(fields):
        return True
    for membership in fields[index]:
        if all(chosen.get(array, element) == element for array, element in membership):
            added = [array for array, _ in membership if array not in chosen]
            for array, element in membership:
                chosen.setdefault(array, element)
            if _consistent(fields, index + 1, chosen):
                return True
            for array in added:
                del chosen[array]
    return False
