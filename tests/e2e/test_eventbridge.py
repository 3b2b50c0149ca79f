"""EventBridge on the Lambda port, through boto3 and the AWS CLI v1: rules with event patterns and
schedules, Lambda targets (whole event, Input, InputPath, InputTransformer), PutEvents, event buses,
schedules across a restart, and AWS's errors for bad input (nothing half-created).

Functions print every event they receive as one `EVENT <json>` line; tests read the function's log
files (tests/support/environments.py) and poll them with a deadline.
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.environments import function_log
from tests.support.server import StratusServer, make_zip
from tests.support.signing import signed_request

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
RECORDER = make_zip({"app.py": """
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
    return {}
"""})
TIME_SCALE = 120  # schedule time runs 120x: rate(1 minute) fires every half second


def events_client(server):
    return boto3.client("events", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}, read_timeout=60))


@pytest.fixture(scope="module")
def eb_server(tmp_path_factory):
    """One server for this module, its schedule clock sped up (a test-only setting)."""
    data_dir = tmp_path_factory.mktemp("eventbridge") / "data"
    with StratusServer(data_dir, env={"STRATUS_SANDBOX": "plain",
                                      "STRATUS_SCHEDULE_TIME_SCALE": str(TIME_SCALE)}) as server:
        yield server


@pytest.fixture(scope="module")
def events(eb_server):
    return events_client(eb_server)


@pytest.fixture(scope="module")
def lam(eb_server):
    return eb_server.client()


def create_recorder(lam, name: str) -> str:
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": RECORDER})
    return ACCOUNT_ARN + name


def received(server, function: str) -> list:
    """Every event the function has printed so far, decoded."""
    return [json.loads(line[len("EVENT "):]) for line in function_log(server, function).splitlines()
            if line.startswith("EVENT ")]


def wait_received(server, function: str, predicate=lambda event: True, count: int = 1,
                  timeout_s: float = 30.0) -> list:
    """Poll (with a deadline) until `count` received events satisfy `predicate`; returns them."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [event for event in received(server, function) if predicate(event)]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{function} received {received(server, function)}"
            return found
        time.sleep(0.05)


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    error = raised.value.response["Error"]
    return {"Code": error["Code"], "Message": error["Message"],
            "Status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def entry(source="shop", detail_type="order placed", detail=None, **extra) -> dict:
    return dict({"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail or {})}, **extra)


# ------------------------------------------------------------------------------ the journey
def test_pattern_rule_delivers_to_lambda_targets(events, lam, eb_server):
    fn = create_recorder(lam, "eb-journey")
    pattern = {"source": [{"prefix": "shop"}], "detail": {"total": [{"numeric": [">", 100]}]}}
    rule_arn = events.put_rule(Name="big-orders", EventPattern=json.dumps(pattern),
                               Description="orders over 100")["RuleArn"]
    assert rule_arn == "arn:aws:events:us-east-1:000000000000:rule/big-orders"
    described = events.describe_rule(Name="big-orders")
    assert {k: described[k] for k in ("Name", "Arn", "EventPattern", "State", "Description", "EventBusName",
                                      "CreatedBy")} == {
        "Name": "big-orders", "Arn": rule_arn, "EventPattern": json.dumps(pattern), "State": "ENABLED",
        "Description": "orders over 100", "EventBusName": "default", "CreatedBy": "000000000000"}

    targets = [
        {"Id": "whole", "Arn": fn},
        {"Id": "constant", "Arn": fn, "Input": json.dumps({"constant": True})},
        {"Id": "detail", "Arn": fn, "InputPath": "$.detail"},
        {"Id": "shaped", "Arn": fn, "InputTransformer": {
            "InputPathsMap": {"total": "$.detail.total", "kind": "$.detail-type"},
            "InputTemplate": '{"summary": "<kind> of <total>", "total": <total>, "rule": "<aws.events.rule-name>"}'}},
    ]
    assert events.put_targets(Rule="big-orders", Targets=targets)["FailedEntryCount"] == 0
    listed = events.list_targets_by_rule(Rule="big-orders")["Targets"]
    assert sorted(t["Id"] for t in listed) == ["constant", "detail", "shaped", "whole"]
    assert next(t for t in listed if t["Id"] == "detail")["InputPath"] == "$.detail"
    # Putting the rule again replaces its definition and keeps its targets.
    assert events.put_rule(Name="big-orders", EventPattern=json.dumps(pattern))["RuleArn"] == rule_arn
    assert "Description" not in events.describe_rule(Name="big-orders")
    assert len(events.list_targets_by_rule(Rule="big-orders")["Targets"]) == 4

    sent = events.put_events(Entries=[
        entry(detail={"total": 250, "items": ["book"]}, Resources=["arn:aws:shop:order/1"]),
        entry(detail={"total": 5}),  # too small: matches no rule
    ])
    assert sent["FailedEntryCount"] == 0 and len(sent["Entries"]) == 2
    event_id = sent["Entries"][0]["EventId"]

    whole = wait_received(eb_server, "eb-journey", lambda e: e.get("id") == event_id)[0]
    assert whole["version"] == "0" and whole["source"] == "shop" and whole["detail-type"] == "order placed"
    assert whole["account"] == "000000000000" and whole["region"] == "us-east-1"
    assert whole["resources"] == ["arn:aws:shop:order/1"]
    assert whole["detail"] == {"total": 250, "items": ["book"]}
    assert whole["time"].endswith("Z")
    wait_received(eb_server, "eb-journey", lambda e: e == {"constant": True})
    wait_received(eb_server, "eb-journey", lambda e: e == {"total": 250, "items": ["book"]})
    wait_received(eb_server, "eb-journey", lambda e: e == {
        "summary": "order placed of 250", "total": 250, "rule": "big-orders"})
    # The small order never matched: only the first event's four deliveries exist.
    assert len(received(eb_server, "eb-journey")) == 4
    assert not any(e.get("detail", {}).get("total") == 5 for e in received(eb_server, "eb-journey"))

    # Disabled: not delivered (a second, enabled rule proves the events flowed meanwhile).
    events.put_rule(Name="sentinel", EventPattern=json.dumps({"detail-type": ["sentinel"]}))
    events.put_targets(Rule="sentinel", Targets=[{"Id": "s", "Arn": fn}])
    events.disable_rule(Name="big-orders")
    assert events.describe_rule(Name="big-orders")["State"] == "DISABLED"
    events.put_events(Entries=[entry(detail={"total": 999})])
    events.put_events(Entries=[entry(detail_type="sentinel")])
    wait_received(eb_server, "eb-journey", lambda e: e.get("detail-type") == "sentinel")
    assert not any(e.get("total") == 999 or e.get("detail", {}).get("total") == 999
                   for e in received(eb_server, "eb-journey"))
    events.enable_rule(Name="big-orders")
    events.put_events(Entries=[entry(detail={"total": 1000})])
    wait_received(eb_server, "eb-journey", lambda e: e.get("detail", {}).get("total") == 1000)

    # A rule with targets cannot be deleted; without them it can.
    assert error_of(events.delete_rule, Name="big-orders") == {
        "Code": "ValidationException", "Message": "Rule can't be deleted since it has targets.", "Status": 400}
    removed = events.remove_targets(Rule="big-orders", Ids=["whole", "constant", "detail", "shaped", "ghost"])
    assert removed["FailedEntryCount"] == 1 and removed["FailedEntries"][0]["TargetId"] == "ghost"
    assert events.list_targets_by_rule(Rule="big-orders")["Targets"] == []
    events.delete_rule(Name="big-orders")
    assert error_of(events.describe_rule, Name="big-orders")["Code"] == "ResourceNotFoundException"
    events.delete_rule(Name="big-orders")  # deleting what is gone succeeds, as on AWS
    events.remove_targets(Rule="sentinel", Ids=["s"])
    events.delete_rule(Name="sentinel")


def test_list_rules_prefix_and_paging(events):
    for index in range(3):
        events.put_rule(Name=f"paging-{index}", EventPattern=json.dumps({"source": [f"s{index}"]}),
                        State="DISABLED" if index == 1 else "ENABLED")
    first = events.list_rules(NamePrefix="paging-", Limit=2)
    assert [rule["Name"] for rule in first["Rules"]] == ["paging-0", "paging-1"]
    assert first["Rules"][1]["State"] == "DISABLED" and "CreatedBy" not in first["Rules"][0]
    rest = events.list_rules(NamePrefix="paging-", Limit=2, NextToken=first["NextToken"])
    assert [rule["Name"] for rule in rest["Rules"]] == ["paging-2"] and "NextToken" not in rest
    paginated = [rule["Name"] for page in events.get_paginator("list_rules").paginate(
        NamePrefix="paging-", PaginationConfig={"PageSize": 1}) for rule in page["Rules"]]
    assert paginated == ["paging-0", "paging-1", "paging-2"]
    for index in range(3):
        events.delete_rule(Name=f"paging-{index}")
    assert events.list_rules(NamePrefix="paging-")["Rules"] == []


def test_custom_event_bus(events, lam, eb_server):
    fn = create_recorder(lam, "eb-bus")
    default = events.describe_event_bus()
    assert default["Name"] == "default"
    assert default["Arn"] == "arn:aws:events:us-east-1:000000000000:event-bus/default"
    bus_arn = events.create_event_bus(Name="orders")["EventBusArn"]
    assert bus_arn == "arn:aws:events:us-east-1:000000000000:event-bus/orders"
    assert error_of(events.create_event_bus, Name="orders")["Code"] == "ResourceAlreadyExistsException"
    assert "orders" in [bus["Name"] for bus in events.list_event_buses()["EventBuses"]]
    rule_arn = events.put_rule(Name="on-orders", EventBusName="orders",
                               EventPattern=json.dumps({"source": ["shop"]}))["RuleArn"]
    assert rule_arn == "arn:aws:events:us-east-1:000000000000:rule/orders/on-orders"
    events.put_targets(Rule="on-orders", EventBusName=bus_arn, Targets=[{"Id": "t", "Arn": fn}])
    assert events.list_rules(EventBusName="orders")["Rules"][0]["Arn"] == rule_arn
    assert "on-orders" not in [rule["Name"] for rule in events.list_rules()["Rules"]]

    sent = events.put_events(Entries=[entry(detail={"bus": "default"}),
                                      entry(detail={"bus": "orders"}, EventBusName="orders"),
                                      entry(detail={"bus": "nowhere"}, EventBusName="no-such-bus")])
    assert sent["FailedEntryCount"] == 0  # an unknown bus accepts and drops, as AWS does
    wait_received(eb_server, "eb-bus", lambda e: e["detail"] == {"bus": "orders"})
    assert [e["detail"] for e in received(eb_server, "eb-bus")] == [{"bus": "orders"}]
    assert error_of(events.put_rule, Name="x", EventBusName="no-such-bus",
                    EventPattern='{"a": ["b"]}')["Code"] == "ResourceNotFoundException"
    assert error_of(events.delete_event_bus, Name="default") == {
        "Code": "ValidationException", "Message": "Cannot delete event bus default.", "Status": 400}
    events.delete_event_bus(Name="orders")  # its rules go with it
    assert error_of(events.describe_event_bus, Name="orders")["Code"] == "ResourceNotFoundException"
    assert error_of(events.describe_rule, Name="on-orders", EventBusName="orders")["Code"] == \
        "ResourceNotFoundException"


def test_test_event_pattern(events):
    event = {"id": "1", "source": "order", "detail-type": "Test", "account": "000000000000",
             "region": "us-east-1", "time": "2024-01-01T00:00:00Z", "detail": {"n": 7}}
    assert events.test_event_pattern(Event=json.dumps(event), EventPattern=json.dumps(
        {"source": ["order"], "detail": {"n": [{"numeric": [">=", 7]}]}}))["Result"] is True
    assert events.test_event_pattern(Event=json.dumps(event), EventPattern=json.dumps(
        {"source": ["shipment"]}))["Result"] is False
    assert error_of(events.test_event_pattern, Event="plain string", EventPattern='{"a": ["b"]}') == {
        "Code": "ValidationException", "Message": "Parameter Event is not valid.", "Status": 400}


def test_async_invoke_destination_on_the_default_bus(events, lam, eb_server):
    """An OnSuccess destination naming an event bus ARN reaches the rules of that bus (the async
    queue calls EventBridgeService.put_events in-process)."""
    create_recorder(lam, "eb-destination-source")
    fn = create_recorder(lam, "eb-destination-sink")
    bus_arn = events.describe_event_bus()["Arn"]
    lam.put_function_event_invoke_config(FunctionName="eb-destination-source",
                                         DestinationConfig={"OnSuccess": {"Destination": bus_arn}})
    events.put_rule(Name="async-results", EventPattern=json.dumps({
        "source": ["lambda"], "detail-type": ["Lambda Function Invocation Result - Success"],
        "resources": [{"prefix": ACCOUNT_ARN + "eb-destination-source:"}]}))  # the ARN with the version run
    events.put_targets(Rule="async-results", Targets=[{"Id": "sink", "Arn": fn, "InputPath": "$.detail"}])
    lam.invoke(FunctionName="eb-destination-source", InvocationType="Event", Payload=json.dumps({"n": 42}))
    record = wait_received(eb_server, "eb-destination-sink")[0]
    assert record["requestPayload"] == {"n": 42}
    assert record["requestContext"]["condition"] == "Success"
    events.remove_targets(Rule="async-results", Ids=["sink"])
    events.delete_rule(Name="async-results")


# ------------------------------------------------------------------------------- schedules
def test_schedule_fires_scheduled_event_into_function(events, lam, eb_server):
    fn = create_recorder(lam, "eb-scheduled")
    rule_arn = events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule="every-minute", Targets=[{"Id": "t", "Arn": fn}])
    fired = wait_received(eb_server, "eb-scheduled", count=2)
    for event in fired:
        assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
        assert event["resources"] == [rule_arn] and event["detail"] == {}
        assert event["account"] == "000000000000" and event["region"] == "us-east-1" and event["version"] == "0"
    assert len({event["id"] for event in fired}) == len(fired)
    assert len({event["time"] for event in fired}) == len(fired)

    events.disable_rule(Name="every-minute")
    stopped_at = len(received(eb_server, "eb-scheduled"))
    # A pattern rule on the same function proves deliveries still flow while the schedule is off.
    events.put_rule(Name="scheduled-sentinel", EventPattern=json.dumps({"source": ["sentinel"]}))
    events.put_targets(Rule="scheduled-sentinel", Targets=[{"Id": "s", "Arn": fn}])
    for sent in range(3):  # several schedule periods (each half a second) pass while events flow
        events.put_events(Entries=[entry(source="sentinel")])
        wait_received(eb_server, "eb-scheduled", lambda e: e.get("source") == "sentinel",
                      count=1 + sent, timeout_s=10)
    scheduled_now = [e for e in received(eb_server, "eb-scheduled") if e.get("source") == "aws.events"]
    assert len(scheduled_now) <= stopped_at + 1  # at most one fire was already on its way when disabled
    events.remove_targets(Rule="every-minute", Ids=["t"])
    events.delete_rule(Name="every-minute")
    events.remove_targets(Rule="scheduled-sentinel", Ids=["s"])
    events.delete_rule(Name="scheduled-sentinel")


def test_schedule_survives_restart_without_double_fire(fresh_server, tmp_path):
    """rate(5 minutes) at 60x fires every 5 s; the server restarts right after a fire (well within the
    period): the restarted server knows that occurrence is done and fires the next one on the same grid."""
    data_dir = tmp_path / "restart-data"
    env = {"STRATUS_SANDBOX": "plain", "STRATUS_SCHEDULE_TIME_SCALE": "60"}
    server = fresh_server(env=env, data_dir=data_dir)
    events = events_client(server)
    fn = create_recorder(server.client(), "eb-restart")
    events.put_rule(Name="tick", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="tick", Targets=[{"Id": "t", "Arn": fn}])
    wait_received(server, "eb-restart", count=1)
    assert server.stop() == 0
    before = received(server, "eb-restart")  # everything delivered before the stop

    restarted = fresh_server(env=env, data_dir=data_dir)
    assert events_client(restarted).describe_rule(Name="tick")["State"] == "ENABLED"
    after_restart = wait_received(restarted, "eb-restart", count=len(before) + 1)
    times = [event["time"] for event in after_restart]
    duplicates = [t for t, n in Counter(times).items() if n > 1]
    assert duplicates == [], f"occurrences fired twice across the restart: {duplicates}"
    fired_at = sorted(calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) for t in times)
    assert all((later - fired_at[0]) % 300 == 0 for later in fired_at)  # one grid, kept across the restart
    new = [event for event in after_restart if event["id"] not in {e["id"] for e in before}]
    assert min(e["time"] for e in new) > max(e["time"] for e in before)  # only later occurrences fired


# ---------------------------------------------------------------------------------- AWS CLI v1
class AwsEvents:
    """`python -m awscli --endpoint-url … events …` with dummy credentials only."""

    def __init__(self, endpoint: str, cwd):
        self.endpoint, self.cwd = endpoint, cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                        AWS_CONFIG_FILE=str(cwd / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "no-creds"),
                        AWS_PAGER="", AWS_MAX_ATTEMPTS="1")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", self.endpoint, "--output", "json",
                               "events", *args], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=60)

    def json(self, *args: str) -> dict:
        completed = self.run(*args)
        assert completed.returncode == 0, f"aws events {' '.join(args)} failed:\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else {}


def test_aws_cli_v1(eb_server, lam, tmp_path):
    fn = create_recorder(lam, "eb-cli")
    aws = AwsEvents(eb_server.endpoint, tmp_path)
    (tmp_path / "pattern.json").write_text(json.dumps({"source": ["cli"], "detail-type": ["ping"]}))
    put = aws.json("put-rule", "--name", "cli-rule", "--event-pattern", "file://pattern.json")
    assert put["RuleArn"] == "arn:aws:events:us-east-1:000000000000:rule/cli-rule"
    targets = aws.json("put-targets", "--rule", "cli-rule", "--targets",
                       json.dumps([{"Id": "1", "Arn": fn, "InputPath": "$.detail"}]))
    assert targets == {"FailedEntryCount": 0, "FailedEntries": []}
    sent = aws.json("put-events", "--entries", json.dumps([
        {"Source": "cli", "DetailType": "ping", "Detail": json.dumps({"from": "aws cli"})}]))
    assert sent["FailedEntryCount"] == 0 and sent["Entries"][0]["EventId"]
    wait_received(eb_server, "eb-cli", lambda e: e == {"from": "aws cli"})
    listed = aws.json("list-rules", "--name-prefix", "cli-")
    assert [(rule["Name"], rule["State"]) for rule in listed["Rules"]] == [("cli-rule", "ENABLED")]
    failed = aws.run("put-rule", "--name", "cli-bad", "--schedule-expression", "rate(2 minute)")
    assert failed.returncode != 0
    assert "ValidationException" in failed.stderr and "Parameter ScheduleExpression is not valid." in failed.stderr
    aws.json("remove-targets", "--rule", "cli-rule", "--ids", "1")
    aws.json("delete-rule", "--name", "cli-rule")
    assert aws.json("list-rules", "--name-prefix", "cli-")["Rules"] == []


# --------------------------------------------------------------------------------- bad input
def rule_names(events) -> list[str]:
    return [rule["Name"] for rule in events.list_rules()["Rules"]]


@pytest.mark.parametrize("expression", [
    "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(10 seconds)", "cron(0 1 * * * *)",
    "cron(71 8 1 * ? *)", "cron(0 dummy ? * MON-FRI *)", "cron(0 8 ? * MON#9 *)", "every day",
])
def test_invalid_schedule_expression(events, expression):
    assert error_of(events.put_rule, Name="bad-schedule", ScheduleExpression=expression) == {
        "Code": "ValidationException", "Message": "Parameter ScheduleExpression is not valid.", "Status": 400}
    assert "bad-schedule" not in rule_names(events)


@pytest.mark.parametrize("pattern,reason", [
    ('{"source": "shop"}', '"source" must be an object or an array'),
    ('{"resources": []}', "Empty arrays are not allowed"),
    ('{"n": [{"numeric": [">", 0, ">", 0]}]}', "Bad numeric range operator: >"),
    ('{"s": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed"),
    ('["not", "an", "object"]', "Filter is not an object"),
])
def test_invalid_event_pattern(events, pattern, reason):
    error = error_of(events.put_rule, Name="bad-pattern", EventPattern=pattern)
    assert error == {"Code": "InvalidEventPatternException", "Status": 400,
                     "Message": f"Event pattern is not valid. Reason: {reason}"}
    assert error_of(events.put_rule, Name="bad-pattern", EventPattern="{not json")["Code"] == \
        "InvalidEventPatternException"
    assert "bad-pattern" not in rule_names(events)


def test_schedule_and_pattern_neither_or_both(events):
    assert error_of(events.put_rule, Name="neither") == {
        "Code": "ValidationException", "Status": 400,
        "Message": "Parameter(s) EventPattern or ScheduleExpression must be specified."}
    assert "neither" not in rule_names(events)
    # AWS: "A rule can have both ... in which case the rule triggers on matching events as well as on a schedule."
    events.put_rule(Name="both", ScheduleExpression="rate(1 day)", EventPattern='{"source": ["x"]}')
    described = events.describe_rule(Name="both")
    assert described["ScheduleExpression"] == "rate(1 day)" and described["EventPattern"] == '{"source": ["x"]}'
    events.delete_rule(Name="both")
    events.create_event_bus(Name="no-schedules")
    assert error_of(events.put_rule, Name="s", EventBusName="no-schedules", ScheduleExpression="rate(1 day)") == {
        "Code": "ValidationException", "Status": 400,
        "Message": "ScheduleExpression is supported only on the default event bus."}
    events.delete_event_bus(Name="no-schedules")


def test_model_validation_and_unknown_rules(events):
    error = error_of(events.put_rule, Name="bad name!", EventPattern='{"a": ["b"]}', State="SOMETIMES")
    assert error["Code"] == "ValidationException" and error["Status"] == 400
    assert error["Message"].startswith("2 validation errors detected: ")
    assert "Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy regular expression " \
           "pattern: [\\.\\-_A-Za-z0-9]+" in error["Message"]
    assert "Value 'SOMETIMES' at 'state' failed to satisfy constraint: Member must satisfy enum value set" \
           in error["Message"]
    assert "Value '!!' at 'targets.1.member.id' failed to satisfy constraint" in error_of(
        events.put_targets, Rule="r", Targets=[{"Id": "!!", "Arn": ACCOUNT_ARN + "f"}])["Message"]
    missing = {"Code": "ResourceNotFoundException", "Status": 400,
               "Message": "Rule no-such-rule does not exist on EventBus default."}
    assert error_of(events.describe_rule, Name="no-such-rule") == missing
    assert error_of(events.enable_rule, Name="no-such-rule") == missing
    assert error_of(events.disable_rule, Name="no-such-rule") == missing
    assert error_of(events.list_targets_by_rule, Rule="no-such-rule") == missing
    assert error_of(events.remove_targets, Rule="no-such-rule", Ids=["a"]) == missing
    assert error_of(events.put_targets, Rule="no-such-rule", Targets=[{"Id": "a", "Arn": ACCOUNT_ARN + "f"}]) == missing


def test_target_rules(events, lam, eb_server):
    events.put_rule(Name="targets", EventPattern='{"source": ["targets"]}')
    # AWS accepts a target whose function does not exist; deliveries to it fail later.
    accepted = events.put_targets(Rule="targets", Targets=[{"Id": "ghost", "Arn": ACCOUNT_ARN + "no-such-function"}])
    assert accepted["FailedEntryCount"] == 0
    assert events.put_events(Entries=[entry(source="targets")])["FailedEntryCount"] == 0
    # Stratus delivers to Lambda only: other services' targets are failed entries, the rest is kept.
    mixed = events.put_targets(Rule="targets", Targets=[
        {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
        {"Id": "fn", "Arn": ACCOUNT_ARN + "other:live"},
    ])
    assert mixed["FailedEntryCount"] == 1 and mixed["FailedEntries"][0]["TargetId"] == "queue"
    assert mixed["FailedEntries"][0]["ErrorCode"] == "ValidationException"
    assert sorted(t["Id"] for t in events.list_targets_by_rule(Rule="targets")["Targets"]) == ["fn", "ghost"]
    assert error_of(events.put_targets, Rule="targets", Targets=[{"Id": "x", "Arn": "not-an-arn"}]) == {
        "Code": "ValidationException", "Status": 400,
        "Message": "Parameter not-an-arn is not valid. Reason: Provided Arn is not in correct format."}
    assert error_of(events.put_targets, Rule="targets", Targets=[
        {"Id": "x", "Arn": ACCOUNT_ARN + "f", "Input": "{}", "InputPath": "$.detail"}])["Message"] == \
        "Only one of Input, InputPath, or InputTransformer must be provided for target x."
    assert error_of(events.put_targets, Rule="targets", Targets=[
        {"Id": "x", "Arn": ACCOUNT_ARN + "f", "Input": "{not json"}])["Code"] == "ValidationException"
    assert error_of(events.put_targets, Rule="targets", Targets=[
        {"Id": "x", "Arn": ACCOUNT_ARN + "f", "InputPath": "detail"}])["Message"] == \
        "InputPath for target x is invalid."
    transformer = {"InputPathsMap": {"a": "$.detail"}, "InputTemplate": '{"b": <b>}'}
    assert error_of(events.put_targets, Rule="targets", Targets=[
        {"Id": "x", "Arn": ACCOUNT_ARN + "f", "InputTransformer": transformer}])["Message"] == \
        "InputTemplate for target x contains invalid placeholder b."
    # Five targets per rule: a request that would pass the limit adds none of its targets.
    over = [{"Id": f"n{index}", "Arn": ACCOUNT_ARN + "f"} for index in range(4)]
    assert error_of(events.put_targets, Rule="targets", Targets=over) == {
        "Code": "LimitExceededException", "Status": 400,
        "Message": "The requested resource exceeds the maximum number allowed."}
    assert sorted(t["Id"] for t in events.list_targets_by_rule(Rule="targets")["Targets"]) == ["fn", "ghost"]
    events.remove_targets(Rule="targets", Ids=["fn", "ghost"])
    events.delete_rule(Name="targets")


def test_put_events_entry_errors_and_limits(events):
    result = events.put_events(Entries=[
        {"DetailType": "d", "Detail": "{}"},
        {"Source": "s", "Detail": "{}"},
        {"Source": "s", "DetailType": "d"},
        {"Source": "s", "DetailType": "d", "Detail": "[1, 2]"},
        {"Source": "s", "DetailType": "d", "Detail": "{broken"},
        entry(),
    ])
    assert result["FailedEntryCount"] == 5
    assert [e.get("ErrorCode") for e in result["Entries"]] == [
        "InvalidArgument", "InvalidArgument", "InvalidArgument", "MalformedDetail", "MalformedDetail", None]
    assert result["Entries"][0]["ErrorMessage"] == \
        "Parameter Source is not valid. Reason: Source is a required argument."
    assert result["Entries"][3]["ErrorMessage"] == "Detail is malformed."
    assert "EventId" in result["Entries"][5]
    too_many = error_of(events.put_events, Entries=[entry() for _ in range(11)])
    assert too_many["Code"] == "ValidationException"
    assert "at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10" \
        in too_many["Message"]
    big = json.dumps({"blob": "x" * (256 * 1024)})
    assert error_of(events.put_events, Entries=[entry(detail=None, Detail=big)]) == {
        "Code": "ValidationException", "Status": 400,
        "Message": "Total size of the entries in the request is over the limit."}


def test_raw_protocol_errors(eb_server):
    def post(target: str | None, body: bytes) -> tuple[int, dict]:
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target:
            headers["X-Amz-Target"] = target
        request = signed_request(eb_server.endpoint + "/", data=body, headers=headers, method="POST", service="events")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, body = post("AWSEvents.NoSuchThing", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = post(None, b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = post("AWSEvents.ListRules", b"{not json")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = post("AWSEvents.ListRules", b'{"Limit": "ten"}')
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = post("AWSEvents.ListRules", b"{}")
    assert status == 200 and "Rules" in body
    # The Lambda API's paths are untouched by the EventBridge route.
    with urllib.request.urlopen(signed_request(eb_server.endpoint + "/2015-03-31/functions/"), timeout=10) as response:
        assert "Functions" in json.loads(response.read())
