"""invoke/trace.py: X-Amzn-Trace-Id headers as Lambda makes and passes them on, and the Lineage count."""

from __future__ import annotations

import re
import time

import pytest

from stratus.invoke import trace

NEW = re.compile(rb"Root=1-([0-9a-f]{8})-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=([01])")
CALLER = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.mark.parametrize("active", [True, False])
def test_a_new_trace_has_awss_format(active):
    header = trace.new_header(active)
    match = NEW.fullmatch(header)
    assert match and match[2] == (b"1" if active else b"0")
    assert abs(int(match[1], 16) - time.time()) < 5
    assert trace.new_header(active) != header
    invocation = trace.new_invocation(active, "f")
    assert NEW.fullmatch(invocation.rsplit(b";", 1)[0]) and re.fullmatch(rb"Lineage=1:[0-9a-f]{8}:0",
                                                                           invocation.rsplit(b";", 1)[1])


@pytest.mark.parametrize(("caller", "active", "expected"), [
    (CALLER, False, CALLER),  # complete: passed through as is
    (CALLER.replace(b"Sampled=1", b"Sampled=0"), True, CALLER.replace(b"Sampled=1", b"Sampled=0")),
    (CALLER.replace(b"Sampled=1", b"Sampled=?"), True, CALLER),  # the decision left to Lambda: Active samples
    (CALLER.replace(b";Sampled=1", b""), False, CALLER.replace(b"Sampled=1", b"Sampled=0")),
    (CALLER + b";Lineage=3:abcdef12:0;Foo=bar", False, CALLER + b";Lineage=3:abcdef12:0;Foo=bar"),
])
def test_a_callers_header_is_kept_with_lambdas_sampling_decision(caller, active, expected):
    assert trace.incoming(caller, active) == expected


def test_a_missing_parent_is_added_after_the_root():
    header = trace.incoming(b"Root=1-5759e988-bd862e3fe1be46a994272793", True)
    assert re.fullmatch(rb"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=[0-9a-f]{16};Sampled=1", header)


@pytest.mark.parametrize("caller", [None, b"", b"garbage", b"Root=2-5759e988-bd862e3fe1be46a994272793",
                                    b"Root=1-5759e988-short;Sampled=1", b"Parent=53995c3f42cd8ad8", "é".encode()])
def test_no_valid_root_means_a_new_trace(caller):
    assert NEW.fullmatch(trace.incoming(caller, False))


def test_each_invocation_counts_in_the_lineage():
    header = CALLER
    for expected in range(1, 20):
        header = trace.for_invocation(header, "f")
        assert trace.loops(header) == expected
        assert header.count(b"Lineage=") == 1 and header.startswith(CALLER)
    assert trace.loops(CALLER) == 0
    assert trace.loops(CALLER + b";Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2") == 5  # the older form
    assert trace.loops(CALLER + b";Lineage=99999:abcdef12:0") == 32767
    assert trace.loops(CALLER + b";Lineage=x:y:z") == 0
    assert trace.for_invocation(CALLER, "f").split(b";")[-1] != trace.for_invocation(CALLER, "g").split(b";")[-1]
