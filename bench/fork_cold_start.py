"""Python cold starts forked from the runtime zygote vs spawned, namespaced sandbox, in the same run.

    .venv/bin/python bench/fork_cold_start.py [--rounds 60] [--runtime python3.12] [--settle 0.05] [--memory 20]

`--runtime nodejs20.x`: the same for Node (the `fork` server takes pre-started Node runtimes, sandbox/nodepool.py;
the `spawn` server has STRATUS_NODE_PREFORK=0). A Node runtime taken from a blank does not show its function's
variables in /proc/PID/environ, so its memory is not measured ("no data").

Starts two `stratus serve` (temp data dirs, free loopback ports, STRATUS_SANDBOX=namespaced): one as shipped
(Python cold starts take a blank environment forked ahead from the zygote) and one with STRATUS_PYTHON_ZYGOTE=0
(spawned: bwrap + a fresh interpreter); with --on-demand, a third forked on demand (STRATUS_PYTHON_PREFORK=0).
--settle 0 gives back-to-back cold starts. One warm-up function each (the zygote is built on first use).
Then, interleaved, each round
creates on each server a new no-dependency function (unique name: always a new environment), waits until
Active and times its first invoke through the HTTP API (raw keep-alive HTTP/1.1, signed, LogType=Tail:
client-side latency and the REPORT line's Init Duration), then pauses --settle s (sparse cold starts, as in
real use). Full isolation on both: own mount/pid/ipc/uts/network namespaces, cgroups, non-root uid, seccomp.

Memory: the last --memory environments of each server stay idle; for each, the unique memory (USS:
Private_Clean + Private_Dirty of /proc/PID/smaps_rollup) of its runtime process, of all its processes
together (forked: the pid-1 reaper and the runtime; spawned: bwrap, bwrap's reaper and the runtime), and
its memory cgroup's usage. Bounded: rounds x 2 cold starts, --max-seconds; servers stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
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

APP = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}
NODE_APP = {"app.js": "exports.handler = async () => ({ ok: true });\n"}  # --runtime nodejs*: the same no-op
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
GOAL_P50_MS, GOAL_P99_MS, GOAL_USS_MB = 5.0, 15.0, 2.0
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")


class Path_:
    """One server (fork or spawn) and its figures."""

    def __init__(self, label: str, server: StratusServer, runtime: str, prefix: str):
        self.label = label
        self.server = server
        self.client = server.client()
        self.runtime = runtime
        self.prefix = prefix
        self.connection = KeepAliveClient(server.port, timeout_s=60)
        self.latency_ms: list[float] = []
        self.init_ms: list[float] = []
        self.names: list[str] = []
        self.failures = 0

    def cold_start(self, index: int) -> None:
        name = f"{self.prefix}-{self.label}-{index}"
        self.client.create_function(FunctionName=name, Runtime=self.runtime, Handler="app.handler", Role=ROLE,
                                    Code={"ZipFile": make_zip(NODE_APP if self.runtime.startswith("nodejs") else APP)})
        wait_active(self.client, name)
        raw = build_request(f"/2015-03-31/functions/{name}/invocations", self.server.port,
                            headers={"X-Amz-Log-Type": "Tail"})
        started = time.perf_counter()
        status, head, body = self.connection.request(raw)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or header(head, "x-amz-function-error") or json.loads(body) != {"ok": True}:
            self.failures += 1
            print(f"  {self.label}: {name} failed: {status} {body[:200]!r}", flush=True)
            return
        self.names.append(name)
        self.latency_ms.append(elapsed)
        import base64

        tail = base64.b64decode(header(head, "x-amz-log-result") or "").decode(errors="replace")
        match = _INIT.search(tail)
        if match:
            self.init_ms.append(float(match.group(1)))


def uss_kb(pid: int) -> int:
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(") ", 1)[1].split()[1])


def memory_cgroup(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cgroup") as cgroups:
            return next((line for line in cgroups if ":memory:" in line or line.startswith("0::")), "")
    except OSError:
        return ""


def cgroup_usage_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/cgroup") as cgroups:
            for line in cgroups:
                _, controllers, path = line.strip().split(":", 2)
                if "memory" in controllers.split(","):
                    usage = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.usage_in_bytes"
                    return int(usage.read_text()) // 1024
                if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
                    return int((Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.current").read_text()) // 1024
    except (OSError, ValueError):
        pass
    return 0


def memory_of(names: list[str]) -> dict[str, list[float]]:
    """Per idle environment (by function name): runtime USS, all-processes USS, cgroup usage (MB)."""
    from tests.support.environments import processes_of  # (the repository is on sys.path once _common is loaded)

    figures: dict[str, list[float]] = {"runtime USS": [], "environment USS": [], "cgroup usage": []}
    for name in names:
        pids = processes_of(name, "AWS_LAMBDA_FUNCTION_NAME")
        if not pids:
            continue
        parents = {parent(pid) for pid in pids}
        runtime = [pid for pid in pids if pid not in parents]
        if len(runtime) != 1:
            continue
        reaper = parent(runtime[0])  # a blank's reaper does not show the function's variables: found by cgroup
        if reaper not in pids and memory_cgroup(reaper) == memory_cgroup(runtime[0]):
            pids.append(reaper)
        figures["runtime USS"].append(uss_kb(runtime[0]) / 1024)
        figures["environment USS"].append(sum(uss_kb(pid) for pid in pids) / 1024)
        figures["cgroup usage"].append(cgroup_usage_kb(runtime[0]) / 1024)
    return figures


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "no data"
    return (f"n={len(ordered):3d}  min {ordered[0]:7.2f}  p50 {percentile(ordered, 50):7.2f}  "
            f"p90 {percentile(ordered, 90):7.2f}  p99 {percentile(ordered, 99):7.2f}  max {ordered[-1]:7.2f}")


def report(args: argparse.Namespace, paths: list[Path_], memory: dict[str, dict[str, list[float]]]) -> None:
    print(f"\nFirst invoke of a new no-dependency {args.runtime} function through the HTTP API, namespaced "
          f"sandbox, full isolation; {args.rounds} interleaved rounds, {args.settle * 1000:.0f} ms apart "
          f"(ms, client-side)")
    for path in paths:
        print(f"  {path.label:5s}  {stats(path.latency_ms)}")
    for path in paths:
        print(f"  {path.label:5s}  Init Duration (REPORT): {stats(path.init_ms)}")
    fork, spawn = paths[0], paths[-1]
    if fork.latency_ms and spawn.latency_ms:
        f50, s50 = percentile(sorted(fork.latency_ms), 50), percentile(sorted(spawn.latency_ms), 50)
        f99 = percentile(sorted(fork.latency_ms), 99)
        print(f"  fork/spawn p50: {f50 / s50:.2f}x; goal p50 <= {GOAL_P50_MS:g} ms: "
              f"{'met' if f50 <= GOAL_P50_MS else 'MISSED'}, p99 <= {GOAL_P99_MS:g} ms: "
              f"{'met' if f99 <= GOAL_P99_MS else 'MISSED'}")
    print(f"\nIdle environment memory (MB; the last {args.memory} environments of each server)")
    for label, figures in memory.items():
        for what, values in figures.items():
            print(f"  {label:5s}  {what:16s} {stats(values)}")
    runtime_uss = memory.get("fork", {}).get("runtime USS", [])
    if runtime_uss:
        p50 = percentile(sorted(runtime_uss), 50)
        print(f"  goal: forked runtime USS <= {GOAL_USS_MB:g} MB: {'met' if p50 <= GOAL_USS_MB else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--settle", type=float, default=0.05, help="pause after each round, s (default 0.05)")
    parser.add_argument("--memory", type=int, default=20, help="idle environments measured per path")
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--on-demand", action="store_true",
                        help="a third server: forked without blank environments (STRATUS_PYTHON_PREFORK=0)")
    add_run_options(parser, wait_idle_default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stratus-fork-bench-"))
    servers = {
        "fork": StratusServer(workdir / "fork" / "data", env={"STRATUS_SANDBOX": "namespaced"}),
        "spawn": StratusServer(workdir / "spawn" / "data",
                               env={"STRATUS_SANDBOX": "namespaced", "STRATUS_PYTHON_ZYGOTE": "0",
                                    "STRATUS_NODE_PREFORK": "0"}),
    }
    if args.on_demand:  # forked, but with no blank environment kept ahead (each cold start forks now)
        servers = {"fork": servers["fork"],
                   "fork0": StratusServer(workdir / "fork0" / "data",
                                          env={"STRATUS_SANDBOX": "namespaced", "STRATUS_PYTHON_PREFORK": "0"}),
                   "spawn": servers["spawn"]}
    busy_before = wait_for_idle(args.wait_idle)
    paths: list[Path_] = []
    code = 0
    try:
        for server in servers.values():
            server.start()
        prefix = uuid.uuid4().hex[:6]
        paths = [Path_(label, server, args.runtime, prefix) for label, server in servers.items()]
        for path in paths:
            path.cold_start(-1)  # warm-up: the fork server builds its zygote here
            path.latency_ms.clear()
            path.init_ms.clear()
            path.names.clear()
        load = OtherLoad(lambda: [s.process.pid for s in servers.values() if s.process is not None]).start()
        deadline = time.monotonic() + args.max_seconds
        for index in range(args.rounds):
            if time.monotonic() > deadline:
                print(f"stopped after {index} rounds (--max-seconds)")
                break
            for path in (paths if index % 2 == 0 else paths[::-1]):
                path.cold_start(index)
                time.sleep(args.settle)
        other = load.percent()
        time.sleep(0.5)  # the last environments settle into idle
        memory = {path.label: memory_of(path.names[-args.memory:]) for path in paths}
        report(args, paths, memory)
        failures = sum(path.failures for path in paths)
        if failures:
            print(f"\n{failures} cold starts failed")
            code = 1
        print(f"\n{busy_note(busy_before, other)}; loadavg {open('/proc/loadavg').read().split()[:3]}")
    finally:
        for path in paths:
            path.connection.close()
        for label, server in servers.items():
            if stop_and_report(server, label):
                code = 1
        remove_workdir(workdir, args.keep, [server.log_path for server in servers.values()])
    return code


if __name__ == "__main__":
    sys.exit(main())
