"""The Runtime API as a runtime sees it: out-of-turn and unknown calls get AWS's 4xx answers.

The handler itself is the probe: it calls its own environment's Runtime API (AWS_LAMBDA_RUNTIME_API)
while it holds an invocation, and reports what it was told.
"""

import json

from tests.support.environments import wait_for_log
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

PROBE = """
import http.client, json, os
def call(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return [response.status, data.decode()]
def handler(event, context):
    rid = context.aws_request_id
    return {
        "unknown_id": call("POST", "/2018-06-01/runtime/invocation/not-a-request/response", b"{}"),
        "init_error_after_init": call("POST", "/2018-06-01/runtime/init/error", b"{}"),
        "unknown_path": call("GET", "/2018-06-01/runtime/nothing-here"),
        "wrong_method": call("GET", f"/2018-06-01/runtime/invocation/{rid}/response"),
        "next_while_running": call("GET", "/2018-06-01/runtime/invocation/next"),
    }
"""


def test_out_of_turn_calls_get_aws_answers(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": PROBE})})
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body["unknown_id"] == [400, '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n']
    status, text = body["init_error_after_init"]
    assert status == 403 and "InvalidStateTransition" in text and "to InitError" in text
    assert body["unknown_path"] == [404, "404 page not found\n"]
    assert body["wrong_method"][0] == 405
    status, text = body["next_while_running"]
    assert status == 403 and "InvalidStateTransition" in text
    # The real response still counts, and the environment keeps working.
    assert invoke_json(lam, fn_name)[0]["StatusCode"] == 200


def test_response_posted_twice_is_rejected(server, lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": PROBE.replace("def handler", "def _unused") + """
def handler(event, context):
    rid = context.aws_request_id
    first = call("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b'"from the handler"')
    second = call("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b'"again"')
    error_after = call("POST", f"/2018-06-01/runtime/invocation/{rid}/error", b'{}')
    print("POSTS " + json.dumps([first, second, error_after]))
    return "the bootstrap's own post comes too late"
"""})})
    response, body = invoke_json(lam, fn_name)
    assert body == "from the handler"
    log = wait_for_log(server, fn_name, "POSTS ")
    line = next(line for line in log.splitlines() if line.startswith("POSTS "))
    first, second, error_after = json.loads(line[len("POSTS "):])
    assert first == [202, '{"status":"OK"}']
    assert second[0] == 403 and "State transition from RuntimeResponseSentState to InvocationResponse" in second[1]
    assert error_after[0] == 403 and "InvocationErrorResponse" in error_after[1]
    # The bootstrap's own late post is refused too; the environment still serves the next invoke.
    again, body = invoke_json(lam, fn_name)
    assert body == "from the handler" and "FunctionError" not in again


STREAMER = """
import base64, json, os, socket
def post_streaming(request_id, chunks, trailers=None, mode="streaming"):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    sock = socket.create_connection((host, int(port)))
    head = (f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\\r\\nHost: x\\r\\n"
            f"Lambda-Runtime-Function-Response-Mode: {mode}\\r\\nTransfer-Encoding: chunked\\r\\n")
    if trailers:
        head += "Trailer: " + ", ".join(trailers) + "\\r\\n"
    data = head.encode() + b"\\r\\n"
    for chunk in chunks:
        data += b"%x\\r\\n" % len(chunk) + chunk + b"\\r\\n"
    data += b"0\\r\\n" + b"".join(f"{k}: {v}\\r\\n".encode() for k, v in (trailers or {}).items()) + b"\\r\\n"
    sock.sendall(data)
    status = sock.recv(65536).split(b" ", 2)[1]
    sock.close()
    print("STREAM STATUS", status.decode())
def handler(event, context):
    rid = context.aws_request_id
    if event["case"] == "ok":
        post_streaming(rid, [b'{"streamed": ', b'"in three', b' chunks"}'])
    elif event["case"] == "error":
        error = base64.b64encode(json.dumps({"errorType": "Function.StreamBroke",
                                             "errorMessage": "mid-stream"}).encode())
        post_streaming(rid, [b"partial"], {"Lambda-Runtime-Function-Error-Type": "Function.StreamBroke",
                                            "Lambda-Runtime-Function-Error-Body": error.decode()})
    else:
        post_streaming(rid, [b"{}"], mode="sideways")
    return "too late"
"""


def test_streaming_response_mode(server, lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": STREAMER})})
    response, body = invoke_json(lam, fn_name, {"case": "ok"})
    assert "FunctionError" not in response and body == {"streamed": "in three chunks"}

    response, body = invoke_json(lam, fn_name, {"case": "error"})
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Function.StreamBroke", "errorMessage": "mid-stream"}

    response, body = invoke_json(lam, fn_name, {"case": "bad-mode"})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.InvalidResponseModeHeader"
    assert "STREAM STATUS 400" in wait_for_log(server, fn_name, "STREAM STATUS 400")


SOCKET_PROBE_RUNTIME = """import http.client, json, os, socket, stat
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
conn = http.client.HTTPConnection(api)
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    path = os.environ["_STRATUS_RUNTIME_API_SOCKET"]
    probe = socket.socket(socket.AF_UNIX)
    probe.connect(path)
    probe.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    answer = probe.recv(65536).decode()
    probe.close()
    body = {"is_socket": stat.S_ISSOCK(os.stat(path).st_mode), "status": answer.split(" ")[1], "tcp": api}
    conn.request("POST", "/2018-06-01/runtime/invocation/" + request_id + "/response", json.dumps(body))
    conn.getresponse().read()
"""


def test_the_runtime_api_is_also_served_on_a_unix_socket(lam, fn_name):
    """Spawned environments get it (the bundled bootstraps use it there: cheaper than TCP on loopback; a custom
    runtime here, which always spawns: forked and pre-started environments are handed a connection instead);
    AWS_LAMBDA_RUNTIME_API stays TCP."""
    bootstrap = '#!/bin/sh\nexec python3 -S "$LAMBDA_TASK_ROOT/runtime.py"\n'
    code = make_zip({"bootstrap": bootstrap, "runtime.py": SOCKET_PROBE_RUNTIME}, modes={"bootstrap": 0o755})
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="unused", Role=ROLE,
                        Code={"ZipFile": code})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name)
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body["is_socket"] is True
    assert body["status"] == "403"  # the same environment's API: a /next while running is out of turn
    assert body["tcp"].startswith("127.0.0.1:")
