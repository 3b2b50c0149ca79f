"""Where a function's SDK calls go (issue 12): AWS_ENDPOINT_URL_LAMBDA / _EVENTBRIDGE / _IAM / _STS point at
Stratus, reachable from inside every sandbox and network mode; each service of STRATUS_SERVICE_ENDPOINTS
gets its AWS_ENDPOINT_URL_<SERVICE> (a loopback one forwarded to namespaced functions); a variable the
function sets itself wins. And functions never see Stratus's own secrets."""

from __future__ import annotations

import base64
import dataclasses
import json
import os

import pytest

from stratus.config import Settings
from tests.conftest import require_sandbox
from tests.e2e.test_runtime_sdks import require_runtime_sdk
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"  # unknown to IAM: STRATUS_UNKNOWN_ROLE_POLICY applies
STRATUS_SERVICES = ("LAMBDA", "EVENTBRIDGE", "IAM", "STS", "CLOUDWATCH_LOGS")

ENDPOINTS = """
import os
def handler(event, context):
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")}
"""

ACCOUNT_SETTINGS = """
import boto3
def handler(event, context):
    settings = boto3.client("lambda").get_account_settings()
    return {"AccountLimit": settings["AccountLimit"], "AccountUsage": settings["AccountUsage"]}
"""

SEND_TO_SQS = """
import boto3
def handler(event, context):
    return boto3.client("sqs").send_message(QueueUrl=event["queue"], MessageBody=event["body"])["MessageId"]
"""


def create(lam, name: str, source: str, **kwargs) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": source})}, **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def succeeded(lam, name: str, payload=None):
    response, body = invoke_json(lam, name, payload)
    assert "FunctionError" not in response, body
    return body


def test_stratus_services_point_at_stratus_unless_the_function_says_otherwise(server, lam, fn_name):
    create(lam, fn_name, ENDPOINTS)
    variables = succeeded(lam, fn_name)
    assert {f"AWS_ENDPOINT_URL_{service}": f"http://127.0.0.1:{server.port}" for service in STRATUS_SERVICES} \
        == {name: url for name, url in variables.items() if name.removeprefix("AWS_ENDPOINT_URL_") in STRATUS_SERVICES}
    own = "http://127.0.0.1:1"
    create(lam, fn_name + "-own", ENDPOINTS, Environment={"Variables": {"AWS_ENDPOINT_URL_LAMBDA": own}})
    variables = succeeded(lam, fn_name + "-own")
    assert variables["AWS_ENDPOINT_URL_LAMBDA"] == own
    assert variables["AWS_ENDPOINT_URL_EVENTBRIDGE"] == f"http://127.0.0.1:{server.port}"


@pytest.mark.parametrize(("sandbox", "network"), [("namespaced", "none"), ("namespaced", "outbound"),
                                                  ("plain", "outbound")])
def test_stratus_answers_a_functions_boto3_in_every_network(fresh_server, sandbox, network):
    """`none` mode has loopback only: the server serves its API inside the environment's own namespace."""
    require_sandbox(sandbox)
    require_runtime_sdk("python")
    server = fresh_server({"STRATUS_SANDBOX": sandbox, "STRATUS_FUNCTION_NETWORK": network,
                           "STRATUS_UNKNOWN_ROLE_POLICY": "AWSLambda_ReadOnlyAccess"})
    lam = server.client()
    create(lam, "settings", ACCOUNT_SETTINGS)
    assert succeeded(lam, "settings") == {key: value for key, value in lam.get_account_settings().items()
                                          if key != "ResponseMetadata"}


@pytest.mark.parametrize("sandbox", ["namespaced", "plain"])
def test_a_configured_service_endpoint_is_used_with_no_code_change(fresh_server, moto_endpoint, sandbox):
    """STRATUS_SERVICE_ENDPOINTS=sqs=<moto on a loopback port>: the function's boto3 sqs client sends there, and
    a namespaced function reaches that port with no STRATUS_FUNCTION_HOST_PORTS (it is forwarded because an
    endpoint names it)."""
    require_sandbox(sandbox)
    require_runtime_sdk("python")
    server = fresh_server({"STRATUS_SANDBOX": sandbox, "STRATUS_SERVICE_ENDPOINTS": f"sqs={moto_endpoint.endpoint}"})
    lam = server.client()
    sqs = moto_endpoint.client("sqs")
    queue = sqs.create_queue(QueueName=f"endpoints-{sandbox}")["QueueUrl"]
    create(lam, "send", SEND_TO_SQS)
    create(lam, "where", ENDPOINTS)
    assert succeeded(lam, "where")["AWS_ENDPOINT_URL_SQS"] == moto_endpoint.endpoint
    message_id = succeeded(lam, "send", {"queue": queue, "body": f"hello from {sandbox}"})
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in received] == [(message_id, f"hello from {sandbox}")]
    sqs.delete_queue(QueueUrl=queue)


DUMP = """
import os
def handler(event, context):
    readable = []
    for path in event["paths"]:
        try:
            with open(path, "rb") as handle:
                readable.append((path, handle.read(64).hex()))
        except OSError:
            pass
    return {"environ": dict(os.environ), "readable": readable}
"""


@pytest.mark.parametrize("sandbox", ["namespaced", "plain"])
def test_functions_never_see_stratus_secrets(fresh_server, tmp_path, sandbox):
    """No STRATUS_* setting, encryption key, access key, service secret or data dir path reaches a function's
    environment, and the key file cannot be read from inside."""
    require_sandbox(sandbox)
    key = base64.b64encode(os.urandom(32)).decode()
    secrets = {"STRATUS_SANDBOX": sandbox, "STRATUS_ENCRYPTION_KEY": key,
               "STRATUS_SERVICE_ENDPOINTS": "sqs=http://127.0.0.1:9",
               "STRATUS_SERVICE_ACCESS_KEY_ID": "AKIDSERVICEONLY1234",
               "STRATUS_SERVICE_SECRET_ACCESS_KEY": "svc-Secret/xyz"}
    data_dir = tmp_path / "secret-data"
    server = fresh_server(secrets, data_dir=data_dir)
    lam = server.client()
    create(lam, "dump", DUMP, Environment={"Variables": {"MINE": "visible"}})
    body = succeeded(lam, "dump", {"paths": [str(data_dir / "secret.key"), str(data_dir / "credentials"),
                                             str(data_dir / "stratus.db")]})
    environ = body["environ"]
    assert environ["MINE"] == "visible" and environ["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    settings = {"STRATUS_" + field.name.upper() for field in dataclasses.fields(Settings)}
    assert not settings & set(environ), sorted(settings & set(environ))
    values = json.dumps(environ)
    for secret in (key, "svc-Secret/xyz", "AKIDSERVICEONLY1234", "test:test", str(data_dir)):
        assert secret not in values, f"{secret!r} reached the function"
    assert body["readable"] == []
