"""Stacks over HTTP (docs/stacks-api.md): a SAM template deployed, redeployed, changed, failed and deleted, checked
with boto3 against the real server."""

from __future__ import annotations

import json

import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, make_zip
from tests.support.stacks import StacksClient

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 3
    LoggingConfig:
      LogFormat: JSON
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://_stratus/{sha}
      Handler: app.handler
      Runtime: {runtime}
      AutoPublishAlias: live
Outputs:
  FunctionArn:
    Value: !GetAtt HelloFunction.Arn
  RoleArn:
    Value: !GetAtt HelloFunctionRole.Arn
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("stacks") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def stacks(srv):
    return StacksClient(srv.endpoint)


def code(message: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {{'message': {message!r}}}\n"})


def physical(description: dict, logical_id: str) -> str:
    return next(r["PhysicalResourceId"] for r in description["Resources"] if r["LogicalResourceId"] == logical_id)


def test_deploy_invoke_redeploy_delete(srv, stacks):
    lam = srv.client()
    sha = stacks.put_artifact(code("one"))
    template = TEMPLATE.format(sha=sha, runtime=HOST_PYTHON_RUNTIME)
    status, first = stacks.deploy("basic", template)
    assert status == 200, first
    assert first["Status"] == "CREATE_COMPLETE" and not first["NoChanges"]
    name = physical(first, "HelloFunction")
    assert name.startswith("basic-HelloFunction-")
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Timeout"] == 3 and config["LoggingConfig"]["LogFormat"] == "JSON"
    assert config["Role"] == first["Outputs"]["RoleArn"]
    assert first["Outputs"]["FunctionArn"] == config["FunctionArn"]
    answer = lam.invoke(FunctionName=name, Qualifier="live")
    assert json.loads(answer["Payload"].read()) == {"message": "one"}

    status, again = stacks.deploy("basic", template)
    assert status == 200 and again["NoChanges"] is True and again["Changes"] == []
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == config["RevisionId"]

    status, gone = stacks.delete("basic")
    assert status == 200 and gone["Status"] == "DELETE_COMPLETE"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    assert stacks.describe("basic")[0] == 404
