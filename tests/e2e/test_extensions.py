"""The Extensions API (2020-01-01) and extensions, as a function sees them through boto3.

External extensions come in a layer (`extensions/<name>`); the probe extension below registers for
INVOKE and SHUTDOWN and writes every event it gets to its stdout, which is the function's log.
It runs on the same interpreter as the Python runtime, so it exists inside either sandbox.
"""

import json
import re
import time

import pytest
from botocore.exceptions import ClientError

from stratus.runtime.runtimes import host_python
from tests.support.environments import function_log, wait_for_log
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

EXTENSION = """#!PYTHON
import http.client, json, os, sys, time
NAME = os.path.basename(__file__)
MODE = os.environ.get("EXT_MODE", "log")
API = os.environ["AWS_LAMBDA_RUNTIME_API"]


def call(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(API, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("Lambda-Extension-Identifier"), data


def log(*words):
    print("EXTLOG", NAME, *words, flush=True)


log("START", "handler=%s" % os.environ.get("_HANDLER"), "function=%s" % os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
if MODE == "crash":
    sys.exit(1)
status, ext_id, body = call("POST", "/2020-01-01/extension/register",
                            json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(), {"Lambda-Extension-Name": NAME})
log("REGISTER", status, body.decode().strip())
if MODE == "init-error":
    status, _, body = call("POST", "/2020-01-01/extension/init/error", b"{}", {
        "Lambda-Extension-Identifier": ext_id, "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"})
    log("INIT-ERROR", status, body.decode().strip())
    sys.exit(0)
invokes = 0
while True:
    status, _, body = call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
    event = json.loads(body)
    if event["eventType"] == "SHUTDOWN":
        log("SHUTDOWN", event["shutdownReason"], event["deadlineMs"])
        sys.exit(0)
    invokes += 1
    log("INVOKE", event["requestId"], event["invokedFunctionArn"], event["deadlineMs"])
    if invokes >= int(os.environ.get("EXT_SLOW_FROM", "1000000")):
        time.sleep(float(os.environ["EXT_SLOW_S"]))
        log("DONE", event["requestId"])
"""

APP = """
import os, sys, time
def handler(event, context):
    sys.stdout.write(f"HANDLER {context.aws_request_id}\\n")  # one write: whole lines in the shared log
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"request_id": context.aws_request_id, "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
            "wrapped": os.environ.get("WRAPPED")}
"""


def extension_layer(lam, name: str, extension: str = "logger") -> str:
    """Publish a layer holding the probe extension at extensions/<extension>; its version ARN."""
    content = make_zip({f"extensions/{extension}": EXTENSION.replace("PYTHON", host_python())},
                       {f"extensions/{extension}": 0o755})
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": content},
                                     CompatibleRuntimes=["python3.12"])["LayerVersionArn"]


def create(lam, name: str, layers=(), env=None, timeout=10, files=None, modes=None):
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Timeout=timeout, Layers=list(layers), Environment={"Variables": env or {}},
                        Code={"ZipFile": make_zip({"app.py": APP, **(files or {})}, modes)})


def wait_for_count(server, function_name: str, text: str, count: int, timeout_s: float = 10.0) -> str:
    """Wait (bounded) until `text` appears `count` times in the function's logs; returns the log."""
    deadline = time.monotonic() + timeout_s
    log = function_log(server, function_name)
    while log.count(text) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        log = function_log(server, function_name)
    return log


def extension_lines(log: str, name: str = "logger") -> list[list[str]]:
    """The probe extension's log lines, split into words after its name (found anywhere in a line:
    processes of one environment share its output, so another's partial line may precede)."""
    return [words.split() for words in re.findall(rf"EXTLOG {name} ([^\n]*)", log)]


def test_extension_in_a_layer_logs_invoke_and_shutdown_in_order(server, lam, fn_name):
    arn = extension_layer(lam, f"{fn_name}-ext")
    create(lam, fn_name, layers=[arn])
    ids = []
    for _ in range(2):
        response, body = invoke_json(lam, fn_name, {})
        assert "FunctionError" not in response, body
        ids.append(body["request_id"])
        # REPORT is written once the extension asked for its next event: only then is the environment
        # free again (a request arriving earlier would start another one, as on AWS).
        wait_for_log(server, fn_name, f"REPORT RequestId: {body['request_id']}")
    # New configuration: the environment is shut down (SHUTDOWN, reason spindown).
    lam.update_function_configuration(FunctionName=fn_name, Description="new configuration")
    log = wait_for_log(server, fn_name, "EXTLOG logger SHUTDOWN")
    events = [words for words in extension_lines(log) if words[0] in ("INVOKE", "SHUTDOWN")]
    assert [words[:2] for words in events] == [["INVOKE", ids[0]], ["INVOKE", ids[1]], ["SHUTDOWN", "spindown"]], log
    function_arn = lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionArn"]
    assert events[0][2] == function_arn and int(events[0][3]) > time.time() * 1000 - 60_000
    # It started before the runtime, registered with AWS's answer, and saw none of the runtime's own variables.
    start, register = extension_lines(log)[:2]
    assert start == ["START", "handler=None", f"function={fn_name}"]
    assert register[:2] == ["REGISTER", "200"]
    assert json.loads(" ".join(register[2:])) == {"functionName": fn_name, "functionVersion": "$LATEST",
                                                  "handler": "app.handler"}
    assert "EXTENSION\tName: logger\tState: Ready\tEvents: [INVOKE,SHUTDOWN]" in log
    assert log.index("EXTLOG logger REGISTER") < log.index("EXTENSION\tName: logger") < log.index("START RequestId")


def test_timeout_sends_shutdown_with_reason_timeout(server, lam, fn_name):
    create(lam, fn_name, layers=[extension_layer(lam, f"{fn_name}-ext")], timeout=1)
    response, body = invoke_json(lam, fn_name, {"sleep": 5})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    log = wait_for_log(server, fn_name, "EXTLOG logger SHUTDOWN")
    assert [words[:2] for words in extension_lines(log) if words[0] in ("INVOKE", "SHUTDOWN")] == [
        ["INVOKE", re.search(r"RequestId: (\S+)", body["errorMessage"]).group(1)], ["SHUTDOWN", "timeout"]]
    # The next invoke gets a fresh environment, extension included.
    response, body = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in response, body


@pytest.mark.parametrize("mode, error_type, message", [
    ("crash", "Extension.Crash", "exit status 1"),
    ("init-error", "Extension.InitError", "exit code 0"),
])
def test_extension_failing_init_fails_the_invoke_and_the_next_invoke_retries(server, lam, fn_name, mode,
                                                                              error_type, message):
    create(lam, fn_name, layers=[extension_layer(lam, f"{fn_name}-ext")], env={"EXT_MODE": mode})
    for attempt in (1, 2):
        response, body = invoke_json(lam, fn_name, {})
        assert response["FunctionError"] == "Unhandled", body
        assert body["errorType"] == error_type
        assert re.fullmatch(r"RequestId: \S+ Error: " + message, body["errorMessage"]), body
        # Each invoke ran a fresh INIT: the extension started again.
        log = wait_for_count(server, fn_name, "EXTLOG logger START", attempt)
        assert sum(words[0] == "START" for words in extension_lines(log)) == attempt
    assert "HANDLER" not in function_log(server, fn_name)  # the runtime's code never ran
    if mode == "init-error":
        assert ["INIT-ERROR", "202", '{"status":"OK"}'] in extension_lines(log)
        assert "State: InitError\tEvents: [INVOKE,SHUTDOWN]\tError Type: Extension.ConfigInvalid" in log


def test_extension_launch_error_when_not_executable(server, lam, fn_name):
    content = make_zip({"extensions/plain-file": "#!/bin/sh\necho never\n"})  # mode 644
    arn = lam.publish_layer_version(LayerName=f"{fn_name}-ext", Content={"ZipFile": content})["LayerVersionArn"]
    create(lam, fn_name, layers=[arn])
    response, body = invoke_json(lam, fn_name, {})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Extension.LaunchError", body
    assert body["errorMessage"].endswith("/extensions/plain-file: permission denied")


def test_more_than_ten_extensions_fail_init(server, lam, fn_name):
    names = [f"extensions/ext{n:02d}" for n in range(11)]
    content = make_zip({name: "#!/bin/sh\nexit 0\n" for name in names}, {name: 0o755 for name in names})
    arn = lam.publish_layer_version(LayerName=f"{fn_name}-ext", Content={"ZipFile": content})["LayerVersionArn"]
    create(lam, fn_name, layers=[arn])
    response, body = invoke_json(lam, fn_name, {})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Extension.LaunchError", body
    assert body["errorMessage"].endswith("Error: ErrTooManyExtensions")
    assert "HANDLER" not in function_log(server, fn_name)


def test_slow_extension_holds_the_environment_and_its_slot_not_the_answer(server, lam, fn_name):
    """The caller is answered when the runtime responds; the environment and its concurrency slot stay
    taken until the extension asks for its next event (AWS counts that time as the invocation's)."""
    create(lam, fn_name, layers=[extension_layer(lam, f"{fn_name}-ext")],
           env={"EXT_SLOW_FROM": "2", "EXT_SLOW_S": "3"})
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=1)
    first = invoke_json(lam, fn_name, {})[1]  # cold start; the extension answers at once
    wait_for_log(server, fn_name, f"REPORT RequestId: {first['request_id']}")  # the slot is free again
    started = time.monotonic()
    second = invoke_json(lam, fn_name, {})[1]  # the extension works 3 s after this INVOKE
    answered = time.monotonic() - started
    assert answered < 2.0, "the caller got its answer as soon as the runtime responded"
    with pytest.raises(ClientError) as excinfo:  # the one reserved slot is still the extension's
        lam.invoke(FunctionName=fn_name, Payload=b"{}")
    assert excinfo.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert time.monotonic() - started < 3.0, "the throttled invoke came while the extension still worked"
    wait_for_log(server, fn_name, f"REPORT RequestId: {second['request_id']}", timeout_s=20)
    third = invoke_json(lam, fn_name, {})[1]  # the slot and the environment are free again
    assert first["stream"] == second["stream"] == third["stream"]  # one environment throughout
    log = wait_for_log(server, fn_name, f"START RequestId: {third['request_id']}")
    # The invoke phase (REPORT Duration) lasted until the extension was done.
    report = re.search(rf"REPORT RequestId: {second['request_id']}\tDuration: ([\d.]+) ms", log)
    assert report and float(report.group(1)) >= 3000, log
    assert (log.index(f"EXTLOG logger DONE {second['request_id']}")
            < log.index(f"START RequestId: {third['request_id']}"))


PROBE = """
import http.client, json, os, uuid
def call(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return [response.status, data.decode()]
def handler(event, context):
    unknown = str(uuid.uuid4())
    base = "/2020-01-01/extension/"
    return {
        "register_without_name": call("POST", base + "register", b'{"events":["INVOKE"]}'),
        "register_after_init": call("POST", base + "register", b'{"events":["INVOKE"]}',
                                    {"Lambda-Extension-Name": "late"}),
        "internal_shutdown": call("POST", base + "register", b'{"events":["SHUTDOWN"]}',
                                  {"Lambda-Extension-Name": "late"}),
        "register_bad_json": call("POST", base + "register", b'{"events":', {"Lambda-Extension-Name": "late"}),
        "next_without_id": call("GET", base + "event/next"),
        "next_invalid_id": call("GET", base + "event/next", headers={"Lambda-Extension-Identifier": "not-a-uuid"}),
        "next_unknown_id": call("GET", base + "event/next", headers={"Lambda-Extension-Identifier": unknown}),
        "init_error_unknown": call("POST", base + "init/error", b"{}", {"Lambda-Extension-Identifier": unknown,
                                                                        "Lambda-Extension-Function-Error-Type": "X.Y"}),
        "exit_error_no_type": call("POST", base + "exit/error", b"{}", {"Lambda-Extension-Identifier": unknown}),
        "register_wrong_method": call("GET", base + "register"),
        "unknown_path": call("GET", base + "nothing-here"),
        "unknown": unknown,
    }
"""


def test_extensions_api_refusals(server, lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": PROBE})})
    response, body = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in response, body

    def error(case):
        status, text = body[case]
        assert text.endswith("\n")
        parsed = json.loads(text)
        return status, parsed["errorType"], parsed["errorMessage"]

    assert error("register_without_name") == (403, "Extension.InvalidExtensionName", "Empty extension name")
    assert error("register_after_init") == (403, "Extension.RegistrationClosed",
                                            "Extension registration closed already")
    assert error("internal_shutdown") == (403, "Extension.InvalidEventType",
                                          "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension")
    assert error("register_bad_json")[:2] == (403, "InvalidRequestFormat")
    assert error("next_without_id") == (403, "Extension.MissingExtensionIdentifier",
                                        "Missing Lambda-Extension-Identifier header")
    assert error("next_invalid_id") == (403, "Extension.InvalidExtensionIdentifier",
                                        "Invalid Lambda-Extension-Identifier")
    assert error("next_unknown_id") == (403, "Extension.UnknownExtensionIdentifier",
                                        f"Unknown extension {body['unknown']}")
    assert error("init_error_unknown") == (403, "Extension.UnknownExtensionIdentifier",
                                           "Unknown Lambda-Extension-Identifier")
    assert error("exit_error_no_type") == (403, "Extension.MissingHeader",
                                           "Lambda-Extension-Function-Error-Type not found")
    assert body["register_wrong_method"][0] == 405
    assert body["unknown_path"] == [404, "404 page not found\n"]
    # Nothing changed: the environment serves the next invoke as before, with no extension to wait for.
    again, second = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in again and second["register_after_init"][0] == 403
    assert "EXTENSION\t" not in function_log(server, fn_name)


def test_external_extension_name_must_match_its_file(server, lam, fn_name):
    """A second registration under the external extension's file name is refused; under another name,
    after INIT, registration is closed."""
    create(lam, fn_name, layers=[extension_layer(lam, f"{fn_name}-ext")],
           files={"app.py": PROBE.replace("def handler", "def _probe") + """
def handler(event, context):
    return {"again": call("POST", "/2020-01-01/extension/register", b'{"events":["INVOKE"]}',
                          {"Lambda-Extension-Name": "logger"})}
"""})
    response, body = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in response, body
    status, text = body["again"]
    assert status == 403 and json.loads(text)["errorType"] == "Extension.InvalidExtensionState"
    assert "to Registered failed for extension logger" in json.loads(text)["errorMessage"]


WRAPPER = """#!/bin/sh
# Sets a variable for the runtime, registers an internal extension, then runs the runtime.
export WRAPPED="yes:$#"
PYTHON "$LAMBDA_TASK_ROOT/agent.py" &
while [ ! -e "${TMPDIR:-/tmp}/agent-ready" ]; do sleep 0.01; done
exec "$@"
"""

AGENT = """
import http.client, json, os
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
def call(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(API, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("Lambda-Extension-Identifier"), data
status, ext_id, body = call("POST", "/2020-01-01/extension/register", b'{"events": ["INVOKE"]}',
                            {"Lambda-Extension-Name": "wrapper-agent"})
print("AGENT REGISTER", status, flush=True)
open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "agent-ready"), "w").close()
while True:
    status, _, body = call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
    print("AGENT", json.loads(body)["eventType"], json.loads(body)["requestId"], flush=True)
"""


@pytest.mark.parametrize("place", ["code", "layer"])
def test_exec_wrapper_runs_the_runtime_and_an_internal_extension(server, lam, fn_name, place):
    wrapper = WRAPPER.replace("PYTHON", host_python())
    if place == "code":
        create(lam, fn_name, env={"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"},
               files={"wrapper.sh": wrapper, "agent.py": AGENT}, modes={"wrapper.sh": 0o755})
    else:
        layer = make_zip({"wrapper": wrapper}, {"wrapper": 0o755})
        arn = lam.publish_layer_version(LayerName=f"{fn_name}-wrapper", Content={"ZipFile": layer})["LayerVersionArn"]
        create(lam, fn_name, layers=[arn], env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper"}, files={"agent.py": AGENT})
    ids = []
    for _ in range(2):
        response, body = invoke_json(lam, fn_name, {})
        assert "FunctionError" not in response, body
        assert re.fullmatch(r"yes:[1-9]\d*", body["wrapped"]), body  # the runtime's command came as arguments
        ids.append(body["request_id"])
        wait_for_log(server, fn_name, f"REPORT RequestId: {body['request_id']}")  # the environment is free again
    log = wait_for_log(server, fn_name, f"AGENT INVOKE {ids[1]}")
    assert "AGENT REGISTER 200" in log
    assert "EXTENSION\tName: wrapper-agent\tState: Ready\tEvents: [INVOKE]" in log
    assert re.findall(r"AGENT INVOKE (\S+)", log) == ids


def test_exec_wrapper_that_does_not_exist(server, lam, fn_name):
    create(lam, fn_name, env={"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/missing.sh"})
    response, body = invoke_json(lam, fn_name, {})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError", body
    assert "exit status 127" in body["errorMessage"]
    assert "missing.sh: does not exist" in wait_for_log(server, fn_name, "does not exist")


PROVIDED_BOOTSTRAP = """#!PYTHON
import http.client, os
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    conn = http.client.HTTPConnection(API)
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", b'"custom runtime"')
    conn.getresponse().read()
    conn.close()
"""


def test_os_only_runtime_ignores_exec_wrapper(lam, fn_name):
    """AWS applies AWS_LAMBDA_EXEC_WRAPPER in its managed runtimes' bootstraps; a custom runtime's
    bootstrap starts as it is."""
    bootstrap = PROVIDED_BOOTSTRAP.replace("PYTHON", host_python())
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="unused", Role=ROLE,
                        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/missing.sh"}},
                        Code={"ZipFile": make_zip({"bootstrap": bootstrap}, {"bootstrap": 0o755})})
    response, body = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in response and body == "custom runtime"
