"""A SAM app through its life as a stack: Globals, Parameters with AllowedValues, Conditions, AutoPublishAlias,
FunctionUrlConfig, a layer (ContentUri artifact), an SQS event on a queue made on moto, inline code; then an
unchanged redeploy, a code change, a failed update (rolled back), a function removed, the stack deleted.
Everything is checked with boto3 and plain HTTP against the real server."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, make_zip
from tests.support.stacks import StacksClient

APP = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  QueueArn:
    Type: String
  Memory:
    Type: Number
    Default: 128
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Timeout: 5
    Runtime: {runtime}
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  HelperLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: s3://_stratus/{layer}
      CompatibleRuntimes: [{runtime}]
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://_stratus/{code}
      Handler: app.handler
      MemorySize: !Ref Memory
      Layers: [!Ref HelperLayer]
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
      Environment:
        Variables:
          MODE: !If [IsProd, fast, careful]
          TABLE: !Sub "${{AWS::StackName}}-table-${{Stage}}"
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !Ref QueueArn
            BatchSize: 1
{extra}
Outputs:
  Url:
    Value: !GetAtt HelloFunctionUrl.FunctionUrl
  Alias:
    Value: !Ref HelloFunctionAliaslive
  ProdOnly:
    Condition: IsProd
    Value: prod
"""

OTHER = """
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
        def handler(event, context):
            return "inline"
      Handler: index.handler
"""

BROKEN = """
  BrokenFunction:
    Type: AWS::Serverless::Function
    DependsOn: HelloFunction
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python0.1
"""

HANDLER = """
import os
import helper
def handler(event, context):
    if "Records" in event:
        print("got", event["Records"][0]["body"])
        return None
    return {{"version": {version!r}, "helper": helper.NAME, "stage": os.environ["STAGE"], "mode": os.environ["MODE"],
            "table": os.environ["TABLE"]}}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory, moto_endpoint):
    with StratusServer(tmp_path_factory.mktemp("stacks-app") / "data", env=moto_endpoint.service_env()) as srv:
        yield srv, StacksClient(srv.endpoint), moto_endpoint


def render(stacks: StacksClient, version: str, extra: str = "") -> str:
    layer = stacks.put_artifact(make_zip({"python/helper.py": "NAME = 'helper'\n"}))
    code = stacks.put_artifact(make_zip({"app.py": HANDLER.format(version=version)}))
    return APP.format(runtime=HOST_PYTHON_RUNTIME, layer=layer, code=code, extra=extra)


def physical(description: dict, logical_id: str) -> str:
    return next(r["PhysicalResourceId"] for r in description["Resources"] if r["LogicalResourceId"] == logical_id)


def url_get(srv: StratusServer, url: str) -> dict:
    parts = urlsplit(url)
    request = urllib.request.Request(f"http://127.0.0.1:{srv.port}/", headers={"Host": parts.netloc})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def queue_drained(sqs, queue_url: str, deadline_s: float = 30) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        counts = (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"])
        if counts == ("0", "0"):
            return True
        time.sleep(0.2)
    return False


def test_app_lifecycle(env):
    srv, stacks, moto = env
    lam, iam = srv.client(), srv_iam(srv)
    sqs = moto.client("sqs")
    queue_url = sqs.create_queue(QueueName="stacks-app-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    params = {"QueueArn": queue_arn}

    # 1. First deploy: everything created, the function works through its alias, URL, layer and queue.
    v1 = render(stacks, "one", OTHER)
    status, first = stacks.deploy("app", v1, params)
    assert status == 200, first
    assert first["Status"] == "CREATE_COMPLETE"
    assert "ProdOnly" not in first["Outputs"]  # its Condition is false for Stage=dev
    assert first["Parameters"] == {"Stage": "dev", "QueueArn": queue_arn, "Memory": "128"}
    name = physical(first, "HelloFunction")
    assert first["Outputs"]["Alias"].endswith(f"function:{name}:live")
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Timeout"] == 5 and config["MemorySize"] == 128 and len(config["Layers"]) == 1
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    expected = {"version": "one", "helper": "helper", "stage": "dev", "mode": "careful", "table": "app-table-dev"}
    assert json.loads(lam.invoke(FunctionName=name, Qualifier="live")["Payload"].read()) == expected
    url = first["Endpoints"]["HelloFunctionUrl"]
    assert first["Outputs"]["Url"].rstrip("/") == url
    assert url_get(srv, first["Outputs"]["Url"]) == expected
    other = physical(first, "OtherFunction")
    assert json.loads(lam.invoke(FunctionName=other)["Payload"].read()) == "inline"
    mappings = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert [m["EventSourceArn"] for m in mappings] == [queue_arn]
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    assert queue_drained(sqs, queue_url)

    # 2. Unchanged: nothing called, nothing changed.
    status, same = stacks.deploy("app", v1, params)
    assert status == 200 and same["NoChanges"] is True and same["Changes"] == []
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == \
        lam.get_function_configuration(FunctionName=name)["RevisionId"] == config["RevisionId"]

    # 3. Code change: the function updated in place, a new version published, the alias moved to it.
    v2 = render(stacks, "two", OTHER)
    status, second = stacks.deploy("app", v2, params)
    assert status == 200, second
    assert second["Status"] == "UPDATE_COMPLETE"
    actions = {c["LogicalResourceId"]: c["Action"] for c in second["Changes"]}
    assert actions["HelloFunction"] == "Modify" and actions["HelloFunctionAliaslive"] == "Modify"
    assert physical(second, "HelloFunction") == name
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"
    assert json.loads(lam.invoke(FunctionName=name, Qualifier="live")["Payload"].read())["version"] == "two"

    # 4. A failing update: HelloFunction modified first, then BrokenFunction refused → all rolled back.
    status, failed = stacks.deploy("app", render(stacks, "two", OTHER + BROKEN), {**params, "Memory": "256"})
    assert status == 400, failed
    assert failed["message"].startswith("BrokenFunction (AWS::Lambda::Function): InvalidParameterValueException")
    assert failed["Stack"]["Status"] == "UPDATE_ROLLBACK_COMPLETE"
    assert lam.get_function_configuration(FunctionName=name)["MemorySize"] == 128  # updated back
    assert not [r for r in iam.list_roles()["Roles"] if "BrokenFunction" in r["RoleName"]]
    assert stacks.describe("app")[1]["Status"] == "UPDATE_ROLLBACK_COMPLETE"
    status, after = stacks.deploy("app", v2, params)  # the previous state is the stack's
    assert status == 200 and after["NoChanges"] is True

    # 5. A function removed from the template is deleted (with its role).
    v3 = render(stacks, "two")
    status, third = stacks.deploy("app", v3, params)
    assert status == 200, third
    removed = {c["LogicalResourceId"] for c in third["Changes"] if c["Action"] == "Remove"}
    assert removed == {"OtherFunction", "OtherFunctionRole"}
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=other)

    # 6. A parameter change flows through Conditions, Sub and If ($LATEST: SAM hashes the version's logical id
    # from the template's code and unresolved configuration, so on AWS too the alias keeps its version).
    status, prod = stacks.deploy("app", v3, {**params, "Stage": "prod"})
    assert status == 200, prod
    assert prod["Outputs"]["ProdOnly"] == "prod"
    payload = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert (payload["stage"], payload["mode"], payload["table"]) == ("prod", "fast", "app-table-prod")

    # 7. Delete: every resource gone.
    roles = [r["PhysicalResourceId"] for r in prod["Resources"] if r["ResourceType"] == "AWS::IAM::Role"]
    status, gone = stacks.delete("app")
    assert status == 200 and gone["Status"] == "DELETE_COMPLETE"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []
    assert not {r["RoleName"] for r in iam.list_roles()["Roles"]} & set(roles)
    assert stacks.describe("app")[0] == 404


def test_failed_first_deploy_leaves_nothing_and_starts_over(env):
    srv, stacks, _moto = env
    lam, iam = srv.client(), srv_iam(srv)
    template = f"""
Transform: AWS::Serverless-2016-10-31
Resources:
  GoodFunction:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: {HOST_PYTHON_RUNTIME}
"""
    status, failed = stacks.deploy("first-fails", template + BROKEN.replace("DependsOn: HelloFunction",
                                                                            "DependsOn: GoodFunction"))
    assert status == 400 and failed["Type"] == "User"
    assert failed["message"].startswith("BrokenFunction (AWS::Lambda::Function): ")
    status, described = stacks.describe("first-fails")
    assert described["Status"] == "ROLLBACK_COMPLETE" and described["Resources"] == []
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("first-fails-")]
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("first-fails-")]
    statuses = [e["ResourceStatus"] for e in described["Events"] if e["LogicalResourceId"] == "GoodFunction"]
    assert statuses[-2:] == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]
    status, created = stacks.deploy("first-fails", template)
    assert status == 200 and created["Status"] == "CREATE_COMPLETE"
    assert stacks.delete("first-fails")[0] == 200


def test_role_credentials_are_refused(env):
    srv, stacks, _moto = env
    lam = srv.client()
    source = ("import os\ndef handler(e, c):\n    return {k: os.environ[k] for k in "
              "('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')}\n")
    template = f"""
Transform: AWS::Serverless-2016-10-31
Resources:
  CredsFunction:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
{''.join('        ' + line + chr(10) for line in source.splitlines())}
      Handler: index.handler
      Runtime: {HOST_PYTHON_RUNTIME}
      Policies: [AWSLambda_FullAccess]
"""
    status, stack = stacks.deploy("creds", template)
    assert status == 200, stack
    credentials = json.loads(lam.invoke(FunctionName=physical(stack, "CredsFunction"))["Payload"].read())
    role = StacksClient(srv.endpoint, credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"],
                        credentials["AWS_SESSION_TOKEN"])
    for method, path in (("GET", "/_stratus/stacks"), ("GET", "/_stratus/stacks/creds"),
                         ("DELETE", "/_stratus/stacks/creds"), ("HEAD", "/_stratus/artifacts/" + "0" * 64)):
        status, headers, _body = role.request(method, path)
        assert status == 403, (method, path)
        assert headers.get("x-amzn-errortype") == "AccessDeniedException"
    status, _ = role.deploy("creds", template)
    assert status == 403
    assert stacks.describe("creds")[1]["Status"] == "CREATE_COMPLETE"
    assert stacks.delete("creds")[0] == 200


def srv_iam(srv: StratusServer):
    import boto3

    return boto3.client("iam", endpoint_url=srv.endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")
