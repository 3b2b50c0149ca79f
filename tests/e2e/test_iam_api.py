"""IAM roles and STS GetCallerIdentity on the Lambda port (AWS query protocol on `POST /`), through boto3's
iam and sts clients and the real AWS CLI v1; refusals in IAM's error shape change nothing; a restart keeps roles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import StratusServer
from tests.support.signing import signed_request

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}
INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                  "Resource": "arn:aws:lambda:us-east-1:000000000000:function:a"}]}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
INVOKER = "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"


def aws_client(server, service: str):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))


def error_of(call, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("iam") / "data", env={"STRATUS_SANDBOX": "plain"}) as srv:
        yield srv


@pytest.fixture
def iam(server):
    client = aws_client(server, "iam")
    yield client
    for role in client.list_roles()["Roles"]:  # each test leaves no role behind
        name = role["RoleName"]
        for policy in client.list_role_policies(RoleName=name)["PolicyNames"]:
            client.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in client.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            client.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        client.delete_role(RoleName=name)


def test_role_lifecycle(iam):
    created = iam.create_role(RoleName="fn-role", Path="/service/", AssumeRolePolicyDocument=json.dumps(TRUST),
                              Description="for fn")["Role"]
    assert created["Arn"] == "arn:aws:iam::000000000000:role/service/fn-role"
    assert created["RoleId"].startswith("AROA") and len(created["RoleId"]) == 21
    assert created["AssumeRolePolicyDocument"] == TRUST  # boto3 URL-decodes and parses it, as from AWS
    assert created["Path"] == "/service/" and created["Description"] == "for fn"
    got = iam.get_role(RoleName="fn-role")["Role"]
    assert got["RoleId"] == created["RoleId"] and got["CreateDate"] == created["CreateDate"]
    assert got["AssumeRolePolicyDocument"] == TRUST and got["MaxSessionDuration"] == 3600
    iam.create_role(RoleName="other", AssumeRolePolicyDocument=json.dumps(TRUST))
    assert [role["RoleName"] for role in iam.list_roles()["Roles"]] == ["fn-role", "other"]
    assert [role["RoleName"] for role in iam.list_roles(PathPrefix="/service/")["Roles"]] == ["fn-role"]
    first = iam.list_roles(MaxItems=1)
    assert first["IsTruncated"] and [r["RoleName"] for r in first["Roles"]] == ["fn-role"]
    assert [r["RoleName"] for r in iam.list_roles(Marker=first["Marker"])["Roles"]] == ["other"]
    assert [r["RoleName"] for page in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1})
            for r in page["Roles"]] == ["fn-role", "other"]
    iam.delete_role(RoleName="other")
    assert error_of(iam.get_role, RoleName="other") == ("NoSuchEntity", 404)


def test_inline_and_managed_policies(iam):
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="r1", PolicyName="invoke-a", PolicyDocument=json.dumps(INLINE))
    got = iam.get_role_policy(RoleName="r1", PolicyName="invoke-a")
    assert got["PolicyDocument"] == INLINE and got["RoleName"] == "r1" and got["PolicyName"] == "invoke-a"
    assert iam.list_role_policies(RoleName="r1")["PolicyNames"] == ["invoke-a"]
    iam.attach_role_policy(RoleName="r1", PolicyArn=BASIC)
    iam.attach_role_policy(RoleName="r1", PolicyArn=INVOKER)
    iam.attach_role_policy(RoleName="r1", PolicyArn=BASIC)  # attaching twice: still once
    assert iam.list_attached_role_policies(RoleName="r1")["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC},
        {"PolicyName": "AWSLambdaRole", "PolicyArn": INVOKER}]
    assert error_of(iam.delete_role, RoleName="r1") == ("DeleteConflict", 409)
    iam.delete_role_policy(RoleName="r1", PolicyName="invoke-a")
    assert error_of(iam.delete_role, RoleName="r1") == ("DeleteConflict", 409)  # still attached policies
    iam.detach_role_policy(RoleName="r1", PolicyArn=BASIC)
    iam.detach_role_policy(RoleName="r1", PolicyArn=INVOKER)
    assert iam.list_role_policies(RoleName="r1")["PolicyNames"] == []
    assert iam.list_attached_role_policies(RoleName="r1")["AttachedPolicies"] == []
    iam.delete_role(RoleName="r1")
    assert iam.list_roles()["Roles"] == []


def test_refusals_change_nothing(iam):
    iam.create_role(RoleName="keep", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="keep", PolicyName="p", PolicyDocument=json.dumps(INLINE))
    before = iam.get_role(RoleName="keep")["Role"]
    assert error_of(iam.create_role, RoleName="keep", AssumeRolePolicyDocument=json.dumps(TRUST)) == \
        ("EntityAlreadyExists", 409)
    assert error_of(iam.create_role, RoleName="KEEP", AssumeRolePolicyDocument=json.dumps(TRUST))[0] == \
        "EntityAlreadyExists"  # role names ignore case
    assert error_of(iam.get_role, RoleName="missing") == ("NoSuchEntity", 404)
    assert error_of(iam.put_role_policy, RoleName="missing", PolicyName="p",
                    PolicyDocument=json.dumps(INLINE)) == ("NoSuchEntity", 404)
    assert error_of(iam.get_role_policy, RoleName="keep", PolicyName="nope") == ("NoSuchEntity", 404)
    assert error_of(iam.create_role, RoleName="bad-json", AssumeRolePolicyDocument="{not json") == \
        ("MalformedPolicyDocument", 400)
    assert error_of(iam.put_role_policy, RoleName="keep", PolicyName="p",
                    PolicyDocument='{"Statement": "x"') == ("MalformedPolicyDocument", 400)
    assert error_of(iam.put_role_policy, RoleName="keep", PolicyName="p",
                    PolicyDocument='["a list"]') == ("MalformedPolicyDocument", 400)
    assert error_of(iam.create_role, RoleName="bad name!", AssumeRolePolicyDocument=json.dumps(TRUST)) == \
        ("ValidationError", 400)
    assert error_of(iam.create_role, RoleName="x" * 65, AssumeRolePolicyDocument=json.dumps(TRUST)) == \
        ("ValidationError", 400)
    assert error_of(iam.create_role, RoleName="pathless", Path="no-slash",
                    AssumeRolePolicyDocument=json.dumps(TRUST)) == ("ValidationError", 400)
    assert error_of(iam.attach_role_policy, RoleName="keep",
                    PolicyArn="arn:aws:iam::aws:policy/AdministratorAccessNotHere") == ("NoSuchEntity", 404)
    assert error_of(iam.detach_role_policy, RoleName="keep", PolicyArn=BASIC) == ("NoSuchEntity", 404)
    assert error_of(iam.delete_role, RoleName="keep") == ("DeleteConflict", 409)
    assert iam.get_role(RoleName="keep")["Role"] == before
    assert [role["RoleName"] for role in iam.list_roles()["Roles"]] == ["keep"]
    assert iam.get_role_policy(RoleName="keep", PolicyName="p")["PolicyDocument"] == INLINE
    assert iam.list_attached_role_policies(RoleName="keep")["AttachedPolicies"] == []


def test_caller_identity(server):
    identity = aws_client(server, "sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:root"
    assert identity["UserId"] == "test"


CALLER = "import boto3\n\ndef handler(event, context):\n    return boto3.client('sts').get_caller_identity()\n"


@pytest.mark.parametrize("function_name", ["q", "qq"])
def test_a_function_role_with_no_policy_gets_its_caller_identity(server, iam, function_name):
    """GetCallerIdentity needs no permission (AWS's words); a function's session is named after it, a one-letter
    name with `@lambda_function` (AWS's recorded answers)."""
    from tests.support.server import make_zip

    role = iam.create_role(RoleName="nopolicy", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    lam = aws_client(server, "lambda")
    lam.create_function(FunctionName=function_name, Runtime="python3.12", Role=role["Arn"], Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": CALLER})})
    try:
        answer = lam.invoke(FunctionName=function_name)
        identity = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, identity
        session = function_name if len(function_name) > 1 else f"{function_name}@lambda_function"
        assert identity["Arn"] == f"arn:aws:sts::000000000000:assumed-role/nopolicy/{session}"
        assert identity["UserId"] == f"{role['RoleId']}:{session}" and identity["Account"] == "000000000000"
    finally:
        lam.delete_function(FunctionName=function_name)


def test_bad_signature_gets_query_error(server):
    client = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="wrong",
                          config=Config(retries={"max_attempts": 0}))
    assert error_of(client.list_roles) == ("SignatureDoesNotMatch", 403)  # in IAM's XML error shape
    unknown = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id="nobody", aws_secret_access_key="x",
                           config=Config(retries={"max_attempts": 0}))
    assert error_of(unknown.get_caller_identity) == ("InvalidClientTokenId", 403)


def _post(server, body: bytes, headers: dict, service: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(signed_request(server.endpoint + "/", body, headers, service=service),
                                    timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def test_scope_decides_the_service(iam, server):
    """A signature scoped to one service of `POST /` reaches only that service (authorization is per service):
    an events-scoped IAM form does not create a role, an iam-scoped EventBridge call does not reach EventBridge,
    an sts-scoped IAM action is no IAM action."""
    create = b"Action=CreateRole&Version=2010-05-08&RoleName=smuggled&AssumeRolePolicyDocument=" + \
        urllib.request.quote(json.dumps(TRUST), safe="").encode()
    status, body = _post(server, create, FORM, "events")
    assert status == 400 and b"UnknownOperationException" in body
    status, body = _post(server, create, FORM, "sts")
    assert status == 400 and b"<Code>InvalidAction</Code>" in body
    status, body = _post(server, b"{}", {"X-Amz-Target": "AWSEvents.ListEventBuses",
                                         "Content-Type": "application/x-amz-json-1.1"}, "iam")
    assert status == 400 and b"<Code>InvalidAction</Code>" in body
    status, body = _post(server, b"Action=GetCallerIdentity&Version=2011-06-15", FORM, "lambda")
    assert status == 400 and b"InvalidSignatureException" in body  # POST / takes no lambda-scoped signature
    assert iam.list_roles()["Roles"] == []
    status, body = _post(server, create, FORM, "iam")
    assert status == 200 and b"<RoleName>smuggled</RoleName>" in body


def test_eventbridge_still_served(server):
    events = aws_client(server, "events")
    assert any(bus["Name"] == "default" for bus in events.list_event_buses()["EventBuses"])


def test_aws_cli(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-creds"),
               AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
    (tmp_path / "trust.json").write_text(json.dumps(TRUST))

    def aws(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "--output", "json",
                               *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert not check or done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stderr}"
        return done

    role = json.loads(aws("iam", "create-role", "--role-name", "cli-role",
                          "--assume-role-policy-document", "file://trust.json").stdout)["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/cli-role" and role["AssumeRolePolicyDocument"] == TRUST
    aws("iam", "attach-role-policy", "--role-name", "cli-role", "--policy-arn", BASIC)
    aws("iam", "put-role-policy", "--role-name", "cli-role", "--policy-name", "inline",
        "--policy-document", json.dumps(INLINE))
    assert json.loads(aws("iam", "get-role-policy", "--role-name", "cli-role", "--policy-name", "inline").stdout)[
        "PolicyDocument"] == INLINE
    assert [r["RoleName"] for r in json.loads(aws("iam", "list-roles").stdout)["Roles"]] == ["cli-role"]
    refused = aws("iam", "delete-role", "--role-name", "cli-role", check=False)
    assert refused.returncode != 0 and "DeleteConflict" in refused.stderr
    aws("iam", "detach-role-policy", "--role-name", "cli-role", "--policy-arn", BASIC)
    aws("iam", "delete-role-policy", "--role-name", "cli-role", "--policy-name", "inline")
    aws("iam", "delete-role", "--role-name", "cli-role")
    missing = aws("iam", "get-role", "--role-name", "cli-role", check=False)
    assert missing.returncode != 0 and "NoSuchEntity" in missing.stderr
    assert json.loads(aws("sts", "get-caller-identity").stdout)["Account"] == "000000000000"


def test_restart_keeps_roles(tmp_path):
    data_dir = tmp_path / "data"
    with StratusServer(data_dir, env={"STRATUS_SANDBOX": "plain"}) as srv:
        iam = aws_client(srv, "iam")
        created = iam.create_role(RoleName="lasting", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
        iam.put_role_policy(RoleName="lasting", PolicyName="p", PolicyDocument=json.dumps(INLINE))
        iam.attach_role_policy(RoleName="lasting", PolicyArn=BASIC)
        iam.create_role(RoleName="gone", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.delete_role(RoleName="gone")
    with StratusServer(data_dir, env={"STRATUS_SANDBOX": "plain"}) as srv:
        iam = aws_client(srv, "iam")
        assert [role["RoleName"] for role in iam.list_roles()["Roles"]] == ["lasting"]
        again = iam.get_role(RoleName="lasting")["Role"]
        assert (again["RoleId"], again["Arn"], again["CreateDate"]) == \
            (created["RoleId"], created["Arn"], created["CreateDate"])
        assert iam.get_role_policy(RoleName="lasting", PolicyName="p")["PolicyDocument"] == INLINE
        assert iam.list_attached_role_policies(RoleName="lasting")["AttachedPolicies"][0]["PolicyArn"] == BASIC
