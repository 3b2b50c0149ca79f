"""Authorization with IAM's model: a function's environment holds temporary credentials for its execution
role (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN); requests it signs with them may do
what the role's policies allow (here: STRATUS_UNKNOWN_ROLE_POLICY, the role being unknown to IAM), and
the credentials end with the environment. The admin keys still may do everything."""

from __future__ import annotations

import json
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import require_sandbox
from tests.support.server import StratusServer, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/whatever"

# Function A: signs requests itself (stdlib SigV4, no boto3) with the credentials of its environment.
SIGNER = r'''
import datetime, hashlib, hmac, json, os, urllib.error, urllib.request
from urllib.parse import urlsplit


def call(method, path, body=b"", sign=True):
    url = os.environ["STRATUS_URL"] + path
    parts = urlsplit(url)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": parts.netloc, "x-amz-date": stamp, "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    if sign:
        headers["x-amz-security-token"] = os.environ["AWS_SESSION_TOKEN"]
        names = sorted(headers)
        canonical = "\n".join([method, parts.path, "&".join(sorted(parts.query.split("&"))) if parts.query else "",
                               "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names),
                               headers["x-amz-content-sha256"]])
        scope = f"{stamp[:8]}/us-east-1/lambda/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
        for part in (stamp[:8], "us-east-1", "lambda", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={os.environ['AWS_ACCESS_KEY_ID']}/{scope}, "
                                    f"SignedHeaders={';'.join(names)}, Signature={signature}")
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {"status": response.status, "type": None, "body": response.read().decode()}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "type": error.headers.get("x-amzn-ErrorType"), "body": error.read().decode()}


def handler(event, context):
    results = [call(r["method"], r["path"], r.get("body", "").encode(), r.get("sign", True))
               for r in event.get("requests", [])]
    credentials = {name: os.environ.get(name) for name in
                   ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    return {"results": results, "credentials": credentials}
'''
TARGET = "def handler(event, context):\n    return {'b': event}\n"


def start(tmp_path_factory, sandbox: str, policy: str):
    require_sandbox(sandbox)
    env = {"STRATUS_SANDBOX": sandbox}
    if policy:
        env["STRATUS_UNKNOWN_ROLE_POLICY"] = policy
    return StratusServer(tmp_path_factory.mktemp(f"iam-{sandbox}") / "data", env=env)


@pytest.fixture(scope="module", params=["namespaced", "plain"])
def sandbox(request):
    return request.param


def create(lam, server, name: str, source: str, **extra) -> dict:
    config = lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": make_zip({"app.py": source})},
                                 Environment={"Variables": {"STRATUS_URL": server.endpoint}}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return config


def from_a(lam, *requests: dict) -> dict:
    response, payload = invoke_json(lam, "a", {"requests": list(requests)})
    assert "FunctionError" not in response, payload
    return payload


def fn(path: str = "") -> str:
    return "/2015-03-31/functions/b" + path


def assert_denied(result: dict, action: str, resource: str) -> None:
    assert result["status"] == 403 and result["type"] == "AccessDeniedException", result
    assert json.loads(result["body"])["message"] == (
        "User: arn:aws:sts::000000000000:assumed-role/whatever/a@lambda_function is not authorized to perform: "
        f"{action} on resource: {resource} because no identity-based policy allows the {action} action")


def signed_status(server, credentials: dict, path: str) -> tuple[int, str | None]:
    import urllib.error
    import urllib.request

    request = AWSRequest(method="GET", url=server.endpoint + path)
    SigV4Auth(Credentials(credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"],
                          credentials["AWS_SESSION_TOKEN"]), "lambda", "us-east-1").add_auth(request)
    try:
        with urllib.request.urlopen(urllib.request.Request(request.url, headers=dict(request.headers)),
                                    timeout=10) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("x-amzn-ErrorType")


def test_role_with_invoke_policy(tmp_path_factory, sandbox):
    with start(tmp_path_factory, sandbox, "AWSLambdaRole") as server:
        lam = server.client()
        create(lam, server, "b", TARGET)
        b_before = lam.get_function_configuration(FunctionName="b")  # Active (the create answered Pending)
        create(lam, server, "a", SIGNER)
        arn_b = b_before["FunctionArn"]
        payload = from_a(
            lam,
            {"method": "POST", "path": fn("/invocations"), "body": '{"x": 1}'},
            {"method": "GET", "path": fn("/configuration")},
            {"method": "PUT", "path": fn("/configuration"), "body": '{"Timeout": 9}'},
            {"method": "DELETE", "path": fn()},
            {"method": "GET", "path": "/2015-03-31/functions/"},
            {"method": "POST", "path": fn("/invocations"), "body": "{}", "sign": False},
        )
        invoked, get, update, delete, listing, unsigned = payload["results"]
        assert invoked["status"] == 200 and json.loads(invoked["body"]) == {"b": {"x": 1}}, invoked
        assert_denied(get, "lambda:GetFunctionConfiguration", arn_b)
        assert_denied(update, "lambda:UpdateFunctionConfiguration", arn_b)
        assert_denied(delete, "lambda:DeleteFunction", arn_b)
        assert_denied(listing, "lambda:ListFunctions", "*")
        assert unsigned["status"] == 403 and unsigned["type"] == "MissingAuthenticationTokenException"
        b_after = lam.get_function_configuration(FunctionName="b")  # the admin keys may do everything
        assert b_after["Timeout"] == b_before["Timeout"] and b_after["RevisionId"] == b_before["RevisionId"]

        credentials = payload["credentials"]
        assert credentials["AWS_ACCESS_KEY_ID"].startswith("ASIA") and len(credentials["AWS_ACCESS_KEY_ID"]) == 20
        assert signed_status(server, credentials, fn("/configuration")) == (403, "AccessDeniedException")
        lam.delete_function(FunctionName="a")  # its environments end, and their credentials with them
        deadline = time.monotonic() + 15
        revoked = (403, "UnrecognizedClientException")
        while (status := signed_status(server, credentials, fn("/configuration"))) != revoked:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        lam.delete_function(FunctionName="b")


def test_role_without_policy_may_do_nothing(tmp_path_factory, sandbox):
    with start(tmp_path_factory, sandbox, "") as server:
        lam = server.client()
        arn_b = create(lam, server, "b", TARGET)["FunctionArn"]
        create(lam, server, "a", SIGNER)
        invoked, get = from_a(lam, {"method": "POST", "path": fn("/invocations"), "body": "{}"},
                              {"method": "GET", "path": fn("/configuration")})["results"]
        assert_denied(invoked, "lambda:InvokeFunction", arn_b)
        assert_denied(get, "lambda:GetFunctionConfiguration", arn_b)
        assert invoke_json(lam, "b", {"y": 2})[1] == {"b": {"y": 2}}

        # B's resource-based policy may allow the invocation (same account: either policy suffices, as on AWS)...
        lam.add_permission(FunctionName="b", StatementId="a-may-invoke", Action="lambda:InvokeFunction",
                           Principal=ROLE)
        invoked, get = from_a(lam, {"method": "POST", "path": fn("/invocations"), "body": '{"z": 3}'},
                              {"method": "GET", "path": fn("/configuration")})["results"]
        assert invoked["status"] == 200 and json.loads(invoked["body"]) == {"b": {"z": 3}}, invoked
        assert_denied(get, "lambda:GetFunctionConfiguration", arn_b)  # ...and only the invocation
        # A new function of the same name has none of the old one's policy.
        lam.delete_function(FunctionName="b")
        create(lam, server, "b", TARGET)
        invoked, = from_a(lam, {"method": "POST", "path": fn("/invocations"), "body": "{}"})["results"]
        assert_denied(invoked, "lambda:InvokeFunction", arn_b)
        # Nor does a statement for another principal help.
        lam.add_permission(FunctionName="b", StatementId="someone-else", Action="lambda:InvokeFunction",
                           Principal="arn:aws:iam::000000000000:role/other")
        invoked, = from_a(lam, {"method": "POST", "path": fn("/invocations"), "body": "{}"})["results"]
        assert_denied(invoked, "lambda:InvokeFunction", arn_b)
        lam.remove_permission(FunctionName="b", StatementId="someone-else")


def test_a_role_made_with_the_iam_api_allows_exactly_its_policy(tmp_path_factory, sandbox):
    """The issue's case: a role (CreateRole + PutRolePolicy through the IAM API) that allows only
    lambda:InvokeFunction on B; a function with that role invokes B and nothing else, and an explicit Deny
    added later wins. No unknown-role policy is configured: the role's own policies decide."""
    with start(tmp_path_factory, sandbox, "") as server:
        lam = server.client()
        iam = _iam_client(server)
        arn_b = create(lam, server, "b", TARGET)["FunctionArn"]
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "lambda.amazonaws.com"}}]}
        iam.create_role(RoleName="whatever", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="whatever", PolicyName="invoke-b", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                      "Resource": arn_b}]}))
        create(lam, server, "a", SIGNER)
        invoked, get, delete = from_a(lam, {"method": "POST", "path": fn("/invocations"), "body": '{"q": 1}'},
                                      {"method": "GET", "path": fn("/configuration")},
                                      {"method": "DELETE", "path": fn()})["results"]
        assert invoked["status"] == 200 and json.loads(invoked["body"]) == {"b": {"q": 1}}, invoked
        assert_denied(get, "lambda:GetFunctionConfiguration", arn_b)
        assert_denied(delete, "lambda:DeleteFunction", arn_b)
        assert lam.get_function_configuration(FunctionName="b")["FunctionArn"] == arn_b  # B is still there

        iam.put_role_policy(RoleName="whatever", PolicyName="deny-all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]}))
        invoked, = from_a(lam, {"method": "POST", "path": fn("/invocations"), "body": "{}"})["results"]
        assert invoked["status"] == 403 and invoked["type"] == "AccessDeniedException", invoked
        assert "explicit deny" in json.loads(invoked["body"])["message"]


def _iam_client(server):
    import boto3

    return boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_an_unknown_managed_policy_name_is_refused_at_start(tmp_path):
    import os
    import subprocess
    import sys

    from tests.support.server import free_port

    done = subprocess.run([sys.executable, "-m", "stratus.cli.main", "serve", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "data")],
                          env=dict(os.environ, STRATUS_ACCESS_KEYS="test:test", STRATUS_UNKNOWN_ROLE_POLICY="Admin"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    from stratus.iam.managed import MANAGED_POLICIES

    assert "AWSLambdaBasicExecutionRole" in MANAGED_POLICIES and "AWSLambdaSQSQueueExecutionRole" in MANAGED_POLICIES
    assert done.stderr.strip().splitlines() == [
        "stratus: STRATUS_UNKNOWN_ROLE_POLICY: 'Admin' is none of the managed policies Stratus knows "
        f"({', '.join(sorted(MANAGED_POLICIES))})"]
