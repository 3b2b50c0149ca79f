"""Bad input that used to be a 500 is AWS's 4xx (issue 11 finding 10, the non-zip cases), against a real
server: JSON nested 1,000 deep (and deeper, and just under msgspec's limit) on every Lambda operation
with a body, on Invoke (payload and client context) and on every EventBridge operation; and EventBridge
model patterns written with Java's `\\p{L}` classes (PutTargets' RunCommandTargets Key), which Python's
`re` cannot compile, now checked with their real meaning."""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from stratus.api.validation import service_model
from stratus.http_limits import HttpLimits
from tests.support.server import StratusServer, make_zip
from tests.support.signing import signed_headers

ROLE = "arn:aws:iam::000000000000:role/x"
TARGET = "deep-json-target"
COUNTER = "deep-json-counter"  # counts the invocations its warm environment ran
COUNTER_CODE = "COUNT = 0\ndef handler(e, c):\n    global COUNT\n    COUNT += 1\n    return COUNT\n"
DEPTHS = [1000, 5000, 50_000]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("bad4xx") / "data", env={"STRATUS_SANDBOX": "plain"}) as running:
        lam = running.client()
        lam.create_function(FunctionName=TARGET, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'ran'\n"})})
        lam.create_function(FunctionName=COUNTER, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": COUNTER_CODE})})
        yield running


def call(server, method: str, path: str, body: bytes, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    signed = signed_headers(method, f"{server.endpoint}{path}", body, headers or {"Content-Type": "application/json"},
                            service="events" if path == "/" else "lambda")
    conn.request(method, path, body=body, headers=signed)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("x-amzn-ErrorType"), data


def deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_member(depth: int) -> bytes:
    return b'{"Description": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


def lambda_operations_with_a_body() -> list[tuple[str, str, str]]:
    model = service_model("lambda")
    found = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        shape = operation.input_shape
        if shape is None or not any(m.serialization.get("location") is None for m in shape.members.values()):
            continue
        path = operation.http["requestUri"].split("?")[0]
        path = path.replace("{FunctionName}", TARGET).replace("{VersionNumber}", "1")
        for placeholder in ("{LayerName}", "{Name}", "{UUID}", "{Resource}", "{StatementId}", "{CapacityProviderName}",
                            "{CodeSigningConfigArn}", "{DurableExecutionArn}", "{CallbackId}"):
            path = path.replace(placeholder, "x")
        found.append((name, operation.http["method"], path))
    return found


def blob_payload(name: str) -> bool:
    """Whether the operation's body is bytes of the caller's (Invoke's payload, a durable callback's result),
    not a JSON document the server reads."""
    shape = service_model("lambda").operation_model(name).input_shape
    payload = shape.serialization.get("payload")
    return payload is not None and shape.members[payload].type_name == "blob"


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_json_is_a_400_on_every_lambda_operation_with_a_body(srv, depth):
    for name, method, path in lambda_operations_with_a_body():
        for body in (deep_array(depth), deep_member(depth)):
            status, error_type, data = call(srv, method, path, body)
            assert status < 500 and b"Traceback" not in data, (name, status, data[:300])
            if not blob_payload(name) and status not in (404, 413):
                assert (status, error_type) == (400, "InvalidRequestContentException"), (name, data[:300])
                assert b"nested too deeply" in data


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_json_invoke_payload_and_client_context_are_400_and_the_function_does_not_run(srv, depth):
    """A client context too big for the request head (depth 50,000: a ~133 KB header) is refused before its
    JSON is read, with the head limit's 431; one that fits is parsed and refused with a 400."""
    path = f"/2015-03-31/functions/{COUNTER}/invocations"
    runs_before = invocations_so_far(srv)
    for invocation_type in ("RequestResponse", "Event"):
        status, error_type, data = call(srv, "POST", path, deep_array(depth),
                                        {"X-Amz-Invocation-Type": invocation_type})
        assert (status, error_type) == (400, "InvalidRequestContentException"), data[:300]
    context = base64.b64encode(b'{"custom": ' + deep_array(depth) + b"}").decode()
    head_limit = HttpLimits().max_head_bytes
    assert not head_limit - 2048 < len(context) <= head_limit  # clearly inside or outside the head limit
    status, error_type, data = call(srv, "POST", path, b"{}", {"X-Amz-Client-Context": context})
    if len(context) > head_limit:
        assert (status, error_type) == (431, "RequestHeaderFieldsTooLargeException"), data[:300]
    else:
        assert (status, error_type) == (400, "InvalidParameterValueException"), data[:300]
    assert invocations_so_far(srv) == runs_before + 1  # between the two counting invokes, nothing ran


def invocations_so_far(srv) -> int:
    """Invoke the counter once more; how many invocations its warm environment ran before this one."""
    status, _, data = call(srv, "POST", f"/2015-03-31/functions/{COUNTER}/invocations", b"{}")
    assert status == 200, data[:300]
    return int(json.loads(data)) - 1


def test_json_just_under_the_nesting_limit_is_answered_without_a_500(srv):
    for depth in (100, 400, 800, 900, 950, 980, 999):
        status, _, data = call(srv, "POST", f"/2015-03-31/functions/{TARGET}/invocations", deep_array(depth))
        assert status in (200, 400), (depth, status, data[:200])
        for name, method, path in lambda_operations_with_a_body():
            status, _, data = call(srv, method, path, deep_member(depth))
            assert status < 500 and b"Traceback" not in data, (depth, name, status, data[:300])


EVENTS_JSON = {"Content-Type": "application/x-amz-json-1.1"}


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_json_is_a_serialization_exception_on_every_eventbridge_operation(srv, depth):
    for name in service_model("events").operation_names:
        headers = dict(EVENTS_JSON, **{"X-Amz-Target": f"AWSEvents.{name}"})
        for body in (deep_array(depth), b'{"Name": ' + deep_array(depth) + b"}"):
            status, _, data = call(srv, "POST", "/", body, headers)
            assert status < 500 and b"Traceback" not in data, (name, status, data[:300])
            document = json.loads(data)
            assert document["__type"] in ("SerializationException", "UnknownOperationException"), (name, document)


def put_targets(srv, key: str):
    target = {"Id": "1", "Arn": f"arn:aws:lambda:us-east-1:000000000000:function:{TARGET}",
              "RunCommandParameters": {"RunCommandTargets": [{"Key": key, "Values": ["v"]}]}}
    body = json.dumps({"Rule": "p-l-rule", "Targets": [target]}).encode()
    return call(srv, "POST", "/", body, dict(EVENTS_JSON, **{"X-Amz-Target": "AWSEvents.PutTargets"}))


@pytest.mark.parametrize("key", ["tag:Name", "tag:Näme", "InstanceIds", "标签:名字", "tag:٣ x"])
def test_put_targets_with_a_letters_pattern_accepts_what_it_allows(srv, key):
    rule = json.dumps({"Name": "p-l-rule", "ScheduleExpression": "rate(1 day)", "State": "DISABLED"}).encode()
    assert call(srv, "POST", "/", rule, dict(EVENTS_JSON, **{"X-Amz-Target": "AWSEvents.PutRule"}))[0] == 200
    status, _, data = put_targets(srv, key)
    assert status == 200, data[:300]


@pytest.mark.parametrize("key", ["tag$Name", "tag\tName", "a;b", "x" * 129])
def test_put_targets_with_a_letters_pattern_refuses_what_it_does_not(srv, key):
    status, error_type, data = put_targets(srv, key)
    assert (status, error_type) == (400, "ValidationException"), data[:300]
    assert b"runCommandTargets" in data


def events_call(srv, operation: str, document: dict):
    return call(srv, "POST", "/", json.dumps(document).encode(),
                dict(EVENTS_JSON, **{"X-Amz-Target": f"AWSEvents.{operation}"}))


@pytest.mark.parametrize("depth", [900, 1000, 3000])
def test_deep_json_inside_string_members_is_a_4xx(srv, depth):
    """EventPattern, Event, Detail, Input and filter patterns are JSON documents inside strings."""
    nested = '{"a":' * depth + "1" + "}" * depth
    listed = '{"source":' + "[" * depth + "]" * depth + "}"
    lambda_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{TARGET}"
    assert events_call(srv, "PutRule", {"Name": "deep-rule", "EventPattern": '{"source":["x"]}'})[0] == 200
    answers = [
        events_call(srv, "PutRule", {"Name": "deep-rule-2", "EventPattern": nested}),
        events_call(srv, "PutRule", {"Name": "deep-rule-2", "EventPattern": listed}),
        events_call(srv, "TestEventPattern", {"EventPattern": '{"source":["x"]}', "Event": nested}),
        events_call(srv, "TestEventPattern", {"EventPattern": listed, "Event": '{"source":"x"}'}),
        events_call(srv, "PutEvents", {"Entries": [{"Source": "x", "DetailType": "y", "Detail": nested}]}),
        events_call(srv, "PutTargets", {"Rule": "deep-rule", "Targets": [{"Id": "1", "Arn": lambda_arn,
                                                                          "Input": nested}]}),
        call(srv, "POST", "/2015-03-31/event-source-mappings/", json.dumps({
            "FunctionName": TARGET, "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q",
            "FilterCriteria": {"Filters": [{"Pattern": '{"body":' + "[" * depth + "]" * depth + "}"}]}}).encode()),
    ]
    for status, _, data in answers:
        assert status < 500 and b"Traceback" not in data, (depth, status, data[:300])
    rules = json.loads(events_call(srv, "ListRules", {"NamePrefix": "deep-rule-2"})[2])["Rules"]
    assert rules == []  # a refused rule is not stored
