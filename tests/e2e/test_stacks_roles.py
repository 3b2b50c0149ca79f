"""Each function of a deployed SAM template acts with exactly what its template grants: SAM's policy templates
(here `LambdaInvokePolicy`) become the role's policies in Stratus's IAM, and a function's calls of Stratus's own
API are allowed or refused by them — another function, or the same call from a function without the policy, gets
AWS's AccessDeniedException."""

from __future__ import annotations

import json

from tests.support.server import make_zip
from tests.support.stacks import StacksClient

CODE = '''import json, boto3
from botocore.exceptions import ClientError

def call(event, context):
    client = boto3.client("lambda")
    answers = {}
    for name in event["targets"]:
        try:
            payload = client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
            answers[name] = json.loads(payload)
        except ClientError as error:
            answers[name] = error.response["Error"]["Code"]
    return answers

def target(event, context):
    return "target ran"
'''

TEMPLATE = '''AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: CODE
    Runtime: python3.12
    Timeout: 20
Resources:
  Target:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.target
  Other:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.target
  Granted:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.call
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref Target
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.call
'''


def test_a_function_may_do_what_its_template_grants_and_nothing_more(server):
    stacks = StacksClient(server.endpoint)
    sha = stacks.put_artifact(make_zip({"app.py": CODE}))
    status, stack = stacks.deploy("roles", TEMPLATE.replace("CODE", f"s3://_stratus/{sha}"))
    assert status == 200, stack
    names = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack["Resources"]}
    lam = server.client()
    targets = {"targets": [names["Target"], names["Other"]]}

    granted = json.loads(lam.invoke(FunctionName=names["Granted"], Payload=json.dumps(targets))["Payload"].read())
    assert granted == {names["Target"]: "target ran", names["Other"]: "AccessDeniedException"}
    plain = json.loads(lam.invoke(FunctionName=names["Plain"], Payload=json.dumps(targets))["Payload"].read())
    assert plain == {names["Target"]: "AccessDeniedException", names["Other"]: "AccessDeniedException"}
    assert stacks.delete("roles")[0] == 200
