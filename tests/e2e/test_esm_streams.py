"""Event source mappings with Kinesis and DynamoDB Streams, against a real moto_server: AWS's fields and
errors, AWS's record shapes, order per shard (and per key with ParallelizationFactor), bisecting a
failing batch down to the poison record, retries then the OnFailure record, ReportBatchItemFailures
(checkpoint at the first failure), and checkpoints that survive a restart.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.test_esm_sqs import (
    ROLE,
    create_function,
    error_of,
    esm_env,
    make_queue,
    mapping_count,
    wait_for,
    wait_state,
)
from tests.support.environments import function_log
from tests.support.server import StratusServer

RECORDER = """
import base64, json, time
def handler(event, context):
    for record in event["Records"]:
        if "kinesis" in record:
            data = base64.b64decode(record["kinesis"]["data"]).decode()
            print("SEEN " + json.dumps({"t": time.time(), "data": data, "key": record["kinesis"]["partitionKey"],
                                          "seq": record["kinesis"]["sequenceNumber"], "id": record["eventID"]}))
    print("EVENT " + json.dumps(event))
    return {}
"""

POISON_FAILS = """
import base64, json, time
def handler(event, context):
    datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    print("BATCH " + json.dumps({"t": time.time(), "datas": datas}))
    if "poison" in datas:
        raise ValueError("poison record in the batch")
    return {}
"""


@pytest.fixture(scope="module")
def esm(moto_endpoint, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("esm-streams") / "data"
    # Record ages are checked 20x faster (60 s → 3 s) so MaximumRecordAgeInSeconds can be tested.
    with StratusServer(data_dir, env=dict(esm_env(moto_endpoint), STRATUS_ESM_RECORD_AGE_SCALE="0.05")) as server:
        yield server


@pytest.fixture(scope="module")
def lam(esm):
    return esm.client()


@pytest.fixture(scope="module")
def raw_lam(esm):
    return esm.client(parameter_validation=False)


@pytest.fixture(scope="module")
def kinesis(moto_endpoint):
    return moto_endpoint.client("kinesis")


@pytest.fixture(scope="module")
def sqs(moto_endpoint):
    return moto_endpoint.client("sqs")


def make_stream(kinesis, name: str, shards: int = 1) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def put(kinesis, stream: str, data: str, key: str) -> dict:
    return kinesis.put_record(StreamName=stream, Data=data.encode(), PartitionKey=key)


def lines(server, function: str, prefix: str) -> list:
    """What the function printed after `prefix`, in the order it printed it (several environments write
    several log files: lines carrying a time "t" are sorted by it)."""
    found = [json.loads(line[len(prefix) + 1:]) for line in function_log(server, function).splitlines()
             if line.startswith(prefix + " ")]
    if found and all(isinstance(item, dict) and "t" in item for item in found):
        found.sort(key=lambda item: item["t"])
    return found


def failure_records(sqs, url: str, expected: int) -> list[dict]:
    found: list[dict] = []

    def collect():
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in received.get("Messages") or []:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(found) >= expected

    wait_for(collect, timeout_s=40, what=f"{expected} OnFailure record(s)")
    return found


# ---------------------------------------------------------------------------------------- API
def test_stream_mapping_fields_and_bad_input(esm, lam, raw_lam, kinesis, sqs, moto_endpoint, fn_name):
    create_function(lam, fn_name, RECORDER)
    arn = make_stream(kinesis, fn_name)
    _, queue_arn = make_queue(sqs, f"{fn_name}-failures")
    table = moto_endpoint.client("dynamodb").create_table(
        TableName=fn_name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    table_stream = table["TableDescription"]["LatestStreamArn"]
    before = mapping_count(lam)
    missing = arn.replace(fn_name, "no-such-stream")
    cases = [
        (dict(FunctionName=fn_name, EventSourceArn=arn), 400, "InvalidParameterValueException",
         "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
         "Member must not be null."),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="invalid"), 400, "ValidationException",
         "1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy constraint: "
         "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]"),
        (dict(FunctionName=fn_name, EventSourceArn=table_stream, StartingPosition="AT_TIMESTAMP",
              StartingPositionTimestamp=1741010802), 400, "InvalidParameterValueException",
         f"Unsupported starting position for arn type: {table_stream}"),
        (dict(FunctionName=fn_name, EventSourceArn=missing, StartingPosition="LATEST"), 400,
         "InvalidParameterValueException", f"Stream not found: {missing}"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST", ParallelizationFactor=11), 400,
         "ValidationException", "Member must have value less than or equal to 10"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST", MaximumRetryAttempts=-2), 400,
         "ValidationException", "Member must have value greater than or equal to -1"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST", MaximumRecordAgeInSeconds=30), 400,
         "InvalidParameterValueException", "MaximumRecordAgeInSeconds"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST", BatchSize=10001), 400,
         "ValidationException", "Member must have value less than or equal to 10000"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST",
              ScalingConfig={"MaximumConcurrency": 5}),
         400, "InvalidParameterValueException", "Unsupported ScalingConfig parameter"),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST",
              DestinationConfig={"OnSuccess": {"Destination": queue_arn}}), 400, "InvalidParameterValueException",
         "Unsupported DestinationConfig parameter for given event source mapping type."),
        (dict(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST",
              FilterCriteria={"Filters": [{"Pattern": '{"data": {"a": [1]'}]}), 400, "InvalidParameterValueException",
         "Invalid filter pattern definition."),
    ]
    for params, status, code, message in cases:
        got = error_of(lambda params=params: raw_lam.create_event_source_mapping(**params))
        assert got[:2] == (status, code), (params, got)
        assert message in got[2], (params, got)
    assert mapping_count(lam) == before

    created = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST")
    fields = {k: v for k, v in created.items() if k not in ("ResponseMetadata", "UUID", "LastModified",
                                                             "EventSourceMappingArn")}
    assert fields == {
        "BatchSize": 100, "BisectBatchOnFunctionError": False, "DestinationConfig": {"OnFailure": {}},
        "EventSourceArn": arn, "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}",
        "FunctionResponseTypes": [], "LastProcessingResult": "No records processed",
        "MaximumBatchingWindowInSeconds": 0, "MaximumRecordAgeInSeconds": -1, "MaximumRetryAttempts": -1,
        "ParallelizationFactor": 1, "StartingPosition": "LATEST", "State": "Creating",
        "StateTransitionReason": "User action", "TumblingWindowInSeconds": 0,
    }
    assert error_of(lambda: lam.create_event_source_mapping(
        FunctionName=fn_name, EventSourceArn=arn, StartingPosition="LATEST")) == (
        409, "ResourceConflictException",
        f'The event source arn (" {arn} ") and function (" {fn_name} ") provided mapping already exists. '
        f"Please update or delete the existing mapping with UUID {created['UUID']}")
    wait_state(lam, created["UUID"], "Enabled")
    updated = lam.update_event_source_mapping(UUID=created["UUID"], BisectBatchOnFunctionError=True,
                                              MaximumRetryAttempts=3,
                                              DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    assert updated["State"] == "Updating" and updated["MaximumRetryAttempts"] == 3
    assert updated["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn}}
    lam.delete_event_source_mapping(UUID=created["UUID"])


# ---------------------------------------------------------------------------------------- Kinesis
def test_kinesis_records_in_aws_shape_and_in_order_per_shard(esm, lam, kinesis, fn_name):
    create_function(lam, fn_name, RECORDER)
    arn = make_stream(kinesis, fn_name, shards=2)
    sent = [put(kinesis, fn_name, f"{key}-{n}", key) for n in range(8) for key in ("a", "b", "c", "d")]
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn,
                                              StartingPosition="TRIM_HORIZON", BatchSize=3)
    seen = wait_for(lambda: len(found := lines(esm, fn_name, "SEEN")) >= len(sent) and found, what="every record")
    assert len(seen) == len(sent)  # each record once
    by_shard: dict[str, list[int]] = {}
    for record in seen:
        by_shard.setdefault(record["id"].split(":")[0], []).append(int(record["seq"]))
    assert len(by_shard) == 2
    for shard, sequence in by_shard.items():
        assert sequence == sorted(sequence), (shard, sequence)
    for key in "abcd":
        assert [r["data"] for r in seen if r["key"] == key] == [f"{key}-{n}" for n in range(8)]

    event = lines(esm, fn_name, "EVENT")[0]
    assert 1 <= len(event["Records"]) <= 3
    record = event["Records"][0]
    assert list(record) == ["kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn",
                            "awsRegion", "eventSourceARN"]
    assert list(record["kinesis"]) == ["kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data",
                                       "approximateArrivalTimestamp"]
    assert record["eventSource"] == "aws:kinesis" and record["eventName"] == "aws:kinesis:record"
    assert record["eventVersion"] == "1.0" and record["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert record["invokeIdentityArn"] == ROLE and record["eventSourceARN"] == arn
    assert record["eventID"] == f"{record['eventID'].split(':')[0]}:{record['kinesis']['sequenceNumber']}"
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
    assert base64.b64decode(record["kinesis"]["data"]).decode().split("-")[0] in "abcd"
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK",
             what="LastProcessingResult OK")
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


SLOW_KEYED = """
import base64, json, time
def handler(event, context):
    started = time.time()
    time.sleep(0.3)
    for record in event["Records"]:
        print("SEEN " + json.dumps({"t": time.time(), "data": base64.b64decode(record["kinesis"]["data"]).decode(),
                                      "key": record["kinesis"]["partitionKey"]}))
    print("SPAN " + json.dumps([started, time.time()]))
    return {}
"""


def test_parallelization_factor_runs_batches_of_one_shard_concurrently_keeping_key_order(esm, lam, kinesis, fn_name):
    create_function(lam, fn_name, SLOW_KEYED)
    arn = make_stream(kinesis, fn_name)
    keys = [f"key-{i}" for i in range(6)]
    for n in range(5):
        for key in keys:
            put(kinesis, fn_name, f"{key}/{n}", key)
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=2, ParallelizationFactor=3)
    seen = wait_for(lambda: len(found := lines(esm, fn_name, "SEEN")) >= 30 and found, what="every record")
    for key in keys:
        assert [r["data"] for r in seen if r["key"] == key] == [f"{key}/{n}" for n in range(5)]
    spans = lines(esm, fn_name, "SPAN")
    overlapping = max(sum(1 for other in spans if other[0] < start + 0.05 < other[1]) for start, _ in spans)
    assert 2 <= overlapping <= 3, spans


def test_bisect_isolates_the_poison_record(esm, lam, kinesis, sqs, fn_name):
    create_function(lam, fn_name, POISON_FAILS)
    arn = make_stream(kinesis, fn_name)
    failures_url, failures_arn = make_queue(sqs, f"{fn_name}-failures")
    datas = [f"r{i}" for i in range(10)]
    datas[6] = "poison"
    sent = [put(kinesis, fn_name, data, "one-key") for data in datas]
    lam.create_event_source_mapping(
        FunctionName=fn_name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=10,
        MaximumBatchingWindowInSeconds=1, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    (failure,) = failure_records(sqs, failures_url, 1)
    info = failure["KinesisBatchInfo"]
    poison_seq = sent[6]["SequenceNumber"]
    assert info == {"shardId": sent[6]["ShardId"], "startSequenceNumber": poison_seq, "endSequenceNumber": poison_seq,
                    "approximateArrivalOfFirstRecord": info["approximateArrivalOfFirstRecord"],
                    "approximateArrivalOfLastRecord": info["approximateArrivalOfLastRecord"],
                    "batchSize": 1, "streamArn": arn}
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert list(failure) == ["requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 1
    assert failure["requestContext"]["functionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert failure["version"] == "1.0"
    # Every other record got through in a batch that succeeded; the poison one is the only one skipped.
    succeeded = wait_for(lambda: len(ok := [d for b in lines(esm, fn_name, "BATCH") if "poison" not in b["datas"]
                                            for d in b["datas"]]) >= 9 and ok, what="the other records")
    assert sorted(succeeded) == sorted(d for d in datas if d != "poison")


def test_records_older_than_the_maximum_age_are_skipped_to_on_failure(esm, lam, kinesis, sqs, fn_name):
    """Endless retries (MaximumRetryAttempts -1) end when the records pass MaximumRecordAgeInSeconds
    (60 s, checked 20x faster here): OnFailure gets them with condition RecordAgeExceeded."""
    create_function(lam, fn_name, ALWAYS_FAILS)
    arn = make_stream(kinesis, fn_name)
    failures_url, failures_arn = make_queue(sqs, f"{fn_name}-failures")
    sent = [put(kinesis, fn_name, f"r{i}", "one-key") for i in range(3)]
    lam.create_event_source_mapping(
        FunctionName=fn_name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=10,
        MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    (failure,) = failure_records(sqs, failures_url, 1)
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sent[0]["SequenceNumber"], sent[-1]["SequenceNumber"], 3)
    assert failure["requestContext"]["approximateInvokeCount"] >= 2  # retried before it aged out
    wait_for(lambda: function_log(esm, fn_name).count("START RequestId:") >= 2,
             what="the failed attempts in the function's log")


FAILS_ITEM_ONCE = """
import base64, json, time
def handler(event, context):
    datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    print("BATCH " + json.dumps({"t": time.time(), "datas": datas}))
    if datas[0] == "r0" and "r3" in datas:  # r3 fails in the first batch only
        return {"batchItemFailures": [
            {"itemIdentifier": event["Records"][datas.index("r3")]["kinesis"]["sequenceNumber"]}]}
    return {"batchItemFailures": []}
"""


def test_report_batch_item_failures_retries_from_the_first_failed_record(esm, lam, kinesis, fn_name):
    create_function(lam, fn_name, FAILS_ITEM_ONCE)
    arn = make_stream(kinesis, fn_name)
    for i in range(6):
        put(kinesis, fn_name, f"r{i}", "k")
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=6, MaximumBatchingWindowInSeconds=1,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    batches = wait_for(lambda: len(found := lines(esm, fn_name, "BATCH")) >= 2 and found, what="the retry")
    assert [batch["datas"] for batch in batches[:2]] == [[f"r{i}" for i in range(6)], ["r3", "r4", "r5"]]


ALWAYS_FAILS = """
def handler(event, context):
    raise RuntimeError("always")
"""


def test_dynamodb_stream_retries_then_sends_the_failure_record(esm, lam, sqs, moto_endpoint, fn_name):
    create_function(lam, fn_name, ALWAYS_FAILS)
    failures_url, failures_arn = make_queue(sqs, f"{fn_name}-failures")
    dynamodb = moto_endpoint.client("dynamodb")
    table = dynamodb.create_table(
        TableName=fn_name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    stream_arn = table["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName=fn_name, Item={"id": {"S": "one"}})
    mapping = lam.create_event_source_mapping(
        FunctionName=fn_name, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    (failure,) = failure_records(sqs, failures_url, 1)
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == stream_arn
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["approximateArrivalOfFirstRecord"].endswith("Z") and "." not in info["approximateArrivalOfFirstRecord"]
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "PROBLEM: Function call failed"


DDB_RECORDER = """
import json, time
def handler(event, context):
    print("EVENT " + json.dumps(event))
    return {}
"""


def test_dynamodb_records_as_lambda_gets_them(esm, lam, moto_endpoint, fn_name):
    create_function(lam, fn_name, DDB_RECORDER)
    dynamodb = moto_endpoint.client("dynamodb")
    table = dynamodb.create_table(
        TableName=fn_name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    stream_arn = table["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName=fn_name, Item={"id": {"S": "x"}, "blob": {"B": b"foobar"}})
    dynamodb.put_item(TableName=fn_name, Item={"id": {"S": "x"}, "n": {"N": "3"}})
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON",
                                    FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT", "MODIFY"]}'}]})
    records = wait_for(lambda: len(found := [r for e in lines(esm, fn_name, "EVENT") for r in e["Records"]]) >= 2
                       and found, what="both stream records")
    insert, modify = records
    assert [insert["eventName"], modify["eventName"]] == ["INSERT", "MODIFY"]
    assert insert["eventSource"] == "aws:dynamodb" and insert["eventSourceARN"] == stream_arn
    assert insert["awsRegion"] == "us-east-1"
    assert insert["dynamodb"]["Keys"] == {"id": {"S": "x"}}
    assert insert["dynamodb"]["NewImage"] == {"id": {"S": "x"}, "blob": {"B": "Zm9vYmFy"}}
    assert modify["dynamodb"]["OldImage"]["blob"] == {"B": "Zm9vYmFy"}
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], int)
    assert int(insert["dynamodb"]["SequenceNumber"]) < int(modify["dynamodb"]["SequenceNumber"])


def test_checkpoints_survive_a_restart(moto_endpoint, fresh_server, tmp_path, fn_name):
    kinesis = moto_endpoint.client("kinesis")
    env = esm_env(moto_endpoint)
    data_dir = tmp_path / "kept"
    server = fresh_server(env=env, data_dir=data_dir)
    lam = server.client()
    create_function(lam, fn_name, RECORDER)
    arn = make_stream(kinesis, fn_name)
    for i in range(5):
        put(kinesis, fn_name, f"before-{i}", "k")
    lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    wait_for(lambda: len(lines(server, fn_name, "SEEN")) >= 5, what="the first records")
    assert server.stop() == 0
    for i in range(3):
        put(kinesis, fn_name, f"after-{i}", "k")
    server = fresh_server(env=env, data_dir=data_dir)
    seen = wait_for(lambda: len(found := lines(server, fn_name, "SEEN")) >= 8 and found, what="the new records")
    assert [r["data"] for r in seen] == [f"before-{i}" for i in range(5)] + [f"after-{i}" for i in range(3)]
