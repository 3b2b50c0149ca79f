"""IAM policy evaluation: Effect, Action/NotAction, Resource/NotResource (with `*` and `?`), Condition.

An explicit Deny wins over any Allow; no matching Allow is an implicit deny. Actions match without regard
to case, resources with it. Conditions: the String*, Arn*, Bool, Numeric* operators, the `IfExists`
suffix, `Null`, and the ForAnyValue:/ForAllValues: set qualifiers. Unknown operators never match (as
AWS, a statement whose condition cannot be evaluated does not apply).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from functools import lru_cache
from typing import Any

ContextValue = str | list[str]


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny
    IMPLICIT_DENY = "implicit"


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def glob_match(glob: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _any_match(patterns: Any, value: str, ignore_case: bool) -> bool:
    return any(isinstance(p, str) and glob_match(p, value, ignore_case) for p in _as_list(patterns))


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts matched one by one (the resource part keeps its colons)."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(glob_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(value: str, expected: str) -> bool:
        a, b = _number(value), _number(expected)
        return a is not None and b is not None and compare(a, b)
    return match


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda v, e: v == e,
    "StringEqualsIgnoreCase": lambda v, e: v.lower() == e.lower(),
    "StringLike": lambda v, e: glob_match(e, v),
    "ArnEquals": lambda v, e: v == e,
    "ArnLike": lambda v, e: _arn_like(e, v),
    "Bool": lambda v, e: v.lower() == e.lower(),
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
            "NumericNotEquals": "NumericEquals"}


def _lookup(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    for name, value in context.items():  # condition keys are case-insensitive
        if name.lower() == key.lower():
            return [str(v) for v in _as_list(value)]
    return None


def _key_matches(operator: str, values: list[str], expected: list[str]) -> bool:
    """One condition key: `values` from the request (non-empty), `expected` from the policy."""
    qualifier, _, op = operator.rpartition(":")
    negated = op in _NEGATED
    match = _POSITIVE[_NEGATED.get(op, op)]

    def one(value: str) -> bool:
        hit = any(match(value, e) for e in expected)
        return not hit if negated else hit

    if qualifier.lower() == "forallvalues":
        return all(one(v) for v in values)
    if qualifier.lower() == "foranyvalue":
        return any(one(v) for v in values)
    return any(one(v) for v in values) if not negated else all(one(v) for v in values)


def _condition_holds(operator: str, block: Any, context: Mapping[str, ContextValue]) -> bool:
    if not isinstance(block, dict):
        return False
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    name = base.rpartition(":")[2]
    for key, expected in block.items():
        values = _lookup(context, key)
        if name == "Null":  # "true": the key is absent
            absent = not values
            if str(_as_list(expected)[0]).lower() != ("true" if absent else "false"):
                return False
            continue
        if name not in _POSITIVE and name not in _NEGATED:
            return False
        if not values:
            if if_exists or base.lower().startswith("forallvalues:"):
                continue
            return False
        if not _key_matches(base, values, [str(e) for e in _as_list(expected)]):
            return False
    return True


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str,
                       context: Mapping[str, ContextValue]) -> bool:
    if "Action" in statement:
        if not _any_match(statement["Action"], action, True):
            return False
    elif "NotAction" in statement:
        if _any_match(statement["NotAction"], action, True):
            return False
    else:
        return False
    if "Resource" in statement:
        if not _any_match(statement["Resource"], resource, False):
            return False
    elif "NotResource" in statement:
        if _any_match(statement["NotResource"], resource, False):
            return False
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, dict):
        return False
    return all(_condition_holds(op, block, context) for op, block in conditions.items())


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def evaluate(documents: Iterable[Mapping[str, Any]], action: str, resource: str,
             context: Mapping[str, ContextValue] | None = None) -> Decision:
    """The decision of these policies (one principal's identity policies, say) on `action` on `resource`."""
    allowed = False
    for document in documents:
        for statement in statements(document):
            if not _statement_applies(statement, action, resource, context or {}):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
