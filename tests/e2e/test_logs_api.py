"""The CloudWatch Logs API for function logs (issue 14): the environment's stream as Lambda names it, its
START/END/REPORT lines and the function's lines, FilterLogEvents with JSON filter patterns, retention,
StartLiveTail (boto3) and `aws logs tail --follow` (AWS CLI v2), PutLogEvents, and AWS's errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_runtime_sdks import require_runtime_sdk
from tests.support.logs import group_events, logs_client, wait_for_events
from tests.support.server import HOST_PYTHON_RUNTIME, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
STREAM_NAME = re.compile(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}")
PRINTER = make_zip({"app.py": "def handler(event, context):\n    for line in event.get('lines', []):\n"
                              "        print(line)\n    return 'ok'\n"})
LEVELS = make_zip({"app.py": """
import logging
logger = logging.getLogger()
def handler(event, context):
    logger.debug("debug %s", event["n"])
    logger.info("info %s", event["n"])
    logger.warning("warning %s", event["n"])
    logger.error("error %s", event["n"])
    logger.error("second error %s", event["n"])
    print("a plain print")
    return 'ok'
"""})


def create(lam, name, code=PRINTER, **extra):
    lam.create_function(FunctionName=name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": code}, **extra)


@pytest.fixture(scope="module")
def logs(server):
    return logs_client(server)


def test_streams_and_events_after_an_invoke(server, lam, logs, fn_name):
    create(lam, fn_name)
    response, _ = invoke_json(lam, fn_name, {"lines": ["first line", "second line"]})
    request_id = response["ResponseMetadata"]["RequestId"]
    group = f"/aws/lambda/{fn_name}"
    wait_for_events(server, group, lambda found: any(e["message"].startswith("REPORT") for e in found))
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert STREAM_NAME.fullmatch(stream["logStreamName"]), stream["logStreamName"]  # exactly Lambda's name
    assert stream["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:" \
                            + stream["logStreamName"]
    assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"] <= stream["lastIngestionTime"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                                          startFromHead=True)["events"]]
    assert messages[0] == f"START RequestId: {request_id} Version: $LATEST\n"
    assert messages[1:3] == ["first line\n", "second line\n"]
    assert messages[3] == f"END RequestId: {request_id}\n"
    assert messages[4].startswith(f"REPORT RequestId: {request_id}\tDuration: ") and len(messages) == 5
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupName"] == group and described["logGroupClass"] == "STANDARD"
    assert described["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert described["storedBytes"] == sum(len(m.encode()) for m in messages)


def test_get_log_events_pages_with_forward_and_backward_tokens(server, lam, logs, fn_name):
    create(lam, fn_name)
    invoke_json(lam, fn_name, {"lines": [f"line {n}" for n in range(7)]})
    group = f"/aws/lambda/{fn_name}"
    wait_for_events(server, group, lambda found: len(found) == 10)
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=4)
    assert page["nextForwardToken"].startswith("f/") and page["nextBackwardToken"].startswith("b/")
    seen = [e["message"] for e in page["events"]]
    while True:
        token = page["nextForwardToken"]
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token, limit=4)
        if not page["events"]:
            assert page["nextForwardToken"] == token  # the end: the same token again, as AWS
            break
        seen += [e["message"] for e in page["events"]]
    assert seen[1:8] == [f"line {n}\n" for n in range(7)] and len(seen) == 10
    last = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3)  # the newest, by default
    assert [e["message"][:3] for e in last["events"]] == ["lin", "END", "REP"]
    before = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3,
                                 nextToken=last["nextBackwardToken"])
    assert [e["message"] for e in before["events"]] == ["line 3\n", "line 4\n", "line 5\n"]


def test_filter_log_events_with_a_json_pattern_finds_exactly_the_matching_records(server, lam, logs, fn_name):
    create(lam, fn_name, LEVELS, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})
    for n in range(3):
        invoke_json(lam, fn_name, {"n": n})
    group = f"/aws/lambda/{fn_name}"
    events = wait_for_events(server, group, lambda found: sum('"platform.report"' in e["message"] for e in found) == 3)
    records = [json.loads(e["message"]) for e in events if e["message"].startswith("{")]  # prints stay text
    assert sum(e["message"] == "a plain print\n" for e in events) == 3
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert len(errors) == 6
    found = group_events(server, group, filterPattern='{ $.level = "ERROR" }')
    assert [json.loads(e["message"]) for e in found] == errors
    warn_or_error = group_events(server, group, filterPattern='{ $.level = "WARN*" || $.level = "ERROR" }')
    assert len(warn_or_error) == 9
    second = group_events(server, group, filterPattern='{ $.level = "ERROR" && $.message = "second*" }')
    assert sorted(json.loads(e["message"])["message"] for e in second) == [f"second error {n}" for n in range(3)]
    assert len(group_events(server, group, filterPattern='"second error"')) == 3
    assert len(group_events(server, group, filterPattern="error -second -platform")) == 3
    reports = group_events(server, group, filterPattern='{ $.record.metrics.durationMs >= 0 }')
    assert len(reports) == 3 and all('"platform.report"' in e["message"] for e in reports)
    paged = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }', limit=4)
    assert len(paged["events"]) == 4 and paged["nextToken"]
    rest = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }', limit=4,
                                  nextToken=paged["nextToken"])
    assert [e["eventId"] for e in paged["events"] + rest["events"]] == [e["eventId"] for e in found]
    with pytest.raises(ClientError) as refused:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = }")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


def test_custom_log_group_receives_the_logs_through_the_api(server, lam, logs, fn_name):
    group = f"/custom/{fn_name}"
    create(lam, fn_name, LoggingConfig={"LogGroup": group})
    invoke_json(lam, fn_name, {"lines": ["to the custom group"]})
    events = wait_for_events(server, group, lambda found: any(e["message"].startswith("REPORT") for e in found))
    assert "to the custom group\n" in [e["message"] for e in events]
    assert STREAM_NAME.fullmatch(events[0]["logStreamName"])
    with pytest.raises(ClientError) as missing:
        logs.describe_log_streams(logGroupName=f"/aws/lambda/{fn_name}")
    assert missing.value.response["Error"] == {"Code": "ResourceNotFoundException",
                                               "Message": "The specified log group does not exist."}


def test_live_tail_delivers_an_invokes_lines_within_a_second(server, lam, logs, fn_name):
    create(lam, fn_name)
    invoke_json(lam, fn_name, {"lines": ["warm up"]})  # the group exists, the environment is warm
    group = f"/aws/lambda/{fn_name}"
    wait_for_events(server, group, lambda found: len(found) >= 3)
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    stream = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="live")["responseStream"]
    try:
        events = iter(stream)
        start = next(events)["sessionStart"]
        assert start["logGroupIdentifiers"] == [arn] and start["logEventFilterPattern"] == "live"
        invoked = threading.Event()
        sent_at: list[float] = []

        def invoke() -> None:
            invoked.wait()
            sent_at.append(time.monotonic())
            invoke_json(lam, fn_name, {"lines": ["live one", "live two", "not this"]})

        threading.Thread(target=invoke, daemon=True).start()
        invoked.set()
        results: list[dict] = []
        deadline = time.monotonic() + 10
        while len(results) < 2 and time.monotonic() < deadline:
            results += next(events)["sessionUpdate"]["sessionResults"]
        arrived = time.monotonic()
    finally:
        stream.close()
    assert [r["message"] for r in results] == ["live one\n", "live two\n"]
    assert results[0]["logGroupIdentifier"] == arn and STREAM_NAME.fullmatch(results[0]["logStreamName"])
    assert arrived - sent_at[0] < 1.0, arrived - sent_at[0]


def test_put_log_events_and_the_logs_errors(logs, fn_name):
    group = f"/app/{fn_name}"
    logs.create_log_group(logGroupName=group)
    with pytest.raises(ClientError) as exists:
        logs.create_log_group(logGroupName=group)
    assert exists.value.response["Error"] == {"Code": "ResourceAlreadyExistsException",
                                              "Message": "The specified log group already exists"}
    with pytest.raises(ClientError) as no_stream:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}])
    assert no_stream.value.response["Error"]["Message"] == "The specified log stream does not exist."
    logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[1]abc")
    now = int(time.time() * 1000)
    answer = logs.put_log_events(logGroupName=group, logStreamName="2026/01/01/[1]abc", logEvents=[
        {"timestamp": now, "message": "kept"}, {"timestamp": now + 3 * 3600 * 1000, "message": "too new"}])
    assert answer["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    assert re.fullmatch(r"\d{56}", answer["nextSequenceToken"])
    old = now - 20 * 86400 * 1000
    answer = logs.put_log_events(logGroupName=group, logStreamName="2026/01/01/[1]abc", logEvents=[
        {"timestamp": old, "message": "too old"}, {"timestamp": old + 1, "message": "too old too"}])
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    with pytest.raises(ClientError) as too_long:
        logs.put_log_events(logGroupName=group, logStreamName="2026/01/01/[1]abc", logEvents=[
            {"timestamp": old, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert "cannot span more than 24 hours" in too_long.value.response["Error"]["Message"]
    events = logs.get_log_events(logGroupName=group, logStreamName="2026/01/01/[1]abc")["events"]
    assert [(e["timestamp"], e["message"]) for e in events] == [(now, "kept")]
    with pytest.raises(ClientError) as unordered:
        logs.put_log_events(logGroupName=group, logStreamName="2026/01/01/[1]abc", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])
    assert unordered.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as bad_days:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert bad_days.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Member must satisfy enum value set: [1, 3, 5, 7" in bad_days.value.response["Error"]["Message"]
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    with pytest.raises(ClientError) as bad_name:
        logs.create_log_group(logGroupName="bad:name")
    assert bad_name.value.response["Error"]["Code"] == "InvalidParameterException"
    assert bad_name.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    logs.delete_log_stream(logGroupName=group, logStreamName="2026/01/01/[1]abc")
    logs.delete_log_group(logGroupName=group)
    with pytest.raises(ClientError) as gone:
        logs.delete_log_group(logGroupName=group)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_describe_paging_and_ordering(logs, fn_name):
    prefix = f"/paging/{fn_name}/"
    for n in range(5):
        logs.create_log_group(logGroupName=f"{prefix}{n}")
    names, token = [], None
    while True:
        page = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2, **({"nextToken": token} if token else {}))
        names += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == [f"{prefix}{n}" for n in range(5)]
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern=f"{fn_name}/3")["logGroups"]] \
        == [f"{prefix}3"]
    group = f"{prefix}0"
    now = int(time.time() * 1000)
    for name, offset in (("b", 0), ("a", 5), ("c", 2)):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=[{"timestamp": now + offset,
                                                                                "message": name}])
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in by_time["logStreams"]] == ["a", "c", "b"]
    first = logs.describe_log_streams(logGroupName=group, limit=2)
    rest = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=first["nextToken"])
    assert [s["logStreamName"] for s in first["logStreams"] + rest["logStreams"]] == ["a", "b", "c"]
    assert "nextToken" not in rest
    filtered = logs.filter_log_events(logGroupName=group, logStreamNames=["a", "c"])["events"]
    assert [e["message"] for e in filtered] == ["c", "a"]  # in time order
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group, startTime=now + 1, endTime=now + 5)[
        "events"]] == ["c"]


def test_a_retention_of_one_day_removes_older_events(fresh_server):
    """With a test "day" of 2 s (STRATUS_LOG_RETENTION_DAY_S, test-only), retentionInDays=1 keeps 2 s of events."""
    server = fresh_server({"STRATUS_SANDBOX": "plain", "STRATUS_LOG_RETENTION_DAY_S": "2",
                           "STRATUS_LOG_RETENTION_SWEEP_S": "0.2"})
    lam, logs = server.client(), logs_client(server)
    create(lam, "kept")
    invoke_json(lam, "kept", {"lines": ["old line"]})
    group = "/aws/lambda/kept"
    assert wait_for_events(server, group, lambda found: len(found) == 4)
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    time.sleep(1)
    invoke_json(lam, "kept", {"lines": ["new line"]})  # 1 s younger
    deadline = time.monotonic() + 10
    messages = [e["message"] for e in group_events(server, group)]
    while "old line\n" in messages and time.monotonic() < deadline:
        time.sleep(0.1)
        messages = [e["message"] for e in group_events(server, group)]
    assert "old line\n" not in messages and "new line\n" in messages  # older than a "day" is gone, the rest kept
    group_info = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert group_info["retentionInDays"] == 1
    assert group_info["storedBytes"] == sum(len(m.encode()) for m in messages)


def _aws_cli_v2() -> str | None:
    """An AWS CLI v2 executable (the install step's, else one on PATH), or None."""
    for candidate in (os.environ.get("STRATUS_TEST_AWS_CLI_V2"), "/usr/bin/aws", "/usr/local/bin/aws",
                      shutil.which("aws")):
        if candidate and os.access(candidate, os.X_OK):
            version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30)
            if version.stdout.startswith("aws-cli/2."):
                return candidate
    return None


def test_aws_cli_v2_logs_tail_follow_prints_an_invokes_lines(server, lam, fn_name, tmp_path):
    """`aws logs tail --follow` (CLI v2; v1 has no `logs tail`) prints an invoke's lines. The CLI polls
    FilterLogEvents every 5 s (awscli/customizations/logs/tail.py, FollowLogEventsGenerator._TIME_TO_SLEEP = 5),
    so lines show up within one poll: StartLiveTail (above) is the within-a-second path."""
    cli = _aws_cli_v2()
    if cli is None:
        if os.environ.get("CI") == "true":
            pytest.fail("AWS CLI v2 must be installed in CI (scripts/install.sh installs Debian's awscli)")
        pytest.skip("AWS CLI v2 is not installed (scripts/install.sh installs it with apt-get as root)")
    create(lam, fn_name)
    invoke_json(lam, fn_name, {"lines": ["before the tail"]})
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_PAGER="", PYTHONUNBUFFERED="1")
    tail = subprocess.Popen([cli, "logs", "tail", f"/aws/lambda/{fn_name}", "--follow", "--format", "short",
                             "--endpoint-url", server.endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(tail.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any("before the tail" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("before the tail" in line for line in lines), (lines, tail.poll())
        started = time.monotonic()
        invoke_json(lam, fn_name, {"lines": ["while tailing"]})
        while not any("while tailing" in line for line in lines) and time.monotonic() < started + 15:
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        tail.kill()
        tail.wait()
    assert any("while tailing" in line for line in lines), lines
    assert took < 5 + 1.5, took  # one 5 s poll of the CLI at most, plus the call
    assert sum("before the tail" in line for line in lines) == 1  # no line twice


APP_LOGGER = make_zip({"app.py": """
import time
import boto3
def handler(event, context):
    logs = boto3.client("logs")  # AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: Stratus
    logs.create_log_stream(logGroupName=context.log_group_name, logStreamName="app/" + context.aws_request_id)
    logs.put_log_events(logGroupName=context.log_group_name, logStreamName="app/" + context.aws_request_id,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "from the app"}])
    return context.aws_request_id
"""})


def test_a_function_puts_log_events_with_its_role(fresh_server):
    """A function's boto3 `logs` client reaches Stratus (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS) and acts with its role's
    credentials: AWSLambdaBasicExecutionRole's logs:CreateLogStream and logs:PutLogEvents."""
    require_runtime_sdk("python")
    server = fresh_server({"STRATUS_SANDBOX": "plain", "STRATUS_UNKNOWN_ROLE_POLICY": "AWSLambdaBasicExecutionRole"})
    lam = server.client()
    create(lam, "app-logger", APP_LOGGER, Timeout=30)
    response, request_id = invoke_json(lam, "app-logger")
    assert "FunctionError" not in response, request_id
    events = logs_client(server).get_log_events(logGroupName="/aws/lambda/app-logger",
                                                logStreamName=f"app/{request_id}")["events"]
    assert [event["message"] for event in events] == ["from the app"]
