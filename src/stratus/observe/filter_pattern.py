"""CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`, StartLiveTail's `logEventFilterPattern`).

Supported, as CloudWatch Logs reads them (matching is case-sensitive):
- an empty pattern: every event;
- terms: `ERROR`, `"Exception caught"` (a quoted phrase), several terms (all must appear), `-term` (must not
  appear), `?term` (at least one of the `?` terms must appear);
- `%regex%`: a regular expression searched in the message;
- JSON patterns on events whose message is a JSON object: `{ $.level = "ERROR" }`, `{ $.x > 5 }`,
  `{ $.a.b[0] != "x*" }` (`*` is a wildcard in string values), `{ $.flag IS TRUE }`, `IS FALSE`, `IS NULL`,
  `{ $.x NOT EXISTS }`, `{ $.x EXISTS }`, combined with `&&`, `||` and parentheses; `$.list[*]` matches when
  any element does.
Space-delimited patterns (`[ip, user, ...]`) are refused (FilterPatternError).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str], bool]
_MISSING = object()


class FilterPatternError(ValueError):
    """The pattern cannot be read."""


def compile_pattern(pattern: str | None) -> Matcher:
    """A predicate on an event's message for `pattern` (raises FilterPatternError)."""
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        return _JsonPatternParser(text).parse()
    if text.startswith("["):
        raise FilterPatternError("Space-delimited filter patterns ([w1, w2, ...]) are not supported by Stratus.")
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        try:
            regex = re.compile(text[1:-1])
        except re.error as exc:
            raise FilterPatternError(f"Invalid regular expression in filter pattern: {exc}") from None
        return lambda message: regex.search(message) is not None
    return _term_matcher(text)


# ---------------------------------------------------------------- terms
def _read_quoted(text: str, index: int) -> tuple[str, int]:
    """The phrase of a quoted term starting at `text[index] == '"'`; returns (phrase, index after it)."""
    out = []
    index += 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise FilterPatternError("Unterminated quoted term in filter pattern.")


def terms(text: str) -> list[tuple[str, str]]:
    """The (kind, term) pairs of a term pattern: kind "" (required), "-" (excluded) or "?" (optional)."""
    found: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        kind = ""
        if text[index] in "-?" and index + 1 < len(text) and not text[index + 1].isspace():
            kind = text[index]
            index += 1
        if text[index] == '"':
            term, index = _read_quoted(text, index)
        else:
            end = index
            while end < len(text) and not text[end].isspace():
                end += 1
            term, index = text[index:end], end
        if term:
            found.append((kind, term))
    return found


def _term_matcher(text: str) -> Matcher:
    parsed = terms(text)
    required = [term for kind, term in parsed if kind == ""]
    excluded = [term for kind, term in parsed if kind == "-"]
    optional = [term for kind, term in parsed if kind == "?"]

    def match(message: str) -> bool:
        return (all(term in message for term in required)
                and not any(term in message for term in excluded)
                and (not optional or any(term in message for term in optional)))

    return match


# ---------------------------------------------------------------- JSON patterns
_TOKEN = re.compile(r"""\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})|(?P<string>"(?:\\.|[^"\\])*")"""
                    r"""|(?P<selector>\$(?:\.[A-Za-z0-9_@$-]+|\[(?:\d+|\*)\])*)|(?P<word>[^\s()&|=<>!{}"]+))""")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SELECTOR_PART = re.compile(r"\.([A-Za-z0-9_@$-]+)|\[(\d+|\*)\]")
_COMPARISONS = ("=", "!=", "<", ">", "<=", ">=")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, index = [], 0
    while index < len(text):
        if text[index:].strip() == "":
            break
        match = _TOKEN.match(text, index)
        if match is None or match.end() == index:
            raise FilterPatternError(f"Invalid character(s) in filter pattern at: {text[index:].strip()[:40]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        index = match.end()
    return out


def select(document: Any, selector: str) -> list[Any]:
    """The values `selector` ($.a.b[0], $.list[*]) names in `document` (empty when none)."""
    values = [document]
    for name, position in _SELECTOR_PART.findall(selector[1:]):
        step: list[Any] = []
        for value in values:
            if name:
                if isinstance(value, dict) and name in value:
                    step.append(value[name])
            elif isinstance(value, list):
                if position == "*":
                    step.extend(value)
                elif int(position) < len(value):
                    step.append(value[int(position)])
        values = step
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(value: Any, operator: str, literal: str | float) -> bool:
    if isinstance(literal, float):
        if not _is_number(value):
            return False
        return {"=": value == literal, "!=": value != literal, "<": value < literal, ">": value > literal,
                "<=": value <= literal, ">=": value >= literal}[operator]
    if not isinstance(value, str):
        return False
    matched = fnmatch.fnmatchcase(value, literal.replace("[", "[[]")) if "*" in literal else value == literal
    return matched if operator == "=" else not matched


class _JsonPatternParser:
    """Recursive descent over `{ or }` where or := and ('||' and)*, and := unary ('&&' unary)*."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self) -> Matcher:
        self._expect("{")
        condition = self._or()
        self._expect("}")
        if self.position != len(self.tokens):
            raise FilterPatternError("Unexpected text after the closing brace of the filter pattern.")

        def match(message: str) -> bool:
            if not message.lstrip().startswith("{"):
                return False
            try:
                document = json.loads(message)
            except ValueError:
                return False
            return isinstance(document, dict) and condition(document)

        return match

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "end":
            raise FilterPatternError("The filter pattern ends too early.")
        self.position += 1
        return token

    def _expect(self, op: str) -> None:
        kind, value = self._next()
        if kind != "op" or value != op:
            raise FilterPatternError(f"Expected {op!r} in filter pattern, found {value!r}.")

    def _or(self) -> Callable[[Any], bool]:
        parts = [self._and()]
        while self._peek() == ("op", "||"):
            self.position += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(part(doc) for part in parts))

    def _and(self) -> Callable[[Any], bool]:
        parts = [self._unary()]
        while self._peek() == ("op", "&&"):
            self.position += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else (lambda doc: all(part(doc) for part in parts))

    def _unary(self) -> Callable[[Any], bool]:
        if self._peek() == ("op", "("):
            self.position += 1
            inner = self._or()
            self._expect(")")
            return inner
        kind, selector = self._next()
        if kind != "selector":
            raise FilterPatternError(f"Expected a selector such as $.field in filter pattern, found {selector!r}.")
        kind, word = self._next()
        if kind == "word" and word.upper() in ("IS", "NOT", "EXISTS"):
            return self._keyword(selector, word.upper())
        if kind != "op" or word not in _COMPARISONS:
            raise FilterPatternError(f"Expected a comparison after {selector} in filter pattern, found {word!r}.")
        return self._comparison(selector, word)

    def _keyword(self, selector: str, word: str) -> Callable[[Any], bool]:
        if word == "EXISTS":
            return lambda doc: bool(select(doc, selector))
        kind, value = self._next()
        value = value.upper()
        if word == "NOT":
            if value != "EXISTS":
                raise FilterPatternError(f"Expected EXISTS after {selector} NOT in filter pattern.")
            return lambda doc: not select(doc, selector)
        wanted = {"TRUE": True, "FALSE": False, "NULL": None}
        if kind != "word" or value not in wanted:
            raise FilterPatternError(f"Expected TRUE, FALSE or NULL after {selector} IS in filter pattern.")
        target = wanted[value]
        return lambda doc: any(item is target for item in select(doc, selector))

    def _comparison(self, selector: str, operator: str) -> Callable[[Any], bool]:
        kind, raw = self._next()
        literal: str | float
        if kind == "string":
            literal = json.loads(raw) if "\\" in raw else raw[1:-1]
        elif kind == "word" and _NUMBER.fullmatch(raw):
            literal = float(raw)
        elif kind == "word":
            literal = raw
        else:
            raise FilterPatternError(f"Expected a value after {selector} {operator} in filter pattern.")
        if operator not in ("=", "!=") and not isinstance(literal, float):
            raise FilterPatternError(f"{operator} compares numbers only: {selector} {operator} {raw}")
        return lambda doc: any(_compare(item, operator, literal) for item in select(doc, selector))
