"""Templates and requests the stacks API refuses up front: 400 with one line naming what is wrong, and nothing
created. Artifacts: content-addressed, verified, zips only. A stack survives a restart."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, make_zip
from tests.support.stacks import StacksClient

GOOD = f"""
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 'ok'"
      Handler: index.handler
      Runtime: {HOST_PYTHON_RUNTIME}
      Environment:
        Variables:
          STAGE: !Ref Stage
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("stacks-bad") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def stacks(srv):
    return StacksClient(srv.endpoint)


BAD = {
    "yaml syntax": (GOOD.replace("Handler: index.handler", "Handler: [index.handler"),
                    "Template format error: line 1"),
    "no resources": ("Resources: {}\n", "At least one Resources member must be defined"),
    "unknown tag": (GOOD.replace("!Ref Stage", "!Reff Stage"), "unknown tag !Reff (did you mean !Ref?)"),
    "untranslatable": (GOOD.replace("Handler: index.handler", "Handler: index.handler\n      Events:\n"
                                    "        E:\n          Type: Carrier"),
                       "Resource with id [Fn] is invalid"),
    "unknown type": (GOOD + "  Bucket:\n    Type: AWS::Made::Up\n",
                     "resource Bucket has type AWS::Made::Up, which Stratus cannot deploy"),
    "serverless without transform": (GOOD.replace("Transform: AWS::Serverless-2016-10-31", ""),
                                     "add 'Transform: AWS::Serverless-2016-10-31'"),
    "unknown intrinsic": (GOOD.replace("STAGE: !Ref Stage", "STAGE: {'Fn::Joinn': [',', [a, b]]}"),
                          "unknown intrinsic function Fn::Joinn in Fn (did you mean Fn::Join?)"),
    "ref to nothing": (GOOD.replace("!Ref Stage", "!Ref Stag"),
                       "Unresolved resource dependencies [Stag]"),
    "getatt to nothing": (GOOD.replace("!Ref Stage", "!GetAtt Fm.Arn"),
                          "Unresolved resource dependencies [Fm] in Fn (did you mean Fn?)"),
    "cycle": ("""
Resources:
  A:
    Type: AWS::IAM::Role
    DependsOn: B
    Properties: {AssumeRolePolicyDocument: {}}
  B:
    Type: AWS::IAM::Role
    DependsOn: A
    Properties: {AssumeRolePolicyDocument: {}}
""", "Circular dependency between resources: [A, B]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_template_is_refused_and_nothing_created(srv, stacks, case):
    template, words = BAD[case]
    lam = srv.client()
    before = lam.list_functions()["Functions"]
    status, body = stacks.deploy("bad", template)
    assert status == 400, body
    assert body["Type"] == "User" and words in body["message"], body["message"]
    assert "\n" not in body["message"] and "Traceback" not in body["message"]
    assert lam.list_functions()["Functions"] == before
    assert stacks.describe("bad")[0] == 404


def test_yaml_error_names_its_line(stacks):
    status, body = stacks.deploy("bad", "Resources:\n  Fn:\n    Type: AWS::IAM::Role\n    Properties: [a\n")
    assert status == 400 and "line 5" in body["message"]


def test_parameters_refused(stacks):
    status, body = stacks.deploy("bad", GOOD, {"Stage": "test"})
    assert status == 400 and body["message"] == "Parameter 'Stage' must be one of AllowedValues [dev, prod], not 'test'"
    status, body = stacks.deploy("bad", GOOD, {"Stag": "dev"})
    assert status == 400 and body["message"].startswith("Parameters: [Stag] do not exist in the template")
    assert stacks.describe("bad")[0] == 404


def test_bad_requests(stacks):
    status, _, body = stacks.request("PUT", "/_stratus/stacks/x", b"{not json")
    assert status == 400 and body["Type"] == "User"
    status, _, body = stacks.request("PUT", "/_stratus/stacks/x", b"{}")
    assert status == 400 and "TemplateBody" in body["message"]
    status, body = stacks.deploy("1-starts-with-a-digit", GOOD)
    assert status == 400 and "stackName" in body["message"]
    assert stacks.describe("nothing-here")[0] == 404
    assert stacks.delete("nothing-here")[0] == 404


def test_artifacts(stacks):
    data = make_zip({"app.py": "x = 1\n"})
    sha = hashlib.sha256(data).hexdigest()
    assert stacks.request("HEAD", f"/_stratus/artifacts/{sha}")[0] == 404
    status, _, body = stacks.request("PUT", f"/_stratus/artifacts/{sha}", data)
    assert status == 200 and body == {"Sha256": sha, "Size": len(data)}
    assert stacks.request("HEAD", f"/_stratus/artifacts/{sha}")[0] == 200
    assert stacks.request("PUT", f"/_stratus/artifacts/{sha}", data)[0] == 200  # idempotent
    status, _, body = stacks.request("PUT", f"/_stratus/artifacts/{'0' * 64}", data)
    assert status == 400 and "SHA-256" in body["message"]
    text = b"not a zip"
    status, _, body = stacks.request("PUT", f"/_stratus/artifacts/{hashlib.sha256(text).hexdigest()}", text)
    assert status == 400 and body["message"] == "The artifact is not a zip file"


def test_missing_artifact_names_the_resource_and_rolls_back(srv, stacks):
    template = GOOD.replace('InlineCode: "def handler(e, c): return \'ok\'"', f"CodeUri: s3://_stratus/{'a' * 64}")
    status, body = stacks.deploy("missing-code", template)
    assert status == 400
    assert body["message"].startswith("Fn (AWS::Lambda::Function): InvalidParameterValueException")
    assert "NoSuchKey" in body["message"]
    assert body["Stack"]["Status"] == "ROLLBACK_COMPLETE"


def test_stack_survives_restart(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    srv = fresh_server(data_dir=data_dir)
    stacks = StacksClient(srv.endpoint)
    status, first = stacks.deploy("durable", GOOD)
    assert status == 200, first
    srv.stop()
    srv = fresh_server(data_dir=data_dir)
    stacks = StacksClient(srv.endpoint)
    status, described = stacks.describe("durable")
    assert status == 200 and described["Status"] == "CREATE_COMPLETE"
    assert described["Resources"] == first["Resources"]
    status, again = stacks.deploy("durable", GOOD)
    assert status == 200 and again["NoChanges"] is True
    name = next(r["PhysicalResourceId"] for r in again["Resources"] if r["LogicalResourceId"] == "Fn")
    assert srv.client().invoke(FunctionName=name)["Payload"].read() == b'"ok"'
    status, _, body = stacks.request("GET", "/_stratus/stacks/durable/template")
    assert status == 200 and body == {"TemplateBody": GOOD, "Parameters": {}}
    status, _, body = stacks.request("GET", "/_stratus/stacks")
    assert status == 200 and body["Stacks"][0]["StackName"] == "durable" and body["Stacks"][0]["ResourceCount"] == 2
