"""Recursive loop detection, as AWS does it: a chain of events counted through the trace header's Lineage.

A function async-invokes itself through the Lambda API with the runtime's boto3, unconfigured: it signs with
its role's credentials and botocore's recursion-detection handler sends `X-Amzn-Trace-Id` from
`_X_AMZN_TRACE_ID`. After AWS's 16 invocations the
next event is not run: it goes to the function's DLQ and OnFailure destination (SQS queues on moto); with
RecursiveLoop Allow the chain goes on (bounded: the function stops itself at depth 20). The same through an
SQS event source mapping: the function sends to its own queue with the trace as AWSTraceHeader (what SQS
derives from the header); the stopped message is left to the queue, whose redrive policy moves it to its
dead-letter queue. Both sandboxes.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import require_sandbox
from tests.support.moto import ACCOUNT as MOTO_ACCOUNT
from tests.support.server import StratusServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/self-invoker"
LIMIT = 16

# Async-invokes itself with {"depth": depth + 1} until depth reaches event["stop"], with the runtime's boto3
# and no configuration: AWS_ENDPOINT_URL_LAMBDA, the role's credentials and the region come from the
# environment, and botocore's recursion-detection handler copies _X_AMZN_TRACE_ID into X-Amzn-Trace-Id.
SELF_INVOKER = r'''
import json, os
import boto3

lam = boto3.client("lambda")


def handler(event, context):
    depth = event["depth"]
    if depth >= event["stop"]:
        return {"depth": depth, "stopped": True}
    lam.invoke(FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"], InvocationType="Event",
               Payload=json.dumps({"depth": depth + 1, "stop": event["stop"]}))
    return {"depth": depth}
'''

# An SQS-triggered function that sends {"depth": depth + 1} back to its own queue, in its trace, with the
# runtime's boto3 (AWS_ENDPOINT_URL_SQS comes from STRATUS_SERVICE_ENDPOINTS). Real SQS turns the request's
# X-Amzn-Trace-Id into the message's AWSTraceHeader; moto does not, so the function sets the attribute.
SQS_LOOPER = r'''
import json, os
import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    for record in event["Records"]:
        depth = json.loads(record["body"])["depth"]
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps({"depth": depth + 1}),
                         MessageSystemAttributes={"AWSTraceHeader": {
                             "DataType": "String", "StringValue": os.environ["_X_AMZN_TRACE_ID"]}})
'''


@pytest.fixture(scope="module", params=["namespaced", "plain"])
def srv(request, tmp_path_factory, moto_endpoint):
    require_sandbox(request.param)
    env = {"STRATUS_SANDBOX": request.param, "STRATUS_UNKNOWN_ROLE_POLICY": "AWSLambdaRole",
           "STRATUS_ESM_SQS_WAIT_S": "1", **moto_endpoint.service_env()}
    with StratusServer(tmp_path_factory.mktemp(f"recursion-{request.param}") / "data", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client()


@pytest.fixture(scope="module")
def sqs(moto_endpoint):
    return moto_endpoint.client("sqs")


def queue(sqs, name: str, **attributes) -> tuple[str, str]:
    """(URL, ARN) of a new queue on moto."""
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{name}"


def receive(sqs, url: str, what: str, timeout_s: float = 60.0) -> dict:
    """The next message of the queue (bounded wait), deleted once received."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                    MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]).get("Messages")
        if found:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=found[0]["ReceiptHandle"])
            return found[0]
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def self_invoker(lam, srv, sqs, name: str) -> tuple[str, str, str]:
    """The function, with OnSuccess / OnFailure destinations and a DLQ: (ok, failed, dlq) queue URLs."""
    ok_url, ok_arn = queue(sqs, f"{name}-ok")
    failed_url, failed_arn = queue(sqs, f"{name}-failed")
    dlq_url, dlq_arn = queue(sqs, f"{name}-dlq")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": SELF_INVOKER})}, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={
        "OnSuccess": {"Destination": ok_arn}, "OnFailure": {"Destination": failed_arn}})
    return ok_url, failed_url, dlq_url


def test_a_function_that_invokes_itself_is_stopped_after_16(lam, srv, sqs, fn_name):
    ok_url, failed_url, dlq_url = self_invoker(lam, srv, sqs, fn_name)
    assert lam.get_function_recursion_config(FunctionName=fn_name)["RecursiveLoop"] == "Terminate"
    lam.invoke(FunctionName=fn_name, InvocationType="Event", Payload=json.dumps({"depth": 0, "stop": 100}))

    failed_message = receive(sqs, failed_url, "the OnFailure record")
    failed = json.loads(failed_message["Body"])
    assert failed["requestPayload"] == {"depth": LIMIT, "stop": 100}  # the 17th event: never run
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestContext"]["approximateInvokeCount"] == 0
    assert failed["responseContext"]["statusCode"] == 400
    assert failed["responsePayload"]["Type"] == "User"
    assert "recursive loop" in failed["responsePayload"]["Message"]
    dead = receive(sqs, dlq_url, "the DLQ message")
    assert json.loads(dead["Body"]) == {"depth": LIMIT, "stop": 100}
    assert "recursive loop" in dead["MessageAttributes"]["ErrorMessage"]["StringValue"]
    successes = [receive(sqs, ok_url, f"success record {n}") for n in range(LIMIT)]
    ran = sorted(json.loads(message["Body"])["requestPayload"]["depth"] for message in successes)
    assert ran == list(range(LIMIT))  # 16 invocations ran, depth 0 to 15 ...
    roots = {message["Attributes"]["AWSTraceHeader"].split(";")[0] for message in successes + [failed_message]}
    assert len(roots) == 1  # ... all in one trace, the stopped event's too


def test_with_recursive_loop_allow_the_chain_goes_on(lam, srv, sqs, fn_name):
    ok_url, _, _ = self_invoker(lam, srv, sqs, fn_name)
    assert lam.put_function_recursion_config(FunctionName=fn_name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    stop = LIMIT + 4
    lam.invoke(FunctionName=fn_name, InvocationType="Event", Payload=json.dumps({"depth": 0, "stop": stop}))
    records = [json.loads(receive(sqs, ok_url, f"success record {n}")["Body"]) for n in range(stop + 1)]
    assert sorted(record["requestPayload"]["depth"] for record in records) == list(range(stop + 1))
    assert {"depth": stop, "stopped": True} in [record["responsePayload"] for record in records]


def test_an_sqs_loop_is_stopped_and_left_to_the_queue_redrive(lam, sqs, fn_name, moto_endpoint):
    dlq_url, dlq_arn = queue(sqs, f"{fn_name}-dlq")
    # maxReceiveCount 1: a message back in view goes to the DLQ at its next receive. The visibility timeout
    # must outlast a slow cold start, or a message still being handled would be redriven too.
    url, arn = queue(sqs, fn_name, VisibilityTimeout="6",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": SQS_LOOPER})},
                        Environment={"Variables": {"QUEUE_URL": url}})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name)
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, BatchSize=1)["UUID"]
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"depth": 0}))
        stopped = receive(sqs, dlq_url, "the stopped message in the queue's dead-letter queue", 90)
        assert json.loads(stopped["Body"]) == {"depth": LIMIT}
        assert ";Lineage=16:" in stopped["Attributes"]["AWSTraceHeader"]
    finally:
        lam.delete_event_source_mapping(UUID=mapping)
