"""Asynchronous invocations (InvocationType=Event): the durable queue across kill -9, retries with
back-off, the DLQ and OnSuccess/OnFailure destinations with AWS's record, event age, throttles, the
1 MB limit, and the event invoke config API (boto3 and the AWS CLI v1).

The functions run in the plain sandbox and append what they saw to a file in a host folder the test
reads (a namespaced function could not see that folder; a plain one writes only under /tmp). SQS
queues and SNS topics live on a real moto_server. Retry delays are shrunk by settings
(`STRATUS_ASYNC_RETRY_BASE_S` and friends), and `STRATUS_ASYNC_EVENT_AGE_SCALE` (tests only) makes
AWS's minimum event age of 60 s last 0.6 s.
"""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.test_cli import Aws
from tests.support.folders import writable_by_functions
from tests.support.moto import ACCOUNT as MOTO_ACCOUNT
from tests.support.server import StratusServer, make_zip
from tests.support.signing import signed_headers

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:000000000000:function"
RETRY_BASE_S = 0.3
AGE_SCALE = 0.01

# Appends one JSON line per run to <RECORD_DIR>/<function>.jsonl, then behaves as MODE says. The
# file is left writable by all: in the plain sandbox each environment runs as a uid of its own.
RECORDER = """
import json, os, time
os.umask(0)
FILE = os.path.join(os.environ["RECORD_DIR"], os.environ["AWS_LAMBDA_FUNCTION_NAME"] + ".jsonl")
def handler(event, context):
    text = json.dumps(event)
    line = {"id": context.aws_request_id, "t": time.time(), "arn": context.invoked_function_arn,
            "version": context.function_version, "size": len(text), "event": event if len(text) < 4000 else None}
    pause = (event.get("sleep") if isinstance(event, dict) else None) or os.environ.get("SLEEP")
    if pause:
        time.sleep(float(pause))
    with open(FILE, "a") as out:
        out.write(json.dumps(line) + "\\n")
    if os.environ.get("MODE") == "fail":
        raise Exception("intentional failure")
    return {"ok": True, "echo": event}
"""


def runs(folder: Path, function: str) -> list[dict]:
    """Every run the function recorded so far, in order."""
    path = folder / f"{function}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition, timeout_s: float = 30.0, what: str = "the condition"):
    """Poll (bounded) until condition() is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def stays_false(condition, seconds: float) -> bool:
    """True if condition() stays falsy for `seconds` (bounded wait for something that must not happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return False
        time.sleep(0.05)
    return not condition()


def create(lam, name: str, folder: Path, mode: str = "ok", sleep: float | None = None, **kwargs) -> dict:
    variables = {"RECORD_DIR": str(folder), "MODE": mode}
    if sleep:
        variables["SLEEP"] = str(sleep)
    return lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=30,
                               Code={"ZipFile": make_zip({"app.py": RECORDER})},
                               Environment={"Variables": variables}, **kwargs)


def event(lam, name: str, payload: dict, **kwargs) -> str:
    """An Event invoke that must be accepted; its request id."""
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload), **kwargs)
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=signed_headers("POST", f"http://127.0.0.1:{port}{path}", body,
                                                                     headers))
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def records():
    with writable_by_functions("stratus-async-records-") as folder:
        yield folder


@pytest.fixture(scope="module")
def srv(tmp_path_factory, moto_endpoint):
    """One server for the module: plain sandbox, short retry delays, moto for SQS/SNS."""
    env = {"STRATUS_SANDBOX": "plain", "STRATUS_ASYNC_RETRY_BASE_S": str(RETRY_BASE_S),
           "STRATUS_ASYNC_THROTTLE_RETRY_BASE_S": "0.05", "STRATUS_ASYNC_THROTTLE_RETRY_MAX_S": "0.2",
           "STRATUS_ASYNC_EVENT_AGE_SCALE": str(AGE_SCALE), **moto_endpoint.service_env()}
    with StratusServer(tmp_path_factory.mktemp("async-server") / "data", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client()


@pytest.fixture(scope="module")
def sqs(moto_endpoint):
    return moto_endpoint.client("sqs")


@pytest.fixture
def queue(sqs, request):
    """A fresh moto SQS queue: (url, arn)."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60] + f"-{time.monotonic_ns() % 10**9}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    yield url, f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{name}"
    sqs.delete_queue(QueueUrl=url)


def receive(sqs, url: str, timeout_s: float = 30.0) -> dict:
    """The next message of the queue (bounded wait); deleted once received."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if found:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=found[0]["ReceiptHandle"])
            return found[0]
    raise AssertionError(f"no message arrived on {url} within {timeout_s} s")


# ---------------------------------------------------------------------------------------------- durability

@pytest.fixture
def ran_folder():
    with writable_by_functions("stratus-async-ran-") as folder:
        yield folder


def test_accepted_events_survive_kill_9_and_run_at_least_once(fresh_server, ran_folder):
    """1,000 events accepted with 202, the server killed with SIGKILL while they run: after a restart
    every accepted event has run at least once (duplicates are reported, not forbidden)."""
    folder = ran_folder
    srv = fresh_server(env={"STRATUS_SANDBOX": "plain"})
    lam = srv.client()
    create(lam, "durable", folder, sleep=0.05)
    path = "/2015-03-31/functions/durable/invocations"

    def send(batch: range) -> list[str]:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        accepted = []
        for n in batch:
            body = json.dumps({"n": n})
            conn.request("POST", path, body=body, headers=signed_headers(
                "POST", f"{srv.endpoint}{path}", body, {"X-Amz-Invocation-Type": "Event"}))
            response = conn.getresponse()
            response.read()
            assert response.status == 202
            accepted.append(response.getheader("x-amzn-requestid"))
        conn.close()
        return accepted

    with ThreadPoolExecutor(8) as pool:
        accepted = [rid for ids in pool.map(send, [range(i, 1000, 8) for i in range(8)]) for rid in ids]
    srv.process.kill()  # SIGKILL: no graceful anything
    srv.process.wait()
    ran_before = {run["id"] for run in runs(folder, "durable")}
    assert len(set(accepted)) == 1000
    assert len(ran_before) < 1000, "every event had finished before the kill: nothing was in flight"

    srv.start()  # same data dir, same port
    wait_for(lambda: set(accepted) <= {run["id"] for run in runs(folder, "durable")}, 120,
             "every accepted event to run after the restart")
    ids = [run["id"] for run in runs(folder, "durable")]
    duplicates = len(ids) - len(set(ids))
    print(f"\nkill -9 with 1000 accepted events: {len(ran_before)} had run before the kill, "
          f"{1000 - len(ran_before)} ran after the restart; {duplicates} duplicate runs (at-least-once)")
    assert set(ids) == set(accepted)
    assert "picked up again" in srv.log()


# ---------------------------------------------------------------------------------------------- retries

def test_failing_function_runs_three_times_then_dlq_and_on_failure(lam, sqs, records, queue):
    """MaximumRetryAttempts 2: exactly 3 attempts with the same request id, ~base then ~2×base apart;
    then the event goes to the DLQ (an SQS queue: the payload, with RequestID/ErrorCode/ErrorMessage
    attributes) and the OnFailure destination (another function) gets AWS's record."""
    dlq_url, dlq_arn = queue
    create(lam, "catcher", records)
    create(lam, "always-fails", records, mode="fail", DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName="always-fails", MaximumRetryAttempts=2,
                                         DestinationConfig={"OnFailure": {"Destination": f"{ARN}:catcher"}})
    payload = {"order": 42, "items": ["a", "b"]}
    rid = event(lam, "always-fails", payload)

    record = wait_for(lambda: runs(records, "catcher"), 30, "the OnFailure record")[0]["event"]
    attempts = runs(records, "always-fails")
    assert [run["id"] for run in attempts] == [rid] * 3
    gaps = [b["t"] - a["t"] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= RETRY_BASE_S * 0.9 and gaps[1] >= 2 * RETRY_BASE_S * 0.9, gaps
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {"requestId": rid, "functionArn": f"{ARN}:always-fails:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == payload
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "intentional failure"
    assert record["responsePayload"]["errorType"] == "Exception"

    message = receive(sqs, dlq_url)
    assert json.loads(message["Body"]) == payload
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"] == {"DataType": "String", "StringValue": rid}
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attributes["ErrorMessage"] == {"DataType": "String", "StringValue": "intentional failure"}
    assert len(runs(records, "always-fails")) == 3  # nothing after the last attempt


def test_event_older_than_maximum_age_goes_to_on_failure_without_more_attempts(lam, sqs, records, queue):
    """MaximumEventAgeInSeconds 60 (0.6 s here): when the next retry would come after that age the event
    ends at once with condition EventAgeExceeded, and no further attempt is made."""
    url, arn = queue
    create(lam, "ages-out", records, mode="fail")
    lam.put_function_event_invoke_config(FunctionName="ages-out", MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60,
                                         DestinationConfig={"OnFailure": {"Destination": arn}})
    rid = event(lam, "ages-out", {"late": True})
    record = json.loads(receive(sqs, url)["Body"])
    attempts = runs(records, "ages-out")
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == rid
    assert record["requestContext"]["approximateInvokeCount"] == len(attempts)
    assert 1 <= len(attempts) < 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert stays_false(lambda: len(runs(records, "ages-out")) > len(attempts), 4 * RETRY_BASE_S + 0.5), \
        "an attempt was made after the event had expired"


def test_on_success_record_to_sqs_and_to_sns_for_an_alias(lam, sqs, records, queue, moto_endpoint):
    """OnSuccess gets AWS's record: condition Success, the response payload; configs are per qualifier
    (an alias's config applies to invokes of the alias, with the version that ran)."""
    url, arn = queue
    create(lam, "succeeds", records)
    lam.put_function_event_invoke_config(FunctionName="succeeds", DestinationConfig={"OnSuccess": {"Destination": arn}})
    rid = event(lam, "succeeds", {"hello": "world"})
    record = json.loads(receive(sqs, url)["Body"])
    assert record["requestContext"] == {"requestId": rid, "functionArn": f"{ARN}:succeeds:$LATEST",
                                        "condition": "Success", "approximateInvokeCount": 1}
    assert record["requestPayload"] == {"hello": "world"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": True, "echo": {"hello": "world"}}

    sns = moto_endpoint.client("sns")
    topic = sns.create_topic(Name="on-success-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    version = lam.publish_version(FunctionName="succeeds")["Version"]
    lam.create_alias(FunctionName="succeeds", Name="live", FunctionVersion=version)
    lam.put_function_event_invoke_config(FunctionName="succeeds", Qualifier="live",
                                         DestinationConfig={"OnSuccess": {"Destination": topic}})
    rid = event(lam, "succeeds", {"via": "alias"}, Qualifier="live")
    record = json.loads(receive(sqs, url)["Body"])
    assert record["requestContext"]["functionArn"] == f"{ARN}:succeeds:live"
    assert record["requestContext"]["requestId"] == rid
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": version}
    assert [run["arn"] for run in runs(records, "succeeds") if run["id"] == rid] == [f"{ARN}:succeeds:live"]


STARTER = """
import json, time
def handler(event, context):
    print(json.dumps({"started": time.time(), "id": context.aws_request_id}))
    time.sleep(event.get("sleep", 0))
"""


def test_throttled_events_wait_and_run_once_concurrency_allows(fresh_server, tmp_path):
    """Events beyond the reserved concurrency are throttled and retried (throttles are not attempts, so
    MaximumRetryAttempts 0 drops none); each runs exactly once as concurrency frees up — at once, not at the
    next step of AWS's throttle back-off (this server keeps its 1 s doubling, and the default sandbox)."""
    server = fresh_server(data_dir=tmp_path / "throttle")
    lam = server.client()
    logs = boto3.client("logs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")
    lam.create_function(FunctionName="throttled", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Timeout=30, Code={"ZipFile": make_zip({"app.py": STARTER})})
    lam.put_function_concurrency(FunctionName="throttled", ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(FunctionName="throttled", MaximumRetryAttempts=0)

    def started() -> list[dict]:
        try:
            found = logs.filter_log_events(logGroupName="/aws/lambda/throttled")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [json.loads(e["message"]) for e in found if e["message"].startswith("{")]

    ids = {event(lam, "throttled", {"sleep": 8})}
    wait_for(started, 30, "the first event to start")
    ids |= {event(lam, "throttled", {"n": n}) for n in range(5)}
    done = wait_for(lambda: len(started()) >= 6 and started(), 60, "the throttled events to run")
    assert sorted(run["id"] for run in done) == sorted(ids)
    # The slot the 8 s event gives back wakes the throttled ones at once, one after another. The back-off alone
    # (1, 2, 4, 8 s...) has them due together at about 9 s, where the herd throttles itself again: the last one
    # ran about 17 s after the first started.
    starts = sorted(run["started"] for run in done)
    assert starts[-1] - starts[0] < 12.0, [round(t - starts[0], 1) for t in starts]


def test_zero_reserved_concurrency_sends_events_to_on_failure_untried(lam, sqs, records, queue):
    """AWS's recorded answer: an event for a function whose reserved concurrency is 0 is not tried; it goes to
    OnFailure at once with condition ZeroReservedConcurrency and no response."""
    url, arn = queue
    create(lam, "zero", records)
    lam.put_function_concurrency(FunctionName="zero", ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(FunctionName="zero", MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": arn}})
    rid = event(lam, "zero", {"n": 1})
    record = json.loads(receive(sqs, url)["Body"])
    assert record["requestContext"] == {"requestId": rid, "functionArn": f"{ARN}:zero:$LATEST",
                                        "condition": "ZeroReservedConcurrency", "approximateInvokeCount": 0}
    assert record["requestPayload"] == {"n": 1} and "responseContext" not in record
    assert runs(records, "zero") == []


# ---------------------------------------------------------------------------------------------- the 1 MB limit

def test_event_payload_limit_through_both_front_doors(srv, lam, records):
    """Exactly 1 MB is accepted (and runs); one byte more is 413 RequestTooLargeException and is never
    stored — through the fast path and through ASGI (an `Expect: 100-continue` request takes it)."""
    create(lam, "sized", records)
    path = "/2015-03-31/functions/sized/invocations"
    limit = 1024 * 1024
    at_limit = json.dumps("x" * (limit - 2)).encode()
    over = json.dumps("x" * (limit - 1)).encode()
    assert len(at_limit) == limit and len(over) == limit + 1
    accepted = []
    for door in ({}, {"Expect": "100-continue"}):
        headers = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json", **door}
        status, response_headers, body = raw_post(srv.port, path, over, headers)
        assert status == 413, (door, status, body)
        assert response_headers["x-amzn-errortype"] == "RequestTooLargeException"
        status, response_headers, body = raw_post(srv.port, path, at_limit, headers)
        assert (status, body) == (202, b""), door
        accepted.append(response_headers["x-amzn-requestid"])
        status, response_headers, _ = raw_post(srv.port, path, b'{"small": 1}', headers)
        assert status == 202
        accepted.append(response_headers["x-amzn-requestid"])
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName="sized", InvocationType="Event", Payload=over)
    assert error.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    wait_for(lambda: len(runs(records, "sized")) >= 4, 30, "the accepted events to run")
    done = runs(records, "sized")
    assert sorted(run["id"] for run in done) == sorted(accepted)
    assert sorted(run["size"] for run in done) == [12, 12, limit, limit]


def test_event_invoke_of_unknown_function_or_bad_json_is_refused(lam, records):
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName="no-such-function", InvocationType="Event", Payload=b"{}")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    create(lam, "strict", records)
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName="strict", InvocationType="Event", Payload=b"{not json")
    assert error.value.response["Error"]["Code"] == "InvalidRequestContentException"
    rid = event(lam, "strict", {"fine": True})
    wait_for(lambda: runs(records, "strict"), 30, "the valid event to run")
    assert [run["id"] for run in runs(records, "strict")] == [rid]


# ---------------------------------------------------------------------------------------------- the config API

def test_event_invoke_config_operations_and_bad_inputs(lam, records, tmp_path, srv):
    create(lam, "configured", records)
    create(lam, "other", records)
    name = "configured"
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert put["FunctionArn"] == f"{ARN}:{name}:$LATEST"
    assert put["MaximumRetryAttempts"] == 1 and "MaximumEventAgeInSeconds" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}:other"}})
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 120)
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": f"{ARN}:other"}
    current = lam.get_function_event_invoke_config(FunctionName=name)
    assert current["LastModified"] == updated["LastModified"]

    unvalidated = boto3.client("lambda", endpoint_url=srv.endpoint, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test",
                               config=Config(parameter_validation=False, retries={"max_attempts": 0}))
    bad = [
        ({"MaximumRetryAttempts": 3}, "ValidationException", "Member must have value less than or equal to 2"),
        ({"MaximumEventAgeInSeconds": 59}, "ValidationException", "greater than or equal to 60"),
        ({"MaximumEventAgeInSeconds": 21601}, "ValidationException", "less than or equal to 21600"),
        ({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::some-bucket"}}},
         "InvalidParameterValueException", "DestinationConfig(onSuccess=null, onFailure=OnFailure(destination="),
        ({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:iam::000000000000:role/x"}}},
         "InvalidParameterValueException", "is invalid"),
        ({"DestinationConfig": {"OnSuccess": {"Destination": f"{ARN}:does-not-exist"}}},
         "InvalidParameterValueException", f"The destination ARN {ARN}:does-not-exist is invalid."),
        ({"DestinationConfig": {"OnFailure": {"Destination": f"{ARN}:{name}"}}},
         "InvalidParameterValueException", "You can't specify the function as a destination for itself."),
        ({"DestinationConfig": {"OnFailure": {"Destination": "not-an-arn"}}}, "ValidationException", "pattern"),
        ({}, "InvalidParameterValueException",
         "You must specify at least one of error handling or destination setting."),
    ]
    for operation in (unvalidated.put_function_event_invoke_config, unvalidated.update_function_event_invoke_config):
        for params, code, message in bad:
            with pytest.raises(ClientError) as error:
                operation(FunctionName=name, **params)
            assert error.value.response["Error"]["Code"] == code, params
            assert message in error.value.response["Error"]["Message"], (params, error.value.response["Error"])
            after = lam.get_function_event_invoke_config(FunctionName=name)
            for key in ("LastModified", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"):
                assert after[key] == current[key], (params, key)

    with pytest.raises(ClientError) as error:
        lam.put_function_event_invoke_config(FunctionName="no-such-function", MaximumRetryAttempts=1)
    assert error.value.response["Error"] == {"Code": "ResourceNotFoundException",
                                             "Message": "The function doesn't exist."}
    with pytest.raises(ClientError) as error:
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier="nope", MaximumRetryAttempts=1)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as error:
        lam.put_function_event_invoke_config(FunctionName=f"{name}:1", Qualifier="$LATEST", MaximumRetryAttempts=1)
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as error:
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="nope")
    assert error.value.response["Error"]["Message"] == (
        f"The function {ARN}:{name}:nope doesn't have an EventInvokeConfig")

    # Versions and aliases have their own configs, forgotten when they are deleted.
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="blue", FunctionVersion=version)
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier=version, MaximumRetryAttempts=0)
    lam.put_function_event_invoke_config(FunctionName=f"{ARN}:{name}:blue", MaximumEventAgeInSeconds=300)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert sorted(item["FunctionArn"] for item in listed) == sorted(
        [f"{ARN}:{name}:$LATEST", f"{ARN}:{name}:{version}", f"{ARN}:{name}:blue"])
    page = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    assert len(page["FunctionEventInvokeConfigs"]) == 2 and page["NextMarker"]
    rest = lam.list_function_event_invoke_configs(FunctionName=name, Marker=page["NextMarker"])
    assert len(rest["FunctionEventInvokeConfigs"]) == 1 and "NextMarker" not in rest
    lam.delete_alias(FunctionName=name, Name="blue")
    lam.delete_function(FunctionName=name, Qualifier=version)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [item["FunctionArn"] for item in listed] == [f"{ARN}:{name}:$LATEST"]

    assert lam.delete_function_event_invoke_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as error:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert error.value.response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": f"The function {ARN}:{name}:$LATEST doesn't have an EventInvokeConfig"}
    with pytest.raises(ClientError) as error:
        lam.delete_function_event_invoke_config(FunctionName=name)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as error:
        lam.list_function_event_invoke_configs(FunctionName="no-such-function")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # A deleted function's configs do not come back with a new function of the same name.
    lam.put_function_event_invoke_config(FunctionName="other", MaximumRetryAttempts=0)
    lam.delete_function(FunctionName="other")
    create(lam, "other", records)
    assert lam.list_function_event_invoke_configs(FunctionName="other")["FunctionEventInvokeConfigs"] == []

    # The AWS CLI v1, once through.
    aws = Aws(srv.endpoint, tmp_path)
    done = aws.json("put-function-event-invoke-config", "--function-name", "other", "--maximum-retry-attempts", "0",
                    "--destination-config", json.dumps({"OnSuccess": {"Destination": f"{ARN}:configured"}}))
    assert done["MaximumRetryAttempts"] == 0
    assert done["DestinationConfig"]["OnSuccess"]["Destination"] == f"{ARN}:configured"
    assert (aws.json("get-function-event-invoke-config", "--function-name", "other")["FunctionArn"]
            == f"{ARN}:other:$LATEST")
    listed = aws.json("list-function-event-invoke-configs", "--function-name", "other")
    assert len(listed["FunctionEventInvokeConfigs"]) == 1
    assert "ValidationException" in aws.fails("update-function-event-invoke-config", "--function-name", "other",
                                              "--maximum-retry-attempts", "5")
    aws.run("delete-function-event-invoke-config", "--function-name", "other")
    assert "ResourceNotFoundException" in aws.fails("get-function-event-invoke-config", "--function-name", "other")


_scalars = st.none() | st.booleans() | st.integers(-5, 30000) | st.floats(allow_nan=False) | st.text(max_size=20)
_destinations = st.sampled_from(["", f"{ARN}:configured", f"{ARN}:fuzz-config", "arn:aws:sqs:us-east-1:1:q",
                                 "arn:aws:s3:::b", "kafka://x", "nope"]) | _scalars
_config_bodies = st.fixed_dictionaries({}, optional={
    "MaximumRetryAttempts": st.integers(-1, 3) | _scalars,
    "MaximumEventAgeInSeconds": st.sampled_from([59, 60, 21600, 21601]) | _scalars,
    "DestinationConfig": st.fixed_dictionaries({}, optional={
        "OnSuccess": st.fixed_dictionaries({}, optional={"Destination": _destinations}) | _scalars,
        "OnFailure": st.fixed_dictionaries({}, optional={"Destination": _destinations}) | _scalars}) | _scalars,
}) | _scalars


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=_config_bodies, method=st.sampled_from(["PUT", "POST"]))
def test_event_invoke_config_answers_in_aws_shape_and_refusals_change_nothing(srv, lam, records, body, method):
    """Whatever body Put/UpdateFunctionEventInvokeConfig get: a 200, or a 4xx in AWS's shape that left
    the config as it was; never a 5xx."""
    try:
        before = lam.get_function_event_invoke_config(FunctionName="fuzz-config")
    except lam.exceptions.ResourceNotFoundException:
        try:
            lam.get_function_configuration(FunctionName="fuzz-config")
        except lam.exceptions.ResourceNotFoundException:
            create(lam, "fuzz-config", records)
        lam.put_function_event_invoke_config(FunctionName="fuzz-config", MaximumRetryAttempts=1)
        before = lam.get_function_event_invoke_config(FunctionName="fuzz-config")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    path, data = "/2019-09-25/functions/fuzz-config/event-invoke-config", json.dumps(body)
    conn.request(method, path, body=data,
                 headers=signed_headers(method, f"{srv.endpoint}{path}", data, {"Content-Type": "application/json"}))
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert response.status < 500 and b"Traceback" not in data, (response.status, data[:300])
    after = lam.get_function_event_invoke_config(FunctionName="fuzz-config")
    if response.status >= 400:
        assert response.getheader("x-amzn-ErrorType"), data
        document = json.loads(data)
        assert document.get("message") or document.get("Message")
        assert after == {**after, "LastModified": before["LastModified"],
                         "DestinationConfig": before["DestinationConfig"]}
        assert (after.get("MaximumRetryAttempts"), after.get("MaximumEventAgeInSeconds")) == (
            before.get("MaximumRetryAttempts"), before.get("MaximumEventAgeInSeconds"))
    else:
        assert response.status == 200
