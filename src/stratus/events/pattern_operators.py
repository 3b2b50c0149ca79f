"""The match expressions of event patterns (`{"prefix": ...}`, `{"numeric": [...]}`...), each compiled
to a matcher (a predicate on one leaf value of an event) with AWS's Event Ruler messages for the ones it
refuses; `match_expression` dispatches on the expression's name."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NoReturn

_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")

# A matcher is a predicate on one leaf value of the event.
Matcher = Callable[[Any], bool]
# A compiled match expression: ("matcher", a Matcher) or ("exists", whether the field must exist).
Compiled = tuple[str, Any]
# A number in a pattern or an event (JSON text parses to int or Decimal, Python patterns may hold floats).
Number = int | float | Decimal


class InvalidEventPattern(ValueError):
    """A pattern EventBridge refuses; `str()` is AWS's message, `reason` the part after "Reason: "."""

    def __init__(self, reason: str):
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
        self.reason = reason


def fail(reason: str) -> NoReturn:
    raise InvalidEventPattern(reason)


# ---------------------------------------------------------------------------------------- values
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _number_text(value: Number) -> str:
    return str(value)


def _comparable(value: Number) -> float:
    """The pattern number as a float; AWS refuses numbers a double cannot hold exactly."""
    as_float = float(value)
    if math.isinf(as_float) or math.isnan(as_float) or Decimal(repr(as_float)) != Decimal(value):
        fail(f"Cannot compare number : {_number_text(value)}")
    return as_float


def _wildcard_regex(text: str) -> re.Pattern:
    """A wildcard (`*` any run, `\\*` a star, `\\\\` a backslash) as a regex; positions as AWS counts them."""
    raw = text.encode()
    parts: list[str] = []
    i = 0
    literal = bytearray()

    def flush() -> None:
        if literal:
            parts.append(re.escape(literal.decode("utf-8", "surrogateescape")))
            literal.clear()

    while i < len(raw):
        byte = raw[i]
        if byte == 0x2A:  # *
            if i + 1 < len(raw) and raw[i + 1] == 0x2A:
                fail(f"Consecutive wildcard characters at pos {i + 1}")  # AWS counts from the opening quote
            flush()
            parts.append(".*")
        elif byte == 0x5C:  # backslash
            if i + 1 < len(raw) and raw[i + 1] in (0x2A, 0x5C):
                literal.append(raw[i + 1])
                i += 2
                continue
            fail(f"Invalid escape character at pos {i + 1}")
        else:
            literal.append(byte)
        i += 1
    flush()
    return re.compile("".join(parts), re.DOTALL)


def _ip_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    slashed = text.split("/")
    if len(slashed) != 2:
        fail("Malformed CIDR, one '/' required")
    try:
        bits = int(slashed[1])
    except ValueError:
        fail("Malformed CIDR, mask bits must be an integer")
    if bits < 0:
        fail("Malformed CIDR, mask bits must not be negative")
    address = _ip_address(slashed[0])
    if address is None:
        if _IPV4.fullmatch(slashed[0]) or _IPV6.fullmatch(slashed[0]):
            fail(f"Invalid IP address: {slashed[0]}")
        fail(f"Nonstandard IP address: {slashed[0]}")
    if address.version == 4 and bits > 31:
        fail("IPv4 mask bits must be < 32")
    if address.version == 6 and bits > 127:
        fail("IPv6 mask bits must be < 128")
    return ipaddress.ip_network(f"{address}/{bits}", strict=False)


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not (_IPV4.fullmatch(text) or _IPV6.fullmatch(text)):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def exact(expected: str | Number | bool | None) -> Matcher:
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
    def check(value: Any) -> bool:
        if not _is_number(value):
            return False
        if lower is not None and (value <= lower if lower_open else value < lower):
            return False
        if upper is not None and (value >= upper if upper_open else value > upper):
            return False
        return True

    return check


# ---------------------------------------------------------------------------------- expressions
def match_expression(expression: dict[str, Any]) -> Compiled:
    """Compile one `{"<match type>": ...}` object; returns ("matcher", fn) or ("exists", bool)."""
    if not expression:
        fail("Match expression name not found")
    (kind, argument), *rest = expression.items()
    compile_operator = _OPERATORS.get(kind)
    if compile_operator is None:
        fail(f"Unrecognized match type {kind}")
    return compile_operator(kind, argument, bool(rest))


def _one_key(extra: bool) -> None:
    if extra:
        fail("Only one key allowed in match expression")


def _string_argument(argument: Any, kind: str, extra: bool) -> str:
    """The string argument of a one-key expression (AWS checks the type before the key count)."""
    if not _is_string(argument):
        fail(f"{kind} match pattern must be a string")
    _one_key(extra)
    return str(argument)


def _exactly(kind: str, argument: Any, extra: bool) -> Compiled:
    if not _is_string(argument):
        fail("exact match pattern must be a string")
    _one_key(extra)
    return "matcher", exact(argument)


def _affix(kind: str, argument: Any, extra: bool) -> Compiled:
    """prefix / suffix, optionally `{"equals-ignore-case": "..."}`."""
    build = _prefix if kind == "prefix" else _suffix
    if isinstance(argument, dict):
        text = _ignore_case_argument(argument, kind)
        _one_key(extra)
        return "matcher", build(text, ignore_case=True)
    return "matcher", build(_string_argument(argument, kind, extra))


def _numeric_operator(kind: str, argument: Any, extra: bool) -> Compiled:
    if not isinstance(argument, list):
        fail("Value of numeric must be an array.")
    matcher = _numeric_expression(argument)
    if extra:
        fail("Too many elements in numeric expression")
    return "matcher", matcher


def _anything_but_operator(kind: str, argument: Any, extra: bool) -> Compiled:
    matcher = _anything_but(argument)
    if extra:
        fail("Too many elements in numeric expression")  # sic: AWS's message
    return "matcher", matcher


def _exists(kind: str, argument: Any, extra: bool) -> Compiled:
    if not isinstance(argument, bool):
        fail("exists match pattern must be either true or false.")
    _one_key(extra)
    return "exists", argument


def _cidr(kind: str, argument: Any, extra: bool) -> Compiled:
    network = _ip_network(_string_argument(argument, "prefix", False))  # sic: AWS says "prefix"
    _one_key(extra)

    def in_network(value: Any) -> bool:
        address = _ip_address(value) if isinstance(value, str) else None
        return address is not None and address.version == network.version and address in network

    return "matcher", in_network


def _equals_ignore_case(kind: str, argument: Any, extra: bool) -> Compiled:
    lowered = _string_argument(argument, kind, extra).lower()
    return "matcher", lambda value: isinstance(value, str) and value.lower() == lowered


def _wildcard(kind: str, argument: Any, extra: bool) -> Compiled:
    if not _is_string(argument):
        fail("wildcard match pattern must be a string")
    regex = _wildcard_regex(argument)
    _one_key(extra)
    return "matcher", lambda value: isinstance(value, str) and regex.fullmatch(value) is not None


_OPERATORS: dict[str, Callable[[str, Any, bool], Compiled]] = {
    "exactly": _exactly,
    "prefix": _affix,
    "suffix": _affix,
    "numeric": _numeric_operator,
    "anything-but": _anything_but_operator,
    "exists": _exists,
    "cidr": _cidr,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
}


def _ignore_case_argument(argument: dict, kind: str) -> str:
    """The string of `{"prefix": {"equals-ignore-case": "..."}}` (and suffix)."""
    if not argument:
        fail(f"{kind.capitalize()} expression name not found")
    (operator, text), *rest = argument.items()
    if operator != "equals-ignore-case":
        fail(f"Unsupported {kind} pattern: {operator}")
    if not _is_string(text):
        fail("equals-ignore-case match pattern must be a string")
    if rest:
        fail("Only one key allowed in match expression")
    return text


def _numeric_expression(terms: list) -> Matcher:
    def number(index: int, operator: str, name: str | None = None) -> float:
        if index >= len(terms) or not _is_number(terms[index]):
            fail(f"Value of {name or operator} must be numeric")
        return _comparable(terms[index])

    if not terms or not _is_string(terms[0]):
        shown = "]" if not terms else json.dumps(terms[0]) if not isinstance(terms[0], Decimal) else str(terms[0])
        fail(f"Invalid member in numeric match: {shown}")
    operator = terms[0]
    if operator == "=":
        value = number(1, "=", "equals")
        if len(terms) > 2:
            fail("Too many elements in numeric expression")
        return _numeric(value, False, value, False)
    if operator in ("<", "<="):
        value = number(1, operator)
        if len(terms) > 2:
            fail("Too many elements in numeric expression")
        return _numeric(None, False, value, operator == "<")
    if operator in (">", ">="):
        lower = number(1, operator)
        if len(terms) == 2:
            return _numeric(lower, operator == ">", None, False)
        second = terms[2]
        if not _is_string(second):
            fail(f"Bad value in numeric range: {second}")
        if second not in ("<", "<="):
            fail(f"Bad numeric range operator: {second}")
        upper = number(3, second)
        if len(terms) > 4:
            fail("Too many terms in numeric range expression")
        if not lower < upper:
            fail("Bottom must be less than top")
        return _numeric(lower, operator == ">", upper, second == "<")
    fail(f"Unrecognized numeric range operator: {operator}")


def _anything_but(argument: Any) -> Matcher:
    if isinstance(argument, dict):
        return _anything_but_operator_values(argument)
    if isinstance(argument, list):
        strings = [item for item in argument if _is_string(item)]
        numbers = [item for item in argument if _is_number(item)]
        if len(strings) + len(numbers) != len(argument):
            fail("Inside anything but list, start|null|boolean is not supported.")
        if (strings and numbers) or not argument:
            fail("Inside anything but list, either all values are number or string, mixed type is not supported")
    elif _is_string(argument) or _is_number(argument):
        strings = [argument] if _is_string(argument) else []
        numbers = [argument] if _is_number(argument) else []
    else:
        fail("Value of anything-but must be an array or single string/number value.")
    if numbers:
        excluded_numbers = {_comparable(number) for number in numbers}
        return lambda value: not (_is_number(value) and value in excluded_numbers)
    excluded = set(strings)
    return lambda value: not (isinstance(value, str) and value in excluded)


def _anything_but_operator_values(argument: dict[str, Any]) -> Matcher:
    """`{"anything-but": {"<operator>": value or [values]}}`: none of the values may match."""
    if not argument:
        fail("Anything-But expression name not found")
    (operator, values), *rest = argument.items()
    if operator not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
        fail(f"Unsupported anything-but pattern: {operator}")
    if not (isinstance(values, list) or _is_string(values) or _is_number(values)):
        fail("Value of anything-but must be an array or single string/number value.")
    texts = values if isinstance(values, list) else [values]
    for text in texts:
        _check_anything_but_text(operator, text)
    if rest:
        fail("Too many elements in numeric expression")
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


def _check_anything_but_text(operator: str, text: Any) -> None:
    if not _is_string(text):
        if operator == "equals-ignore-case":
            fail("Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.")
        if operator == "wildcard":
            fail("wildcard match pattern must be a string")
        fail("prefix/suffix match pattern must be a string")
    if operator in ("prefix", "suffix") and text == "":
        fail("Null prefix/suffix not allowed")
