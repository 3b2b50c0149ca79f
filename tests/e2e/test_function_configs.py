"""Get/PutFunctionRecursionConfig and Get/PutRuntimeManagementConfig with boto3, as AWS answers them: defaults,
bad input and AWS's errors, survival across a restart, deletion with the function (or the version). No function
runs here, so one sandbox does."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:000000000000:function"
CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def create(lam, name: str, runtime: str = "python3.12") -> dict:
    config = lam.create_function(FunctionName=name, Runtime=runtime, Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": CODE})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return config


def error(call, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


@pytest.fixture
def srv(fresh_server):
    return fresh_server({"STRATUS_SANDBOX": "plain"})


def test_recursion_config(srv, fresh_server):
    lam = srv.client()
    create(lam, "f")
    assert lam.get_function_recursion_config(FunctionName="f")["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName="f", RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=f"{ARN}:f")["RecursiveLoop"] == "Allow"

    assert error(lam.put_function_recursion_config, FunctionName="f", RecursiveLoop="InvalidValue") == (
        400, "ValidationException", "1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' failed to "
        "satisfy constraint: Member must satisfy enum value set: [Terminate, Allow]")
    assert error(lam.get_function_recursion_config, FunctionName="missing") == (
        404, "ResourceNotFoundException", f"Function not found: {ARN}:missing")
    assert error(lam.put_function_recursion_config, FunctionName="missing", RecursiveLoop="Allow")[:2] == (
        404, "ResourceNotFoundException")
    status, code, message = error(lam.get_function_recursion_config, FunctionName="f:1")  # unqualified only
    assert (status, code) == (400, "ValidationException") and "functionName" in message

    srv.stop()
    again = fresh_server({"STRATUS_SANDBOX": "plain"}, data_dir=srv.data_dir)
    lam = again.client()
    assert lam.get_function_recursion_config(FunctionName="f")["RecursiveLoop"] == "Allow"  # survives a restart
    lam.delete_function(FunctionName="f")
    create(lam, "f")
    assert lam.get_function_recursion_config(FunctionName="f")["RecursiveLoop"] == "Terminate"  # deleted with it


def test_runtime_management_config(srv, fresh_server):
    lam = srv.client()
    config = create(lam, "g")
    runtime_version = config["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert runtime_version.startswith("arn:aws:lambda:us-east-1::runtime:") and len(runtime_version) == 98
    assert lam.get_function(FunctionName="g")["Configuration"]["RuntimeVersionConfig"] == {
        "RuntimeVersionArn": runtime_version}
    other = create(lam, "h", "python3.11")["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert other != runtime_version

    def body(response: dict) -> dict:
        return {key: value for key, value in response.items() if key != "ResponseMetadata"}

    assert body(lam.get_runtime_management_config(FunctionName="g")) == {
        "UpdateRuntimeOn": "Auto", "FunctionArn": f"{ARN}:g"}
    assert body(lam.put_runtime_management_config(FunctionName="g", UpdateRuntimeOn="FunctionUpdate")) == {
        "UpdateRuntimeOn": "FunctionUpdate", "FunctionArn": f"{ARN}:g"}
    assert body(lam.put_runtime_management_config(FunctionName="g", UpdateRuntimeOn="Manual",
                                                  RuntimeVersionArn=runtime_version)) == {
        "UpdateRuntimeOn": "Manual", "FunctionArn": f"{ARN}:g", "RuntimeVersionArn": runtime_version}
    assert body(lam.get_runtime_management_config(FunctionName="g", Qualifier="$LATEST")) == {
        "UpdateRuntimeOn": "Manual", "FunctionArn": f"{ARN}:g:$LATEST", "RuntimeVersionArn": runtime_version}

    put = lam.put_runtime_management_config
    assert error(put, FunctionName="g", UpdateRuntimeOn="Manual")[:2] == (400, "InvalidParameterValueException")
    assert error(put, FunctionName="g", UpdateRuntimeOn="Manual", RuntimeVersionArn=other)[:2] == (
        400, "InvalidParameterValueException")  # another runtime's version
    assert error(put, FunctionName="g", UpdateRuntimeOn="Auto", RuntimeVersionArn=runtime_version)[:2] == (
        400, "InvalidParameterValueException")
    assert error(put, FunctionName="g", UpdateRuntimeOn="Sometimes") == (
        400, "ValidationException", "1 validation error detected: Value 'Sometimes' at 'updateRuntimeOn' failed to "
        "satisfy constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]")
    status, code, message = error(put, FunctionName="g", UpdateRuntimeOn="Manual",
                                  RuntimeVersionArn="arn:aws:lambda:us-east-1:runtime:too-short-and-wrong")
    assert (status, code) == (400, "ValidationException") and "runtimeVersionArn" in message
    assert error(put, FunctionName="missing", UpdateRuntimeOn="Auto")[:2] == (404, "ResourceNotFoundException")
    assert error(lam.get_runtime_management_config, FunctionName="g", Qualifier="7") == (
        404, "ResourceNotFoundException", f"Function not found: {ARN}:g:7")

    version = lam.publish_version(FunctionName="g")["Version"]
    assert body(lam.get_runtime_management_config(FunctionName="g", Qualifier=version)) == {
        "UpdateRuntimeOn": "Auto", "FunctionArn": f"{ARN}:g:{version}"}  # a version has a config of its own
    put(FunctionName="g", Qualifier=version, UpdateRuntimeOn="FunctionUpdate")

    srv.stop()
    again = fresh_server({"STRATUS_SANDBOX": "plain"}, data_dir=srv.data_dir)
    lam = again.client()
    assert lam.get_runtime_management_config(FunctionName="g")["UpdateRuntimeOn"] == "Manual"  # survives a restart
    assert lam.get_runtime_management_config(FunctionName="g", Qualifier=version)["UpdateRuntimeOn"] == \
        "FunctionUpdate"
    lam.delete_function(FunctionName="g", Qualifier=version)
    lam.delete_function(FunctionName="g")
    create(lam, "g")
    lam.publish_version(FunctionName="g")
    assert lam.get_runtime_management_config(FunctionName="g")["UpdateRuntimeOn"] == "Auto"  # deleted with it
    assert lam.get_runtime_management_config(FunctionName="g", Qualifier=version)["UpdateRuntimeOn"] == "Auto"
