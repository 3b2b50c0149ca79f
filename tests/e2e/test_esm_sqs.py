"""Event source mappings with SQS, against a real moto_server: the API journey (boto3 and AWS CLI v1),
every bad input, AWS's event shape, deletes only after success, ReportBatchItemFailures, the queue's
own redrive policy for poison messages, FilterCriteria, MaximumConcurrency, and kill -9 mid-batch.

Functions print what they saw; tests read the function's log files (tests/support/environments.py).
"""

from __future__ import annotations

import http.client
import json
import time

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.test_cli import Aws
from tests.support.environments import function_log
from tests.support.server import StratusServer, make_zip
from tests.support.signing import signed_headers

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

# Short long-polls and retries keep the tests quick; the behaviour is the same as with AWS's values.
FAST = {"STRATUS_ESM_SQS_WAIT_S": "1", "STRATUS_ESM_RETRY_BASE_S": "0.2", "STRATUS_ESM_STREAM_POLL_S": "0.2"}

RECORDER = """
import json, os, time
def handler(event, context):
    for record in event.get("Records", []):
        print("SEEN " + json.dumps({"t": time.time(), "body": record.get("body"),
                                    "count": record["attributes"]["ApproximateReceiveCount"],
                                    "id": record["messageId"]}))
    print("EVENT " + json.dumps(event))
    return {}
"""


def esm_env(moto, **extra) -> dict[str, str]:
    """A Stratus server's environment pointing at moto_server, with quick pollers."""
    return {**moto.service_env(), **FAST, **extra}


@pytest.fixture(scope="module")
def esm(moto_endpoint, tmp_path_factory):
    """A Stratus server of this module's own, pointed at the session's moto_server."""
    data_dir = tmp_path_factory.mktemp("esm-sqs") / "data"
    with StratusServer(data_dir, env=esm_env(moto_endpoint)) as server:
        yield server


@pytest.fixture(scope="module")
def lam(esm):
    return esm.client()


@pytest.fixture(scope="module")
def raw_lam(esm):
    """A client that sends what it is given (no client-side checks), to see the server's own answers."""
    return esm.client(parameter_validation=False)


@pytest.fixture(scope="module")
def sqs(moto_endpoint):
    return moto_endpoint.client("sqs")


def wait_for(condition, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "condition"):
    """Poll `condition` until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def create_function(lam, name: str, source: str = RECORDER, timeout: int = 10, publish: bool = False) -> dict:
    return lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": source})}, Timeout=timeout, Publish=publish)


def make_queue(sqs, name: str, **attributes) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def wait_state(lam, mapping_id: str, state: str, timeout_s: float = 30.0) -> dict:
    return wait_for(lambda: (m := lam.get_event_source_mapping(UUID=mapping_id))["State"] == state and m,
                    timeout_s, what=f"mapping {mapping_id} to be {state}")


def wait_gone(lam, mapping_id: str, timeout_s: float = 30.0) -> None:
    def gone():
        try:
            lam.get_event_source_mapping(UUID=mapping_id)
        except lam.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(gone, timeout_s, what=f"mapping {mapping_id} to disappear")


def seen(server, function: str) -> list[dict]:
    """What the recorder function printed per record, in log order."""
    found = [json.loads(line[5:]) for line in function_log(server, function).splitlines() if line.startswith("SEEN ")]
    return sorted(found, key=lambda item: item["t"])  # several environments write several log files


def events(server, function: str) -> list[dict]:
    return [json.loads(line[6:]) for line in function_log(server, function).splitlines() if line.startswith("EVENT ")]


def queue_counts(sqs, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"]), \
        int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def error_of(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def mapping_count(lam) -> int:
    return len(lam.list_event_source_mappings(MaxItems=10000)["EventSourceMappings"])


# ---------------------------------------------------------------------------------------- API journey
def test_api_journey(esm, lam, sqs, fn_name):
    create_function(lam, fn_name, publish=True)
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    url, arn = make_queue(sqs, fn_name)

    created = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    mapping_id = created["UUID"]
    assert created["State"] == "Creating"
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["BatchSize"] == 10 and created["MaximumBatchingWindowInSeconds"] == 0
    assert created["FunctionResponseTypes"] == []
    assert created["EventSourceArn"] == arn
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert created["EventSourceMappingArn"] == (
        f"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{mapping_id}")
    assert abs(created["LastModified"].timestamp() - time.time()) < 60
    for stream_only in ("StartingPosition", "ParallelizationFactor", "BisectBatchOnFunctionError",
                        "MaximumRetryAttempts", "DestinationConfig", "LastProcessingResult", "FilterCriteria"):
        assert stream_only not in created

    got = wait_state(lam, mapping_id, "Enabled")
    assert {k: v for k, v in got.items() if k not in ("State", "ResponseMetadata")} == \
        {k: v for k, v in created.items() if k not in ("State", "ResponseMetadata")}

    # It works: a message sent reaches the function and leaves the queue.
    sqs.send_message(QueueUrl=url, MessageBody="journey-1")
    wait_for(lambda: any(s["body"] == "journey-1" for s in seen(esm, fn_name)), what="journey-1 processed")
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="queue empty")

    # List: all, by function (name, ARN), by source; filters naming nothing list nothing.
    assert mapping_id in [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]]
    by_function = lam.list_event_source_mappings(FunctionName=fn_name)["EventSourceMappings"]
    assert [m["UUID"] for m in by_function] == [mapping_id]
    assert [m["UUID"] for m in lam.list_event_source_mappings(
        FunctionName=created["FunctionArn"])["EventSourceMappings"]] == [mapping_id]
    by_source = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert [m["UUID"] for m in by_source] == [mapping_id]
    assert lam.list_event_source_mappings(FunctionName="no-such-function")["EventSourceMappings"] == []
    assert lam.list_event_source_mappings(
        EventSourceArn="arn:aws:sqs:us-east-1:123456789012:no-such-queue")["EventSourceMappings"] == []

    # Update: Updating, then Enabled with the new values.
    updated = lam.update_event_source_mapping(UUID=mapping_id, BatchSize=5, MaximumBatchingWindowInSeconds=1)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["State"] == "Updating" and updated["BatchSize"] == 5
    assert wait_state(lam, mapping_id, "Enabled")["MaximumBatchingWindowInSeconds"] == 1

    # Disable: Disabling → Disabled, and a disabled mapping leaves messages alone.
    assert lam.update_event_source_mapping(UUID=mapping_id, Enabled=False)["State"] == "Disabling"
    wait_state(lam, mapping_id, "Disabled")
    sqs.send_message(QueueUrl=url, MessageBody="while-disabled")
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, VisibilityTimeout=0).get("Messages", [])
    assert [m["Body"] for m in received] == ["while-disabled"]
    assert lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)["State"] == "Enabling"
    wait_state(lam, mapping_id, "Enabled")
    wait_for(lambda: any(s["body"] == "while-disabled" for s in seen(esm, fn_name)), what="processed once enabled")

    # The function can change, to a version or an alias: FunctionArn names it as given.
    moved = lam.update_event_source_mapping(UUID=mapping_id, FunctionName=f"{fn_name}:live")
    assert moved["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}:live"
    wait_state(lam, mapping_id, "Enabled")

    # A mapping created disabled goes from Creating to Disabled.
    _, other_arn = make_queue(sqs, f"{fn_name}-disabled")
    disabled = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=other_arn, Enabled=False)
    assert disabled["State"] == "Creating"
    wait_state(lam, disabled["UUID"], "Disabled")
    lam.delete_event_source_mapping(UUID=disabled["UUID"])

    # Delete: answered with State Deleting, then gone.
    deleted = lam.delete_event_source_mapping(UUID=mapping_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting" and deleted["UUID"] == mapping_id
    wait_gone(lam, mapping_id)
    assert mapping_id not in [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]]


def test_function_name_forms_and_a_mapping_outlives_its_function(esm, lam, sqs, fn_name):
    create_function(lam, fn_name, publish=True)
    lam.create_alias(FunctionName=fn_name, Name="prod", FunctionVersion="1")
    function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    forms = ((f"{fn_name}:$LATEST", f"{function_arn}:$LATEST"), (f"{fn_name}:1", f"{function_arn}:1"),
             (f"{function_arn}:prod", f"{function_arn}:prod"), (function_arn, function_arn))
    for index, (function_ref, expected) in enumerate(forms):
        _, arn = make_queue(sqs, f"{fn_name}-{index}")
        mapping = lam.create_event_source_mapping(FunctionName=function_ref, EventSourceArn=arn)
        assert mapping["FunctionArn"] == expected
    mapping_id = mapping["UUID"]
    wait_state(lam, mapping_id, "Enabled")
    # As on AWS: deleting the function leaves its mappings.
    lam.delete_function(FunctionName=fn_name)
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Enabled"
    for m in lam.list_event_source_mappings(FunctionName=fn_name)["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=m["UUID"])


def test_aws_cli_v1_creates_and_lists_a_mapping(esm, lam, sqs, fn_name, tmp_path):
    create_function(lam, fn_name)
    _, arn = make_queue(sqs, fn_name)
    aws = Aws(esm.endpoint, tmp_path)
    created = json.loads(aws.run("create-event-source-mapping", "--function-name", fn_name,
                                 "--event-source-arn", arn, "--batch-size", "3").stdout)
    assert created["State"] == "Creating" and created["BatchSize"] == 3
    listed = json.loads(aws.run("list-event-source-mappings", "--function-name", fn_name).stdout)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [created["UUID"]]
    failed = aws.run("get-event-source-mapping", "--uuid", "00000000-0000-0000-0000-000000000000", check=False)
    assert failed.returncode != 0 and "ResourceNotFoundException" in failed.stderr
    aws.run("delete-event-source-mapping", "--uuid", created["UUID"])


# ---------------------------------------------------------------------------------------- bad input
def test_bad_input_gets_aws_errors_and_creates_nothing(esm, lam, raw_lam, sqs, fn_name):
    create_function(lam, fn_name)
    _, arn = make_queue(sqs, fn_name)
    _, fifo_arn = make_queue(sqs, f"{fn_name}.fifo", FifoQueue="true")
    before = mapping_count(lam)
    missing_queue = "arn:aws:sqs:us-east-1:123456789012:no-such-queue"
    cases = [
        (dict(FunctionName=fn_name), 400, "InvalidParameterValueException", "Unrecognized event source."),
        (dict(FunctionName=fn_name, EventSourceArn="arn:aws:s3:::some-bucket"), 400, "InvalidParameterValueException",
         "Unrecognized event source. Unsupported source arn : arn:aws:s3:::some-bucket"),
        (dict(FunctionName=fn_name, EventSourceArn="not-an-arn"), 400, "ValidationException", "eventSourceArn"),
        (dict(FunctionName="no-such-function", EventSourceArn=arn), 400, "InvalidParameterValueException",
         "Function does not exist"),
        (dict(FunctionName=f"{fn_name}:7", EventSourceArn=arn), 400, "InvalidParameterValueException",
         "Function does not exist"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, BatchSize=0), 400, "ValidationException",
         "Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, BatchSize=10001), 400, "ValidationException",
         "Member must have value less than or equal to 10000"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, BatchSize=11), 400, "InvalidParameterValueException",
         "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"),
        (dict(FunctionName=fn_name, EventSourceArn=fifo_arn, BatchSize=20, MaximumBatchingWindowInSeconds=1), 400,
         "InvalidParameterValueException", "Maximum batch size must be between 1 and 10 inclusive"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST"), 400,
         "InvalidParameterValueException", "StartingPosition is not valid for SQS event sources."),
        (dict(FunctionName=fn_name, EventSourceArn=arn, MaximumBatchingWindowInSeconds=301), 400,
         "ValidationException", "maximumBatchingWindowInSeconds"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, ScalingConfig={"MaximumConcurrency": 1}), 400,
         "ValidationException", "Member must have value greater than or equal to 2"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, FunctionResponseTypes=["Nope"]), 400, "ValidationException",
         "Member must satisfy enum value set: [ReportBatchItemFailures]"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, ParallelizationFactor=2), 400,
         "InvalidParameterValueException", "Unsupported ParallelizationFactor parameter"),
        (dict(FunctionName=fn_name, EventSourceArn=arn,
              DestinationConfig={"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:x"}}), 400,
         "InvalidParameterValueException",
         "Unsupported DestinationConfig parameter for given event source mapping type."),
        (dict(FunctionName=fn_name, EventSourceArn=arn, FilterCriteria={"Filters": [{"Pattern": "simple string"}]}),
         400, "InvalidParameterValueException", "Invalid filter pattern definition."),
        (dict(FunctionName=fn_name, EventSourceArn=arn, FilterCriteria={"Filters": [{"Pattern": '{"body": "x"}'}]}),
         400, "InvalidParameterValueException", "Invalid filter pattern definition."),
        (dict(FunctionName=fn_name, EventSourceArn=arn, FilterCriteria={"Filters": [{"Pattern": '{"body": []}'}]}),
         400, "InvalidParameterValueException", "Invalid filter pattern definition."),
        (dict(FunctionName=fn_name, EventSourceArn=missing_queue), 400, "InvalidParameterValueException",
         "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
         "SQS Error Message: The specified queue does not exist."),
        (dict(FunctionName=fn_name, EventSourceArn="arn:aws:kafka:us-east-1:123456789012:cluster/c/1"), 400,
         "InvalidParameterValueException", "Stratus does not poll Amazon MSK event sources."),
    ]
    for params, status, code, message in cases:
        got = error_of(lambda params=params: raw_lam.create_event_source_mapping(**params))
        assert got[:2] == (status, code), (params, got)
        assert message in got[2], (params, got)
    assert mapping_count(lam) == before

    # A second mapping of the same queue to the same function conflicts.
    first = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn)
    assert error_of(lambda: lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn)) == (
        409, "ResourceConflictException",
        f'An event source mapping with SQS arn (" {arn} ") and function (" {fn_name} ") already exists. '
        f"Please update or delete the existing mapping with UUID {first['UUID']}")
    assert mapping_count(lam) == before + 1

    # Updates are checked the same way and change nothing when refused.
    wait_state(lam, first["UUID"], "Enabled")
    assert error_of(lambda: lam.update_event_source_mapping(UUID=first["UUID"], BatchSize=50))[1:] == (
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
    assert error_of(lambda: lam.update_event_source_mapping(UUID=first["UUID"], FunctionName="no-such-function"))[1] \
        == "InvalidParameterValueException"
    assert lam.get_event_source_mapping(UUID=first["UUID"])["BatchSize"] == 10

    unknown = "6f7bd5a3-0f4e-4a1a-9d3b-2a1f0e6d5c4b"
    not_found = (404, "ResourceNotFoundException", "The resource you requested does not exist.")
    assert error_of(lambda: lam.get_event_source_mapping(UUID=unknown)) == not_found
    assert error_of(lambda: lam.update_event_source_mapping(UUID=unknown, Enabled=False)) == not_found
    assert error_of(lambda: lam.delete_event_source_mapping(UUID=unknown)) == not_found
    lam.delete_event_source_mapping(UUID=first["UUID"])


_scalars = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=20)
_values = st.recursive(_scalars, lambda children: st.lists(children, max_size=3)
                       | st.dictionaries(st.text(max_size=10), children, max_size=3), max_leaves=8)
_FIELDS = ["EventSourceArn", "FunctionName", "Enabled", "BatchSize", "FilterCriteria", "MaximumBatchingWindowInSeconds",
           "ParallelizationFactor", "StartingPosition", "StartingPositionTimestamp", "DestinationConfig",
           "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts", "Tags",
           "TumblingWindowInSeconds", "Topics", "Queues", "SourceAccessConfigurations", "FunctionResponseTypes",
           "ScalingConfig", "KMSKeyArn", "SelfManagedEventSource"]


@pytest.fixture(scope="module")
def fuzz_target(lam, sqs):
    create_function(lam, "esm-fuzz-target")
    _, arn = make_queue(sqs, "esm-fuzz-queue")
    return arn


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_any_create_or_update_body_gets_an_aws_shaped_answer(esm, lam, fuzz_target, data):
    plausible = {
        "EventSourceArn": st.sampled_from([fuzz_target, "arn:aws:kinesis:us-east-1:123456789012:stream/nope",
                                           "arn:aws:mq:us-east-1:000000000000:broker:b:b-1", "arn:aws:s3:::b", "x"]),
        "FunctionName": st.sampled_from(["esm-fuzz-target", "esm-fuzz-target:1", "missing", "bad name", ""]),
        "BatchSize": st.integers(-2, 20_000), "MaximumBatchingWindowInSeconds": st.integers(-1, 400),
        "StartingPosition": st.sampled_from(["LATEST", "TRIM_HORIZON", "AT_TIMESTAMP", "nope"]),
        "FilterCriteria": st.fixed_dictionaries({}, optional={"Filters": st.lists(st.fixed_dictionaries(
            {}, optional={"Pattern": st.sampled_from(['{"body": {"a": ["b"]}}', "{", "[]", '{"a": 1}'])}),
            max_size=2)}),
        "ScalingConfig": st.fixed_dictionaries({}, optional={"MaximumConcurrency": st.integers(0, 2000)}),
        "FunctionResponseTypes": st.lists(st.sampled_from(["ReportBatchItemFailures", "x"]), max_size=2),
    }
    body = data.draw(st.fixed_dictionaries({}, optional={f: plausible.get(f, _values) for f in _FIELDS}) | _values)
    before = mapping_count(lam)
    status, error_type, answer = _raw(esm, "POST", "/2015-03-31/event-source-mappings", body)
    assert status < 500 and b"Traceback" not in answer, (status, answer[:300])
    if status >= 400:
        assert error_type and (json.loads(answer).get("message") or json.loads(answer).get("Message"))
        assert mapping_count(lam) == before, "a refused create stored something"
        return
    created = json.loads(answer)
    update = data.draw(st.fixed_dictionaries({}, optional={f: plausible.get(f, _values) for f in _FIELDS
                                                           if f not in ("EventSourceArn", "StartingPosition")}))
    status, error_type, answer = _raw(esm, "PUT", f"/2015-03-31/event-source-mappings/{created['UUID']}", update)
    assert status < 500 and b"Traceback" not in answer, (status, answer[:300])
    if status >= 400:
        assert error_type
        current = lam.get_event_source_mapping(UUID=created["UUID"])
        assert current["BatchSize"] == created["BatchSize"] and current["FunctionArn"] == created["FunctionArn"]
    lam.delete_event_source_mapping(UUID=created["UUID"])
    wait_gone(lam, created["UUID"])


def _raw(server, method: str, path: str, body) -> tuple[int, str | None, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    data = json.dumps(body).encode()
    conn.request(method, path, body=data,
                 headers=signed_headers(method, f"{server.endpoint}{path}", data, {"Content-Type": "application/json"}))
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    return response.status, response.getheader("x-amzn-ErrorType"), answer


# ---------------------------------------------------------------------------------------- delivery
def test_event_is_aws_shape_and_messages_are_deleted_after_success(esm, lam, sqs, fn_name):
    create_function(lam, fn_name)
    url, arn = make_queue(sqs, fn_name)
    sent = sqs.send_message(QueueUrl=url, MessageBody='{"order": 7}', MessageAttributes={
        "Author": {"DataType": "String", "StringValue": "John"},
        "Weeks": {"DataType": "Number", "StringValue": "6"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    })
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn)
    event = wait_for(lambda: events(esm, fn_name), what="an invocation")[0]
    assert list(event) == ["Records"] and len(event["Records"]) == 1
    record = event["Records"][0]
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                            "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == '{"order": 7}'
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn and record["awsRegion"] == "us-east-1"
    assert list(record["attributes"])[:4] == ["ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                              "ApproximateFirstReceiveTimestamp"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "Author": {"stringValue": "John", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "Weeks": {"stringValue": "6", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "Blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="the message deleted")


FAILS_ON_FIRST_RECEIVE = """
import json, time
def handler(event, context):
    failures = []
    for record in event["Records"]:
        count = record["attributes"]["ApproximateReceiveCount"]
        print("SEEN " + json.dumps({"t": time.time(), "body": record["body"], "count": count,
                                    "id": record["messageId"]}))
        if record["body"].startswith("bad") and count == "1":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""


def test_report_batch_item_failures_only_the_failed_messages_come_back(esm, lam, sqs, fn_name):
    create_function(lam, fn_name, FAILS_ON_FIRST_RECEIVE)
    url, arn = make_queue(sqs, fn_name, VisibilityTimeout=1)
    bodies = [f"good-{i}" for i in range(6)] + [f"bad-{i}" for i in range(4)]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    wait_for(lambda: {s["body"] for s in seen(esm, fn_name) if s["count"] == "2"} >= {f"bad-{i}" for i in range(4)},
             what="the failed messages to come back")
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="queue empty")
    records = seen(esm, fn_name)
    for body in bodies:
        counts = [s["count"] for s in records if s["body"] == body]
        assert counts == (["1"] if body.startswith("good") else ["1", "2"]), (body, counts)


FAILS_ON_POISON = """
import json, time
def handler(event, context):
    for record in event["Records"]:
        print("SEEN " + json.dumps({"t": time.time(), "body": record["body"],
                                    "count": record["attributes"]["ApproximateReceiveCount"],
                                    "id": record["messageId"]}))
        if record["body"] == "poison":
            raise ValueError("poison message")
    return "ok"
"""


def test_poison_message_ends_in_the_queues_dead_letter_queue(esm, lam, sqs, fn_name):
    create_function(lam, fn_name, FAILS_ON_POISON)
    dlq_url, dlq_arn = make_queue(sqs, f"{fn_name}-dlq")
    url, arn = make_queue(sqs, fn_name, VisibilityTimeout=1,
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, BatchSize=1)

    def dead_letters():
        messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages")
        return [m["Body"] for m in messages or []]

    assert wait_for(dead_letters, timeout_s=40, what="the poison message in the DLQ") == ["poison"]
    records = wait_for(lambda: (found := seen(esm, fn_name)) and len(found) >= 3 and found, what="the logs")
    assert [s["count"] for s in records if s["body"] == "poison"] == ["1", "2"]
    assert [s["count"] for s in records if s["body"] == "fine"] == ["1"]
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="source queue empty")


def test_filter_criteria_invokes_matching_messages_and_deletes_the_others(esm, lam, sqs, fn_name):
    create_function(lam, fn_name)
    url, arn = make_queue(sqs, fn_name)
    pattern = json.dumps({"body": {"kind": ["keep"], "size": [{"numeric": [">", 10]}]}})
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn,
                                              FilterCriteria={"Filters": [{"Pattern": pattern}]})
    assert mapping["FilterCriteria"] == {"Filters": [{"Pattern": pattern}]}
    bodies = [json.dumps({"kind": "keep", "size": 11}), json.dumps({"kind": "keep", "size": 3}),
              json.dumps({"kind": "drop", "size": 50}), "plain text, not JSON"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="every message deleted")
    wait_for(lambda: seen(esm, fn_name), what="the matching message's invocation in the log")
    assert [s["body"] for s in seen(esm, fn_name)] == [bodies[0]]


SLOW_RECORDER = """
import json, time
def handler(event, context):
    started = time.time()
    time.sleep(0.4)
    print("SPAN " + json.dumps([started, time.time()]))
    return {}
"""


def test_maximum_concurrency_caps_batches_in_flight(esm, lam, sqs, fn_name):
    create_function(lam, fn_name, SLOW_RECORDER)
    url, arn = make_queue(sqs, fn_name)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)])
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, BatchSize=1,
                                              ScalingConfig={"MaximumConcurrency": 2})
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}

    def spans():
        return [json.loads(line[5:]) for line in function_log(esm, fn_name).splitlines() if line.startswith("SPAN ")]

    found = wait_for(lambda: len(spans()) >= 10 and spans(), timeout_s=40, what="10 invocations")
    overlaps = [sum(1 for other in found if other[0] < start + 0.05 < other[1]) for start, _ in found]
    assert max(overlaps) == 2, overlaps  # concurrent, and never more than MaximumConcurrency


THROTTLED_RECORDER = """
import json, time
def handler(event, context):
    started = time.time()
    time.sleep(0.3)
    for record in event["Records"]:
        print("SEEN " + json.dumps({"t": started, "end": time.time(), "body": record["body"],
                                      "count": record["attributes"]["ApproximateReceiveCount"]}))
    return {}
"""


def test_throttled_batches_wait_and_run_under_the_functions_reserved_concurrency(esm, lam, sqs, fn_name):
    create_function(lam, fn_name, THROTTLED_RECORDER)
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=1)
    url, arn = make_queue(sqs, fn_name)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"t-{i}"} for i in range(6)])
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, BatchSize=1,
                                    ScalingConfig={"MaximumConcurrency": 4})
    records = wait_for(lambda: len(found := seen(esm, fn_name)) >= 6 and found, timeout_s=40, what="6 invocations")
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="queue empty")
    # A throttle is not a failure: each message ran once, on its first receive, one at a time.
    assert sorted(r["body"] for r in records) == [f"t-{i}" for i in range(6)]
    assert {r["count"] for r in records} == {"1"}
    assert all(a["end"] <= b["t"] + 0.01 for a, b in zip(records, records[1:], strict=False)), records


# ---------------------------------------------------------------------------------------- crash
# The server buffers function logs for a moment, and kill -9 loses that buffer: so this function
# reports what it processed durably, to a "done" queue on moto_server (SQS's JSON protocol, stdlib only).
REPORTS_TO_A_QUEUE = """
import json, os, time, urllib.request
def handler(event, context):
    time.sleep(0.3)
    entries = [{"Id": str(i), "MessageBody": r["body"]} for i, r in enumerate(event["Records"])]
    request = urllib.request.Request(os.environ["MOTO"] + "/", data=json.dumps(
        {"QueueUrl": os.environ["DONE_QUEUE"], "Entries": entries}).encode(), headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessageBatch",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    urllib.request.urlopen(request, timeout=10).read()
    return {}
"""


def test_kill_9_mid_batch_loses_nothing(moto_endpoint, fresh_server, tmp_path, fn_name):
    sqs = moto_endpoint.client("sqs")
    env = esm_env(moto_endpoint)
    data_dir = tmp_path / "kept"
    server = fresh_server(env=env, data_dir=data_dir)
    lam = server.client()
    done_url, _ = make_queue(sqs, f"{fn_name}-done")
    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Timeout=10,
                        Code={"ZipFile": make_zip({"app.py": REPORTS_TO_A_QUEUE})},
                        Environment={"Variables": {"MOTO": moto_endpoint.endpoint, "DONE_QUEUE": done_url}})
    url, arn = make_queue(sqs, fn_name, VisibilityTimeout=2)
    bodies = [f"m-{i:03d}" for i in range(40)]
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b}
                                                      for i, b in enumerate(bodies[start:start + 10])])
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, BatchSize=5,
                                    ScalingConfig={"MaximumConcurrency": 2})
    done: list[str] = []

    def collect() -> list[str]:
        messages = sqs.receive_message(QueueUrl=done_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages")
        for message in messages or []:
            done.append(message["Body"])
            sqs.delete_message(QueueUrl=done_url, ReceiptHandle=message["ReceiptHandle"])
        return done

    wait_for(lambda: len(collect()) >= 5, what="the first batches")
    server.process.kill()  # SIGKILL: batches in flight never finish, nothing is deleted for them
    server.process.wait()
    remaining, _ = queue_counts(sqs, url)
    assert remaining > 0 or queue_counts(sqs, url)[1] > 0, (
        "everything finished before the kill; the test proves nothing")

    server = fresh_server(env=env, data_dir=data_dir)  # the mapping is in the store: polling resumes
    wait_for(lambda: set(collect()) == set(bodies), timeout_s=60, what="every message processed after the restart")
    wait_for(lambda: queue_counts(sqs, url) == (0, 0), what="queue empty")
    collect()
    print(f"kill -9 mid-batch: {len(bodies)} messages, all processed; {len(done) - len(bodies)} processed twice "
          f"(at-least-once)")
