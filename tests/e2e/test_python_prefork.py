"""Blank Python environments forked ahead of demand (sandbox/zygote.py: Blank, STRATUS_PYTHON_PREFORK).

Observed from the host: a server keeps blank environments (cgroups named stratus-<instance>-blank-*, holding
a reaper and a runtime-to-be forked from the zygote); a cold start's runtime is one of them, started before
its function existed; its cgroup then bears the environment's id and the function's limits, which hold
(an OOM kill at the function's memory size, not before); blanks are topped up, a killed one is replaced,
the server's stop leaves none behind, STRATUS_PYTHON_PREFORK=0 keeps none (cold starts still fork)."""

import os
import signal
import time
from pathlib import Path

import pytest

from stratus.sandbox.base import instance_id
from tests.e2e.test_python_zygote import STREAM_APP, ancestors, create, parent, runtime_of, zygotes_of
from tests.support.server import invoke_json

CGROUP_ROOT = Path("/sys/fs/cgroup")
HOG_APP = """
def handler(event, context):
    hog = bytearray(event["mb"] * 1024 * 1024)
    for i in range(0, len(hog), 4096):
        hog[i] = 1
    return context.log_stream_name
"""


@pytest.fixture
def namespaced_server(fresh_server):
    from tests.conftest import namespaced_unavailable_reason
    reason = namespaced_unavailable_reason()
    if reason:
        pytest.skip(f"the fork path is the namespaced sandbox's: {reason}")

    def start(**env):
        return fresh_server(env={"STRATUS_SANDBOX": "namespaced", **env})
    return start


def memory_cgroups(srv, pattern: str) -> list[Path]:
    """This server's memory cgroups named stratus-<instance>-<pattern> (v1: the memory hierarchy; v2: the one)."""
    prefix = f"stratus-{instance_id(srv.data_dir / 'sandboxes')}-"
    root = CGROUP_ROOT / "memory" if (CGROUP_ROOT / "memory").is_dir() else CGROUP_ROOT
    return sorted(root.glob(f"**/{prefix}{pattern}"))


def blank_pids(srv) -> dict[Path, list[int]]:
    return {path: [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
            for path in memory_cgroups(srv, "blank-*") if path.exists()}


def wait_for_blanks(srv, count: int, timeout_s: float = 10.0) -> dict[Path, list[int]]:
    """Wait (bounded) until the server keeps `count` blanks, each with its two processes."""
    deadline = time.monotonic() + timeout_s
    while True:
        blanks = blank_pids(srv)
        if len(blanks) == count and all(len(pids) == 2 for pids in blanks.values()) \
                or time.monotonic() > deadline:
            return blanks
        time.sleep(0.05)


def runtimes_of(blanks: dict[Path, list[int]]) -> set[int]:
    """The runtimes-to-be (pid 2: the child of the other) of these blanks."""
    found = set()
    for pids in blanks.values():
        found |= {pid for pid in pids if parent(pid) in pids}
    return found


def cgroup_of(pid: int, controller: str = "memory") -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or controllers == "" and not (CGROUP_ROOT / controller).is_dir():
            base = CGROUP_ROOT / controller if (CGROUP_ROOT / controller).is_dir() else CGROUP_ROOT
            return base / path.lstrip("/")
    raise AssertionError(f"no {controller} cgroup for {pid}")


def memory_limit(cgroup: Path) -> int:
    name = "memory.limit_in_bytes" if (cgroup / "memory.limit_in_bytes").exists() else "memory.max"
    return int((cgroup / name).read_text())


def test_a_cold_start_takes_a_blank_made_before_the_function_existed(namespaced_server):
    srv = namespaced_server()
    lam = srv.client()
    create(lam, "first", STREAM_APP)  # builds the zygote, which then makes its blanks
    invoke_json(lam, "first")
    blanks = wait_for_blanks(srv, 2)
    assert len(blanks) == 2 and all(len(pids) == 2 for pids in blanks.values()), blanks
    [zygote] = zygotes_of(srv.process.pid)
    waiting = runtimes_of(blanks)
    assert len(waiting) == 2 and all(zygote in ancestors(pid) for pid in waiting)
    for path in blanks:
        assert memory_limit(path) > 1 << 40, "a blank has no memory limit before it has a function"

    create(lam, "second", STREAM_APP, MemorySize=192)
    response, stream = invoke_json(lam, "second", LogType="Tail")
    assert "FunctionError" not in response, stream
    runtime = runtime_of(stream)
    assert runtime in waiting, "the cold start did not take a blank environment"
    # Its cgroup now bears the environment's id (cgroup v1 renames in place) and the function's limits.
    cgroup = cgroup_of(runtime)
    env_id = stream.rsplit("]", 1)[1]
    if (CGROUP_ROOT / "memory").is_dir():
        assert cgroup.name.endswith(env_id) and cgroup_of(runtime, "pids").name == cgroup.name, cgroup
    assert int((cgroup_of(runtime, "pids") / "pids.max").read_text()) == 1024
    assert memory_limit(cgroup) == 192 * 1024 * 1024
    # Both its processes (the runtime and its reaper, pid 1) are a host uid of their own, with no capability in
    # any set (the bounding set included), no_new_privs and the seccomp filter.
    for pid in (runtime, parent(runtime)):
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        assert int(status["Uid"].split()[0]) >= 1879048192 + 65536, status["Uid"]
        assert [status[key].strip() for key in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb")] == \
            ["0000000000000000"] * 5, status
        assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2", status
    # The pool is topped up again: two blanks, none of them the one taken.
    again = wait_for_blanks(srv, 2)
    assert len(again) == 2 and runtime not in runtimes_of(again), again


def test_a_blank_gets_the_functions_memory_limit_and_it_holds(namespaced_server):
    srv = namespaced_server()
    lam = srv.client()
    create(lam, "warm-up", STREAM_APP)
    invoke_json(lam, "warm-up")
    for name, memory_mb in (("small", 128), ("large", 512)):
        waiting = runtimes_of(wait_for_blanks(srv, 2))
        create(lam, name, HOG_APP, MemorySize=memory_mb, Timeout=10)
        response, stream = invoke_json(lam, name, {"mb": 8})  # cold: a blank takes it
        assert "FunctionError" not in response, stream
        assert runtime_of(stream) in waiting
        response, body = invoke_json(lam, name, {"mb": 256})  # the same (warm) environment
        if memory_mb == 128:
            request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
            assert response["FunctionError"] == "Unhandled"
            assert body == {"errorType": "Runtime.ExitError",
                            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                            "signal: killed"}
        else:  # the limit is the function's, not a blank's default
            assert "FunctionError" not in response and body == stream, body


def test_a_killed_blank_is_replaced_and_stop_leaves_none(namespaced_server):
    srv = namespaced_server()
    lam = srv.client()
    create(lam, "first", STREAM_APP)
    invoke_json(lam, "first")
    blanks = wait_for_blanks(srv, 2)
    victim_cgroup, victim_pids = next(iter(blanks.items()))
    victim = next(pid for pid in victim_pids if parent(pid) in victim_pids)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while victim_cgroup.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not victim_cgroup.exists(), "a dead blank's cgroup was left"
    assert len(wait_for_blanks(srv, 2)) == 2, "a dead blank was not replaced"
    create(lam, "second", STREAM_APP)
    response, stream = invoke_json(lam, "second")
    assert "FunctionError" not in response and runtime_of(stream) != victim, stream
    blanks = wait_for_blanks(srv, 2)
    pids = [pid for group in blanks.values() for pid in group]
    assert srv.stop() == 0
    assert memory_cgroups(srv, "blank-*") == [], "the server's stop left blank cgroups"
    assert memory_cgroups(srv, "*") == [], "the server's stop left environment cgroups"
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids), "a blank outlived the server"


def test_prefork_0_keeps_no_blank_and_still_forks(namespaced_server):
    srv = namespaced_server(STRATUS_PYTHON_PREFORK="0")
    lam = srv.client()
    for name in ("one", "two"):
        create(lam, name, STREAM_APP)
        response, stream = invoke_json(lam, name)
        assert "FunctionError" not in response, stream
        [zygote] = zygotes_of(srv.process.pid)
        assert zygote in ancestors(runtime_of(stream))
    assert blank_pids(srv) == {}
