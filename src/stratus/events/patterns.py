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

import ipaddress
import json
import math
import re
from decimal import Decimal
from typing import Any, Callable

__all__ = ["InvalidEventPattern", "CompiledPattern", "compile_pattern", "flatten", "matches", "validate_pattern"]

_RESERVED_IN_OR = frozenset([
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric", "cidr",
    "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
    "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "cidr",
])
_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


class InvalidEventPattern(ValueError):
    """A pattern EventBridge refuses; `str()` is AWS's message, `reason` the part after "Reason: "."""

    def __init__(self, reason: str):
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
        self.reason = reason


def _fail(reason: str):
    raise InvalidEventPattern(reason)


# ---------------------------------------------------------------------------------------- values
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _number_text(value) -> str:
    return str(value)


def _comparable(value) -> float:
    """The pattern number as a float; AWS refuses numbers a double cannot hold exactly."""
    as_float = float(value)
    if math.isinf(as_float) or math.isnan(as_float) or Decimal(repr(as_float)) != Decimal(value):
        _fail(f"Cannot compare number : {_number_text(value)}")
    return as_float


def _wildcard_regex(text: str) -> re.Pattern:
    """A wildcard (`*` any run, `\\*` a star, `\\\\` a backslash) as a regex; positions as AWS counts them."""
    raw = text.encode()
    parts: list[str] = []
    i = 0
    literal = bytearray()

    def flush():
        if literal:
            parts.append(re.escape(literal.decode("utf-8", "surrogateescape")))
            literal.clear()

    while i < len(raw):
        byte = raw[i]
        if byte == 0x2A:  # *
            if i + 1 < len(raw) and raw[i + 1] == 0x2A:
                _fail(f"Consecutive wildcard characters at pos {i + 1}")  # AWS counts from the opening quote
            flush()
            parts.append(".*")
        elif byte == 0x5C:  # backslash
            if i + 1 < len(raw) and raw[i + 1] in (0x2A, 0x5C):
                literal.append(raw[i + 1])
                i += 2
                continue
            _fail(f"Invalid escape character at pos {i + 1}")
        else:
            literal.append(byte)
        i += 1
    flush()
    return re.compile("".join(parts), re.DOTALL)


def _ip_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    slashed = text.split("/")
    if len(slashed) != 2:
        _fail("Malformed CIDR, one '/' required")
    try:
        bits = int(slashed[1])
    except ValueError:
        _fail("Malformed CIDR, mask bits must be an integer")
    if bits < 0:
        _fail("Malformed CIDR, mask bits must not be negative")
    address = _ip_address(slashed[0])
    if address is None:
        if _IPV4.fullmatch(slashed[0]) or _IPV6.fullmatch(slashed[0]):
            _fail(f"Invalid IP address: {slashed[0]}")
        _fail(f"Nonstandard IP address: {slashed[0]}")
    if address.version == 4 and bits > 31:
        _fail("IPv4 mask bits must be < 32")
    if address.version == 6 and bits > 127:
        _fail("IPv6 mask bits must be < 128")
    return ipaddress.ip_network(f"{address}/{bits}", strict=False)


def _ip_address(text: str):
    if not (_IPV4.fullmatch(text) or _IPV6.fullmatch(text)):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------ matchers
# A matcher is a predicate on one leaf value of the event.
Matcher = Callable[[Any], bool]


class Field:
    """The alternatives for one flattened path: value matchers, and whether presence/absence suffices."""

    __slots__ = ("matchers", "exists", "absent")

    def __init__(self):
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


def _exact(expected) -> Matcher:
    if expected is None:
        return lambda value: value is None
    if isinstance(expected, bool):
        return lambda value: value is expected
    if _is_number(expected):
        number = float(expected) if isinstance(expected, Decimal) else expected
        return lambda value: _is_number(value) and value == number
    return lambda value: value == expected and isinstance(value, str)


def _prefix(text: str, ignore_case: bool = False) -> Matcher:
    if ignore_case:
        lowered = text.lower()
        return lambda value: isinstance(value, str) and value.lower().startswith(lowered)
    return lambda value: isinstance(value, str) and value.startswith(text)


def _suffix(text: str, ignore_case: bool = False) -> Matcher:
    if ignore_case:
        lowered = text.lower()
        return lambda value: isinstance(value, str) and value.lower().endswith(lowered)
    return lambda value: isinstance(value, str) and value.endswith(text)


def _numeric(lower: float | None, lower_open: bool, upper: float | None, upper_open: bool) -> Matcher:
    def check(value) -> bool:
        if not _is_number(value):
            return False
        if lower is not None and (value <= lower if lower_open else value < lower):
            return False
        if upper is not None and (value >= upper if upper_open else value > upper):
            return False
        return True

    return check


# ---------------------------------------------------------------------------------- expressions
def _match_expression(expression: dict) -> tuple[str, Any]:
    """Compile one `{"<match type>": ...}` object; returns ("matcher", fn) or ("exists", bool)."""
    if not expression:
        _fail("Match expression name not found")
    items = list(expression.items())
    kind, argument = items[0]
    extra = len(items) > 1
    if kind == "exactly":
        if not _is_string(argument):
            _fail("exact match pattern must be a string")
        _one_key(extra)
        return "matcher", _exact(argument)
    if kind in ("prefix", "suffix"):
        if isinstance(argument, dict):
            text = _ignore_case_argument(argument, kind)
            _one_key(extra)
            return "matcher", (_prefix if kind == "prefix" else _suffix)(text, ignore_case=True)
        if not _is_string(argument):
            _fail(f"{kind} match pattern must be a string")
        _one_key(extra)
        return "matcher", (_prefix if kind == "prefix" else _suffix)(argument)
    if kind == "numeric":
        if not isinstance(argument, list):
            _fail("Value of numeric must be an array.")
        matcher = _numeric_expression(argument)
        if extra:
            _fail("Too many elements in numeric expression")
        return "matcher", matcher
    if kind == "anything-but":
        matcher = _anything_but(argument)
        if extra:
            _fail("Too many elements in numeric expression")
        return "matcher", matcher
    if kind == "exists":
        if not isinstance(argument, bool):
            _fail("exists match pattern must be either true or false.")
        _one_key(extra)
        return "exists", argument
    if kind == "cidr":
        if not _is_string(argument):
            _fail("prefix match pattern must be a string")
        network = _ip_network(argument)
        _one_key(extra)

        def in_network(value) -> bool:
            address = _ip_address(value) if isinstance(value, str) else None
            return address is not None and address.version == network.version and address in network

        return "matcher", in_network
    if kind == "equals-ignore-case":
        if not _is_string(argument):
            _fail("equals-ignore-case match pattern must be a string")
        _one_key(extra)
        lowered = argument.lower()
        return "matcher", lambda value: isinstance(value, str) and value.lower() == lowered
    if kind == "wildcard":
        if not _is_string(argument):
            _fail("wildcard match pattern must be a string")
        regex = _wildcard_regex(argument)
        _one_key(extra)
        return "matcher", lambda value: isinstance(value, str) and regex.fullmatch(value) is not None
    _fail(f"Unrecognized match type {kind}")


def _one_key(extra: bool) -> None:
    if extra:
        _fail("Only one key allowed in match expression")


def _ignore_case_argument(argument: dict, kind: str) -> str:
    """The string of `{"prefix": {"equals-ignore-case": "..."}}` (and suffix)."""
    if not argument:
        _fail(f"{kind.capitalize()} expression name not found")
    (operator, text), *rest = argument.items()
    if operator != "equals-ignore-case":
        _fail(f"Unsupported {kind} pattern: {operator}")
    if not _is_string(text):
        _fail("equals-ignore-case match pattern must be a string")
    if rest:
        _fail("Only one key allowed in match expression")
    return text


def _numeric_expression(terms: list) -> Matcher:
    def number(index: int, operator: str, name: str | None = None) -> float:
        if index >= len(terms) or not _is_number(terms[index]):
            _fail(f"Value of {name or operator} must be numeric")
        return _comparable(terms[index])

    if not terms or not _is_string(terms[0]):
        shown = "]" if not terms else json.dumps(terms[0]) if not isinstance(terms[0], Decimal) else str(terms[0])
        _fail(f"Invalid member in numeric match: {shown}")
    operator = terms[0]
    if operator == "=":
        value = number(1, "=", "equals")
        if len(terms) > 2:
            _fail("Too many elements in numeric expression")
        return _numeric(value, False, value, False)
    if operator in ("<", "<="):
        value = number(1, operator)
        if len(terms) > 2:
            _fail("Too many elements in numeric expression")
        return _numeric(None, False, value, operator == "<")
    if operator in (">", ">="):
        lower = number(1, operator)
        if len(terms) == 2:
            return _numeric(lower, operator == ">", None, False)
        second = terms[2]
        if not _is_string(second):
            _fail(f"Bad value in numeric range: {second}")
        if second not in ("<", "<="):
            _fail(f"Bad numeric range operator: {second}")
        upper = number(3, second)
        if len(terms) > 4:
            _fail("Too many terms in numeric range expression")
        if not lower < upper:
            _fail("Bottom must be less than top")
        return _numeric(lower, operator == ">", upper, second == "<")
    _fail(f"Unrecognized numeric range operator: {operator}")


def _anything_but(argument) -> Matcher:
    if isinstance(argument, dict):
        if not argument:
            _fail("Anything-But expression name not found")
        (operator, values), *rest = argument.items()
        if operator not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
            _fail(f"Unsupported anything-but pattern: {operator}")
        if not (isinstance(values, list) or _is_string(values) or _is_number(values)):
            _fail("Value of anything-but must be an array or single string/number value.")
        texts = values if isinstance(values, list) else [values]
        for text in texts:
            if not _is_string(text):
                if operator == "equals-ignore-case":
                    _fail("Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.")
                if operator == "wildcard":
                    _fail("wildcard match pattern must be a string")
                _fail("prefix/suffix match pattern must be a string")
            if operator in ("prefix", "suffix") and text == "":
                _fail("Null prefix/suffix not allowed")
        if rest:
            _fail("Too many elements in numeric expression")
        if operator == "equals-ignore-case":
            lowered = {text.lower() for text in texts}
            return lambda value: not (isinstance(value, str) and value.lower() in lowered)
        if operator == "prefix":
            prefixes = tuple(texts)
            return lambda value: not (isinstance(value, str) and value.startswith(prefixes))
        if operator == "suffix":
            suffixes = tuple(texts)
            return lambda value: not (isinstance(value, str) and value.endswith(suffixes))
        regexes = [_wildcard_regex(text) for text in texts]
        return lambda value: not (isinstance(value, str) and any(r.fullmatch(value) for r in regexes))
    if isinstance(argument, list):
        strings = [item for item in argument if _is_string(item)]
        numbers = [item for item in argument if _is_number(item)]
        if len(strings) + len(numbers) != len(argument):
            _fail("Inside anything but list, start|null|boolean is not supported.")
        if (strings and numbers) or not argument:
            _fail("Inside anything but list, either all values are number or string, mixed type is not supported")
    elif _is_string(argument) or _is_number(argument):
        strings = [argument] if _is_string(argument) else []
        numbers = [argument] if _is_number(argument) else []
    else:
        _fail("Value of anything-but must be an array or single string/number value.")
    if numbers:
        excluded_numbers = {_comparable(number) for number in numbers}
        return lambda value: not (_is_number(value) and value in excluded_numbers)
    excluded = set(strings)
    return lambda value: not (isinstance(value, str) and value in excluded)


def _field(values: list) -> Field:
    if not values:
        _fail("Empty arrays are not allowed")
    field = Field()
    for value in values:
        if isinstance(value, dict):
            kind, compiled = _match_expression(value)
            if kind == "exists":
                if compiled:
                    field.exists = True
                else:
                    field.absent = True
            else:
                field.matchers.append(compiled)
        elif isinstance(value, list):
            _fail("Match value must be String, number, true, false, or null")
        else:
            field.matchers.append(_exact(value))
    return field


# ------------------------------------------------------------------------------------ compiling
Rule = dict[str, Field]  # one alternative: every path must match


def _compile_object(pattern: dict, path: str, inside_or: bool) -> list[Rule]:
    if not pattern:
        _fail("Empty objects are not allowed")
    alternatives: list[Rule] = [{}]
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list):
                _fail("It must be an Array followed with $or.")
            branches: list[Rule] = []
            for item in value:
                if not isinstance(item, dict):
                    _fail("Only JSON object is allowed in array of $or relationship.")
                branches += _compile_object(item, path, True)
            if len(value) < 2:
                _fail("There must have at least 2 Objects in $or relationship.")
            alternatives = [{**rule, **branch} for rule in alternatives for branch in branches]
            continue
        if inside_or and key in _RESERVED_IN_OR:
            _fail(f"{key} is Ruler reserved fieldName which cannot be used inside $or.")
        step = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            nested = _compile_object(value, step, inside_or)
            alternatives = [{**rule, **branch} for rule in alternatives for branch in nested]
        elif isinstance(value, list):
            field = _field(value)
            for rule in alternatives:
                rule[step] = field
        else:
            _fail(f'"{key}" must be an object or an array')
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
        _fail("Filter is not an object")
    return CompiledPattern(_compile_object(_exact_numbers(pattern), "", False))


def _reject_constant(name: str):
    raise ValueError(f"Non-standard token '{name}': enable JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS to allow")


def _parse(text: str):
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


def _exact_numbers(value):
    """Floats in a pattern built in Python become Decimals of their shortest repr (as parsed text would)."""
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            _fail(f"Cannot compare number : {value}")
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
