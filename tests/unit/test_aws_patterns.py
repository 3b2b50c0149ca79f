"""AWS's server-side patterns over the pinned model's (api/aws_patterns.py)."""

from __future__ import annotations

from stratus.api.aws_patterns import server_pattern
from stratus.api.validation import ModelChecker

REGION = r"[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"


def test_region_parts_take_the_eusc_prefix_once():
    model = rf"arn:aws:lambda:{REGION}:\d{{12}}:function:x"
    patched = server_pattern("lambda", "FunctionArn", model)
    assert patched == rf"arn:aws:lambda:(eusc-)?{REGION}:\d{{12}}:function:x"
    assert server_pattern("lambda", "FunctionArn", patched) == patched  # a newer model already has it
    assert server_pattern("events", "Arn", model) == model  # other services keep their model's
    assert server_pattern("lambda", "Handler", r"[^\s]+") == r"[^\s]+"


def test_the_checker_accepts_eusc_regions_and_prints_awss_pattern():
    checker = ModelChecker()
    assert checker.problems("GetFunction", {"FunctionName": "arn:aws:lambda:eusc-de-east-1:000000000000:function:f"}) \
        == []
    problems = checker.problems("TagResource", {"Resource": "arn:aws:lambda:us-east-1:000000000000:foo:x",
                                                "Tags": {"a": "b"}})
    assert len(problems) == 1 and "|layer:([a-zA-Z0-9-_]+)|" in problems[0]
