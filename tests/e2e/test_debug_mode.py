"""Debug mode (`stratus debug`, PUT /_stratus/debug/{function}): a real server per sandbox; a real debugpy
(DAP over the socket) and the real Node inspector answer on the host's 127.0.0.1:<port>; the function's timeout
waits while a debugger is attached and applies again after it leaves and after `--off`; only the admin may
change debug mode; the port listens on loopback only and another function cannot reach it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from botocore.credentials import Credentials

from stratus.cli.client import ApiError, Client
from stratus.cli.debug import get_debug_mode, set_debug_mode
from tests.conftest import require_sandbox
from tests.support.dap import Dap
from tests.support.server import StratusServer, free_port, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/debugged"
ADMIN = Credentials("test", "test")


def admin(server: StratusServer) -> Client:
    """The CLI's signed client with the test server's admin key."""
    import botocore.session

    return Client(server.endpoint, "us-east-1", ADMIN, botocore.session.Session())
SLEEPER = ("import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n"
           "    return {'slept': event.get('sleep', 0)}\n")
# Returns its environment's role credentials, and whether it reaches a TCP port of 127.0.0.1.
PROBE = '''import os, socket
def handler(event, context):
    reached = None
    if event.get("port"):
        try:
            socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
            reached = True
        except OSError as exc:
            reached = False
    return {"reached": reached, "credentials": {k: os.environ.get(k) for k in
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}}
'''
NODE = "exports.handler = async (event) => ({ node: process.version, inspector: !!require('inspector').url() });\n"


@pytest.fixture(scope="module", params=["namespaced", "plain"])
def server(request, tmp_path_factory):
    require_sandbox(request.param)
    # Role credentials may do every lambda:* action: debug mode must still refuse them.
    env = {"STRATUS_SANDBOX": request.param, "STRATUS_UNKNOWN_ROLE_POLICY": "AWSLambda_FullAccess"}
    with StratusServer(tmp_path_factory.mktemp(f"debug-{request.param}") / "data", env=env) as running:
        running.sandbox = request.param
        yield running


def create(lam, name: str, source: str, runtime: str = "python3.12", handler: str = "app.handler",
           filename: str = "app.py", timeout: int = 2) -> None:
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Timeout=timeout,
                        Code={"ZipFile": make_zip({filename: source})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def in_background(function, *args, **kwargs) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test reads it
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def wait_attached(server, name: str, attached: bool) -> None:
    deadline = time.monotonic() + 10
    while (state := get_debug_mode(admin(server), name)) is None or state["Attached"] != attached:
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def cli(server, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    return subprocess.run([sys.executable, "-m", "stratus.cli.main", "debug", *args, "--endpoint-url", server.endpoint],
                          capture_output=True, text=True, env=env, timeout=60)


def test_python_debugger_attaches_and_the_timeout_waits_for_it(server):
    lam = server.client()
    create(lam, "py", SLEEPER)  # Timeout 2 s
    port = free_port()
    done = cli(server, "py", "--port", str(port), "--json")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["Port"] == port and state["Runtime"] == "python3.12" and state["Attached"] is False

    # An invocation longer than the timeout, with a debugger attaching while it runs: it completes.
    thread, result = in_background(invoke_json, lam, "py", {"sleep": 4})
    time.sleep(0.5)  # (the invocation is running: its timer is armed)
    dap = Dap(port)
    answer = dap.request("initialize", clientID="stratus-test", adapterID="debugpy", pathFormat="path",
                         linesStartAt1=True, columnsStartAt1=True)
    assert answer["success"] is True and answer["body"]["supportsConfigurationDoneRequest"] is True, answer
    wait_attached(server, "py", True)
    # One invocation at a time in debug mode: a second concurrent one is throttled as reserved concurrency 1 is.
    with pytest.raises(lam.exceptions.TooManyRequestsException) as throttled:
        lam.invoke(FunctionName="py", Payload=b"{}")
    assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    thread.join(30)
    response, payload = result["value"]
    assert "FunctionError" not in response and payload == {"slept": 4}, payload

    # The debugger leaves: the timeout applies again.
    dap.close()
    wait_attached(server, "py", False)
    response, payload = invoke_json(lam, "py", {"sleep": 4})
    assert response.get("FunctionError") == "Unhandled" and payload["errorType"] == "Sandbox.Timedout", payload

    # Attached again before the invocation: it completes; then --off: the port closes, the timeout applies.
    dap = Dap(port)
    assert dap.request("initialize", clientID="stratus-test", adapterID="debugpy")["success"] is True
    wait_attached(server, "py", True)
    response, payload = invoke_json(lam, "py", {"sleep": 3})
    assert "FunctionError" not in response and payload == {"slept": 3}, payload
    done = cli(server, "py", "--off")
    assert done.returncode == 0 and "debug mode off" in done.stdout, done.stderr
    dap.close()
    assert get_debug_mode(admin(server), "py") is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    response, payload = invoke_json(lam, "py", {"sleep": 4})
    assert response.get("FunctionError") == "Unhandled" and payload["errorType"] == "Sandbox.Timedout", payload
    response, payload = invoke_json(lam, "py", {"sleep": 0})
    assert payload == {"slept": 0}


BREAKABLE = ("def handler(event, context):\n    value = event['value'] * 2\n"
             "    return {'value': value, 'file': __file__}\n")


def test_a_breakpoint_pauses_the_handler_past_its_timeout(server):
    """The use case: VS Code's attach sequence over DAP, a breakpoint in the handler, the invocation stops there
    longer than its timeout, continues, and answers."""
    lam = server.client()
    create(lam, "bp", BREAKABLE, timeout=1)
    port = free_port()
    set_debug_mode(admin(server), "bp", port)
    _, first = invoke_json(lam, "bp", {"value": 1})
    dap = Dap(port)
    assert dap.request("initialize", clientID="vscode", adapterID="debugpy", pathFormat="path",
                       linesStartAt1=True, columnsStartAt1=True)["success"]
    dap.send("attach", justMyCode=True)  # answered once configuration is done
    dap.wait_event("initialized")
    answer = dap.request("setBreakpoints", source={"path": first["file"]}, breakpoints=[{"line": 3}])
    assert answer["success"] and answer["body"]["breakpoints"][0]["verified"], answer
    assert dap.request("configurationDone")["success"]
    thread, result = in_background(invoke_json, lam, "bp", {"value": 21})
    stopped = dap.wait_event("stopped")
    assert stopped["body"]["reason"] == "breakpoint", stopped
    time.sleep(2.5)  # paused at the breakpoint well past the 1 s timeout
    assert "value" not in result
    dap.request("continue", threadId=stopped["body"]["threadId"])
    thread.join(30)
    response, payload = result["value"]
    assert "FunctionError" not in response and payload["value"] == 42, payload
    dap.close()
    set_debug_mode(admin(server), "bp", None)


def test_node_inspector_answers_on_the_port(server):
    lam = server.client()
    create(lam, "node", NODE, runtime="nodejs20.x", handler="index.handler", filename="index.js", timeout=5)
    port = free_port()
    state = set_debug_mode(admin(server), "node", port)
    assert state is not None and state["Runtime"] == "nodejs20.x"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                targets = json.loads(answer.read())
            break
        except (OSError, ValueError):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert targets and targets[0]["type"] == "node", targets
    assert targets[0]["webSocketDebuggerUrl"].startswith(f"ws://127.0.0.1:{port}/"), targets
    response, payload = invoke_json(lam, "node", {})
    assert "FunctionError" not in response and payload["inspector"] is True, payload
    assert set_debug_mode(admin(server), "node", None) is None
    response, payload = invoke_json(lam, "node", {})
    assert payload["inspector"] is False, payload  # the debug environment was drained: a plain one serves


def signed(server, credentials: Credentials, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=server.endpoint + path, data=data)
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    try:
        prepared = urllib.request.Request(request.url, data=data or None, headers=dict(request.headers), method=method)
        with urllib.request.urlopen(prepared, timeout=30) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("x-amzn-ErrorType") or ""


def test_only_the_admin_may_change_debug_mode(server):
    lam = server.client()
    create(lam, "probe", PROBE)
    _, payload = invoke_json(lam, "probe", {})
    role = Credentials(payload["credentials"]["AWS_ACCESS_KEY_ID"], payload["credentials"]["AWS_SECRET_ACCESS_KEY"],
                       payload["credentials"]["AWS_SESSION_TOKEN"])
    # The role may do every lambda:* action (AWSLambda_FullAccess), yet not this.
    assert signed(server, role, "GET", "/2015-03-31/functions/probe/configuration")[0] == 200
    port = free_port()
    assert signed(server, role, "PUT", "/_stratus/debug/probe", {"Port": port}) == (403, "AccessDeniedException")
    assert signed(server, role, "GET", "/_stratus/debug") == (403, "AccessDeniedException")
    with pytest.raises(OSError):  # nothing was opened
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    request = urllib.request.Request(server.endpoint + "/_stratus/debug/probe", method="PUT",
                                     data=json.dumps({"Port": port}).encode())
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(request, timeout=10)
    assert unsigned.value.code == 403
    # Bad input: a clear error in AWS's shape.
    bad_port = signed(server, ADMIN, "PUT", "/_stratus/debug/probe", {"Port": 80})
    assert bad_port == (400, "InvalidParameterValueException")
    assert signed(server, ADMIN, "PUT", "/_stratus/debug/nope", {"Port": port}) == (404, "ResourceNotFoundException")
    with pytest.raises(ApiError, match="is not in debug mode"):
        set_debug_mode(admin(server), "probe", None)


def listening_addresses(port: int) -> set[str]:
    """The local addresses TCP sockets LISTEN on with this port, in the host's network namespace."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_the_port_is_on_loopback_and_out_of_other_functions_reach(server):
    lam = server.client()
    create(lam, "target", SLEEPER)
    create(lam, "other", PROBE)
    port = free_port()
    set_debug_mode(admin(server), "target", port)
    try:
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        dap = Dap(port)  # the debugger answers there
        assert dap.request("initialize", clientID="stratus-test", adapterID="debugpy")["success"] is True
        dap.close()
        _, payload = invoke_json(lam, "other", {"port": port})
        if server.sandbox == "namespaced":  # its own network namespace: the host's loopback port is not there
            assert payload["reached"] is False, payload
        else:  # the plain sandbox shares the host's loopback (no network isolation: its documented limit)
            assert payload["reached"] is True, payload
    finally:
        set_debug_mode(admin(server), "target", None)
