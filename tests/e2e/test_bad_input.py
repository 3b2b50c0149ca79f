"""Bad input → AWS's error (status, x-amzn-ErrorType / ClientError code), and nothing stored or changed.

boto3 checks a few constraints client-side (minimums, required members), so values it would refuse
are sent through a client with parameter_validation=False; what boto3 cannot send at all (broken
JSON, wrong JSON types) goes over raw HTTP.
"""

from __future__ import annotations

import base64
import http.client
import json

import pytest
from botocore.exceptions import ClientError

from tests.support.server import invoke_json, make_zip
from tests.support.signing import signed_headers, signed_request

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
FUNCTIONS = "/2015-03-31/functions"


def code(tag: str = "v1") -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {{'tag': {tag!r}}}\n"})


def create_kwargs(name: str, **overrides) -> dict:
    kwargs = dict(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                  Code={"ZipFile": code()})
    kwargs.update(overrides)
    return kwargs


# ---------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def unchecked(server):
    """A boto3 client that sends whatever it is given (no client-side parameter validation)."""
    return server.client(parameter_validation=False)


@pytest.fixture
def existing(lam, fn_name):
    """A function that already exists; deleted afterwards."""
    lam.create_function(**create_kwargs(fn_name, Description="original",
                                        Environment={"Variables": {"KEEP": "me"}}))
    yield fn_name
    try:
        lam.delete_function(FunctionName=fn_name)
    except ClientError:
        pass


def fails(call, *args, **kwargs) -> tuple[int, str, dict]:
    """Run a boto3 call that must fail; (HTTP status, error code, error response)."""
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response


def configuration(lam, name: str) -> dict:
    config = lam.get_function_configuration(FunctionName=name)
    config.pop("ResponseMetadata")
    return config


def all_function_names(lam) -> set[str]:
    return {f["FunctionName"] for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]}


def assert_not_stored(lam, name: str) -> None:
    """No function of that name exists (by listing, which works for names GetFunction would refuse)."""
    assert name not in all_function_names(lam)
    if name.isascii() and all(c.isalnum() or c in "-_" for c in name):
        status, error, _ = fails(lam.get_function, FunctionName=name)
        assert (status, error) == (404, "ResourceNotFoundException")


def assert_unchanged(lam, name: str, before: dict) -> None:
    after = configuration(lam, name)
    assert after == before
    assert after["RevisionId"] == before["RevisionId"]
    assert after["CodeSha256"] == before["CodeSha256"]


def raw(server, method: str, path: str, body: bytes | None = None,
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One raw HTTP request; (status, lower-cased headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=signed_headers(
            method, f"{server.endpoint}{path}", body, headers or {"content-type": "application/json"}))
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def assert_aws_error(status: int, headers: dict, body: bytes, expected_status: int,
                     expected_types: tuple[str, ...]) -> dict:
    """An AWS-shaped error: status, x-amzn-ErrorType, a JSON body with a message, no traceback."""
    assert status == expected_status, body
    assert headers.get("x-amzn-errortype") in expected_types, headers
    assert headers.get("x-amzn-requestid")
    assert b"Traceback" not in body and b'File "' not in body
    document = json.loads(body)
    assert isinstance(document, dict)
    assert document.get("Message") or document.get("message")
    return document


# ---------------------------------------------------------------------------------------- names

@pytest.mark.parametrize("bad_name", ["bad name!", "has.dots", "slash/y", "üñî"])
def test_create_with_bad_characters_in_name_is_a_validation_error(lam, bad_name):
    status, error, response = fails(lam.create_function, **create_kwargs(bad_name))
    assert (status, error) == (400, "ValidationException")
    assert "functionName" in response["Error"]["Message"]
    assert_not_stored(lam, bad_name)


@pytest.mark.parametrize("reference,expected_error", [
    pytest.param("n" * 141, "ValidationException", id="141-over-the-model-max"),
    # A bare name over Lambda's 64: the validation wording, but AWS answers InvalidParameterValueException.
    pytest.param("n" * 65, "InvalidParameterValueException", id="65-over-lambdas-name-max"),
    pytest.param("arn:aws:lambda:us-east-1:000000000000:function:" + "n" * 65, "ValidationException",
                 id="65-inside-an-arn"),
])
def test_create_with_too_long_name_is_a_validation_error(lam, request, reference, expected_error):
    name = reference.rsplit(":", 1)[-1]
    request.addfinalizer(lambda: _delete_quietly(lam, name))
    status, error, response = fails(lam.create_function, **create_kwargs(reference))
    assert (status, error) == (400, expected_error)
    if len(reference) <= 140:
        assert response["Error"]["Message"] == (
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
            "Member must have length less than or equal to 64")
    assert_not_stored(lam, name)


def test_create_with_a_qualifier_in_the_name_is_refused(lam, fn_name):
    status, error, _ = fails(lam.create_function, **create_kwargs(f"{fn_name}:live"))
    assert (status, error) == (400, "InvalidParameterValueException")
    assert_not_stored(lam, fn_name)


def _delete_quietly(lam, name):
    try:
        lam.delete_function(FunctionName=name)
    except ClientError:
        pass


def test_duplicate_create_is_a_conflict_and_keeps_the_original(lam, existing):
    before = configuration(lam, existing)
    status, error, _ = fails(lam.create_function, **create_kwargs(
        existing, Code={"ZipFile": code("impostor")}, Description="impostor", Timeout=30))
    assert (status, error) == (409, "ResourceConflictException")
    assert_unchanged(lam, existing, before)
    assert invoke_json(lam, existing)[1] == {"tag": "v1"}


# ---------------------------------------------------------------------------------------- unknown function

UNKNOWN_CALLS = {
    "get_function": lambda lam, name: lam.get_function(FunctionName=name),
    "get_function_configuration": lambda lam, name: lam.get_function_configuration(FunctionName=name),
    "update_function_code": lambda lam, name: lam.update_function_code(FunctionName=name, ZipFile=code()),
    "update_function_configuration": lambda lam, name: lam.update_function_configuration(
        FunctionName=name, Timeout=5),
    "delete_function": lambda lam, name: lam.delete_function(FunctionName=name),
    "invoke": lambda lam, name: lam.invoke(FunctionName=name, Payload=b"{}"),
}


@pytest.mark.parametrize("operation", list(UNKNOWN_CALLS))
def test_unknown_function_is_not_found(lam, fn_name, operation):
    status, error, response = fails(UNKNOWN_CALLS[operation], lam, fn_name)
    assert (status, error) == (404, "ResourceNotFoundException")
    assert fn_name in response["Error"]["Message"]
    assert_not_stored(lam, fn_name)


# ---------------------------------------------------------------------------------------- ranges and enums

# (parameters, expected error): the model's bounds → ValidationException, Lambda's own → InvalidParameterValue.
BAD_SETTINGS = [
    pytest.param({"MemorySize": 64}, "ValidationException", id="memory-64"),
    pytest.param({"MemorySize": 20000}, "InvalidParameterValueException", id="memory-20000"),
    pytest.param({"Timeout": 0}, "ValidationException", id="timeout-0"),
    pytest.param({"Timeout": 901}, "InvalidParameterValueException", id="timeout-901"),
    # An unknown runtime: AWS's own rule, InvalidParameterValueException (its recorded answers), not the model's.
    pytest.param({"Runtime": "python2.99"}, "InvalidParameterValueException", id="runtime-unknown"),
    pytest.param({"Runtime": "java21"}, "InvalidParameterValueException", id="runtime-unsupported"),
    pytest.param({"Environment": {"Variables": {f"K{i}": "v" * 100 for i in range(40)}}},
                 "InvalidParameterValueException", id="env-over-4kb"),
    pytest.param({"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
                 "InvalidParameterValueException", id="env-reserved-key"),
    pytest.param({"EphemeralStorage": {"Size": 20000}}, "ValidationException", id="storage-20000"),
    pytest.param({"Environment": {"Variables": {"1BAD-KEY": "v"}}}, "ValidationException", id="env-key-pattern"),
    pytest.param({"Role": "not-a-role-arn"}, "ValidationException", id="role-pattern"),
]


@pytest.mark.parametrize("params, expected", BAD_SETTINGS)
def test_create_with_bad_setting_is_refused_and_not_stored(lam, unchecked, fn_name, params, expected):
    status, error, _ = fails(unchecked.create_function, **create_kwargs(fn_name, **params))
    assert (status, error) == (400, expected)
    assert_not_stored(lam, fn_name)


@pytest.mark.parametrize("params, expected", BAD_SETTINGS)
def test_update_configuration_with_bad_setting_changes_nothing(lam, unchecked, existing, params, expected):
    before = configuration(lam, existing)
    status, error, _ = fails(unchecked.update_function_configuration, FunctionName=existing,
                             Description="should not stick", **params)
    assert (status, error) == (400, expected)
    assert_unchanged(lam, existing, before)


def test_env_vars_just_under_4kb_are_accepted(lam, fn_name):
    """The 4 KB limit is the boundary, not a blanket refusal of large environments."""
    variables = {"BIG": "x" * 3900}
    created = lam.create_function(**create_kwargs(fn_name, Environment={"Variables": variables}))
    assert created["Environment"]["Variables"] == variables
    lam.delete_function(FunctionName=fn_name)


# ---------------------------------------------------------------------------------------- code packages

BAD_CODE = [
    pytest.param(b"this is not a zip file at all", id="not-a-zip"),
    pytest.param(b"PK\x03\x04" + b"\x00" * 40, id="truncated-zip"),
]
# A zip without the handler's file is accepted, as AWS accepts it (test_function_fidelity.py: the invoke fails).


@pytest.mark.parametrize("zip_bytes", BAD_CODE)
def test_create_with_bad_zip_is_refused_and_not_stored(lam, fn_name, zip_bytes):
    status, error, _ = fails(lam.create_function, **create_kwargs(fn_name, Code={"ZipFile": zip_bytes}))
    assert (status, error) == (400, "InvalidParameterValueException")
    assert_not_stored(lam, fn_name)


@pytest.mark.parametrize("zip_bytes", BAD_CODE)
def test_update_code_with_bad_zip_changes_nothing(lam, existing, zip_bytes):
    before = configuration(lam, existing)
    status, error, _ = fails(lam.update_function_code, FunctionName=existing, ZipFile=zip_bytes)
    assert (status, error) == (400, "InvalidParameterValueException")
    assert_unchanged(lam, existing, before)
    assert invoke_json(lam, existing)[1] == {"tag": "v1"}


@pytest.mark.parametrize("source", [
    pytest.param({"S3Bucket": "bucket", "S3Key": "fn.zip"}, id="s3"),
    pytest.param({"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/fn:latest"}, id="image"),
])
def test_create_with_unsupported_code_source_is_refused(lam, fn_name, source):
    status, error, response = fails(lam.create_function, **create_kwargs(fn_name, Code=source))
    assert (status, error) == (400, "InvalidParameterValueException")
    assert response["Error"]["Message"]
    assert_not_stored(lam, fn_name)


@pytest.mark.parametrize("source", [
    pytest.param({"S3Bucket": "bucket", "S3Key": "fn.zip"}, id="s3"),
    pytest.param({"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/fn:latest"}, id="image"),
])
def test_update_code_from_unsupported_source_changes_nothing(lam, existing, source):
    before = configuration(lam, existing)
    status, error, _ = fails(lam.update_function_code, FunctionName=existing, **source)
    assert (status, error) == (400, "InvalidParameterValueException")
    assert_unchanged(lam, existing, before)


# ---------------------------------------------------------------------------------------- revisions

def test_update_configuration_with_stale_revision_is_a_failed_precondition(lam, existing):
    before = configuration(lam, existing)
    status, error, _ = fails(lam.update_function_configuration, FunctionName=existing, Timeout=9,
                             RevisionId="00000000-0000-0000-0000-000000000000")
    assert (status, error) == (412, "PreconditionFailedException")
    assert_unchanged(lam, existing, before)
    # The right revision goes through, so the refusal was about the revision and nothing else.
    updated = lam.update_function_configuration(FunctionName=existing, Timeout=9, RevisionId=before["RevisionId"])
    assert updated["Timeout"] == 9 and updated["RevisionId"] != before["RevisionId"]


def test_update_code_with_stale_revision_is_a_failed_precondition(lam, existing):
    before = configuration(lam, existing)
    status, error, _ = fails(lam.update_function_code, FunctionName=existing, ZipFile=code("v2"),
                             RevisionId="00000000-0000-0000-0000-000000000000")
    assert (status, error) == (412, "PreconditionFailedException")
    assert_unchanged(lam, existing, before)
    assert invoke_json(lam, existing)[1] == {"tag": "v1"}


# ---------------------------------------------------------------------------------------- invoke

class Recorder:
    """A function that counts the invocations its (warm) environment ran, so a test can see that a
    refused invoke never ran: the next accepted one reports how many came before it."""

    def __init__(self, lam, name):
        self.lam, self.name = lam, name

    def runs_so_far(self) -> int:
        """Invoke once more; the number of earlier invocations that ran."""
        return invoke_json(self.lam, self.name)[1]["count"] - 1


@pytest.fixture
def recording(lam, fn_name):
    lam.create_function(**create_kwargs(fn_name, Code={"ZipFile": make_zip({"app.py": """
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT}
"""})}))
    yield fn_name, Recorder(lam, fn_name)
    lam.delete_function(FunctionName=fn_name)


def test_invoke_payload_over_6mb_is_too_large(lam, recording):
    name, recorder = recording
    payload = json.dumps({"blob": "a" * (6 * 1024 * 1024)}).encode()
    status, error, _ = fails(lam.invoke, FunctionName=name, Payload=payload)
    assert (status, error) == (413, "RequestTooLargeException")
    # The server is still fine, the function still runs, and the refused invoke never ran.
    assert recorder.runs_so_far() == 0
    assert recorder.runs_so_far() == 1


def test_invoke_payload_just_under_6mb_is_accepted(lam, recording):
    name, recorder = recording
    payload = json.dumps("a" * (6 * 1024 * 1024 - 100)).encode()
    assert len(payload) < 6 * 1024 * 1024
    response = lam.invoke(FunctionName=name, Payload=payload)
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == {"count": 1}


@pytest.mark.parametrize("payload", [b"not json", b"{\"a\": 1", b"\xff\xfe\x00garbage"])
def test_invoke_with_non_json_payload_is_invalid_request_content(lam, recording, payload):
    name, recorder = recording
    status, error, _ = fails(lam.invoke, FunctionName=name, Payload=payload)
    assert (status, error) == (400, "InvalidRequestContentException")
    assert recorder.runs_so_far() == 0


def test_invoke_with_unknown_qualifier_is_not_found(lam, recording):
    name, recorder = recording
    for qualifier in ("7", "no-such-alias"):
        status, error, _ = fails(lam.invoke, FunctionName=name, Qualifier=qualifier, Payload=b"{}")
        assert (status, error) == (404, "ResourceNotFoundException")
        status, error, _ = fails(lam.get_function, FunctionName=name, Qualifier=qualifier)
        assert (status, error) == (404, "ResourceNotFoundException")
    assert recorder.runs_so_far() == 0


# ---------------------------------------------------------------------------------------- raw HTTP bodies

@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b"\"a string\"", b"\xff\xfe{}"])
def test_create_with_malformed_json_body_is_invalid_request_content(server, lam, fn_name, body):
    status, headers, response = raw(server, "POST", FUNCTIONS, body)
    assert_aws_error(status, headers, response, 400, ("InvalidRequestContentException",))
    assert headers.get("content-type", "").startswith("application/json")
    assert_not_stored(lam, fn_name)


@pytest.mark.parametrize("method, suffix", [("PUT", "/configuration"), ("PUT", "/code")])
def test_update_with_malformed_json_body_changes_nothing(server, lam, existing, method, suffix):
    before = configuration(lam, existing)
    status, headers, response = raw(server, method, f"{FUNCTIONS}/{existing}{suffix}", b"{bad")
    assert_aws_error(status, headers, response, 400, ("InvalidRequestContentException",))
    assert_unchanged(lam, existing, before)


def _create_document(name: str, **overrides) -> dict:
    document = {"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
                "Code": {"ZipFile": base64.b64encode(code()).decode()}}
    document.update(overrides)
    return document


WRONG_TYPES = [
    pytest.param({"Timeout": "abc"}, id="timeout-string"),
    pytest.param({"MemorySize": 12.5}, id="memory-float"),
    pytest.param({"Environment": {"Variables": ["A", "B"]}}, id="env-list"),
    pytest.param({"Code": "not-an-object"}, id="code-string"),
    pytest.param({"Description": 42}, id="description-number"),
]

# AWS answers a JSON value of the wrong type with a 400; the exact type depends on where it is caught.
WRONG_TYPE_ERRORS = ("InvalidRequestContentException", "ValidationException", "SerializationException",
                     "InvalidParameterValueException")


@pytest.mark.parametrize("overrides", WRONG_TYPES)
def test_create_with_wrong_json_types_is_a_400_and_not_stored(server, lam, fn_name, overrides):
    body = json.dumps(_create_document(fn_name, **overrides)).encode()
    status, headers, response = raw(server, "POST", FUNCTIONS, body)
    assert_aws_error(status, headers, response, 400, WRONG_TYPE_ERRORS)
    assert_not_stored(lam, fn_name)


@pytest.mark.parametrize("document", [
    pytest.param({"Timeout": "abc"}, id="timeout-string"),
    pytest.param({"MemorySize": "big", "Description": "should not stick"}, id="memory-string"),
    pytest.param({"Environment": "A=B"}, id="env-string"),
])
def test_update_configuration_with_wrong_json_types_changes_nothing(server, lam, existing, document):
    before = configuration(lam, existing)
    status, headers, response = raw(server, "PUT", f"{FUNCTIONS}/{existing}/configuration",
                                    json.dumps(document).encode())
    assert_aws_error(status, headers, response, 400, WRONG_TYPE_ERRORS)
    assert_unchanged(lam, existing, before)


def test_raw_http_errors_for_unknown_function_and_bad_name_are_aws_shaped(server, fn_name):
    status, headers, body = raw(server, "GET", f"{FUNCTIONS}/{fn_name}")
    assert_aws_error(status, headers, body, 404, ("ResourceNotFoundException",))
    status, headers, body = raw(server, "GET", f"{FUNCTIONS}/bad%20name%21/configuration")
    assert_aws_error(status, headers, body, 400, ("ValidationException",))
    status, headers, body = raw(server, "POST", f"{FUNCTIONS}/{fn_name}/invocations", b"{}")
    assert_aws_error(status, headers, body, 404, ("ResourceNotFoundException",))


def test_list_with_a_marker_stratus_never_issued_is_refused(server):
    import urllib.error
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(signed_request(f"{server.endpoint}/2015-03-31/functions/?Marker=%25%25%25%25"))
    assert raised.value.code == 400
    assert raised.value.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"


@pytest.mark.parametrize("client_context", ["!!notbase64", "bm90IGpzb24=", "WzFd"])  # bad base64, "not json", [1]
def test_invoke_with_a_client_context_that_is_not_base64_json_object_is_refused(lam, recording, client_context):
    name, recorder = recording
    status, error, _ = fails(lam.invoke, FunctionName=name, Payload=b"{}", ClientContext=client_context)
    assert (status, error) == (400, "InvalidParameterValueException")
    assert recorder.runs_so_far() == 0
