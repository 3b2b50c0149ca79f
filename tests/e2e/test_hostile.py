"""Hostile functions: limits are enforced, not advisory, and the platform and other functions stay
healthy. Isolation tests need the namespaced sandbox; the plain one does not isolate by design."""

import base64
import shutil
import socket
import threading
import time

import pytest

from tests.support.environments import processes_of, wait_until_gone
from tests.support.server import invoke_json, make_zip

pytestmark = pytest.mark.both_python_paths  # forked and spawned Python environments alike

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


@pytest.fixture(scope="module")
def bystander(server):
    """A well-behaved function invoked in a loop while the hostile ones run; it must keep succeeding."""
    lam = server.client()
    name = f"bystander-{server.sandbox}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e['n'] * 2\n"})})
    results = {"ok": 0, "failed": []}
    stop = threading.Event()

    def loop():
        n = 0
        while not stop.is_set() and n < 100_000:
            n += 1
            try:
                response, body = invoke_json(lam, name, {"n": n})
                if body == n * 2 and "FunctionError" not in response:
                    results["ok"] += 1
                else:
                    results["failed"].append(body)
            except Exception as exc:  # noqa: BLE001 - recorded, asserted below
                results["failed"].append(repr(exc))
            stop.wait(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(30)
    assert results["failed"] == [] and results["ok"] >= 1, results


@pytest.fixture
def namespaced(server):
    if server.sandbox != "namespaced":
        pytest.skip("isolation is the namespaced sandbox's job; the plain sandbox runs functions unisolated")


def create(lam, name, source, **kwargs):
    kwargs.setdefault("Runtime", "python3.12")
    kwargs.setdefault("Handler", "app.handler")
    lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": make_zip({"app.py": source})}, **kwargs)


HEALTHY_AFTER = "\ndef ok(e, c):\n    return 'fine'\n"


def test_fork_bomb_is_held_by_the_pids_limit(lam, fn_name, namespaced, bystander):
    create(lam, fn_name, """
import os, time
def handler(event, context):
    started = 0
    while True:
        try:
            os.fork()
            started += 1
        except OSError:
            time.sleep(0.01)
""" + HEALTHY_AFTER, Timeout=3, MemorySize=512)
    peak = {"processes": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak["processes"] = max(peak["processes"], len(processes_of(fn_name, "AWS_LAMBDA_FUNCTION_NAME")))
            done.wait(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response, body = invoke_json(lam, fn_name)
    finally:
        done.set()
        watcher.join()
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] in ("Sandbox.Timedout", "Runtime.ExitError")
    assert 10 < peak["processes"] <= 1024 + 2, peak  # pids.max 1,024 (+ bwrap outside the count)
    # The whole tree went with the environment (the cgroup is killed as one).
    assert wait_until_gone(fn_name, 10, variable="AWS_LAMBDA_FUNCTION_NAME") == []
    lam.update_function_configuration(FunctionName=fn_name, Handler="app.ok")
    assert invoke_json(lam, fn_name)[1] == "fine"


def test_allocating_twice_the_memory_size_is_killed(lam, fn_name, namespaced, bystander):
    create(lam, fn_name, """
def handler(event, context):
    hog = bytearray(event["mb"] * 1024 * 1024)
    for i in range(0, len(hog), 4096):
        hog[i] = 1
    return len(hog)
""", MemorySize=128, Timeout=10)
    response, body = invoke_json(lam, fn_name, {"mb": 256})
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"}
    response, body = invoke_json(lam, fn_name, {"mb": 16}, LogType="Tail")
    assert body == 16 * 1024 * 1024 and "FunctionError" not in response
    report = [line for line in base64.b64decode(response["LogResult"]).decode().splitlines()
              if line.startswith("REPORT")][0]
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 16 <= used <= 128, report


def test_filling_tmp_stops_at_its_size(server, lam, fn_name, namespaced, bystander):
    # Stratus's /tmp is a tmpfs: its pages count toward the memory cgroup, hence the memory size here.
    create(lam, fn_name, """
import errno, os
def handler(event, context):
    chunk = b"x" * (1024 * 1024)
    written = 0
    try:
        with open("/tmp/fill", "wb") as out:
            while written < 2048 * 1024 * 1024:
                out.write(chunk)
                out.flush()
                written += len(chunk)
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    else:
        error = None
    os.remove("/tmp/fill")
    stat = os.statvfs("/tmp")
    return {"written_mb": written // (1024 * 1024), "error": error, "size_mb": stat.f_blocks * stat.f_frsize // 2**20}
""", MemorySize=1024, EphemeralStorage={"Size": 600}, Timeout=30)
    disk_free_before = shutil.disk_usage(server.data_dir).free
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body["error"] == "ENOSPC"
    assert disk_free_before - shutil.disk_usage(server.data_dir).free < 100 * 2**20, "the host's disk was filled"
    assert body["size_mb"] == 600
    assert 590 <= body["written_mb"] <= 600


def test_other_functions_the_database_and_home_are_invisible(server, lam, fn_name, namespaced, bystander):
    other = f"{fn_name}-other"
    create(lam, other, "SECRET = 'other function code'\ndef handler(e, c):\n    return 1\n")
    code_dir = server.data_dir / "code"
    create(lam, fn_name, """
import os
def handler(event, context):
    seen = {}
    for path in event["paths"]:
        try:
            seen[path] = (sorted(os.listdir(path)) if os.path.isdir(path)
                          else open(path, "rb").read(64).decode("latin-1"))
        except OSError as exc:
            seen[path] = type(exc).__name__
    try:
        open("/var/task/planted.py", "w").write("x")
        seen["write /var/task"] = "written"
    except OSError as exc:
        seen["write /var/task"] = exc.strerror
    seen["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    seen["uid"] = os.getuid()
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    seen["caps"] = [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")]
    seen["no_new_privs"] = status["NoNewPrivs"].strip()
    return seen
""")
    paths = [str(code_dir), str(server.data_dir / "stratus.db"), "/root", str(server.data_dir), "/etc/shadow",
             "/home"]
    _, seen = invoke_json(lam, fn_name, {"paths": paths})
    for path in paths:
        assert seen[path] in ("FileNotFoundError", "PermissionError"), (path, seen[path])
    assert seen["write /var/task"] == "Read-only file system"
    assert seen["processes"] == [1, 2], "the function must see only its own sandbox's processes"
    assert seen["uid"] != 0
    assert seen["caps"][:2] == ["0000000000000000", "0000000000000000"], seen["caps"]
    assert seen["no_new_privs"] == "1"


def test_a_runtime_ignoring_sigterm_is_killed_after_the_grace_period(lam, fn_name, bystander):
    create(lam, fn_name, """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def handler(event, context):
    return context.log_stream_name
""")
    _, stream = invoke_json(lam, fn_name)
    assert processes_of(stream)
    started = time.monotonic()
    lam.update_function_configuration(FunctionName=fn_name, Description="new configuration: old one shuts down")
    assert wait_until_gone(stream, 10) == []
    waited = time.monotonic() - started
    assert waited >= 1.5, f"gone after {waited:.2f} s: the SIGTERM grace period was not given"


def test_a_runtime_that_never_asks_for_work_hits_the_init_timeout(fresh_server):
    srv = fresh_server(env={"STRATUS_INIT_TIMEOUT_S": "1"})
    lam = srv.client()
    lam.create_function(FunctionName="silent", Runtime="provided.al2023", Handler="x", Role=ROLE, Timeout=30,
                        Code={"ZipFile": make_zip({"bootstrap": "#!/bin/sh\nexec sleep 600\n"},
                                                  modes={"bootstrap": 0o755})})
    started = time.monotonic()
    response, body = invoke_json(lam, "silent")
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Init timed out after 1.00 seconds" in body["errorMessage"]
    assert srv.process.poll() is None


NETWORK_PROBE = """
import socket
def handler(event, context):
    try:
        socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
        return "reachable"
    except OSError as exc:
        return type(exc).__name__
"""


def test_functions_share_the_hosts_network_by_default(server, lam, fn_name):
    create(lam, fn_name, NETWORK_PROBE)
    assert invoke_json(lam, fn_name, {"port": server.port})[1] == "reachable"


def test_isolated_network_setting_leaves_only_loopback_and_the_runtime_api(fresh_server):
    """`none` mode: the function's own loopback, its Runtime API and Stratus's API (served inside its
    namespace, so its SDK works) — and no other port of the host's loopback, even one that listens."""
    from tests.conftest import namespaced_unavailable_reason
    if namespaced_unavailable_reason():
        pytest.skip("network isolation needs the namespaced sandbox")
    srv = fresh_server(env={"STRATUS_ISOLATED_NETWORK": "1"})
    lam = srv.client()
    create(lam, "isolated", NETWORK_PROBE)
    with socket.create_server(("127.0.0.1", 0)) as host_listener:  # listening on the host's loopback
        for _ in range(3):  # the Runtime API works, warm and cold
            response, body = invoke_json(lam, "isolated", {"port": host_listener.getsockname()[1]})
            assert "FunctionError" not in response, body
            assert body == "ConnectionRefusedError", "the host's loopback must not be reachable"
    assert invoke_json(lam, "isolated", {"port": srv.port})[1] == "reachable", "Stratus's API is, in every mode"


CPU_PROBE = """
import time
def handler(event, context):
    wall, cpu = time.monotonic(), time.process_time()
    while time.monotonic() - wall < event["seconds"]:
        pass
    return (time.process_time() - cpu) / (time.monotonic() - wall)
"""


def test_cpu_share_follows_memory_size(lam, fn_name, namespaced, bystander):
    """1,769 MB buys one vCPU: a 128 MB function gets ~7 % of a core, a 1,769 MB one a whole core."""
    create(lam, f"{fn_name}-small", CPU_PROBE, MemorySize=128, Timeout=10)
    create(lam, f"{fn_name}-large", CPU_PROBE, MemorySize=1769, Timeout=10)
    small = invoke_json(lam, f"{fn_name}-small", {"seconds": 1.0})[1]
    large = invoke_json(lam, f"{fn_name}-large", {"seconds": 1.0})[1]
    assert small < 0.2, f"a 128 MB function used {small:.0%} of a core"
    assert large > 0.4, f"a 1,769 MB function used only {large:.0%} of a core"


def test_an_environments_cgroups_go_with_it(lam, fn_name, namespaced):
    from pathlib import Path
    create(lam, fn_name, "def handler(e, c):\n    return c.log_stream_name\n")
    _, stream = invoke_json(lam, fn_name)
    env_id = stream.rsplit("]", 1)[1]
    cgroups = list(Path("/sys/fs/cgroup").glob(f"*/**/stratus-*-{env_id}"))
    assert cgroups, "the environment's cgroups were not found"
    lam.update_function_configuration(FunctionName=fn_name, Description="retire the environment")
    assert wait_until_gone(stream, 10) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(path.exists() for path in cgroups):
        time.sleep(0.05)
    assert [path for path in cgroups if path.exists()] == []
