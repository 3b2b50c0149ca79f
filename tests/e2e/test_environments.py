"""Execution environments: warm reuse, INIT once, concurrency, the AWS environment, the context object."""

import base64
import concurrent.futures
import json
import os
import re
import time

import pytest

from tests.support.environments import function_log, processes_of, wait_for_log, wait_until_gone
from tests.support.server import invoke_json, make_zip
from tests.support.signing import auth_lines, signed_request

pytestmark = pytest.mark.both_python_paths  # forked and spawned Python environments alike

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

WARM_APP = """
import os, tempfile
COUNTER = 0
INIT_STREAM = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
def handler(event, context):
    global COUNTER
    COUNTER += 1
    # The environment's own /tmp (TMPDIR in the plain sandbox, /tmp itself when namespaced).
    path = os.path.join(tempfile.gettempdir(), "stratus-warm")
    previous = open(path).read() if os.path.exists(path) else None
    with open(path, "w") as out:
        out.write(context.aws_request_id)
    return {"counter": COUNTER, "stream": context.log_stream_name, "init_stream": INIT_STREAM, "previous": previous,
            "request_id": context.aws_request_id}
"""


def create(lam, name, files, **kwargs):
    kwargs.setdefault("Runtime", "python3.12")
    kwargs.setdefault("Handler", "app.handler")
    return lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": make_zip(files)}, **kwargs)


def tail(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def test_warm_reuse_keeps_globals_and_tmp_and_reports_init_once(lam, fn_name):
    create(lam, fn_name, {"app.py": WARM_APP})
    first, body1 = invoke_json(lam, fn_name, LogType="Tail")
    second, body2 = invoke_json(lam, fn_name, LogType="Tail")
    third, body3 = invoke_json(lam, fn_name, LogType="Tail")
    assert [body1["counter"], body2["counter"], body3["counter"]] == [1, 2, 3]
    assert body1["stream"] == body2["stream"] == body3["stream"] == body1["init_stream"]
    assert body1["previous"] is None
    assert body2["previous"] == body1["request_id"]
    assert body3["previous"] == body2["request_id"]
    cold, warm = tail(first), tail(second)
    for log, body in ((cold, body1), (warm, body2)):
        assert f"START RequestId: {body['request_id']} Version: $LATEST" in log
        assert f"END RequestId: {body['request_id']}" in log
        report = [line for line in log.splitlines() if line.startswith("REPORT")]
        assert len(report) == 1
        for field in ("Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: "):
            assert field in report[0]
    assert "Init Duration: " in cold
    assert "Init Duration: " not in warm and "Init Duration: " not in tail(third)


def test_tail_is_last_4kb_of_the_invocation_log(lam, fn_name):
    create(lam, fn_name, {"app.py": """
def handler(event, context):
    for i in range(500):
        print(f"line {i:04d} " + "x" * 20)
    return "ok"
"""})
    response, _ = invoke_json(lam, fn_name, LogType="Tail")
    raw = base64.b64decode(response["LogResult"])
    assert len(raw) == 4096
    text = raw.decode()
    assert "line 0499" in text and "line 0000" not in text
    assert text.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: ")


def test_environment_variables_and_context(lam, fn_name):
    create(lam, fn_name, {"app.py": """
import os, sys
def handler(event, context):
    keys = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
            "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_RUNTIME_API", "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_INITIALIZATION_TYPE", "TZ", "MY_VAR", "_X_AMZN_TRACE_ID"]
    return {
        "env": {k: os.environ.get(k) for k in keys},
        "cwd": os.getcwd(),
        "runtime_dir_exists": os.path.isdir(os.environ["LAMBDA_RUNTIME_DIR"]),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client_context": None if context.client_context is None else {
                "custom": context.client_context.custom, "env": context.client_context.env,
                "app_title": context.client_context.client.app_title},
        },
    }
"""}, MemorySize=256, Timeout=7, Environment={"Variables": {"MY_VAR": "my value"}})
    client_context = base64.b64encode(json.dumps(
        {"client": {"app_title": "demo"}, "custom": {"k": "v"}, "env": {"e": "1"}}).encode()).decode()
    response, body = invoke_json(lam, fn_name, ClientContext=client_context)
    env, context = body["env"], body["context"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn_name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn_name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].endswith(context["log_stream_name"][-32:])
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["TZ"] == ":UTC"
    assert env["MY_VAR"] == "my value"
    assert os.path.isabs(env["LAMBDA_TASK_ROOT"]) and body["cwd"] == env["LAMBDA_TASK_ROOT"]
    assert body["runtime_dir_exists"]
    assert context["aws_request_id"] == response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert context["function_name"] == fn_name and context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{fn_name}"
    assert 5000 < context["remaining"] <= 7000
    assert context["identity"] == [None, None]
    assert context["client_context"] == {"custom": {"k": "v"}, "env": {"e": "1"}, "app_title": "demo"}

    traced = lam.invoke(FunctionName=fn_name, Payload=b"{}")  # no caller header: a new trace, as on AWS
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0;Lineage=1:[0-9a-f]{8}:0",
                        json.loads(traced["Payload"].read())["env"]["_X_AMZN_TRACE_ID"])


def test_trace_header_reaches_the_function(server, fn_name, lam):
    import urllib.request
    create(lam, fn_name, {"app.py": "import os\ndef handler(e, c):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n"})
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    request = signed_request(f"{server.endpoint}/2015-03-31/functions/{fn_name}/invocations",
                             data=b"{}", method="POST", headers={"X-Amzn-Trace-Id": trace})
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read()).startswith(trace + ";Lineage=1:")  # passed through, its chain counted


def test_concurrent_invokes_scale_out_to_more_environments(lam, fn_name):
    create(lam, fn_name, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(0.5)\n"
                                    "    return c.log_stream_name\n"})
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: invoke_json(lam, fn_name), range(10)))
    elapsed = time.monotonic() - started
    assert all(response["StatusCode"] == 200 and "FunctionError" not in response for response, _ in results)
    environments = {stream for _, stream in results}
    assert len(environments) >= 2
    assert elapsed < 3.0, f"10 concurrent 0.5 s invokes took {elapsed:.2f} s"


def test_configuration_change_starts_new_environments(lam, fn_name):
    create(lam, fn_name, {"app.py": "import os\ndef handler(e, c):\n"
                                    "    return [c.log_stream_name, os.environ.get('VV')]\n"},
           Environment={"Variables": {"VV": "1"}})
    _, (old, v1) = invoke_json(lam, fn_name)
    assert processes_of(old)
    lam.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {"VV": "2"}})
    response, (new, v2) = invoke_json(lam, fn_name, LogType="Tail")
    assert (v1, v2) == ("1", "2")
    assert old != new
    assert "Init Duration" in tail(response)
    assert wait_until_gone(old) == [], "the old environment was not shut down"


def test_idle_environments_are_shut_down(fresh_server, tmp_path):
    srv = fresh_server(env={"STRATUS_IDLE_TIMEOUT_S": "0.5"})
    lam = srv.client()
    create(lam, "idle", {"app.py": "def handler(e, c):\n    return c.log_stream_name\n"})
    _, stream = invoke_json(lam, "idle")
    assert wait_until_gone(stream) == []
    response, new_stream = invoke_json(lam, "idle", LogType="Tail")
    assert new_stream != stream and "Init Duration" in tail(response)


def test_client_disconnect_mid_invoke_leaves_the_server_healthy(server, lam, fn_name):
    import socket
    create(lam, fn_name, {"app.py": "import time\ndef handler(e, c):\n    print('running', e.get('n'))\n"
                                    "    time.sleep(0.3)\n    return 'done'\n"})
    invoke_json(lam, fn_name)
    for n in range(3):
        sock = socket.create_connection(("127.0.0.1", server.port))
        body = json.dumps({"n": n}).encode()
        path = f"/2015-03-31/functions/{fn_name}/invocations"
        host = f"127.0.0.1:{server.port}"
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth_lines('POST', host, path, body)}"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert f"running {n}" in wait_for_log(server, fn_name, f"running {n}")  # it reached its environment
        sock.close()  # gone before the answer
    # The abandoned invokes still finish in their environments (4 END lines with the first one).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and function_log(server, fn_name).count("END RequestId") < 4:
        time.sleep(0.05)
    assert function_log(server, fn_name).count("END RequestId") == 4
    assert "Traceback" not in server.log() and "Exception in callback" not in server.log()
    response, body = invoke_json(lam, fn_name)
    assert response["StatusCode"] == 200 and body == "done"
