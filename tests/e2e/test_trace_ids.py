"""Trace ids (X-Amzn-Trace-Id): every invocation runs in a trace, as on AWS.

With no caller header the function's `_X_AMZN_TRACE_ID` is a new `Root=1-<epoch>-<24 hex>;Parent=<16 hex>;
Sampled=<1 only under TracingConfig Active>` plus the `Lineage` AWS adds; a caller's header is passed through
(Lambda decides `Sampled` when the caller left it open). Python, Node and a `provided` bootstrap (which reads
the Runtime API's `Lambda-Runtime-Trace-Id` itself) all see it. The attempts of one async event and its
destination share one Root: the function reports its trace id on each attempt to an SQS queue (moto) with
the SQS JSON protocol over plain HTTP (functions have no boto3 here), and the OnFailure record, sent to SQS,
carries the trace as its AWSTraceHeader. Both sandboxes.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from tests.conftest import require_sandbox
from tests.support.moto import ACCOUNT as MOTO_ACCOUNT
from tests.support.server import StratusServer, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
TRACE = re.compile(r"Root=1-(?P<epoch>[0-9a-f]{8})-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=(?P<sampled>[01])"
                   r";Lineage=1:[0-9a-f]{8}:0")
CALLER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

PYTHON = """
import os
def handler(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
"""
NODE = """
exports.handler = async () => ({ trace: process.env._X_AMZN_TRACE_ID });
"""
# A provided runtime's own bootstrap: it reads Lambda-Runtime-Trace-Id from /next and answers with it.
PROVIDED = """#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        trace = response.headers.get("Lambda-Runtime-Trace-Id")
    body = json.dumps({"trace": trace}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
"""
# Reports its trace id to an SQS queue (moto, JSON protocol), then fails: every attempt of an async event.
REPORTER = """
import json, os, urllib.request
def handler(event, context):
    body = json.dumps({"QueueUrl": os.environ["QUEUE_URL"], "MessageBody": os.environ["_X_AMZN_TRACE_ID"]})
    request = urllib.request.Request(os.environ["SQS_ENDPOINT"] + "/", data=body.encode(), method="POST", headers={
        "X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request"})
    urllib.request.urlopen(request, timeout=10).read()
    raise Exception("fails on every attempt")
"""


@pytest.fixture(scope="module", params=["namespaced", "plain"])
def srv(request, tmp_path_factory, moto_endpoint):
    require_sandbox(request.param)
    env = {"STRATUS_SANDBOX": request.param, "STRATUS_ASYNC_RETRY_BASE_S": "0.2", **moto_endpoint.service_env()}
    with StratusServer(tmp_path_factory.mktemp(f"trace-{request.param}") / "data", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client()


def create(lam, name: str, files: dict, runtime: str = "python3.12", handler: str = "app.handler", **extra) -> None:
    modes = {"bootstrap": 0o755} if "bootstrap" in files else None
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                        Code={"ZipFile": make_zip(files, modes)}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def trace_of(lam, name: str, header: str | None = None) -> str:
    """The trace id the function saw; `header`: the caller's X-Amzn-Trace-Id (added to the request as
    LocalStack's AWS-validated test does)."""
    if header is None:
        response, payload = invoke_json(lam, name)
    else:
        def add(request, **_):
            request.headers["X-Amzn-Trace-Id"] = header

        lam.meta.events.register("before-send.lambda.Invoke", add)
        try:
            response, payload = invoke_json(lam, name)
        finally:
            lam.meta.events.unregister("before-send.lambda.Invoke", add)
    assert "FunctionError" not in response, payload
    return payload["trace"]


def assert_new_trace(trace: str, sampled: str) -> None:
    match = TRACE.fullmatch(trace)
    assert match, trace
    assert match["sampled"] == sampled, trace
    assert abs(int(match["epoch"], 16) - time.time()) < 300, trace


def test_every_invocation_runs_in_a_trace(lam, fn_name):
    passthrough, active = f"{fn_name}-pass", f"{fn_name}-active"
    create(lam, passthrough, {"app.py": PYTHON})
    create(lam, active, {"app.py": PYTHON}, TracingConfig={"Mode": "Active"})

    first, second = trace_of(lam, passthrough), trace_of(lam, passthrough)
    assert_new_trace(first, "0")
    assert_new_trace(second, "0")
    assert first.split(";")[0] != second.split(";")[0]  # a new Root per invoke
    assert_new_trace(trace_of(lam, active), "1")

    # A caller's header is passed through (and counted in its Lineage), whatever the tracing mode.
    for name in (passthrough, active):
        assert trace_of(lam, name, CALLER).startswith(CALLER + ";Lineage=1:")
    # A caller that left the sampling decision open gets Lambda's: sampled only under Active.
    open_decision = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
    assert f"{open_decision};Sampled=0;Lineage=1:" in trace_of(lam, passthrough, open_decision)
    assert f"{open_decision};Sampled=1;Lineage=1:" in trace_of(lam, active, open_decision + ";Sampled=?")
    # Turning Active on later takes effect.
    lam.update_function_configuration(FunctionName=passthrough, TracingConfig={"Mode": "Active"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=passthrough)
    assert_new_trace(trace_of(lam, passthrough), "1")


def test_node_and_provided_runtimes_see_the_trace(lam, fn_name):
    create(lam, f"{fn_name}-provided", {"bootstrap": PROVIDED}, runtime="provided.al2023", handler="unused")
    assert_new_trace(trace_of(lam, f"{fn_name}-provided"), "0")
    assert trace_of(lam, f"{fn_name}-provided", CALLER).startswith(CALLER)
    if shutil.which("node") is None:
        pytest.skip("no Node.js on this host")
    create(lam, f"{fn_name}-node", {"index.js": NODE}, runtime="nodejs20.x", handler="index.handler",
           TracingConfig={"Mode": "Active"})
    assert_new_trace(trace_of(lam, f"{fn_name}-node"), "1")
    assert trace_of(lam, f"{fn_name}-node", CALLER).startswith(CALLER)


def test_the_attempts_of_one_async_event_and_its_destination_share_a_root(lam, fn_name, moto_endpoint):
    sqs = moto_endpoint.client("sqs")
    attempts_url = sqs.create_queue(QueueName=f"{fn_name}-attempts")["QueueUrl"]
    sqs.create_queue(QueueName=f"{fn_name}-failed")
    failed_url = sqs.get_queue_url(QueueName=f"{fn_name}-failed")["QueueUrl"]
    create(lam, fn_name, {"app.py": REPORTER}, Timeout=10, Environment={"Variables": {
        "QUEUE_URL": attempts_url, "SQS_ENDPOINT": moto_endpoint.endpoint}})
    lam.put_function_event_invoke_config(FunctionName=fn_name, MaximumRetryAttempts=2, DestinationConfig={
        "OnFailure": {"Destination": f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{fn_name}-failed"}})

    response = lam.invoke(FunctionName=fn_name, InvocationType="Event", Payload=b'{"n": 1}')
    assert response["StatusCode"] == 202

    record = receive(sqs, failed_url, "the OnFailure record")
    body = json.loads(record["Body"])
    assert body["requestContext"]["condition"] == "RetriesExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 3
    traces = [message["Body"] for message in drain(sqs, attempts_url, 3)]
    roots = {trace.split(";")[0] for trace in traces}
    assert len(traces) == 3 and len(roots) == 1, traces
    for trace in traces:
        assert_new_trace(trace, "0")
    assert record["Attributes"]["AWSTraceHeader"].split(";")[0] == roots.pop()


def receive(sqs, url: str, what: str, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                    MessageSystemAttributeNames=["All"]).get("Messages")
        if found:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=found[0]["ReceiptHandle"])
            return found[0]
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def drain(sqs, url: str, count: int) -> list[dict]:
    return [receive(sqs, url, f"message {index + 1} of {count}") for index in range(count)]


ECHO = "def handler(event, context):\n    return {'event': event}\n"


def test_invoke_async_queues_an_event_invoke(lam, srv, fn_name, moto_endpoint, tmp_path):
    """InvokeAsync (deprecated, still in the model): 202 {"Status": 202}, the event runs as an Event invoke; the
    caller's trace header is not propagated (AWS documents it), the event gets a trace of its own."""
    from tests.e2e.test_cli import Aws

    sqs = moto_endpoint.client("sqs")
    done_url = sqs.create_queue(QueueName=f"{fn_name}-done")["QueueUrl"]
    create(lam, fn_name, {"app.py": ECHO})
    lam.put_function_event_invoke_config(FunctionName=fn_name, DestinationConfig={
        "OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{fn_name}-done"}})

    def add(request, **_):
        request.headers["X-Amzn-Trace-Id"] = CALLER

    lam.meta.events.register("before-send.lambda.InvokeAsync", add)
    try:
        response = lam.invoke_async(FunctionName=fn_name, InvokeArgs=b'{"from": "boto3"}')
    finally:
        lam.meta.events.unregister("before-send.lambda.InvokeAsync", add)
    assert response["Status"] == 202 and response["ResponseMetadata"]["HTTPStatusCode"] == 202
    message = receive(sqs, done_url, "the boto3 event's record")
    record = json.loads(message["Body"])
    assert record["requestPayload"] == {"from": "boto3"}
    assert record["requestContext"]["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert record["responsePayload"] == {"event": {"from": "boto3"}}
    assert not message["Attributes"]["AWSTraceHeader"].startswith(CALLER.split(";")[0])

    (tmp_path / "args.json").write_text('{"from": "cli"}')
    completed = Aws(srv.endpoint, tmp_path).run("invoke-async", "--function-name", fn_name,
                                                "--invoke-args", "args.json")  # a streaming blob: a path
    assert json.loads(completed.stdout) == {"Status": 202}
    assert json.loads(receive(sqs, done_url, "the CLI event's record")["Body"])["requestPayload"] == {"from": "cli"}

    errors = {}
    for label, kwargs in {"too large": {"FunctionName": fn_name, "InvokeArgs": b'"' + b"x" * 262144 + b'"'},
                          "not json": {"FunctionName": fn_name, "InvokeArgs": b"{nope"},
                          "no function": {"FunctionName": f"{fn_name}-missing", "InvokeArgs": b"{}"}}.items():
        with pytest.raises(lam.exceptions.ClientError) as caught:
            lam.invoke_async(**kwargs)
        errors[label] = (caught.value.response["ResponseMetadata"]["HTTPStatusCode"],
                         caught.value.response["Error"]["Code"])
    assert errors == {"too large": (413, "RequestTooLargeException"),
                      "not json": (400, "InvalidRequestContentException"),
                      "no function": (404, "ResourceNotFoundException")}
