"""The Python bootstrap's JSON (CPython's _json driven directly) must equal json.loads / json.dumps."""

import importlib.util
import json
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

BOOTSTRAP = Path(__file__).parents[2] / "src/stratus/runtime/bootstraps/python/bootstrap.py"
spec = importlib.util.spec_from_file_location("stratus_python_bootstrap", BOOTSTRAP)
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_dumps_matches_json(value, ensure_ascii):
    assert bootstrap.json_dumps(value, None, ensure_ascii) == json.dumps(value, ensure_ascii=ensure_ascii)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["", " ", "\n\t "]))
def test_loads_matches_json(value, padding):
    text = padding + json.dumps(value) + padding
    assert bootstrap.json_loads(text.encode()) == json.loads(text)


def test_loads_constants_and_errors_like_json():
    assert math.isinf(bootstrap.json_loads(b"Infinity")) and math.isnan(bootstrap.json_loads(b"NaN"))
    for bad in (b"", b"{", b"[1,]", b"{} {}", b"nope", b'"\\x"'):
        with pytest.raises(ValueError):
            bootstrap.json_loads(bad)
        with pytest.raises(ValueError):
            json.loads(bad)


def test_dumps_uses_default_for_other_types():
    assert bootstrap.json_dumps({"d": Decimal("1.5"), "i": Decimal("2")}, bootstrap._decimal_default, True) == \
        '{"d": 1.5, "i": 2}'
    with pytest.raises(TypeError):
        bootstrap.json_dumps({"x": object()}, bootstrap._decimal_default, True)
