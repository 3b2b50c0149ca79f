"""Cold start of Stratus: first-invoke latency of a fresh no-dependency Python function, beside
`python -c pass` measured in the same run.

    .venv/bin/python bench/cold_start.py [--iterations 30]

Starts its own `stratus serve` (temp data dir, free loopback port). Each iteration creates a new
function (unique name), waits until Active, then times its first invoke (client-side, one raw
keep-alive HTTP/1.1 connection, LogType=Tail) and reads `Init Duration` from the REPORT line in
X-Amz-Log-Result; a second (warm) invoke is timed too, then the function is deleted. Interleaved
with the iterations, the same run times `-c pass` and `-S -u -c pass` of sys.executable, of
/usr/bin/python3 and of the interpreter the server uses for python3.x runtimes.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO, KeepAliveClient, OtherLoad, StratusServer, build_request, busy_note, header, machine_busy_percent, make_zip,
    percentile, server_log_problems, wait_active, wait_for_idle,
)

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")
_DURATION = re.compile(r"\tDuration: ([\d.]+) ms")


def server_python() -> str:
    """The interpreter `stratus serve` starts python3.x runtimes with (its own rule, else a copy of it)."""
    sys.path.insert(0, str(REPO / "src"))
    try:
        from stratus.runtime.runtimes import host_python
        return host_python(os.environ.get("STRATUS_PYTHON_INTERPRETER", ""))
    except Exception:  # noqa: BLE001 - fall back to the documented rule
        candidate = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
        return candidate if os.access(candidate, os.X_OK) else sys.executable


def interpreter_commands() -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A legend of the distinct interpreter binaries, and (label, argv) of each `-c pass` baseline."""
    candidates = [("sys.executable", sys.executable)]
    if os.access("/usr/bin/python3", os.X_OK):
        candidates.append(("/usr/bin/python3", "/usr/bin/python3"))
    candidates.append(("the server's runtime python", server_python()))
    seen: dict[str, int] = {}
    interpreters: list[tuple[str, str]] = []
    for label, path in candidates:
        real = os.path.realpath(path)
        if real in seen:
            index = seen[real]
            interpreters[index] = (interpreters[index][0] + " = " + label, interpreters[index][1])
            continue
        seen[real] = len(interpreters)
        interpreters.append((label, path))
    legend, commands = [], []
    for letter, (label, path) in zip("ABCD", interpreters):
        real = os.path.realpath(path)
        legend.append(f"{letter} = {label}: {path}{'' if real == path else ' -> ' + real}")
        commands.append((f"{letter} -c pass", [path, "-c", "pass"]))
        commands.append((f"{letter} -S -u -c pass", [path, "-S", "-u", "-c", "pass"]))
    return legend, commands


def time_command(argv: list[str]) -> float:
    """Spawn-to-reaped time of argv, in ms. A blocking wait(): subprocess's wait(timeout=...) polls
    with growing sleeps and would round every figure up to ~16 / 32 ms; a timer bounds it instead."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        code = process.wait()
    finally:
        watchdog.cancel()
    elapsed = (time.perf_counter() - start) * 1e3
    if code != 0:
        raise RuntimeError(f"{argv} exited with {code}")
    return elapsed


def summary(values: list[float]) -> tuple[int, float, float, float]:
    ordered = sorted(values)
    return len(ordered), percentile(ordered, 50), percentile(ordered, 99), (ordered[-1] if ordered else float("nan"))


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=30, help="fresh functions to create and invoke (default 30)")
    parser.add_argument("--settle", type=float, default=0.2,
                        help="pause (s) after each delete, so a draining environment does not overlap the next cold start")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="bound on the whole loop (default 600)")
    parser.add_argument("--wait-idle", type=float, default=60.0,
                        help="wait up to this many seconds for other CPU load to stop before starting (default 60, 0: no wait)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, data) afterwards")
    args = parser.parse_args()
    iterations = max(1, min(args.iterations, 1000))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-cold-"))
    server = StratusServer(workdir / "data")
    client = None
    created: list[str] = []
    exit_code = 0
    first, init, report_duration, second, create = [], [], [], [], []
    missing_init = 0
    errors: list[str] = []
    legend, commands = interpreter_commands()
    command_times: dict[str, list[float]] = {label: [] for label, _ in commands}
    try:
        for _, argv in commands:  # warm the page cache for every interpreter once, unrecorded
            time_command(argv)
        server.start()
        client = server.client()
        code = make_zip({"app.py": HANDLER})
        connection = KeepAliveClient(server.port, timeout_s=60)
        prefix = "bench-cold-" + uuid.uuid4().hex[:6]
        deadline = time.monotonic() + args.max_seconds
        server_pid = server.process.pid
        other = OtherLoad(lambda: [server_pid]).start()
        print(f"cold start: {iterations} fresh functions ...", flush=True)
        for index in range(iterations):
            if time.monotonic() > deadline:
                print(f"stopped after {index} iterations (--max-seconds)")
                break
            name = f"{prefix}-{index}"
            start = time.perf_counter()
            client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                   Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": code})
            created.append(name)
            wait_active(client, name)
            create.append((time.perf_counter() - start) * 1e3)

            raw = build_request(f"/2015-03-31/functions/{name}/invocations", server.port,
                                headers={"X-Amz-Log-Type": "Tail"})
            start = time.perf_counter()
            status, head, body = connection.request(raw)
            first.append((time.perf_counter() - start) * 1e3)
            if status != 200 or header(head, "x-amz-function-error"):
                errors.append(f"{name}: HTTP {status} {head.decode(errors='replace')}\n{body[:300]!r}")
            log = base64.b64decode(header(head, "x-amz-log-result") or "").decode(errors="replace")
            if match := _INIT.search(log):
                init.append(float(match.group(1)))
            else:
                missing_init += 1
            if match := _DURATION.search(log):
                report_duration.append(float(match.group(1)))

            start = time.perf_counter()
            status, head, body = connection.request(raw)
            second.append((time.perf_counter() - start) * 1e3)
            if status != 200 or header(head, "x-amz-function-error"):
                errors.append(f"{name} (2nd): HTTP {status}\n{body[:300]!r}")

            client.delete_function(FunctionName=name)
            created.remove(name)
            time.sleep(args.settle)
            for label, argv in commands:  # the baselines, interleaved so drift hits both alike
                command_times[label].append(time_command(argv))
        connection.close()
        other_percent = other.percent()

        print()
        print(f"Stratus cold start - fresh no-dependency python3.12 function; {os.cpu_count()} CPUs, "
              f"server Python {platform.python_version()}, runtime interpreter {server_python()} -S -u")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
              f"{'  <- skewed' if other_percent > 10 else ''}")
        print()
        width = 40
        print(f"    {'ms':<{width}}{'n':>5}{'p50':>9}{'p99':>9}{'max':>9}")
        rows = [("first invoke, client-side (cold)", first),
                ("REPORT Init Duration", init),
                ("REPORT Duration (cold invoke)", report_duration),
                ("second invoke, client-side (warm)", second),
                ("create_function until Active (boto3)", create)]
        rows += [(label, values) for label, values in command_times.items()]
        for index, (label, values) in enumerate(rows):
            if index == 5:
                print("    -- baselines, same run: interpreter start + exit, spawned from this process")
                print("\n".join("       " + line for line in legend))
            n, p50, p99, top = summary(values)
            print(f"    {label:<{width}}{n:>5}{fmt(p50):>9}{fmt(p99):>9}{fmt(top):>9}")
        runtime_letter = next((line[0] for line in legend if "server's runtime python" in line), None)
        runtime_label = f"{runtime_letter} -S -u -c pass" if runtime_letter else None
        if runtime_label and first:
            floor = summary(command_times[runtime_label])[1]
            print()
            print(f"    first invoke p50 - (runtime interpreter -S -u -c pass) p50 = "
                  f"{fmt(summary(first)[1] - floor)} ms  (what Stratus adds beyond starting that interpreter)")
        print("    (DESIGN.md floors on this machine: Debian /usr/bin/python3 -c pass 8 ms, pyenv python3 29 ms,"
              " fork of an initialized CPython 1 ms)")
        if missing_init:
            print(f"\n    {missing_init} cold invoke(s) had no Init Duration in their REPORT line")
        if errors:
            exit_code = 1
            print(f"\n{len(errors)} invoke error(s); first:\n{errors[0]}")
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        for name in list(created):
            try:
                client.delete_function(FunctionName=name)
            except Exception as exc:  # noqa: BLE001
                print(f"could not delete {name}: {exc}", file=sys.stderr)
        problems = server_log_problems(server) if server.log_path.exists() else []
        stop_code = server.stop() if server.process is not None else 0
        if problems:
            print("\nserver log lines that look like problems:")
            print("\n".join("    " + line for line in problems))
        if stop_code != 0:
            print(f"\nnote: stratus serve exited with {stop_code} after SIGTERM (the issue asks for 0)")
        if args.keep:
            print(f"\nkept {workdir} (server log: {server.log_path})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
