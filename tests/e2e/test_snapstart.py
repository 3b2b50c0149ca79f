"""SnapStart for Python (invoke/snapstart.py, sandbox/snapshot.py): a published version's INIT runs once, and new
environments of the version are restored from that initialized process. Observed through the API, as a user
would: the INIT print appears once in the function's logs, REPORT shows Restore Duration and no Init Duration,
each environment has its own `random`, uid, /tmp and pid namespace, and the after-restore hook ran in each."""

import base64
import concurrent.futures
import json
import time

import boto3
import pytest

from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

APP = """
import os, random, time, uuid
from snapshot_restore_py import register_after_restore, register_before_snapshot

print("SNAPSHOT-INIT-RAN", flush=True)
time.sleep(INIT_S)
TOKEN = random.random()
BEFORE = []
RESTORED = []


@register_before_snapshot
def before():
    BEFORE.append(os.getpid())


@register_after_restore
def after():
    RESTORED.append(uuid.uuid4().hex)


def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    open("/tmp/mine", "a").write("x")
    return {"token": TOKEN, "random": random.random(), "restored": RESTORED, "before": len(BEFORE),
            "uid": os.getuid(), "pid": os.getpid(), "tmp": os.path.getsize("/tmp/mine"),
            "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
            "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")}
"""


@pytest.fixture
def namespaced(server):
    if server.sandbox != "namespaced":
        pytest.skip("SnapStart restores environments in the namespaced sandbox")


def publish(lam, name, init_s):
    lam.create_function(FunctionName=name, Role=ROLE, Handler="app.handler", Runtime="python3.12", Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": APP.replace("INIT_S", str(init_s))})},
                        SnapStart={"ApplyOn": "PublishedVersions"})
    return lam.publish_version(FunctionName=name)["Version"]


def invoke(lam, name, qualifier, payload=None):
    started = time.perf_counter()
    answer = lam.invoke(FunctionName=name, Qualifier=qualifier, LogType="Tail",
                        Payload=json.dumps(payload or {}).encode())
    elapsed = time.perf_counter() - started
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read()), base64.b64decode(answer["LogResult"]).decode(), elapsed


def count_init_prints(server, name):
    logs = boto3.client("logs", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")
    deadline = time.monotonic() + 10
    while True:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="SNAPSHOT-INIT-RAN")
        found = len(events["events"])
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_versions_report_optimization_and_latest_runs_normally(namespaced, lam, fn_name):
    version = publish(lam, fn_name, 0)
    latest = lam.get_function_configuration(FunctionName=fn_name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    published = lam.get_function_configuration(FunctionName=fn_name, Qualifier=version)
    assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    result, tail, _ = invoke(lam, fn_name, "$LATEST")
    assert result["init_type"] == "on-demand" and "Init Duration" in tail and "Restore Duration" not in tail
    assert result["restored"] == [] and result["before"] == 0  # $LATEST: no snapshot, no hooks


def test_unsupported_runtime_is_refused_as_aws_does(lam, fn_name):
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        lam.create_function(FunctionName=fn_name, Role=ROLE, Handler="app.handler", Runtime="python3.11",
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})},
                            SnapStart={"ApplyOn": "PublishedVersions"})
    assert "python3.11 is not supported for SnapStart enabled functions." in str(refused.value)


def test_new_environments_are_restored_without_init(namespaced, server, lam, fn_name):
    version = publish(lam, fn_name, 1)
    # Three environments at once (each invoke holds its environment while the others start).
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: invoke(lam, fn_name, version, {"sleep": 0.5}), range(3)))
    results = [answer[0] for answer in answers]
    assert len({result["pid"] for result in results}) == 1  # each its own pid namespace: the runtime is pid 2
    assert results[0]["pid"] == 2
    assert len({result["uid"] for result in results}) == 1 and results[0]["uid"] == 993
    tokens = {result["token"] for result in results}
    assert len(tokens) == 1  # INIT's state, shared by the snapshot
    assert len({result["random"] for result in results}) == 3  # re-seeded in each environment
    assert all(len(result["restored"]) == 1 for result in results)  # the after-restore hook ran in each...
    assert len({result["restored"][0] for result in results}) == 3  # ...once per environment
    assert all(result["before"] == 1 for result in results)  # the before-snapshot hook ran once, before
    assert all(result["tmp"] == 1 for result in results)  # a /tmp of its own
    assert all(result["init_type"] == "snap-start" and result["stream"] is None for result in results)
    for _, tail, elapsed in answers:
        assert "Restore Duration: " in tail and "Billed Restore Duration: " in tail and "Init Duration" not in tail
        assert elapsed < 1.0 + 0.5 + 0.4  # not INIT's second (the 0.5 s is the handler's own sleep)
    assert count_init_prints(server, fn_name) == 1  # INIT ran once, at publish


def version_zygotes(name):
    """Host pids of the SnapStart version zygotes of function `name`: processes showing its variables whose host uid
    is the first of a version's block (sandbox/snapshot.py)."""
    from stratus.sandbox.snapshot import BLOCK, SNAP_UID_BASE
    from tests.support.environments import processes_of

    found = []
    for pid in processes_of(name, "AWS_LAMBDA_FUNCTION_NAME"):
        try:
            with open(f"/proc/{pid}/status") as status:
                uid = int(next(line for line in status if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if uid >= SNAP_UID_BASE and (uid - SNAP_UID_BASE) % BLOCK == 0:
            found.append(pid)
    # Only the topmost: a child the zygote forks for a moment (its network namespaces helper) shows the same.
    return [pid for pid in found if _parent(pid) not in found]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def live_environments(server, name: str) -> int:
    """How many live environments the server reports for function `name` (GET /_stratus/environments)."""
    from tests.support.stacks import StacksClient

    _, _, answer = StacksClient(server.endpoint).request("GET", "/_stratus/environments")
    return sum(counts["Total"] for counts in answer["Environments"] if counts["FunctionName"] == name)


def wait_for(condition, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_a_dead_version_zygote_is_rebuilt_and_deleting_the_version_drops_it(namespaced, server, lam, fn_name):
    import os
    import signal

    version = publish(lam, fn_name, 0)
    first, _, _ = invoke(lam, fn_name, version)
    assert first["restored"]
    zygote = wait_for(lambda: version_zygotes(fn_name))
    assert len(zygote) == 1
    os.kill(zygote[0], signal.SIGKILL)  # the version's zygote dies (its environments with it)
    wait_for(lambda: version_zygotes(fn_name) != zygote and not os.path.exists(f"/proc/{zygote[0]}/status") or
             [pid for pid in version_zygotes(fn_name) if pid != zygote[0]])
    wait_for(lambda: not live_environments(server, fn_name))  # the server has seen its environments end
    result, tail, _ = invoke(lam, fn_name, version)
    assert "Restore Duration" in tail and result["restored"]  # restored from a rebuilt zygote...
    assert wait_for(lambda: count_init_prints(server, fn_name) == 2)  # ...whose INIT ran again
    rebuilt = wait_for(lambda: version_zygotes(fn_name))
    assert rebuilt and rebuilt != zygote
    lam.delete_function(FunctionName=fn_name, Qualifier=version)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=fn_name, Qualifier=version)
    wait_for(lambda: not version_zygotes(fn_name))  # deleting the version ended its zygote


def test_outbound_connection_made_at_once_by_a_restored_environment_works(namespaced, server, lam, fn_name):
    """More environments at once than networks prepared ahead: some are restored before their pasta is attached; a
    connection to an allowed host port (through pasta) made as the handler starts still succeeds (it waits)."""
    port = server.host_service.getsockname()[1]
    app = APP.replace("INIT_S", "0") + f"""

import socket


def connect(event, context):
    with socket.create_connection(("127.0.0.1", {port}), timeout=5):
        pass
    time.sleep(0.5)
    return {{"connected": True}}
"""
    lam.create_function(FunctionName=fn_name, Role=ROLE, Handler="app.connect", Runtime="python3.12", Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": app})}, SnapStart={"ApplyOn": "PublishedVersions"})
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    invoke(lam, fn_name, version)
    many = server.client(max_pool_connections=12)
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: invoke(many, fn_name, version), range(12)))
    assert all(result == {"connected": True} for result, _, _ in answers)
    assert sum("Restore Duration" in tail for _, tail, _ in answers) >= 6


@pytest.mark.xfail(reason="not reliably met on 2 cores shared with other load: with bare namespaces made ahead and "
                          "pasta attached in the background, 50 restores took 17-246 ms at load average 8 (the goal "
                          "is each under 150 ms); see README, SnapStart", strict=False)
def test_fifty_concurrent_first_invokes_answer_well_under_one_init(namespaced, server, lam, fn_name):
    init_s, hold_s = 0.3, 1.0
    version = publish(lam, fn_name, init_s)
    invoke(lam, fn_name, version)  # the snapshot is ready (its INIT ran once, at publish)
    many = server.client(max_pool_connections=50)
    # Each invoke holds its environment for hold_s, longer than the 50 threads take to send theirs: each needs a
    # new environment (a client of 50 Python threads sends them over a few hundred ms, not at once).
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: invoke(many, fn_name, version, {"sleep": hold_s}), range(50)))
    restored = [answer for answer in answers if "Restore Duration" in answer[1]]
    restore_ms = sorted(float(tail.split("Restore Duration: ")[1].split(" ms")[0]) for _, tail, _ in restored)
    print("Restore Duration (ms) of the new environments, sorted:", restore_ms)
    print("elapsed (s) of the 50, sorted:", sorted(round(answer[2], 3) for answer in answers))
    assert len(restored) >= 45  # new environments, nearly all of them (one may be the warm one)
    assert all(ms < init_s * 1000 / 2 for ms in restore_ms)  # each well under one INIT
    assert all("Init Duration" not in tail for _, tail, _ in answers)  # INIT never ran again
    assert len({result["restored"][0] for result, _, _ in restored}) == len(restored)  # each its own restore
