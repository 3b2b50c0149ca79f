"""New environments of a SnapStart version (INIT 300 ms) vs plain cold starts of the same code, in the same run.

    .venv/bin/python bench/snapstart.py [--rounds 30] [--burst 20] [--settle 0.1] [--init 0.3]

One `stratus serve` (temp data dir, free loopback port, STRATUS_SANDBOX=namespaced, Python forked from the runtime
zygote). Two functions with the same code (INIT sleeps --init s, then the handler returns): one with SnapStart on a
published version, one without (its version's cold starts fork the runtime zygote and run INIT: the fork path).

Sparse: --rounds times, each function publishes a new version (SnapStart: its INIT runs then) and its first invoke
is timed (a new environment), --settle s apart.
Bursts: --burst concurrent invokes, each held 1 s, on each function (all new environments).

Figures: first-answer latency (client-side, raw signed keep-alive HTTP), REPORT's Restore Duration / Init Duration.
Bounded: rounds x 2 + 2 bursts; the server is stopped at the end; loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    KeepAliveClient,
    OtherLoad,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    header,
    make_zip,
    percentile,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
)

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
GOAL_P50_MS = 5.0
_RESTORE = re.compile(r"Restore Duration: ([\d.]+) ms")
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")


def app(init_s: float) -> str:
    return (f"import random, time\ntime.sleep({init_s})\nTOKEN = random.random()\n\n\n"
            "def handler(event, context):\n    time.sleep(event.get('hold', 0))\n    return {'ok': True}\n")


class Target:
    """One published version (SnapStart or not) and its figures."""

    def __init__(self, label: str, server: StratusServer, name: str, version: str):
        self.label = label
        self.server = server
        self.name = name
        self.version = version
        self.latency_ms: list[float] = []
        self.phase_ms: list[float] = []  # Restore Duration (SnapStart) or Init Duration (plain)
        self.burst_latency_ms: list[float] = []
        self.burst_phase_ms: list[float] = []
        self.failures = 0

    def request(self, hold: float = 0.0) -> bytes:
        return build_request(f"/2015-03-31/functions/{self.name}:{self.version}/invocations", self.server.port,
                             json.dumps({"hold": hold}).encode(), headers={"X-Amz-Log-Type": "Tail"})

    def measure(self, connection: KeepAliveClient, raw: bytes, hold: float, latency: list[float],
                phase: list[float]) -> None:
        started = time.perf_counter()
        status, head, body = connection.request(raw)
        elapsed = (time.perf_counter() - started) * 1000 - hold * 1000
        tail = base64.b64decode(header(head, "x-amz-log-result") or "").decode(errors="replace")
        if status != 200 or header(head, "x-amz-function-error"):
            self.failures += 1
            print(f"  {self.label}: failed: {status} {body[:200]!r}", flush=True)
            return
        match = _RESTORE.search(tail) or _INIT.search(tail)
        if match is None:
            return  # a warm environment answered: not a new one
        latency.append(elapsed)
        phase.append(float(match.group(1)))


def publish(client, name: str, init_s: float, snap_start: bool) -> str:
    extra = {"SnapStart": {"ApplyOn": "PublishedVersions"}} if snap_start else {}
    client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=30,
                           Code={"ZipFile": make_zip({"app.py": app(init_s)})}, **extra)
    wait_active(client, name)
    version = client.publish_version(FunctionName=name)["Version"]
    deadline = time.monotonic() + 60
    while client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] != "Active":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}:{version} did not become Active")
        time.sleep(0.1)
    return version


def new_version(client, name: str, index: int) -> str:
    """A new published version (its first invoke needs a new environment; SnapStart: its INIT has run, at publish)."""
    client.update_function_configuration(FunctionName=name, Description=f"round {index}")
    wait_active(client, name)
    version = client.publish_version(FunctionName=name)["Version"]
    deadline = time.monotonic() + 60
    while client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] != "Active":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}:{version} did not become Active")
        time.sleep(0.05)
    time.sleep(0.6)  # SnapStart: its INIT (at publish, in the background) is over
    return version


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "no data"
    return (f"n={len(ordered):3d}  min {ordered[0]:7.2f}  p50 {percentile(ordered, 50):7.2f}  "
            f"p90 {percentile(ordered, 90):7.2f}  p99 {percentile(ordered, 99):7.2f}  max {ordered[-1]:7.2f}")


def report(args: argparse.Namespace, targets: list[Target]) -> None:
    print(f"\nNew environment of a published version whose INIT takes {args.init * 1000:.0f} ms, namespaced "
          f"sandbox, full isolation (ms; latency client-side minus the handler's hold)")
    for target in targets:
        what = "Restore Duration" if target.label == "snapstart" else "Init Duration"
        print(f"  sparse  {target.label:9s} first answer  {stats(target.latency_ms)}")
        print(f"  sparse  {target.label:9s} {what:16s} {stats(target.phase_ms)}")
    for target in targets:
        what = "Restore Duration" if target.label == "snapstart" else "Init Duration"
        print(f"  burst {args.burst:2d} {target.label:9s} first answer  {stats(target.burst_latency_ms)}")
        print(f"  burst {args.burst:2d} {target.label:9s} {what:16s} {stats(target.burst_phase_ms)}")
    snap = targets[0]
    if snap.latency_ms:
        p50 = percentile(sorted(snap.latency_ms), 50)
        verdict = "met" if p50 <= GOAL_P50_MS else "MISSED"
        print(f"  goal: SnapStart new environment p50 <= {GOAL_P50_MS:g} ms: {verdict} ({p50:.2f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="sparse new environments per function")
    parser.add_argument("--burst", type=int, default=20, help="concurrent new environments per function, once")
    parser.add_argument("--settle", type=float, default=0.1, help="pause between sparse rounds, s")
    parser.add_argument("--init", type=float, default=0.3, help="the functions' INIT, s")
    parser.add_argument("--max-seconds", type=float, default=300)
    add_run_options(parser, wait_idle_default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stratus-snapstart-bench-"))
    server = StratusServer(workdir / "data", env={"STRATUS_SANDBOX": "namespaced"})
    busy_before = wait_for_idle(args.wait_idle)
    code = 0
    try:
        server.start()
        client = server.client()
        prefix = uuid.uuid4().hex[:6]
        targets = [Target("snapstart", server, f"{prefix}-snap", ""), Target("plain", server, f"{prefix}-plain", "")]
        for target, snap in zip(targets, (True, False), strict=True):
            target.version = publish(client, target.name, args.init, snap)
        load = OtherLoad(lambda: [server.process.pid] if server.process is not None else []).start()
        deadline = time.monotonic() + args.max_seconds
        # Sparse: one new environment at a time. The environment made by the previous round is kept busy by a held
        # invoke on a second connection, so the measured invoke needs a new one.
        for index in range(args.rounds):
            if time.monotonic() > deadline:
                print(f"stopped after {index} rounds (--max-seconds)")
                break
            for target in (targets if index % 2 == 0 else targets[::-1]):
                target.version = new_version(client, target.name, index)
                connection = KeepAliveClient(server.port, timeout_s=60)
                target.measure(connection, target.request(), 0.0, target.latency_ms, target.phase_ms)
                connection.close()
                time.sleep(args.settle)
        # Bursts: --burst at once on each function, each held 1 s (all new environments).
        for target in targets:
            connections = [KeepAliveClient(server.port, timeout_s=60) for _ in range(args.burst)]
            barrier = threading.Barrier(args.burst)
            raw = target.request(hold=1.0)

            def one(connection: KeepAliveClient, target: Target = target, raw: bytes = raw,
                    barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                target.measure(connection, raw, 1.0, target.burst_latency_ms, target.burst_phase_ms)

            threads = [threading.Thread(target=one, args=(connection,)) for connection in connections]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for connection in connections:
                connection.close()
            time.sleep(2.0)
        other = load.percent()
        report(args, targets)
        failures = sum(target.failures for target in targets)
        if failures:
            print(f"\n{failures} invokes failed")
            code = 1
        print(f"\n{busy_note(busy_before, other)}; loadavg {open('/proc/loadavg').read().split()[:3]}")
    finally:
        if stop_and_report(server, "snapstart"):
            code = 1
        remove_workdir(workdir, args.keep, [server.log_path])
    return code


if __name__ == "__main__":
    sys.exit(main())
