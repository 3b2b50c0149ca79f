"""Issue 15's second acceptance point as a user meets it: ONE SAM template with an HttpApi route with a path
parameter, a REST Api route with a binary response, a Function URL, a Schedule event, an SQS event on a queue the
template creates on the configured SQS endpoint (moto), a layer and AutoPublishAlias — deployed with
`stratus deploy --json`, each part checked over real HTTP / the AWS APIs; then an unchanged redeploy is a no-op, a
code change moves the alias, a function removed from the template is deleted, a failing deploy rolls back, and
`stratus delete` removes everything."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.cli import cli_env, stratus

PNG = bytes.fromhex("89504e470d0a1a0a") + bytes(range(64))

APP = '''import base64, json, os

import shared  # the layer's python/shared.py

BUILD = "one"


def items(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"id": (event.get("pathParameters") or {}).get("id"), "greeting": shared.GREETING,
                                "build": BUILD, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]})}


def image(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
            "body": base64.b64encode(bytes.fromhex("PNG_HEX")).decode()}


def worker(event, context):
    for record in event.get("Records", []):
        print("JOB " + record["body"])
    if event.get("detail-type") == "Scheduled Event":
        print("TICK " + event["id"])
'''.replace("PNG_HEX", PNG.hex())

TEMPLATE = '''AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: every part of issue 15's second acceptance point in one app
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    CodeUri: src/
    Layers:
      - !Ref SharedLayer
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  ItemsFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.items
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
      Events:
        GetItem:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: get
  ImagesApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      BinaryMediaTypes: ['image~1png']
  ImageFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.image
      Events:
        Image:
          Type: Api
          Properties:
            RestApiId: !Ref ImagesApi
            Path: /image
            Method: get
  JobsQueue:
    Type: AWS::SQS::Queue
WORKER
Outputs:
  ItemsUrl:
    Value: !GetAtt ItemsFunctionUrl.FunctionUrl
  QueueUrl:
    Value: !Ref JobsQueue
'''

WORKER = '''  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.worker
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt JobsQueue.Arn
            BatchSize: 1
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
'''

BROKEN = '''  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.items
      MemorySize: 1
'''


@pytest.fixture
def app_server(fresh_server, moto_endpoint):
    """Schedules 60x fast (a test-only setting: rate(1 minute) fires each second), SQS on moto, Function URLs by
    path (reachable without a Host header)."""
    return fresh_server(env={"STRATUS_SCHEDULE_TIME_SCALE": "60", "STRATUS_FUNCTION_URL_STYLE": "path",
                             **moto_endpoint.service_env()})


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "app"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    (root / "layer" / "python").mkdir(parents=True)
    (root / "layer" / "python" / "shared.py").write_text('GREETING = "from the layer"\n')
    write_template(root, worker=True)
    return root


def write_template(root: Path, worker: bool, broken: bool = False) -> Path:
    resources = (WORKER if worker else "") + (BROKEN if broken else "")
    path = root / "template.yaml"
    path.write_text(TEMPLATE.replace("WORKER\n", resources))
    return path


def deploy(root: Path, env: dict[str, str], ok: bool = True):
    done = stratus("deploy", "--template", str(root / "template.yaml"), "--stack-name", "everything", "--json",
                   env=env, cwd=root)
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)
    return done


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def physical(stack: dict, logical_id: str) -> str:
    return next(r["PhysicalResourceId"] for r in stack["Resources"] if r["LogicalResourceId"] == logical_id)


def aws(server, service: str):
    """A boto3 client of one of the server's own AWS APIs (logs, events)."""
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def wait_for_log(server, function: str, text: str, timeout_s: float = 60) -> str:
    """The first line of `function`'s CloudWatch log group containing `text` (polled with a deadline)."""
    logs = aws(server, "logs")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern=f'"{text}"')
        except ClientError:
            found = {"events": []}
        if found["events"]:
            return found["events"][0]["message"]
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in /aws/lambda/{function} within {timeout_s} s")


def test_one_template_with_every_part_deploys_works_updates_and_rolls_back(app_server, moto_endpoint, project,
                                                                             tmp_path):
    server = app_server
    env = cli_env(server.endpoint, home=tmp_path / "home")
    lam = server.client()

    stack = deploy(project, env)
    assert stack["Status"] == "CREATE_COMPLETE"
    http_base, rest_base = stack["Endpoints"]["ServerlessHttpApi"], stack["Endpoints"]["ImagesApi"]
    url = stack["Outputs"]["ItemsUrl"]

    # HttpApi route with a path parameter, through the alias (AutoPublishAlias: version 1), the layer's module.
    status, _, body = get(http_base + "/items/42")
    assert status == 200, body
    assert json.loads(body) == {"id": "42", "greeting": "from the layer", "build": "one", "version": "1"}
    # REST Api route with a binary response.
    status, headers, body = get(rest_base + "/image", {"Accept": "image/png"})
    assert (status, headers["Content-Type"], body) == (200, "image/png", PNG)
    # The Function URL (on the alias).
    status, _, body = get(url)
    assert status == 200 and json.loads(body)["build"] == "one"
    # The SQS event: the queue is on moto, made by the template; a message sent there runs the worker.
    worker = physical(stack, "WorkerFunction")
    moto_endpoint.client("sqs").send_message(QueueUrl=stack["Outputs"]["QueueUrl"], MessageBody="job-1")
    assert wait_for_log(server, worker, "JOB job-1").startswith("JOB job-1")
    # The Schedule event fires (60x fast here) and the worker gets AWS's scheduled event.
    assert wait_for_log(server, worker, "TICK ").startswith("TICK ")

    # An unchanged redeploy changes nothing.
    revision = lam.get_function_configuration(FunctionName=physical(stack, "ItemsFunction"))["RevisionId"]
    again = deploy(project, env)
    assert again["NoChanges"] is True and again["Changes"] == []
    assert lam.get_function_configuration(FunctionName=physical(stack, "ItemsFunction"))["RevisionId"] == revision

    # A code change: the function is updated in place, version 2 published, the alias (and its URL) moved.
    app = project / "src" / "app.py"
    app.write_text(APP.replace('BUILD = "one"', 'BUILD = "two"'))
    changed = deploy(project, env)
    assert physical(changed, "ItemsFunction") == physical(stack, "ItemsFunction")
    status, _, body = get(http_base + "/items/7")
    assert json.loads(body) == {"id": "7", "greeting": "from the layer", "build": "two", "version": "2"}
    assert json.loads(get(url)[2])["build"] == "two"

    # The worker removed from the template: the function, its mapping and its schedule are deleted.
    write_template(project, worker=False)
    removed = deploy(project, env)
    assert "WorkerFunction" not in {r["LogicalResourceId"] for r in removed["Resources"]}
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=worker)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert aws(server, "events").list_rules()["Rules"] == []
    assert [m for m in lam.list_event_source_mappings()["EventSourceMappings"]] == []

    # A failing deploy (an invalid MemorySize) names the resource, exits 1 and rolls back: the app still answers.
    write_template(project, worker=False, broken=True)
    failed = deploy(project, env, ok=False)
    assert failed.returncode == 1
    assert "BrokenFunction" in failed.stderr and "Traceback" not in failed.stderr
    assert json.loads(get(http_base + "/items/8")[2])["build"] == "two"
    described = stratus("stacks", "everything", "--json", env=env)
    assert json.loads(described.stdout)["Status"] == "UPDATE_ROLLBACK_COMPLETE"
    assert not [f for f in lam.list_functions()["Functions"] if "BrokenFunction" in f["FunctionName"]]

    # stratus delete: every resource gone.
    deleted = stratus("delete", "--stack-name", "everything", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert lam.list_functions()["Functions"] == []
    assert get(http_base + "/items/1")[0] == 404
