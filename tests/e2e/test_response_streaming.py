"""Response streaming: InvokeWithResponseStream (boto3's event stream: PayloadChunk, InvokeComplete) fed by
the Runtime API's streaming response mode, from the Node runtime's awslambda.streamifyResponse and from
custom runtimes (a Python bootstrap, AWS's bash + curl style).

A handler that must still be running when a chunk arrives waits at a TCP gate of the test's (the session
server's host port functions may reach), which the test opens only once it has that chunk.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from stratus.runtime import sdks
from tests.conftest import require_sandbox
from tests.support.environments import wait_for_log
from tests.support.frontdoor import NODE_STREAM_STEPS
from tests.support.rawhttp import Raw
from tests.support.server import invoke_json, make_zip
from tests.support.stacks import StacksClient

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

# Steps the event lists: ["write", text], ["gate", port], ["time"] (writes end=<epoch seconds>),
# ["bytes", n], ["env"] (writes env=<log stream>), ["log", text], ["throw", message]; the Python
# bootstrap's own: ["fail", message] (error trailers), ["trailer", n] (a trailer of n bytes).
NODE_STREAMER = NODE_STREAM_STEPS + r"""
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType(event.contentType || 'text/plain');
  for (const [op, arg] of event.steps) {
    await commonStep(op, arg, responseStream, context);
  }
  responseStream.end();
});
"""

# A custom runtime in Python that streams by hand: chunked transfer encoding, error trailers.
PY_BOOTSTRAP = r"""#!/usr/bin/python3
import base64, http.client, json, os, socket, sys, time
HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
TRAILERS = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"

def next_event():
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = conn.getresponse()
    event = json.loads(answer.read())
    conn.close()
    return answer.getheader("Lambda-Runtime-Aws-Request-Id"), event

def gate(port):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as held:
        held.sendall(b"in")
        held.recv(2)

def stream(request_id, steps):
    sock = socket.create_connection((HOST, int(PORT)))
    sock.sendall((f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
                  f"Content-Type: text/plain\r\nTrailer: {TRAILERS}\r\n\r\n").encode())
    chunk = lambda data: sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
    trailers = b""
    try:
        for step in steps:
            op, arg = (step + [None])[:2]
            if op == "write":
                chunk(arg.encode())
            elif op == "gate":
                gate(arg)
            elif op == "time":
                chunk(f"end={time.time()}".encode())
            elif op == "bytes":
                for _ in range(arg // 65536):
                    chunk(b"x" * 65536)
            elif op == "fail":
                body = json.dumps({"errorType": "Function.StreamBroke", "errorMessage": arg}).encode()
                trailers = (b"Lambda-Runtime-Function-Error-Type: Function.StreamBroke\r\n"
                            b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(body) + b"\r\n")
            elif op == "trailer":
                trailers = b"X-Big: " + b"a" * arg + b"\r\n"
        sock.sendall(b"0\r\n" + trailers + b"\r\n")
    except OSError as error:
        print("STREAM SEND FAILED", error, flush=True)
    answer = b""
    while b"\r\n" not in answer:
        part = sock.recv(4096)
        if not part:
            break
        answer += part
    sock.close()
    print("STREAM STATUS", answer.split(b" ")[1].decode() if answer else "none", flush=True)

while True:
    request_id, event = next_event()
    stream(request_id, event["steps"])
"""

# AWS's bash + curl custom runtime, streaming: the handler's stdout goes to the Runtime API as written.
CURL_BOOTSTRAP = r"""#!/bin/bash
set -uo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
handler () {
  printf 'first '
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf in >&3
  read -r -n 2 reply <&3
  exec 3>&-
  printf 'end=%s' "$(date +%s.%N)"
}
while true
do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "$API/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  handler "$EVENT_DATA" | curl -sS -X POST -T - -H "Expect:" -H "Transfer-Encoding: chunked" \
    -H "Lambda-Runtime-Function-Response-Mode: streaming" -H "Content-Type: text/plain" "$API/$REQUEST_ID/response"
done
"""


class Gate:
    """The session server's host port functions may reach: a held handler connects, says "in" and waits."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.port = listener.getsockname()[1]
        listener.setblocking(False)
        while True:  # late arrivals of earlier tests: let them go
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            with conn:
                conn.settimeout(1)
                try:
                    conn.sendall(b"go")
                except OSError:
                    pass
        listener.setblocking(True)

    def open_next(self, timeout_s: float = 30.0) -> None:
        """Wait (bounded) for the next held handler, then let it go on."""
        self.listener.settimeout(timeout_s)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            assert conn.recv(2) == b"in"
            conn.sendall(b"go")


@pytest.fixture
def gate(server):
    return Gate(server.host_service)


def create_node(lam, name, **kwargs):
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"index.js": NODE_STREAMER})}, Timeout=kwargs.pop("Timeout", 30),
                        **kwargs)


def create_bootstrap(lam, name, source, **kwargs):
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="unused", Role=ROLE,
                        Code={"ZipFile": make_zip({"bootstrap": source}, modes={"bootstrap": 0o755})},
                        Timeout=kwargs.pop("Timeout", 30), **kwargs)


def collect(response) -> tuple[list[bytes], dict, list[float]]:
    """The PayloadChunks, the InvokeComplete event and each chunk's arrival time."""
    chunks, times, complete = [], [], None
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
            times.append(time.time())
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert complete is not None, "the stream ends with InvokeComplete"
    return chunks, complete, times


def stream_invoke(lam, name, event, **kwargs):
    return lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(event), **kwargs)


def needs_node():
    if shutil.which("node") is None:
        pytest.skip("Node.js is not on PATH; the nodejs runtimes need it")


def create_streamer(lam, name, kind):
    if kind == "node":
        needs_node()
        create_node(lam, name)
    else:
        create_bootstrap(lam, name, PY_BOOTSTRAP)


# ------------------------------------------------------------------------------- progressive delivery
@pytest.mark.parametrize("kind", ["node", "python-bootstrap"])
def test_chunks_arrive_while_the_handler_still_runs(lam, gate, fn_name, kind):
    create_streamer(lam, fn_name, kind)
    response = stream_invoke(lam, fn_name, {"steps": [["write", "first "], ["gate", gate.port], ["time"]]})
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    events = iter(response["EventStream"])
    first = next(events)
    first_at = time.time()
    assert first == {"PayloadChunk": {"Payload": b"first "}}
    gate.open_next()  # only now may the handler end
    rest = b""
    complete = None
    for event in events:
        if "PayloadChunk" in event:
            rest += event["PayloadChunk"]["Payload"]
        else:
            complete = event["InvokeComplete"]
    assert complete == {}, "no error, no log asked for"
    handler_end = float(rest.decode().removeprefix("end="))
    assert first_at < handler_end, (first_at, handler_end)


@pytest.mark.skipif(shutil.which("curl") is None or not os.path.exists("/bin/bash"),
                    reason="the bootstrap needs bash and curl on the host")
def test_a_bash_and_curl_custom_runtime_streams(lam, gate, fn_name):
    create_bootstrap(lam, fn_name, CURL_BOOTSTRAP)
    response = lam.invoke_with_response_stream(FunctionName=fn_name, Payload=str(gate.port))
    events = iter(response["EventStream"])
    assert next(events) == {"PayloadChunk": {"Payload": b"first "}}
    first_at = time.time()
    gate.open_next()
    rest = b"".join(event["PayloadChunk"]["Payload"] for event in events if "PayloadChunk" in event)
    assert first_at < float(rest.decode().removeprefix("end="))


def test_http_integration_prelude_passes_through_unchanged(lam, fn_name):
    """HttpResponseStream.from: the JSON prelude, 8 NUL bytes, then the body, under AWS's content type."""
    needs_node()
    lam.create_function(FunctionName=fn_name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"index.js": """
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream = awslambda.HttpResponseStream.from(responseStream, {statusCode: 201, headers: {'x-a': 'b'},
                                                                      cookies: ['c=d']});
  responseStream.write('body');
  responseStream.end();
});
"""})})
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {}))
    assert b"".join(chunks) == b'{"statusCode":201,"headers":{"x-a":"b"},"cookies":["c=d"]}' + bytes(8) + b"body"
    assert complete == {}


# ------------------------------------------------------------------------------------------- errors
def test_error_mid_stream_arrives_in_invoke_complete_node(lam, fn_name):
    needs_node()
    create_node(lam, fn_name)
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "partial"], ["throw", "boom"]]}))
    assert chunks == [b"partial"]
    assert complete == {"ErrorCode": "Unhandled", "ErrorDetails": "boom"}
    # Thrown before anything was written: still the event stream, with the error at its end.
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["throw", "early"]]}))
    assert chunks == [] and complete == {"ErrorCode": "Unhandled", "ErrorDetails": "early"}
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "fine"]]}))
    assert chunks == [b"fine"] and complete == {}


def test_error_trailers_of_a_custom_runtime_arrive_in_invoke_complete(lam, fn_name):
    create_bootstrap(lam, fn_name, PY_BOOTSTRAP)
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "partial"],
                                                                          ["fail", "mid-stream"]]}))
    assert chunks == [b"partial"]
    assert complete == {"ErrorCode": "Unhandled", "ErrorDetails": "mid-stream"}
    # Plain Invoke of the same runtime: buffered, the trailers' error as the function error.
    response = lam.invoke(FunctionName=fn_name, Payload=json.dumps({"steps": [["write", "x"], ["fail", "again"]]}))
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {"errorType": "Function.StreamBroke", "errorMessage": "again"}


def test_a_runtime_that_sends_huge_trailers_is_cut_off(server, lam, fn_name):
    create_bootstrap(lam, fn_name, PY_BOOTSTRAP)
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "x"], ["trailer", 200_000]]}))
    assert chunks == [b"x"] and complete["ErrorCode"] == "Runtime.TruncatedResponse"
    assert "STREAM STATUS 431" in wait_for_log(server, fn_name, "STREAM STATUS 431")
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "y"], ["trailer", 1000]]}))
    assert chunks == [b"y"] and complete == {}


def test_timeout_mid_stream_is_sandbox_timedout(lam, gate, fn_name):
    needs_node()
    create_node(lam, fn_name, Timeout=1)
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "started"], ["gate", gate.port]]}))
    assert chunks == [b"started"]
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in complete["ErrorDetails"]
    gate.open_next()  # the handler's connection, left behind by the reset environment
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "next"]]}))
    assert chunks == [b"next"] and complete == {}


def test_log_result_with_log_type_tail(lam, fn_name):
    needs_node()
    create_node(lam, fn_name)
    event = {"steps": [["log", "from the handler"], ["write", "x"]]}
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, event, LogType="Tail"))
    assert chunks == [b"x"] and set(complete) == {"LogResult"}
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "from the handler" in log and "START RequestId" in log and "REPORT RequestId" in log
    _, complete, _ = collect(stream_invoke(lam, fn_name, event))
    assert complete == {}, "no LogResult unless asked for"


# ---------------------------------------------------------------------------- buffered functions
def test_a_function_that_does_not_stream_answers_through_the_stream_api(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "version": context.function_version}
"""})}, Publish=True)
    response = stream_invoke(lam, fn_name, {"a": 1}, Qualifier="1", LogType="Tail")
    assert response["ExecutedVersion"] == "1"
    chunks, complete, _ = collect(response)
    assert json.loads(b"".join(chunks)) == {"echo": {"a": 1}, "version": "1"}
    assert "REPORT RequestId" in base64.b64decode(complete["LogResult"]).decode()
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"fail": True}))
    assert chunks == [] and complete == {"ErrorCode": "Unhandled", "ErrorDetails": "asked to fail"}
    # DryRun runs the function too, as AWS does for this operation.
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"b": 2}, InvocationType="DryRun"))
    assert json.loads(b"".join(chunks))["echo"] == {"b": 2} and complete == {}


def test_refusals_before_the_stream_are_aws_errors(lam, fn_name):
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke_with_response_stream(FunctionName=fn_name, Payload=b"{}")
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke_with_response_stream(FunctionName=fn_name, Payload=b"{not json")
    with pytest.raises(lam.exceptions.ClientError, match="enum value set: \\[RequestResponse, DryRun\\]"):
        lam.invoke_with_response_stream(FunctionName=fn_name, Payload=b"{}", InvocationType="Event")
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke_with_response_stream(FunctionName=fn_name, Payload=b" " * (6 * 1024 * 1024 + 1))
    with pytest.raises(lam.exceptions.ClientError) as raised:
        lam.invoke_with_response_stream(FunctionName=fn_name, Payload=b"{}", Qualifier="7")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke_with_response_stream(FunctionName=fn_name, Payload=b"{}")


# ------------------------------------------------------------------------------ limits and clients
@pytest.mark.parametrize("sandbox", ["namespaced", "plain"])
def test_over_limit_stream_ends_with_response_size_too_large(fresh_server, sandbox):
    require_sandbox(sandbox)
    srv = fresh_server(env={"STRATUS_SANDBOX": sandbox, "STRATUS_STREAM_RESPONSE_MAX_BYTES": str(1024 * 1024),
                            "STRATUS_STREAM_UNCAPPED_BYTES": str(64 * 1024),
                            "STRATUS_STREAM_BANDWIDTH_BYTES_PER_S": str(512 * 1024)})
    lam = srv.client()
    create_bootstrap(lam, "big", PY_BOOTSTRAP)
    started = time.monotonic()
    chunks, complete, _ = collect(stream_invoke(lam, "big", {"steps": [["bytes", 2 * 1024 * 1024]]}))
    elapsed = time.monotonic() - started
    received = sum(len(chunk) for chunk in chunks)
    assert received == 1024 * 1024, "the response up to the limit"
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert "1048576" in complete["ErrorDetails"]
    # Past the uncapped first 64 KB, at most 512 KB/s: the next 960 KB take 1.9 s, less what may pass ahead of
    # its time — the read that crosses the uncapped mark and the last one (≤ 256 KB each): at least 0.875 s,
    # where an uncapped stream takes milliseconds.
    assert elapsed >= 0.85, elapsed
    assert "STREAM STATUS 413" in wait_for_log(srv, "big", "STREAM STATUS 413")
    chunks, complete, _ = collect(stream_invoke(lam, "big", {"steps": [["write", "small"]]}))
    assert chunks == [b"small"] and complete == {}


def _start_raw_stream(port: int, name: str, event: dict) -> Raw:
    raw = Raw(port)
    body = json.dumps(event).encode()
    raw.sock.sendall(raw.signed_head("POST", f"/2021-11-15/functions/{name}/response-streaming-invocations", body)
                     + body)
    return raw


def wait_until_idle(server, function: str, timeout_s: float = 30.0) -> None:
    """Until the server reports every live environment of `function` idle (GET /_stratus/environments)."""
    stacks = StacksClient(server.endpoint)
    deadline = time.monotonic() + timeout_s
    while True:
        _, _, answer = stacks.request("GET", "/_stratus/environments")
        mine = [counts for counts in answer["Environments"] if counts["FunctionName"] == function]
        if mine and all(counts["Busy"] == 0 for counts in mine):
            return
        assert time.monotonic() < deadline, f"{function}'s environments still busy: {mine}"
        time.sleep(0.05)


def test_client_that_disconnects_mid_stream_leaves_the_function_invokable(server, lam, gate, fn_name):
    needs_node()
    create_node(lam, fn_name)
    _, _, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "warm"]]}))
    raw = _start_raw_stream(server.port, fn_name, {"steps": [
        ["env"], ["gate", gate.port], ["bytes", 4 * 1024 * 1024], ["log", "HANDLER END"]]})
    head = raw.sock.recv(65536)
    while b"env=" not in head:
        part = raw.sock.recv(65536)
        assert part, head
        head += part
    assert head.startswith(b"HTTP/1.1 200")
    first_env = head.split(b"env=", 1)[1][:60]
    raw.close()  # gone mid-stream
    gate.open_next()
    assert "HANDLER END" in wait_for_log(server, fn_name, "HANDLER END")
    wait_until_idle(server, fn_name)  # the runtime's end of the stream reached the server: the environment is free
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["env"]]}))
    assert complete == {}
    assert first_env.startswith(chunks[0].removeprefix(b"env=")), "the same environment serves the next invoke"


def test_client_that_stops_reading_does_not_block_other_invokes(server, lam, fn_name):
    needs_node()
    create_node(lam, fn_name, Timeout=5)
    raw = _start_raw_stream(server.port, fn_name, {"steps": [["bytes", 32 * 1024 * 1024]]})
    try:
        raw.sock.recv(1024)  # the answer has started; then nothing more is read
        started = time.monotonic()
        chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "other"]]}))
        assert chunks == [b"other"] and complete == {}
        assert time.monotonic() - started < 5, "served by another environment, not after the stalled one"
    finally:
        raw.close()
    chunks, complete, _ = collect(stream_invoke(lam, fn_name, {"steps": [["write", "after"]]}))
    assert chunks == [b"after"] and complete == {}


# ------------------------------------------------------------------------------- the JS SDK v3
NODE_SDK_CLIENT = r"""
const { LambdaClient, InvokeWithResponseStreamCommand } = require('@aws-sdk/client-lambda');
(async () => {
  const client = new LambdaClient({ endpoint: process.argv[2], region: 'us-east-1',
                                    credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const response = await client.send(new InvokeWithResponseStreamCommand({
    FunctionName: process.argv[3], Payload: Buffer.from(process.argv[4]), LogType: 'Tail' }));
  const events = [];
  for await (const event of response.EventStream) {
    if (event.PayloadChunk) events.push({ chunk: Buffer.from(event.PayloadChunk.Payload).toString() });
    if (event.InvokeComplete) events.push({ complete: event.InvokeComplete });
  }
  console.log(JSON.stringify({ status: response.StatusCode, version: response.ExecutedVersion, events }));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def _node_sdk_dir() -> str | None:
    """A folder whose node_modules holds @aws-sdk/client-lambda: STRATUS_TEST_NODE_MODULES, else the runtime SDK
    the install step puts in the venv (scripts/runtime-sdks.sh), else the cwd."""
    for folder in (os.environ.get("STRATUS_TEST_NODE_MODULES", ""), str(sdks.default_sdk_root() / "node"),
                   os.getcwd()):
        if folder and os.path.isdir(os.path.join(folder, "node_modules", "@aws-sdk", "client-lambda")):
            return folder
    return None


def test_the_js_sdk_v3_decodes_the_stream(server, lam, fn_name, tmp_path):
    needs_node()
    folder = _node_sdk_dir()
    if folder is None:
        reason = ("@aws-sdk/client-lambda is not installed (scripts/runtime-sdks.sh, or set STRATUS_TEST_NODE_MODULES "
                  "to a folder holding node_modules/@aws-sdk/client-lambda)")
        if os.environ.get("CI") == "true":  # the install step puts it in the venv
            pytest.fail(reason)
        pytest.skip(reason)
    create_node(lam, fn_name)
    script = tmp_path / "client.js"
    script.write_text(NODE_SDK_CLIENT)
    event = {"steps": [["write", "one "], ["write", "two"], ["throw", "at the end"]]}
    done = subprocess.run(["node", str(script), server.endpoint, fn_name, json.dumps(event)], cwd=folder,
                          env=dict(os.environ, NODE_PATH=os.path.join(folder, "node_modules")),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 200 and result["version"] == "$LATEST"
    assert "".join(e["chunk"] for e in result["events"] if "chunk" in e) == "one two"
    complete = result["events"][-1]["complete"]
    assert complete["ErrorCode"] == "Unhandled" and complete["ErrorDetails"] == "at the end"
    assert "REPORT RequestId" in base64.b64decode(complete["LogResult"]).decode()


def test_plain_invoke_of_a_streaming_node_function_still_buffers(lam, fn_name):
    needs_node()
    create_node(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"steps": [["write", "[1,"], ["write", "2]"]],
                                                 "contentType": "application/json"})
    assert "FunctionError" not in response and body == [1, 2]
