"""SAM templates with APIs, schedules and queues deployed through the stacks API (docs/stacks-api.md: the code zip
uploaded to /_stratus/artifacts/<sha256>, `CodeUri: s3://_stratus/<sha256>`, PUT /_stratus/stacks/<name>, SigV4
service "lambda") on a real `stratus serve`, each part checked over real HTTP or with boto3."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.environments import function_log
from tests.support.server import make_zip
from tests.support.signing import signed_request

HELLO_APP = '''
import json

def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": "hello world"})}
'''

APP = '''
import base64, json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    if isinstance(event, dict) and "Records" in event:
        return {"batchItemFailures": []}
    path = event.get("rawPath") or event.get("path") or ""
    if path.endswith("/img"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(range(256))).decode()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"params": event.get("pathParameters"), "path": path})}
'''

HELLO = '''AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: sam-app (the template `sam init` writes for the Python hello world)
Globals:
  Function:
    Timeout: 3
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: CODE
      Handler: app.lambda_handler
      Runtime: python3.12
      Architectures:
        - x86_64
      Events:
        HelloWorld:
          Type: Api
          Properties:
            Path: /hello
            Method: get
Outputs:
  HelloWorldApi:
    Description: "API Gateway endpoint URL for Prod stage for Hello World function"
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
  HelloWorldFunction:
    Value: !GetAtt HelloWorldFunction.Arn
'''

HELLO_WITHOUT_API = HELLO.split("      Events:")[0] + '''Outputs:
  HelloWorldFunction:
    Value: !GetAtt HelloWorldFunction.Arn
'''

APIS = '''AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  ImagesApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      BinaryMediaTypes: ['image~1png']
      Cors:
        AllowMethods: "'GET,OPTIONS'"
        AllowOrigin: "'https://app.test'"
  AppFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: CODE
      Handler: app.handler
      Runtime: python3.12
      Events:
        Item:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: get
        Image:
          Type: Api
          Properties:
            RestApiId: !Ref ImagesApi
            Path: /img
            Method: get
'''

WORKERS = '''AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: CODE
      Handler: app.handler
      Runtime: python3.12
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Input: '{"tick": true}'
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 1
'''


def upload(server, files: dict[str, str]) -> str:
    """The zip uploaded as an artifact; its `s3://_stratus/<sha256>` CodeUri."""
    body = make_zip(files)
    sha = hashlib.sha256(body).hexdigest()
    request = signed_request(f"{server.endpoint}/_stratus/artifacts/{sha}", body, method="PUT")
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
    return f"s3://_stratus/{sha}"


def stacks(server, method: str, name: str, document: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(document).encode() if document is not None else None
    request = signed_request(f"{server.endpoint}/_stratus/stacks/{name}", data,
                             {"Content-Type": "application/json"} if data else None, method=method)
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def deploy(server, name: str, template: str, code: str) -> dict:
    status, stack = stacks(server, "PUT", name, {"TemplateBody": template.replace("CODE", code)})
    assert status == 200, stack
    return stack


def fetch(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, object, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def physical(stack: dict, logical_id: str) -> str:
    return next(r["PhysicalResourceId"] for r in stack["Resources"] if r["LogicalResourceId"] == logical_id)


def wait_for(check, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def events_of(server, function: str) -> list:
    return [json.loads(line[len("EVENT "):]) for line in function_log(server, function).splitlines()
            if line.startswith("EVENT ")]


def test_sam_init_hello_world_redeploy_and_removed_api(server, lam):
    code = upload(server, {"app.py": HELLO_APP})
    stack = deploy(server, "hello-apis", HELLO, code)
    assert stack["Status"] == "CREATE_COMPLETE", stack
    base = stack["Endpoints"]["ServerlessRestApi"]
    assert base.endswith("/Prod")
    status, _, body = fetch(base + "/hello")
    assert status == 200 and json.loads(body) == {"message": "hello world"}
    (api,) = [a for a in stack["Apis"] if a["LogicalResourceId"] == "ServerlessRestApi"]
    assert api["Kind"] == "REST" and {"Method": "GET", "Path": "/hello"} in api["Routes"]
    api_id = physical(stack, "ServerlessRestApi")
    assert stack["Outputs"]["HelloWorldApi"].startswith(f"https://{api_id}.execute-api.")

    again = deploy(server, "hello-apis", HELLO, code)
    assert again["NoChanges"] is True and again["Changes"] == []
    assert fetch(base + "/hello")[0] == 200

    without = deploy(server, "hello-apis", HELLO_WITHOUT_API, code)
    removed = {c["LogicalResourceId"] for c in without["Changes"] if c["Action"] == "Remove"}
    assert "ServerlessRestApi" in removed and "ServerlessRestApi" not in without["Endpoints"]
    assert fetch(base + "/hello")[0] in (403, 404)
    rest = boto3.client("apigateway", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))
    assert api_id not in [a["id"] for a in rest.get_rest_apis()["items"]]
    assert stacks(server, "DELETE", "hello-apis")[0] == 200


def test_http_api_path_parameter_binary_rest_route_and_cors_preflight(server):
    code = upload(server, {"app.py": APP})
    stack = deploy(server, "apis-parts", APIS, code)
    http_base, rest_base = stack["Endpoints"]["ServerlessHttpApi"], stack["Endpoints"]["ImagesApi"]
    assert rest_base.endswith("/v1")

    status, _, body = fetch(http_base + "/items/42")
    assert status == 200 and json.loads(body)["params"] == {"id": "42"}
    status, headers, body = fetch(rest_base + "/img", headers={"Accept": "image/png"})
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body == b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    status, headers, _ = fetch(rest_base + "/img", "OPTIONS", {"Origin": "https://app.test",
                                                               "Access-Control-Request-Method": "GET"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.test"
    assert headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert stacks(server, "DELETE", "apis-parts")[0] == 200
    assert fetch(http_base + "/items/42")[0] == 404


@pytest.fixture
def worker_server(fresh_server, moto_endpoint):
    """A server whose schedules run 60x fast (a test-only setting) and whose SQS is moto."""
    return fresh_server(env={"STRATUS_SANDBOX": "plain", "STRATUS_SCHEDULE_TIME_SCALE": "60",
                             **moto_endpoint.service_env()})


def test_schedule_and_sqs_events_with_the_queue_on_the_configured_endpoint(worker_server, moto_endpoint):
    server = worker_server
    code = upload(server, {"app.py": APP})
    stack = deploy(server, "workers", WORKERS, code)
    function = physical(stack, "WorkerFunction")
    rule = physical(stack, "WorkerFunctionTick")
    queue_url = physical(stack, "Jobs")

    events = boto3.client("events", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == "rate(1 minute)"
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert target["Arn"].endswith(f":function:{function}") and json.loads(target["Input"]) == {"tick": True}
    policy = json.loads(server.client().get_policy(FunctionName=function)["Policy"])
    assert any(s["Principal"] == {"Service": "events.amazonaws.com"} for s in policy["Statement"])
    wait_for(lambda: any(e == {"tick": True} for e in events_of(server, function)), "a scheduled invoke")

    sqs = moto_endpoint.client("sqs")
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"]["VisibilityTimeout"] == "60"
    sqs.send_message(QueueUrl=queue_url, MessageBody="job-1")
    wait_for(lambda: any(isinstance(e, dict) and e.get("Records", [{}])[0].get("body") == "job-1"
                         for e in events_of(server, function)), "the SQS message's invoke")

    assert stacks(server, "DELETE", "workers")[0] == 200
    assert not events.list_rules(NamePrefix=rule)["Rules"]
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=queue_url)


def test_queue_without_an_sqs_endpoint_fails_naming_the_resource_and_leaves_nothing(server, lam):
    code = upload(server, {"app.py": APP})
    status, answer = stacks(server, "PUT", "no-sqs", {"TemplateBody": WORKERS.replace("CODE", code)})
    assert status == 400 and "Jobs (AWS::SQS::Queue)" in answer.get("message", ""), answer
    assert "sqs" in answer["message"]
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("no-sqs-")]
    events = boto3.client("events", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    assert not events.list_rules(NamePrefix="no-sqs-")["Rules"]
    stacks(server, "DELETE", "no-sqs")
