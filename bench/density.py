"""Density of Stratus: unique memory per idle Python environment, beside idle-interpreter floors.

    .venv/bin/python bench/density.py [--n 50] [--max 200] [--sandbox namespaced|plain]

Starts its own `stratus serve` (temp data dir, free loopback port, env STRATUS_SANDBOX=<backend>),
creates one python3.12 function whose handler sleeps (`--sleep`, default 1.5 s) and invokes it N times
at once (one raw keep-alive connection per request, all released together), so N environments exist;
waves repeat (at most --waves) until N environments are found. Once they are idle, every process of
every environment is found on the host by scanning /proc/*/environ for
`AWS_LAMBDA_FUNCTION_NAME=<name>` (grouped into environments by their memory cgroup, whose other processes —
a forked environment's reaper — count too; by AWS_LAMBDA_RUNTIME_API where there is no cgroup), and its PSS
and USS (Private_Clean + Private_Dirty) are read from
/proc/<pid>/smaps_rollup: per environment in total (bwrap helpers included) and for the python
runtime process alone. Also: MemTotal - MemAvailable from /proc/meminfo before the server, with the
server idle, with N idle environments, and after the stop; the server's own PSS; each environment's
cgroup charge (namespaced). Baselines in the same run, measured while the environments are alive
(PSS shares pages with every process mapping them): copies of `python3 -S -c "import json, socket;
input()"` (what the runtime bootstrap imports) and of `... json, http.client ...` (the issue's floor)
for /usr/bin/python3 and the server's interpreters, and children forked from one initialized
interpreter. Bounded by --max-seconds; the server is stopped at the end (SIGTERM), even on error.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO,
    KeepAliveClient,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    distinct_interpreters,
    header,
    machine_busy_percent,
    make_zip,
    percentile,
    remove_workdir,
    server_log_problems,
    wait_active,
    wait_for_idle,
)

HARD_CAP = 500
HANDLER = ("import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n"
           "    return {'ok': True}\n")
FLOORS_MB = {  # issue 4, measured on this machine
    "spawned idle python with json + http.client, Debian's python": 11.0,
    "spawned idle python with json + http.client, pyenv's python": 14.0,
    "fork of an initialized interpreter": 0.3,
}
GOAL_MB = 5.0  # compass: unique memory per idle environment, with a snapshot fork later
FORK_PARENT = r"""
import json, http.client, os, sys
count = int(sys.argv[1])
children = []
for _ in range(count):
    pid = os.fork()
    if pid == 0:
        os.read(0, 1)  # idle until stdin closes
        os._exit(0)
    children.append(pid)
print(" ".join(map(str, children)), flush=True)
os.read(0, 1)
for pid in children:
    os.waitpid(pid, 0)
"""


# ---------------------------------------------------------------------------------------------
# /proc readings

def mem_used_mb() -> float:
    """MemTotal - MemAvailable, in MB."""
    values = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, rest = line.split(":", 1)
            values[name] = int(rest.split()[0])
    return (values["MemTotal"] - values["MemAvailable"]) / 1024


def smaps(pid: int) -> dict[str, float] | None:
    """Rss, Pss, Uss (Private_Clean + Private_Dirty) of `pid`, in MB, from smaps_rollup."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            text = rollup.read()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            values[parts[0][:-1]] = int(parts[1])
    if "Pss" not in values:
        return None
    return {"rss": values.get("Rss", 0) / 1024, "pss": values["Pss"] / 1024,
            "uss": (values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)) / 1024}


def environ_of(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return environ.read().split(b"\0")
    except OSError:
        return None


def comm_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return "?"


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def cgroup_charge_mb(pid: int) -> float | None:
    """The memory charged to `pid`'s memory cgroup (v1 memory.usage_in_bytes or v2 memory.current), MB."""
    path = memory_cgroup(pid)
    if path is None:
        return None
    for file in (Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.usage_in_bytes",
                 Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.current"):
        try:
            return int(file.read_text()) / (1 << 20)
        except (OSError, ValueError):
            continue
    return None


def environment_processes(function_name: str) -> list[dict]:
    """Every host process whose environment holds AWS_LAMBDA_FUNCTION_NAME=<function_name>."""
    marker = b"AWS_LAMBDA_FUNCTION_NAME=" + function_name.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        environ = environ_of(pid)
        if not environ or marker not in environ:
            continue
        api = next((item.split(b"=", 1)[1].decode() for item in environ
                    if item.startswith(b"AWS_LAMBDA_RUNTIME_API=")), "?")
        # An environment is its memory cgroup where it has one: a forked environment's Runtime API address is
        # 127.0.0.1:9001 in every one of them (each has its own network namespace), and its reaper (pid 1)
        # carries none of the function's variables.
        found.append({"pid": pid, "env": memory_cgroup(pid) or api})
    for group in {item["env"] for item in found if item["env"].startswith("/")}:
        for pid in cgroup_pids(group):
            if pid not in {item["pid"] for item in found}:
                found.append({"pid": pid, "env": group})
    for item in found:
        comm = comm_of(item["pid"])
        item.update(ppid=parent_of(item["pid"]), comm=comm, role="bwrap" if comm == "bwrap" else (
            "runtime" if comm.startswith("python") else "other:" + comm))
    return found


def memory_cgroup(pid: int) -> str | None:
    """The path of `pid`'s Stratus memory cgroup (cgroup v1 memory controller or v2), None if it has none."""
    try:
        with open(f"/proc/{pid}/cgroup") as cgroups:
            lines = cgroups.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if ("memory" in controllers.split(",") or controllers == "") and "stratus-" in path:
            return path
    return None


def cgroup_pids(path: str) -> list[int]:
    """The processes of a memory cgroup (v1, else v2)."""
    for root in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")):
        try:
            return [int(pid) for pid in (root / path.lstrip("/") / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            continue
    return []


# ---------------------------------------------------------------------------------------------
# statistics and printing

def stats(values: list[float]) -> tuple[int, float, float, float, float]:
    ordered = sorted(values)
    if not ordered:
        nan = float("nan")
        return 0, nan, nan, nan, nan
    return len(ordered), percentile(ordered, 50), sum(ordered) / len(ordered), ordered[0], ordered[-1]


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


def row(label: str, values: list[float], width: int = 64) -> str:
    n, p50, mean, low, high = stats(values)
    return f"    {label:<{width}}{n:>5}{fmt(p50):>9}{fmt(mean):>9}{fmt(low):>9}{fmt(high):>9}"


# ---------------------------------------------------------------------------------------------
# baselines

def interpreters() -> list[tuple[str, str]]:
    """(label, path) of the distinct interpreters to measure idle: /usr/bin/python3, the server's runtime
    python, and the one the server itself runs on (pyenv here)."""
    sys.path.insert(0, str(REPO / "src"))
    try:
        from stratus.runtime.runtimes import host_python
        runtime_python = host_python(os.environ.get("STRATUS_PYTHON_INTERPRETER", ""))
    except Exception:  # noqa: BLE001
        runtime_python = sys.executable
    base = getattr(sys, "_base_executable", None) or sys.executable
    candidates = [("/usr/bin/python3", "/usr/bin/python3")] if os.access("/usr/bin/python3", os.X_OK) else []
    candidates += [("the server's runtime python", runtime_python), ("sys.executable", base)]
    return [(label, real) for label, _, real in distinct_interpreters(candidates)]


class Baselines:
    """Idle interpreter processes started on demand and measured like the environments."""

    def __init__(self, copies: int):
        self.copies = copies
        self.groups: list[tuple[str, list[int]]] = []
        self.processes: list[subprocess.Popen] = []
        self.legend: list[str] = []

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def start(self) -> None:
        found = interpreters()
        for letter, (label, path) in zip("ABCD", found, strict=False):
            self.legend.append(f"{letter} = {label}: {path}")
            for flags, modules in (("-S", "json, socket"), ("-S", "json, http.client"), ("", "json, http.client")):
                argv = [path, *([flags] if flags else []), "-c", f"import {modules}; input()"]
                pids = [self._spawn(argv).pid for _ in range(self.copies)]
                self.groups.append((f"{letter} {flags + ' ' if flags else ''}-c \"import {modules}; input()\"", pids))
        parent = self._spawn([found[0][1], "-S", "-c", FORK_PARENT, str(self.copies)])
        line = parent.stdout.readline().decode().split()
        self.groups.append(("forks of one A -S interpreter with json, http.client", [int(pid) for pid in line]))

    def measure(self) -> list[tuple[str, list[float], list[float]]]:
        results = []
        for label, pids in self.groups:
            readings = [reading for reading in (smaps(pid) for pid in pids) if reading is not None]
            results.append((label, [r["pss"] for r in readings], [r["uss"] for r in readings]))
        return results

    def stop(self) -> None:
        for process in self.processes:
            try:
                process.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


# ---------------------------------------------------------------------------------------------
# load

def invoke_wave(port: int, name: str, count: int, sleep_s: float, timeout_s: float) -> list[str]:
    """`count` concurrent invokes (one connection each, released together); returns error strings."""
    raw = build_request(f"/2015-03-31/functions/{name}/invocations", port, body=f'{{"sleep": {sleep_s}}}'.encode())
    errors: list[str] = []
    lock = threading.Lock()
    connections: list[KeepAliveClient | None] = []
    for _ in range(count):
        try:
            connections.append(KeepAliveClient(port, timeout_s=timeout_s))
        except OSError as exc:
            connections.append(None)
            errors.append(f"connect: {exc}")
    gate = threading.Event()

    def one(connection: KeepAliveClient | None) -> None:
        if connection is None:
            return
        gate.wait()
        try:
            status, head, body = connection.request(raw)
            if status != 200 or header(head, "x-amz-function-error"):
                with lock:
                    errors.append(f"HTTP {status} {header(head, 'x-amz-function-error') or ''} {body[:200]!r}")
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(connection,), daemon=True) for connection in connections]
    for thread in threads:
        thread.start()
    gate.set()
    deadline = time.monotonic() + timeout_s + 5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        errors.append("some invokes did not finish in time")
    return errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="idle environments to start (default 50)")
    parser.add_argument("--max", type=int, default=200,
                        help=f"upper bound on --n (default 200; never above the hard cap {HARD_CAP})")
    parser.add_argument("--sandbox", choices=("namespaced", "plain"), default="namespaced",
                        help="backend, via STRATUS_SANDBOX (default namespaced)")
    parser.add_argument("--sleep", type=float, default=1.5,
                        help="seconds each invoke sleeps in the handler (default 1.5)")
    parser.add_argument("--waves", type=int, default=4,
                        help="concurrent waves at most, until N environments exist (default 4)")
    parser.add_argument("--baseline-copies", type=int, default=10, help="copies of each baseline process (default 10)")
    parser.add_argument("--max-seconds", type=float, default=240.0, help="bound on the waves (default 240)")
    add_run_options(parser, 30.0)
    return parser.parse_args()


def run_waves(args: argparse.Namespace, port: int, name: str, count: int,
              sleep_s: float) -> tuple[int, float, list[str]]:
    """Waves of `count` concurrent invokes until that many environments exist: (waves, seconds, errors)."""
    print(f"density: {count} concurrent invokes of {name} ({args.sandbox} sandbox, "
          f"handler sleeps {sleep_s:g} s) ...", flush=True)
    deadline = time.monotonic() + args.max_seconds
    started = time.monotonic()
    wave_errors: list[str] = []
    environments = 0
    waves = 0
    for _ in range(max(1, args.waves)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        waves += 1
        wave_start = time.monotonic()
        wave_errors += invoke_wave(port, name, count, sleep_s, timeout_s=min(remaining, 120.0))
        environments = len({p["env"] for p in environment_processes(name)})
        print(f"  wave {waves}: {time.monotonic() - wave_start:.1f} s, {environments} environments", flush=True)
        if environments >= count:
            break
    return waves, time.monotonic() - started, wave_errors


def measure_environments(name: str) -> tuple[list[dict], dict[str, list[dict]], list[float]]:
    """The function's environment processes with their memory, those grouped per environment, and
    each environment's cgroup charge (where its runtime has one)."""
    processes = environment_processes(name)
    for process in processes:
        process["mem"] = smaps(process["pid"])
    per_env: dict[str, list[dict]] = {}
    for process in processes:
        if process["mem"] is not None:
            per_env.setdefault(process["env"], []).append(process)
    charges = []
    for members in per_env.values():
        runtime = next((p for p in members if p["role"] == "runtime"), None)
        if runtime is not None and (charge := cgroup_charge_mb(runtime["pid"])) is not None:
            charges.append(charge)
    return processes, per_env, charges


def memory_by_role(processes: list[dict]) -> dict[str, dict[str, list[float]]]:
    by_role: dict[str, dict[str, list[float]]] = {}
    for process in processes:
        if process["mem"] is None:
            continue
        role = by_role.setdefault(process["role"], {"pss": [], "uss": [], "rss": []})
        for key in ("pss", "uss", "rss"):
            role[key].append(process["mem"][key])
    return by_role


def environment_shapes(per_env: dict[str, list[dict]]) -> dict[str, int]:
    """How many environments have each set of processes (e.g. `python3` x50)."""
    shapes: dict[str, int] = {}
    for members in per_env.values():
        shape = " + ".join(sorted(p["comm"] for p in members))
        shapes[shape] = shapes.get(shape, 0) + 1
    return shapes


def print_environments(per_env: dict[str, list[dict]], processes: list[dict],
                       charges: list[float]) -> tuple[list[float], list[float]]:
    """The per-environment memory table; returns each environment's USS and PSS."""
    env_pss = [sum(p["mem"]["pss"] for p in members) for members in per_env.values()]
    env_uss = [sum(p["mem"]["uss"] for p in members) for members in per_env.values()]
    env_rss = [sum(p["mem"]["rss"] for p in members) for members in per_env.values()]
    by_role = memory_by_role(processes)
    width = 64
    print(f"    {'per environment, MB':<{width}}{'n':>5}{'p50':>9}{'mean':>9}{'min':>9}{'max':>9}")
    print(row("environment total (all its processes) PSS", env_pss))
    print(row("environment total (all its processes) USS", env_uss))
    print(row("environment total RSS (shared pages counted in full)", env_rss))
    for role in sorted(by_role, key=lambda r: (r != "runtime", r)):
        label = "python runtime process alone" if role == "runtime" else f"{role} process (each)"
        print(row(f"{label} PSS", by_role[role]["pss"]))
        print(row(f"{label} USS", by_role[role]["uss"]))
    if charges:
        print(row("environment cgroup charge (memory usage, page cache incl.)", charges))
    return env_uss, env_pss


def print_baselines(baselines: Baselines, results: list[tuple[str, list[float], list[float]]]) -> None:
    print("    baselines, same run, idle processes measured while the environments were alive (MB each):")
    for line in baselines.legend:
        print("       " + line)
    for label, pss, uss in results:
        print(row(f"{label} PSS", pss))
        print(row(f"{label} USS", uss))


def print_machine_memory(used_before: float, used_server: float, used_envs: float, environments: int,
                         server_before: dict[str, float] | None, server_after: dict[str, float] | None) -> None:
    total_delta = used_envs - used_server
    print(f"    machine memory used (MemTotal - MemAvailable): {used_before:.0f} MB before the server, "
          f"{used_server:.0f} MB server idle, {used_envs:.0f} MB with {environments} idle environments "
          f"(+{total_delta:.0f} MB, {total_delta / max(1, environments):.2f} MB per environment)")
    if server_before and server_after:
        print(f"    the server process itself: PSS {server_before['pss']:.1f} MB idle "
              f"-> {server_after['pss']:.1f} MB "
              f"with the environments (USS {server_before['uss']:.1f} -> {server_after['uss']:.1f} MB)")
    print("    (other work on the machine moves the machine-wide figure; the per-process ones are exact)")


def print_goal(env_uss: list[float], env_pss: list[float]) -> None:
    print("    floors from issue 4 on this machine (unique memory): " +
          "; ".join(f"{label} {mb:g} MB" for label, mb in FLOORS_MB.items()))
    _, uss50, _, _, _ = stats(env_uss)
    _, pss50, _, _, _ = stats(env_pss)
    verdict = "met" if uss50 <= GOAL_MB else f"not met: {uss50 - GOAL_MB:.1f} MB over"
    print(f"    compass goal (issue 4): <= {GOAL_MB:g} MB unique per idle environment (with a snapshot fork later);"
          f" now: USS p50 {fmt(uss50)} MB, PSS p50 {fmt(pss50)} MB per environment -> {verdict}")


def stop_server(server: StratusServer, name: str) -> None:
    """Stop the server, then report how it went and end any environment of `name` that outlived it."""
    problems = server_log_problems(server) if server.log_path.exists() else []
    stop_started = time.monotonic()
    stop_code = server.stop() if server.process is not None else 0
    stop_s = time.monotonic() - stop_started
    # Environments of this run's (uniquely named) function that outlived the server: report, end them.
    time.sleep(0.5)
    leftovers = environment_processes(name)
    for process in leftovers:
        try:
            os.kill(process["pid"], 9)
        except OSError:
            pass
    print(f"\n    server stopped in {stop_s:.1f} s (exit {stop_code}); machine memory used after the stop: "
          f"{mem_used_mb():.0f} MB")
    if leftovers:
        print(f"    {len(leftovers)} environment process(es) outlived the server and were killed: "
              + ", ".join(f"{p['pid']} {p['comm']}" for p in leftovers[:10]))
    if problems:
        print("\nserver log lines that look like problems:")
        print("\n".join("    " + line for line in problems))
    if stop_code != 0:
        print(f"\nnote: stratus serve exited with {stop_code} after SIGTERM (the issue asks for 0)")


def main() -> int:
    args = parse_args()
    limit = max(1, min(args.max, HARD_CAP))
    count = max(1, min(args.n, limit))
    if count < args.n:
        print(f"note: --n {args.n} capped to {count} (--max {args.max}, hard cap {HARD_CAP})")
    sleep_s = max(0.0, min(args.sleep, 10.0))
    copies = max(1, min(args.baseline_copies, 50))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-density-"))
    server = StratusServer(workdir / "data", env={"STRATUS_SANDBOX": args.sandbox, "STRATUS_IDLE_TIMEOUT_S": "900"})
    baselines = Baselines(copies)
    name = "bench-density-" + uuid.uuid4().hex[:8]
    exit_code = 0
    created = False
    client = None
    try:
        used_before = mem_used_mb()
        server.start()
        client = server.client()
        time.sleep(0.5)
        used_server = mem_used_mb()
        server_pid = server.process.pid
        server_before = smaps(server_pid)
        client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Timeout=60,
                               Role="arn:aws:iam::000000000000:role/bench",
                               Code={"ZipFile": make_zip({"app.py": HANDLER})})
        created = True
        wait_active(client, name)

        waves, spawn_s, wave_errors = run_waves(args, server.port, name, count, sleep_s)
        time.sleep(1.0)  # every runtime back in /next, idle

        used_envs = mem_used_mb()
        server_after = smaps(server_pid)
        processes, per_env, charges = measure_environments(name)

        baselines.start()
        time.sleep(0.5)
        baseline_results = baselines.measure()
        baselines.stop()

        print()
        print(f"Stratus density - {len(per_env)} idle python3.12 environments of one function, "
              f"{args.sandbox} sandbox; "
              f"{os.cpu_count()} CPUs, server Python {platform.python_version()}; "
              f"{waves} wave(s), {spawn_s:.1f} s to start them")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        if len(per_env) < count:
            print(f"note: only {len(per_env)} of {count} environments were found")
        print("    processes per environment: "
              + "; ".join(f"{shape} x{n}" for shape, n in environment_shapes(per_env).items()))
        print()
        env_uss, env_pss = print_environments(per_env, processes, charges)
        print()
        print_baselines(baselines, baseline_results)
        print()
        print_machine_memory(used_before, used_server, used_envs, len(per_env), server_before, server_after)
        print()
        print_goal(env_uss, env_pss)
        if wave_errors:
            exit_code = 1
            print(f"\n    {len(wave_errors)} invoke error(s); first: {wave_errors[0]}")
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        baselines.stop()
        if created and client is not None:
            try:
                client.delete_function(FunctionName=name)
            except Exception as exc:  # noqa: BLE001
                print(f"could not delete {name}: {exc}", file=sys.stderr)
        stop_server(server, name)
        remove_workdir(workdir, args.keep, [server.log_path])
    return exit_code

if __name__ == "__main__":
    sys.exit(main())
