"""Custom runtimes (provided.al2023 / provided.al2): the function's own `bootstrap` speaks the Runtime
API — a shell script with curl as in AWS's tutorial, and AWS's own awslambdaric, unmodified."""

import base64
import os
import shutil

import pytest

from tests.support.awslambdaric import awslambdaric_zip
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

# AWS's custom runtime tutorial, as published (bash + curl).
CURL_BOOTSTRAP = """#!/bin/bash
set -euo pipefail
# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"
# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")
  # Send the response
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
"""

FUNCTION_SH = """function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"
  echo $RESPONSE
}
"""


@pytest.mark.skipif(shutil.which("curl") is None or not os.path.exists("/bin/bash"),
                    reason="the tutorial's bootstrap needs bash and curl on the host")
@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_shell_bootstrap_with_curl_from_aws_tutorial(lam, fn_name, runtime):
    zip_bytes = make_zip({"bootstrap": CURL_BOOTSTRAP, "function.sh": FUNCTION_SH}, modes={"bootstrap": 0o755})
    lam.create_function(FunctionName=fn_name, Runtime=runtime, Handler="function.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes}, Timeout=10)
    for n in range(3):
        response = lam.invoke(FunctionName=fn_name, Payload=f'{{"n":{n}}}', LogType="Tail")
        assert response["StatusCode"] == 200 and "FunctionError" not in response
        assert response["Payload"].read().decode().strip() == f"Echoing request: '{{\"n\":{n}}}'"
        log = base64.b64decode(response["LogResult"]).decode()
        assert f'{{"n":{n}}}' in log and "REPORT RequestId" in log
        assert ("Init Duration" in log) == (n == 0)


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs the host's /usr/bin/python3")
def test_awslambdaric_runs_unmodified(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": awslambdaric_zip()}, Timeout=10, MemorySize=256)
    first, body = invoke_json(lam, fn_name, {"x": 1}, LogType="Tail")
    assert "FunctionError" not in first, body
    request_id = first["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body["count"] == 1 and body["event"] == {"x": 1}
    assert body["request_id"] == request_id
    assert body["function_name"] == fn_name and body["memory"] == "256"
    assert body["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert 0 < body["remaining"] <= 10000
    log = base64.b64decode(first["LogResult"]).decode()
    assert "[INFO]\t" in log and f"\t{request_id}\tevent {{\"x\": 1}}" in log
    assert "Init Duration" in log

    assert invoke_json(lam, fn_name, {"x": 2})[1]["count"] == 2  # warm

    failed, error = invoke_json(lam, fn_name, {"fail": True})
    assert failed["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "asked to fail"
    assert error["requestId"] == failed["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert invoke_json(lam, fn_name, {"x": 3})[1]["count"] == 4


def test_awslambdaric_import_error_comes_back_as_aws_reports_it(lam, fn_name):
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs the host's /usr/bin/python3")
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="missing_module.handler",
                        Role=ROLE, Code={"ZipFile": awslambdaric_zip()}, Timeout=10)
    response, body = invoke_json(lam, fn_name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Unable to import module 'missing_module'")


def test_a_zip_without_bootstrap_fails_at_invoke_as_on_aws(lam, fn_name):
    """AWS accepts the zip; the invoke fails with Runtime.InvalidEntrypoint."""
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="x", Role=ROLE,
                        Code={"ZipFile": make_zip({"main.sh": "echo"})})
    response, body = invoke_json(lam, fn_name)
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.InvalidEntrypoint"
