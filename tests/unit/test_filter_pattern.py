"""CloudWatch Logs filter patterns (observe/filter_pattern.py): terms, phrases, exclusions, optional terms,
regular expressions and JSON patterns, each checked against what the pattern means."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratus.observe.filter_pattern import FilterPatternError, compile_pattern, select, terms

WORDS = st.text(alphabet="abcXYZ09_", min_size=1, max_size=4)
MESSAGES = st.lists(st.sampled_from(["abc", "XYZ", "a_1", "ERROR", "warn", "0", " ", "9b"]), max_size=8).map("".join)


def test_term_patterns():
    assert compile_pattern("")("anything") and compile_pattern(None)("")
    assert compile_pattern("ERROR")("[ERROR] disk full") and not compile_pattern("ERROR")("error: lower case")
    assert compile_pattern("ERROR disk")("disk ERROR") and not compile_pattern("ERROR disk")("ERROR only")
    assert compile_pattern('"disk full"')("ERROR disk full!") and not compile_pattern('"disk full"')("full disk")
    assert compile_pattern("ERROR -retrying")("ERROR x") and not compile_pattern("ERROR -retrying")("ERROR retrying")
    assert compile_pattern("?ERROR ?WARN")("a WARN") and not compile_pattern("?ERROR ?WARN")("INFO")
    assert compile_pattern('"say \\"hi\\""')('they say "hi"')
    assert compile_pattern("%ERR(OR)?:%")("ERR: x") and not compile_pattern("%^ERROR%")("an ERROR")
    assert terms('a -"b c" ?d') == [("", "a"), ("-", "b c"), ("?", "d")]


def test_json_patterns():
    record = json.dumps({"level": "ERROR", "x": 7, "a": {"b": [1, "xy"]}, "ok": True, "none": None})
    matching = ['{ $.level = "ERROR" }', "{ $.level = ERROR }", "{$.x>5}", "{ $.x = 7 }", "{ $.x >= 7 && $.x <= 7 }",
                '{ $.level = "ERR*" }', '{ $.level != "INFO" }', '{ ($.x < 0) || $.a.b[1] = "x*" }',
                "{ $.a.b[*] = 1 }", "{ $.ok IS TRUE }", "{ $.none IS NULL }", "{ $.missing NOT EXISTS }",
                "{ $.x EXISTS }", "{ $.x != 8 }"]
    failing = ['{ $.level = "INFO" }', "{ $.x > 7 }", "{ $.x = 7 && $.level = WARN }", '{ $.x = "7" }',
               "{ $.ok IS FALSE }", "{ $.x NOT EXISTS }", "{ $.missing = 1 }", "{ $.a.b[5] = 1 }"]
    for pattern in matching:
        assert compile_pattern(pattern)(record), pattern
    for pattern in failing:
        assert not compile_pattern(pattern)(record), pattern
    assert not compile_pattern('{ $.level = "ERROR" }')("ERROR plain text")  # only JSON events match
    assert not compile_pattern("{ $.x > 1 }")('["not", "an object"]')


@pytest.mark.parametrize("pattern", ["{ $.x > }", "{ $.x ~ 1 }", "{ $.x = 1", "[ip, user]", '"open', "{ x = 1 }",
                                     '{ $.x > "a" }', "%(%"])
def test_bad_patterns_are_refused(pattern):
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


@given(WORDS, WORDS, MESSAGES)
def test_terms_mean_substrings(first, second, message):
    assert compile_pattern(f"{first} {second}")(message) == (first in message and second in message)
    assert compile_pattern(f"{first} -{second}")(message) == (first in message and second not in message)
    assert compile_pattern(f"?{first} ?{second}")(message) == (first in message or second in message)
    assert compile_pattern(f'"{first} {second}"')(message) == (f"{first} {second}" in message)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.sampled_from(["=", "!=", "<", ">", "<=", ">="]))
def test_numeric_comparisons_mean_what_they_say(value, literal, operator):
    expected = {"=": value == literal, "!=": value != literal, "<": value < literal, ">": value > literal,
                "<=": value <= literal, ">=": value >= literal}[operator]
    assert compile_pattern(f"{{ $.n {operator} {literal} }}")(json.dumps({"n": value})) == expected


def test_selectors():
    document = {"a": [{"b": 1}, {"b": 2}], "c": {"d": "e"}}
    assert select(document, "$.a[*].b") == [1, 2]
    assert select(document, "$.a[1].b") == [2] and select(document, "$.c.d") == ["e"] and select(document, "$.z") == []
