"""Function networks (namespaced sandbox): each environment's Runtime API is 127.0.0.1:9001 in a
network namespace of its own, in every STRATUS_FUNCTION_NETWORK mode, and a function reaches of the
host's loopback only what the mode allows. Traffic stays on loopback (and inside the namespaces)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from tests.conftest import namespaced_unavailable_reason
from tests.support.server import invoke_json, make_zip

pytestmark = pytest.mark.both_python_paths  # forked and spawned Python environments alike

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
MODES = ("outbound", "none", "host")


def _needs(*tools: str) -> None:
    reason = namespaced_unavailable_reason() or next((f"{tool} is not installed" for tool in tools
                                                      if shutil.which(tool) is None), "")
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"function network tests must run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module", params=MODES)
def net_server(request, tmp_path_factory):
    """A namespaced server per network mode (the module's tests share it)."""
    from tests.support.server import StratusServer

    _needs(*(["bwrap"] if request.param == "none" else ["bwrap", "pasta"]))
    with TcpListener() as allowed:  # open before the server: `host` mode forwards what listens at its start
        data_dir = tmp_path_factory.mktemp(f"net-{request.param}") / "data"
        env = {"STRATUS_SANDBOX": "namespaced", "STRATUS_FUNCTION_NETWORK": request.param,
               "STRATUS_FUNCTION_HOST_PORTS": str(allowed.port)}
        with StratusServer(data_dir, env=env) as running:
            running.mode = request.param
            running.allowed = allowed
            yield running


class TcpListener:
    """A TCP service on a host loopback port that greets whoever connects."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello from the host\n")

    def __enter__(self) -> TcpListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()  # accept() fails: the thread ends
        self._thread.join(5)


def host_listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on in the host's network namespace."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


PROBE = """
import os, socket

def connect(host, port):
    try:
        return socket.create_connection((host, port), timeout=2).makefile("rwb")
    except OSError as exc:
        return type(exc).__name__

def handler(event, context):
    stream = connect("127.0.0.1", event["port"])
    if isinstance(stream, str):
        return stream
    return stream.readline().decode().strip() if event.get("read", True) else "connected"
"""

ATTACKER = """
import os, socket

def listening_ports():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A":
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports

def addresses():
    found = ["127.0.0.1"]
    try:  # the namespace's own address, where it has one (pasta gives it the host's)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("192.0.2.1", 9))
        found.append(probe.getsockname()[0])
        probe.close()
    except OSError:
        pass
    return found

def steal(host, port):
    '''What a Runtime API at host:port hands out: an event (then answer it, forged), or nothing.'''
    try:
        conn = socket.create_connection((host, port), timeout=0.5)
    except OSError:
        return None
    try:
        conn.settimeout(1.5)
        conn.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        answer = conn.recv(65536).decode(errors="replace")
    except OSError:
        return None
    finally:
        conn.close()
    for line in answer.split("\\r\\n"):
        if line.lower().startswith("lambda-runtime-aws-request-id:"):
            request_id = line.split(":", 1)[1].strip()
            forged = b'"forged"'
            try:
                with socket.create_connection((host, port), timeout=1) as conn:
                    conn.sendall(b"POST /2018-06-01/runtime/invocation/" + request_id.encode() +
                                 b"/response HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 8\\r\\n\\r\\n" + forged)
                    conn.recv(4096)
            except OSError:
                pass
    return answer

def handler(event, context):
    ports = {9001, *event["ports"]}
    if event["scan_own"]:
        ports |= listening_ports()
    stolen = []
    for host in addresses():
        for port in sorted(ports):
            answer = steal(host, port)
            if answer and event["secret"] in answer:
                stolen.append(f"{host}:{port}")
    return {"stolen": stolen, "probed": len(ports)}
"""

VICTIM = """
import os, time
time.sleep(float(os.environ.get("INIT_SLEEP", "0")))
def handler(event, context):
    return {"echo": event["secret"], "stream": context.log_stream_name}
"""


def _attack(srv, lam, attacker: str, secret: str) -> dict:
    # Every port the server listens on in the host's network (a Runtime API there would be one), and,
    # except in `host` mode, every port open in the attacker's own namespace. In `host` mode those
    # are every host loopback port of this machine, other programs' too: they are not probed.
    ports = sorted(host_listening_ports(srv.process.pid))
    response, body = invoke_json(lam, attacker, {"ports": ports, "secret": secret,
                                                 "scan_own": srv.mode != "host"})
    assert "FunctionError" not in response, body
    return body


def test_no_function_reaches_another_functions_runtime_api(net_server):
    srv, lam = net_server, net_server.client()
    assert host_listening_ports(srv.process.pid) == {srv.port}, "a Runtime API listens on the host's network"
    lam.create_function(FunctionName="attacker", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Timeout=60, Code={"ZipFile": make_zip({"app.py": ATTACKER})})
    lam.create_function(FunctionName="victim", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Timeout=30, Environment={"Variables": {"INIT_SLEEP": "3"}},
                        Code={"ZipFile": make_zip({"app.py": VICTIM})})
    invoke_json(lam, "attacker", {"ports": [], "secret": "-", "scan_own": False})  # warm: attacks at once

    # Cold: the victim's invocation waits while its runtime starts (3 s of INIT).
    secret = "card 4111-1111-1111-1111 (cold)"
    result: dict = {}
    victim = threading.Thread(target=lambda: result.update(invoke=invoke_json(lam, "victim", {"secret": secret})))
    victim.start()
    time.sleep(0.5)  # the victim's environment is starting
    attack = _attack(srv, lam, "attacker", secret)
    victim.join(30)
    assert attack["stolen"] == [] and attack["probed"] >= 1
    response, body = result["invoke"]
    assert "FunctionError" not in response and body["echo"] == secret, body
    stream = body["stream"]

    # Warm: the victim idles, its runtime waiting on /next.
    secret = "card 5500-0000-0000-0004 (warm)"
    attack = _attack(srv, lam, "attacker", secret)
    assert attack["stolen"] == []
    response, body = invoke_json(lam, "victim", {"secret": secret})
    assert "FunctionError" not in response and body == {"echo": secret, "stream": stream}, \
        "the victim's answer or environment was disturbed"


def test_host_loopback_ports_reach_functions_as_the_mode_says(net_server):
    srv, lam = net_server, net_server.client()
    lam.create_function(FunctionName="probe", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": PROBE})})
    with TcpListener() as other:  # a host service nobody allowed (e.g. a database)
        reached = invoke_json(lam, "probe", {"port": other.port})[1]  # a new environment, after `other` opened
        allowed = invoke_json(lam, "probe", {"port": srv.allowed.port})[1]
        api = invoke_json(lam, "probe", {"port": srv.port, "read": False})[1]
    if srv.mode == "none":  # loopback only, where the server serves its own API (AWS_ENDPOINT_URL_LAMBDA)
        assert (reached, allowed, api) == ("ConnectionRefusedError", "ConnectionRefusedError", "connected")
    elif srv.mode == "outbound":
        assert reached == "ConnectionRefusedError", "an unlisted host port is reachable"
        assert allowed == "hello from the host"
        assert api == "connected", "the Stratus API port must stay reachable"
    else:
        assert (reached, allowed, api) == ("hello from the host", "hello from the host", "connected")


def test_awslambdaric_style_clients_use_127_0_0_1_9001(net_server):
    lam = net_server.client()
    lam.create_function(FunctionName="address", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "import os\ndef handler(e, c):\n"
                                                             "    return os.environ['AWS_LAMBDA_RUNTIME_API']\n"})})
    assert invoke_json(lam, "address")[1] == "127.0.0.1:9001"


def _pastas(data_dir) -> list[int]:
    """pids of the pastas a server with this data dir started (their pid files live under it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
            if argv[0].endswith(b"pasta") and any(str(data_dir).encode() in arg for arg in argv):
                found.append(int(pid))
        except OSError:
            pass
    return found


def _wait_for(check, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def test_each_environments_network_stack_ends_with_it(fresh_server, tmp_path):
    """outbound: two spare namespaces wait with pasta attached; an environment's pasta is stopped when
    the environment ends, and every one of them when the server stops."""
    _needs("bwrap", "pasta")
    data_dir = tmp_path / "netdata"
    srv = fresh_server(env={"STRATUS_SANDBOX": "namespaced", "STRATUS_FUNCTION_NETWORK": "outbound"},
                       data_dir=data_dir)
    spares = 2
    assert _wait_for(lambda: len(_pastas(data_dir)) == spares), _pastas(data_dir)
    lam = srv.client()
    lam.create_function(FunctionName="net", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    assert invoke_json(lam, "net")[1] == 1
    assert _wait_for(lambda: len(_pastas(data_dir)) == spares + 1), _pastas(data_dir)  # refilled
    lam.delete_function(FunctionName="net")  # its environment shuts down
    assert _wait_for(lambda: len(_pastas(data_dir)) == spares), _pastas(data_dir)
    srv.stop()
    assert _pastas(data_dir) == []
    # ... and even when the server is killed (pasta is its child, with a parent-death signal).
    killed_dir = tmp_path / "killed"
    killed = fresh_server(env={"STRATUS_SANDBOX": "namespaced", "STRATUS_FUNCTION_NETWORK": "outbound"},
                          data_dir=killed_dir)
    assert _wait_for(lambda: len(_pastas(killed_dir)) == spares), _pastas(killed_dir)
    killed.kill()
    assert _wait_for(lambda: _pastas(killed_dir) == []), _pastas(killed_dir)


def test_a_bad_network_setting_stops_the_server_with_one_line(fresh_server):
    with pytest.raises(RuntimeError) as failed:
        fresh_server(env={"STRATUS_FUNCTION_NETWORK": "bridge"})
    assert "exited with 2" in str(failed.value)
    assert "stratus: STRATUS_FUNCTION_NETWORK must be one of outbound, none, host, not 'bridge'" in str(failed.value)
    assert "Traceback" not in str(failed.value)
