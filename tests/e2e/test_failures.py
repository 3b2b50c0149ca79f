"""Failures as AWS reports them; after each one the next invoke works."""

import base64
import time

import pytest

from tests.support.environments import wait_until_gone
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def create(lam, name, source, **kwargs):
    kwargs.setdefault("Runtime", "python3.12")
    kwargs.setdefault("Handler", "app.handler")
    files = source if isinstance(source, dict) else {"app.py": source}
    lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": make_zip(files)}, **kwargs)


# A handler that fails the way the event asks, and succeeds otherwise; it records its pid.
FLAKY = """
import os, signal, sys, time, subprocess
def handler(event, context):
    mode = event.get("mode")
    if mode == "raise":
        raise ValueError("bad value " + str(event.get("n")))
    if mode == "sleep":
        time.sleep(event["seconds"])
    if mode == "sleep_with_child":
        subprocess.Popen(["sleep", "300"])
        time.sleep(300)
    if mode == "exit":
        os._exit(3)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "unserializable":
        return {"x": object()}
    if mode == "big":
        return "x" * (7 * 1024 * 1024)
    return {"ok": True, "stream": context.log_stream_name}
"""


def assert_next_invoke_works(lam, name):
    response, body = invoke_json(lam, name, {})
    assert "FunctionError" not in response, body
    assert body["ok"] is True
    return body["stream"]


def test_handler_exception_returns_aws_error_shape(lam, fn_name):
    create(lam, fn_name, FLAKY)
    stream = assert_next_invoke_works(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"mode": "raise", "n": 7}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad value 7"
    assert body["requestId"] == response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert any('app.py", line 6, in handler' in frame for frame in body["stackTrace"])
    log = base64.b64decode(response["LogResult"]).decode()
    assert "[ERROR] ValueError: bad value 7" in log
    assert assert_next_invoke_works(lam, fn_name) == stream, "a handled error keeps the environment"


def test_timeout_kills_the_process_tree(lam, fn_name):
    create(lam, fn_name, FLAKY, Timeout=1)
    stream = assert_next_invoke_works(lam, fn_name)
    started = time.monotonic()
    response, body = invoke_json(lam, fn_name, {"mode": "sleep_with_child"}, LogType="Tail")
    elapsed = time.monotonic() - started
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body["errorMessage"] == f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"
    assert 1.0 <= elapsed < 5.0
    assert "REPORT RequestId" in base64.b64decode(response["LogResult"]).decode()
    assert wait_until_gone(stream, 5) == [], "a process of the timed-out environment survived"
    assert assert_next_invoke_works(lam, fn_name) != stream


@pytest.mark.parametrize("mode,reason", [("exit", "exit status 3"), ("kill", "signal: killed")])
def test_crash_is_runtime_exit_error(lam, fn_name, mode, reason):
    create(lam, fn_name, FLAKY)
    old_stream = assert_next_invoke_works(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"mode": mode})
    assert response["FunctionError"] == "Unhandled"
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body == {"errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}"}
    assert assert_next_invoke_works(lam, fn_name) != old_stream


def test_import_error(lam, fn_name):
    create(lam, fn_name, "import no_such_module_anywhere\ndef handler(e, c):\n    return 1\n")
    for _ in range(2):  # every cold start fails the same way
        response, body = invoke_json(lam, fn_name)
        assert response["FunctionError"] == "Unhandled"
        assert body["errorType"] == "Runtime.ImportModuleError"
        assert body["errorMessage"] == "Unable to import module 'app': No module named 'no_such_module_anywhere'"
    lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"app.py": FLAKY}))
    assert_next_invoke_works(lam, fn_name)


def test_syntax_error(lam, fn_name):
    create(lam, fn_name, "def handler(e, c)\n    return 1\n")
    response, body = invoke_json(lam, fn_name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("Syntax error in module 'app'")


def test_handler_not_found(lam, fn_name):
    create(lam, fn_name, FLAKY, Handler="app.nope")
    response, body = invoke_json(lam, fn_name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "Handler 'nope' missing on module 'app'"
    lam.update_function_configuration(FunctionName=fn_name, Handler="app.handler")
    assert_next_invoke_works(lam, fn_name)


def test_exception_in_init_code(lam, fn_name):
    create(lam, fn_name, "raise RuntimeError('cannot start')\ndef handler(e, c):\n    return 1\n")
    response, body = invoke_json(lam, fn_name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "RuntimeError"
    assert body["errorMessage"] == "cannot start"
    assert body["requestId"] == ""
    assert any("app.py" in frame for frame in body["stackTrace"])
    assert "[ERROR] RuntimeError: cannot start" in base64.b64decode(response["LogResult"]).decode()
    lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"app.py": FLAKY}))
    assert_next_invoke_works(lam, fn_name)


def test_unserializable_result_is_marshal_error(lam, fn_name):
    create(lam, fn_name, FLAKY)
    response, body = invoke_json(lam, fn_name, {"mode": "unserializable"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"].startswith("Unable to marshal response:")
    assert_next_invoke_works(lam, fn_name)


def test_response_over_6mb_is_function_response_size_too_large(lam, fn_name):
    create(lam, fn_name, FLAKY, MemorySize=512)
    response, body = invoke_json(lam, fn_name, {"mode": "big"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    # AWS's recorded answer, word for word (LocalStack's test_lambda_too_large_response).
    assert body == {"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge"}
    assert_next_invoke_works(lam, fn_name)
