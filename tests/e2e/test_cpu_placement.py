"""CPU placement of warm invocations (invoke/placement.py), seen from inside the function: an invocation that
runs alone (none overlapped for QUIET_S) runs on one CPU (the server's), one that starts while another runs may
use every CPU."""

from __future__ import annotations

import json
import os
import threading
import time

import botocore.session
import pytest
from botocore.credentials import Credentials

from tests.support.server import HOST_PYTHON_RUNTIME, make_zip

HANDLER = """
import os, time
def handler(event, context):
    cpus = sorted(os.sched_getaffinity(0))
    time.sleep(event.get("sleep", 0))
    return {"cpus": cpus, "stream": context.log_stream_name}
"""

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs at least 2 CPUs")


def _invoke(lam, name: str, sleep: float = 0.0) -> dict:
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}))
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def _wait_busy(server, name: str, busy: int, timeout_s: float = 10.0) -> None:
    from stratus.cli.client import Client

    admin = Client(server.endpoint, "us-east-1", Credentials("test", "test"), botocore.session.Session())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = admin.call("GET", "/_stratus/environments")["Environments"]
        if any(row["FunctionName"] == name and row["Busy"] >= busy for row in counts):
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never had {busy} busy environment(s)")


def _in_background(lam, name: str, sleep: float) -> tuple[threading.Thread, dict]:
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(_invoke(lam, name, sleep)))
    thread.start()
    return thread, answer


def test_a_lone_invocation_runs_on_one_cpu_and_overlapping_ones_on_all(server, lam, fn_name):
    every_cpu = sorted(os.sched_getaffinity(0))
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/test", Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name)
    cold = _invoke(lam, fn_name)
    assert cold["cpus"] == every_cpu  # a cold start is not placed
    alone = _invoke(lam, fn_name)
    assert alone["stream"] == cold["stream"] and len(alone["cpus"]) == 1, alone  # warm and alone: bound

    # A (bound) sleeps; meanwhile B starts cold and sleeps longer, so A comes back first and B is used next.
    slow_a, answer_a = _in_background(lam, fn_name, 1.0)
    _wait_busy(server, fn_name, 1)
    slow_b, answer_b = _in_background(lam, fn_name, 2.0)
    slow_a.join(30)
    slow_b.join(30)
    assert answer_a["stream"] == cold["stream"] and len(answer_a["cpus"]) == 1, answer_a
    assert answer_b["stream"] != cold["stream"] and answer_b["cpus"] == every_cpu, answer_b

    # B alone: bound. While it runs, A (bound before) takes an invocation: unbound, every CPU again.
    slow_b, answer_b = _in_background(lam, fn_name, 1.0)
    _wait_busy(server, fn_name, 1)
    overlapping = _invoke(lam, fn_name)
    slow_b.join(30)
    assert len(answer_b["cpus"]) == 1 and answer_b["stream"] != cold["stream"], answer_b
    assert overlapping["stream"] == cold["stream"] and overlapping["cpus"] == every_cpu, overlapping
    deadline = time.monotonic() + 10  # alone again: bound again once no invocation overlapped for QUIET_S
    while _invoke(lam, fn_name)["cpus"] == every_cpu:
        assert time.monotonic() < deadline, "never bound again"
