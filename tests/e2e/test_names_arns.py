"""Function names, ARNs, qualifiers and regions answered as AWS answers them (its recorded answers in
LocalStack's AWS-validated snapshots): the patterns AWS prints, another region's or account's ARN, the
order of DeleteFunction's qualifier checks, and where a response's FunctionArn carries $LATEST."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:000000000000:function"

# AWS's server-side patterns, as its ValidationException messages print them.
NAMESPACED_NAME_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
                           r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
FUNCTION_NAME_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
                         r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")
TAGGABLE_PATTERN = (r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
                    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
                    r"code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
                    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)")


def code() -> bytes:
    return make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def create_kwargs(name: str, **overrides) -> dict:
    kwargs = dict(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Code={"ZipFile": code()})
    kwargs.update(overrides)
    return kwargs


def error_of(call, **kwargs) -> tuple[int, str, str | None]:
    """Run a boto3 call that must fail: (HTTP status, error code, message)."""
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


@pytest.fixture
def function(lam, fn_name):
    """An existing function; deleted afterwards."""
    lam.create_function(**create_kwargs(fn_name))
    yield fn_name
    try:
        lam.delete_function(FunctionName=fn_name)
    except ClientError:
        pass


def listed_arns(lam, name: str, **kwargs) -> list[str]:
    """The FunctionArns ListFunctions (every page) gives for the function `name`."""
    pages = lam.get_paginator("list_functions").paginate(**kwargs)
    return [f["FunctionArn"] for page in pages for f in page["Functions"] if f["FunctionName"] == name]


def pattern_error(value: str, member: str, pattern: str) -> str:
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}")


@pytest.mark.parametrize("reference", [
    "my-function!", "*", "invalid-account:function:my-function", "arn:aws:lambda::000000000000:function:f",
    "arn:aws:lambda:us-east-1::function:f", f"{ARN}:f:1:2", f"{ARN}:f:$LATES", "function:f:$LATEST:extra",
    "arn:aws:ec2:us-east-1:000000000000:instance:i-1234567890abcdef0",
])
def test_malformed_names_print_awss_patterns(lam, reference):
    for call in (lam.get_function, lam.delete_function, lam.invoke):
        assert error_of(call, FunctionName=reference) == (
            400, "ValidationException", pattern_error(reference, "functionName", NAMESPACED_NAME_PATTERN))
    assert error_of(lam.create_function, **create_kwargs(reference)) == (
        400, "ValidationException", pattern_error(reference, "functionName", FUNCTION_NAME_PATTERN))


def test_create_reports_length_and_pattern_together(lam):
    reference = "arn:aws:lambda:invalid-region:000000000000:function:f" + "a" * 100
    status, code_, message = error_of(lam.create_function, **create_kwargs(reference))
    assert (status, code_) == (400, "ValidationException")
    assert message == (
        f"2 validation errors detected: Value '{reference}' at 'functionName' failed to satisfy constraint: "
        f"Member must have length less than or equal to 140; Value '{reference}' at 'functionName' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}")


def test_a_bad_tag_resource_prints_awss_taggable_pattern(lam):
    for resource in ("arn:aws:something", "arn:aws:lambda:us-east-1:000000000000:foobar:x"):
        assert error_of(lam.list_tags, Resource=resource) == (
            400, "ValidationException", pattern_error(resource, "resource", TAGGABLE_PATTERN))


def test_another_regions_arn_is_not_reachable_from_this_one(lam, function):
    for region in ("eu-central-1", "eusc-de-east-1"):  # the EU sovereign cloud's regions pass the pattern too
        arn = f"arn:aws:lambda:{region}:000000000000:function:{function}"
        expected = (404, "ResourceNotFoundException",
                    f"Functions from '{region}' are not reachable in this region ('us-east-1')")
        for call in (lam.get_function, lam.get_function_configuration, lam.get_function_url_config,
                     lam.get_function_event_invoke_config, lam.get_function_concurrency, lam.delete_function,
                     lam.invoke):
            assert error_of(call, FunctionName=arn) == expected, call
        assert error_of(lam.create_function, **create_kwargs(f"{arn}-new")) == expected
    assert lam.get_function(FunctionName=function)["Configuration"]["FunctionName"] == function  # not deleted


def test_another_accounts_arn_is_access_denied(lam, fn_name):
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{fn_name}"
    with pytest.raises(ClientError) as raised:
        lam.create_function(**create_kwargs(arn))
    response = raised.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (403, "AccessDeniedException")
    assert response["Error"]["Message"] is None  # AWS's body: {"Message": null}
    assert error_of(lam.get_function, FunctionName=fn_name)[1] == "ResourceNotFoundException"  # nothing created


def test_a_qualifier_must_agree_with_the_one_in_the_name(lam, function):
    mismatch = (400, "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier.")
    for call in (lam.get_function, lam.get_function_configuration, lam.delete_function, lam.invoke):
        assert error_of(call, FunctionName=f"{ARN}:{function}:1", Qualifier="$LATEST") == mismatch


def test_delete_refuses_latest_and_aliases_before_looking_the_function_up(lam, fn_name):
    missing = f"{fn_name}-missing"
    assert error_of(lam.delete_function, FunctionName=f"{ARN}:{missing}:$LATEST", Qualifier="$LATEST") == (
        400, "InvalidParameterValueException", "$LATEST version cannot be deleted without deleting the function.")
    assert error_of(lam.delete_function, FunctionName=missing, Qualifier="live") == (
        400, "InvalidParameterValueException", "Deletion of aliases is not currently supported.")
    assert error_of(lam.delete_function, FunctionName=missing, Qualifier="7") == (
        404, "ResourceNotFoundException", f"Function not found: {ARN}:{missing}")


def test_deleting_a_version_that_does_not_exist_succeeds(lam, function):
    assert lam.delete_function(FunctionName=function, Qualifier="1233")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.get_function(FunctionName=function)["Configuration"]["FunctionName"] == function
    lam.delete_function(FunctionName=function)
    assert error_of(lam.delete_function, FunctionName=function, Qualifier="1233") == (
        404, "ResourceNotFoundException", f"Function not found: {ARN}:{function}")


def test_invoking_a_missing_function_names_latest(lam, fn_name):
    assert error_of(lam.invoke, FunctionName=fn_name) == (
        404, "ResourceNotFoundException", f"Function not found: {ARN}:{fn_name}:$LATEST")
    assert error_of(lam.invoke, FunctionName=fn_name, Qualifier="3") == (
        404, "ResourceNotFoundException", f"Function not found: {ARN}:{fn_name}:3")


def test_function_arns_carry_latest_where_aws_shows_it(lam, fn_name):
    created = lam.create_function(**create_kwargs(fn_name, Publish=True))
    try:
        assert (created["Version"], created["FunctionArn"]) == ("1", f"{ARN}:{fn_name}")
        assert lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionArn"] == f"{ARN}:{fn_name}"
        for reference, qualifier in ((fn_name, "$LATEST"), (f"{fn_name}:$LATEST", None)):
            kwargs = {"FunctionName": reference, **({"Qualifier": qualifier} if qualifier else {})}
            assert lam.get_function(**kwargs)["Configuration"]["FunctionArn"] == f"{ARN}:{fn_name}:$LATEST"
            assert lam.get_function_configuration(**kwargs)["FunctionArn"] == f"{ARN}:{fn_name}:$LATEST"
        assert listed_arns(lam, fn_name, FunctionVersion="ALL") == [f"{ARN}:{fn_name}:$LATEST", f"{ARN}:{fn_name}:1"]
        assert listed_arns(lam, fn_name) == [f"{ARN}:{fn_name}"]
    finally:
        lam.delete_function(FunctionName=fn_name)
