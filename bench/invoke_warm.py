"""Warm invoke latency and throughput of Stratus, beside a bare loopback HTTP server in the same run.

    .venv/bin/python bench/invoke_warm.py [--requests 5000] [--connections 8] [--seconds 5]

Starts its own `stratus serve` (temp data dir, free loopback port) and a bare asyncio/uvloop server
(bench/baseline_server.py) answering a fixed `200 {}`; creates a no-op python3.12 function; then
(a) sequential latency over ONE keep-alive HTTP/1.1 connection (raw socket client), baseline and
Stratus interleaved in blocks so drift hits both alike; (b) the overhead (Stratus - baseline);
(c) throughput with C keep-alive connections for D seconds, with `wrk` when installed (else a
multi-process Python client), against both servers. Everything is bounded in count and time and
both servers are stopped at the end, even on error.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import re
import select
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    _CONTENT_LENGTH,
    KeepAliveClient,
    OtherLoad,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    descendants,
    free_port,
    machine_busy_percent,
    make_zip,
    percentile,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
    wrk_auth_lines,
)

GOAL_P50_OVERHEAD_MS = 0.25
GOAL_P99_OVERHEAD_MS = 1.0
GOAL_THROUGHPUT = 6000
PEER = {"p50": 0.45, "p99": 4.3, "rps": 4500}  # serverless-offline on this machine (issue 3)
HANDLER = "def handler(event, context):\n    return event\n"
BLOCK = 250  # sequential requests per interleaved block


# ---------------------------------------------------------------------------------------------
# servers

def start_baseline(port: int, timeout_s: float = 10.0) -> tuple[subprocess.Popen, str]:
    script = Path(__file__).resolve().parent / "baseline_server.py"
    process = subprocess.Popen([sys.executable, str(script), str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("READY"):
        process.kill()
        raise RuntimeError(f"baseline server did not start: {line!r}")
    return process, line.split("loop=")[-1]


def stop_baseline(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------------------------
# sequential latency

class Sequential:
    """Latencies (ns) of one keep-alive connection; counts non-200 / function-error responses."""

    def __init__(self, port: int, raw: bytes):
        self.client = KeepAliveClient(port)
        self.raw = raw
        self.samples: list[int] = []
        self.errors = 0
        self.first_error = ""

    def run(self, count: int, record: bool = True) -> None:
        request, raw, perf = self.client.request, self.raw, time.perf_counter_ns
        samples = self.samples if record else []
        for _ in range(count):
            start = perf()
            status, head, body = request(raw)
            samples.append(perf() - start)
            if status != 200 or b"x-amz-function-error" in head.lower():
                self.errors += 1
                if not self.first_error:
                    self.first_error = f"{head.decode(errors='replace')}\n\n{body[:500].decode(errors='replace')}"

    def stats_ms(self) -> dict[str, float]:
        values = sorted(sample / 1e6 for sample in self.samples)
        return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
                "p99": percentile(values, 99), "max": values[-1] if values else float("nan")}


def sequential(baseline: Sequential, stratus: Sequential, requests: int, max_s: float) -> bool:
    """Alternate blocks of BLOCK requests; returns False if cut short by max_s."""
    deadline = time.monotonic() + max_s
    gc.collect()
    gc.disable()
    try:
        done = 0
        while done < requests:
            if time.monotonic() > deadline:
                return False
            block = min(BLOCK, requests - done)
            baseline.run(block)
            stratus.run(block)
            done += block
        return True
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------
# throughput: wrk, or a multi-process Python client

WRK_SCRIPT = 'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(url: str, connections: int, seconds: float, threads: int, script: Path) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "--latency", "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({done.returncode}): {out}\n{done.stderr}")
    result = {"rps": float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1)), "errors": 0, "first_error": ""}
    for quantile in ("50", "90", "99"):
        match = re.search(rf"^\s*{quantile}(?:\.000)?%\s+(\S+)", out, re.MULTILINE)
        result[f"p{quantile}"] = _wrk_ms(match.group(1)) if match else float("nan")
    if match := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out):
        result["errors"] += int(match.group(1))
        result["first_error"] = "non-2xx responses"
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        socket_errors = sum(int(value) for value in match.groups())
        if socket_errors:
            result["errors"] += socket_errors
            result["first_error"] = (result["first_error"] + "; " if result["first_error"] else "") + match.group(0)
    return result


def _load_worker(port: int, raw: bytes, seconds: float, barrier, queue) -> None:
    try:
        client = KeepAliveClient(port)
        request, perf = client.request, time.perf_counter_ns
        samples, errors, first_error = [], 0, ""
        gc.disable()
        barrier.wait(30)
        stop = perf() + int(seconds * 1e9)
        while (start := perf()) < stop:
            status, head, body = request(raw)
            samples.append(perf() - start)
            if status != 200 or b"x-amz-function-error" in head.lower():
                errors += 1
                first_error = first_error or (head.decode(errors="replace") + "\n\n"
                                              + body[:300].decode(errors="replace"))
        queue.put((samples, errors, first_error))
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        queue.put(([], 1, f"{type(exc).__name__}: {exc}"))


def run_python_procs_load(port: int, raw: bytes, connections: int, seconds: float) -> dict:
    """One client process per connection (blocking sockets)."""
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(connections + 1), context.Queue()
    workers = [context.Process(target=_load_worker, args=(port, raw, seconds, barrier, queue), daemon=True)
               for _ in range(connections)]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(30)
        before = os.times()
        results = [queue.get(timeout=seconds + 60) for _ in workers]
    finally:
        for worker in workers:
            worker.join(5)
            if worker.is_alive():
                worker.terminate()
                worker.join()
    after = os.times()
    samples = sorted(sample / 1e6 for result in results for sample in result[0])
    client_cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return {"rps": len(samples) / seconds, "requests": len(samples),
            "p50": percentile(samples, 50), "p90": percentile(samples, 90), "p99": percentile(samples, 99),
            "errors": sum(result[1] for result in results), "client_cpu_s": client_cpu,
            "first_error": next((result[2] for result in results if result[2]), "")}


def run_python_load(port: int, raw: bytes, connections: int, seconds: float) -> dict:
    """One client process for all connections: non-blocking sockets on epoll, one request in flight per
    connection (as wrk does), the next sent as soon as an answer is complete. Cheaper on 2 cores than a process
    per connection (no client wake-up per request once several answers are ready together)."""
    selector = selectors.DefaultSelector()
    perf = time.perf_counter_ns
    states = {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        states[sock.fileno()] = [sock, b"", 0]  # socket, bytes read, when its request left
    samples, errors, first_error = [], 0, ""
    gc.collect()
    gc.disable()
    before = os.times()
    try:
        started = perf()
        stop = started + int(seconds * 1e9)
        for fd, state in states.items():
            selector.register(fd, selectors.EVENT_READ, state)
            state[2] = perf()
            state[0].sendall(raw)
        open_count = len(states)
        while open_count:
            for key, _ in selector.select(10):
                state = key.data
                sock = state[0]
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                buffer = state[1] + data
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    state[1] = buffer
                    continue
                match = _CONTENT_LENGTH.search(buffer, 0, end)
                if match is None:
                    raise ValueError("response without Content-Length: " + buffer[:end].decode(errors="replace"))
                stop_at = end + 4 + int(match.group(1))
                if len(buffer) < stop_at:
                    state[1] = buffer
                    continue
                now = perf()
                samples.append(now - state[2])
                head = buffer[:end]
                if head[9:12] != b"200" or b"x-amz-function-error" in head.lower():
                    errors += 1
                    first_error = first_error or (head.decode(errors="replace") + "\n\n"
                                                  + buffer[end + 4:stop_at][:300].decode(errors="replace"))
                state[1] = buffer[stop_at:]
                if now < stop:
                    state[2] = now
                    sock.sendall(raw)
                else:
                    selector.unregister(sock.fileno())
                    open_count -= 1
        elapsed = (perf() - started) / 1e9
    finally:
        after = os.times()
        gc.enable()
        selector.close()
        for state in states.values():
            state[0].close()
    samples.sort()
    values = [sample / 1e6 for sample in samples]
    return {"rps": len(values) / elapsed, "requests": len(values),
            "p50": percentile(values, 50), "p90": percentile(values, 90), "p99": percentile(values, 99),
            "errors": errors, "first_error": first_error,
            "client_cpu_s": (after.user + after.system) - (before.user + before.system)}


# ---------------------------------------------------------------------------------------------

def tree_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by process `pid` (all its threads) and by its descendants."""
    def used(one: int) -> float:
        try:
            with open(f"/proc/{one}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0
    return used(pid), sum(used(child) for child, _ in descendants(pid))


def print_cpu(base_load: dict, stratus_load: dict) -> None:
    """CPU per request under load: Stratus's server process and its environments, and the generator's own."""
    per_request = 1e6 / max(1, stratus_load["requests"])
    server_cpu, environments_cpu = stratus_load["cpu"]
    print(f"    {'stratus CPU us/request':<22}{'':>12}{server_cpu * per_request:>12.1f}"
          f"   server process; its environments: {environments_cpu * per_request:.1f}")
    if "client_cpu_s" in stratus_load:
        print(f"    {'client CPU us/request':<22}"
              f"{base_load['client_cpu_s'] / max(1, base_load['requests']) * 1e6:>12.1f}"
              f"{stratus_load['client_cpu_s'] * per_request:>12.1f}   (the generator's own, on the same cores)")


def fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN check


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="sequential requests per server (default 5000)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections for throughput (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run (default 5)")
    parser.add_argument("--warmup", type=int, default=500, help="unrecorded sequential requests first (default 500)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python", "python-procs"), default="auto",
                        help="throughput load generator (auto: wrk when installed, else python: one process, "
                             "epoll; python-procs: one process per connection)")
    parser.add_argument("--wrk-threads", type=int, default=1,
                        help="wrk threads (default 1: leave a core to the server)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="bound on the sequential phase (default 300)")
    add_run_options(parser, 60.0)
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, 1_000_000))
    args.connections = max(1, min(args.connections, 256))
    args.seconds = max(1.0, min(args.seconds, 120.0))

    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed")
    wrk_threads = max(1, min(args.wrk_threads, args.connections))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-warm-"))
    server = StratusServer(workdir / "data")
    baseline_process = None
    exit_code = 0
    try:
        baseline_port = free_port()
        baseline_process, baseline_loop = start_baseline(baseline_port)
        server.start()
        client = server.client()
        name = "bench-noop-" + uuid.uuid4().hex[:8]
        # 1,769 MB buys one full vCPU, as on Lambda; at the 128 MB default the cgroup would allow
        # the function 7 % of a core and the figures would measure that throttle, not Stratus.
        client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", MemorySize=1769,
                               Role="arn:aws:iam::000000000000:role/bench",
                               Code={"ZipFile": make_zip({"app.py": HANDLER})})
        wait_active(client, name)
        path = f"/2015-03-31/functions/{name}/invocations"
        stratus_raw = build_request(path, server.port)
        baseline_raw = build_request(path, baseline_port)

        # (a) + (b): sequential, one keep-alive connection each, same client code
        print(f"sequential: warming ({args.warmup} requests each), then {args.requests} requests each ...", flush=True)
        roots = [baseline_process.pid, server.process.pid]
        other = OtherLoad(lambda: roots)
        base_seq, stratus_seq = Sequential(baseline_port, baseline_raw), Sequential(server.port, stratus_raw)
        first = stratus_seq.client.request(stratus_raw)
        if first[0] != 200 or first[2] != b"{}":
            raise RuntimeError(f"unexpected first invoke response: {first}")
        base_seq.run(args.warmup, record=False)
        stratus_seq.run(args.warmup, record=False)
        other.start()
        complete = sequential(base_seq, stratus_seq, args.requests, args.max_seconds)
        other_seq = other.percent()
        base_seq.client.close()
        stratus_seq.client.close()

        # (c): throughput, C connections for D seconds, same generator for both
        print(f"throughput: {args.connections} connections x {args.seconds:g} s with {generator} ...", flush=True)
        if generator == "wrk":
            script = workdir / "post.lua"
            script.write_text(WRK_SCRIPT + wrk_auth_lines(path, server.port, b"{}"))

            def load(port: int, raw: bytes, seconds: float) -> dict:
                return run_wrk(f"http://127.0.0.1:{port}{path}", args.connections, seconds, wrk_threads, script)
        else:
            run = run_python_load if generator == "python" else run_python_procs_load

            def load(port: int, raw: bytes, seconds: float) -> dict:
                return run(port, raw, args.connections, seconds)
        load(server.port, stratus_raw, 1.0)  # warm-up: start the environments concurrency needs, unrecorded
        other.start()
        base_load = load(baseline_port, baseline_raw, args.seconds)
        cpu_before = tree_cpu_s(server.process.pid)
        stratus_load = load(server.port, stratus_raw, args.seconds)
        cpu_after = tree_cpu_s(server.process.pid)
        stratus_load["cpu"] = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
        other_load = other.percent()
        environments = [cmd for _, cmd in descendants(server.process.pid) if "bootstrap" in cmd]
        after = KeepAliveClient(server.port)
        status, head, body = after.request(stratus_raw)
        after.close()

        # report
        b, s = base_seq.stats_ms(), stratus_seq.stats_ms()
        if generator == "wrk":
            version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
            generator_text = f"{version or 'wrk'}, {wrk_threads} thread(s), Lua POST script"
        elif generator == "python":
            generator_text = f"Python, 1 process, epoll, {args.connections} keep-alive sockets x 1 request in flight"
        else:
            generator_text = f"Python multiprocessing, {args.connections} processes x 1 keep-alive socket"
        print()
        print(f"Stratus warm invoke - no-op python3.12 handler; {os.cpu_count()} CPUs ({platform.machine()}), "
              f"Python {platform.python_version()}")
        print(f"baseline: bare asyncio HTTP server on loopback (loop: {baseline_loop}), fixed 200 '{{}}'")
        print(f"note: {os.cpu_count()} cores - the client / load generator competes with the server for CPU")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_seq:.0f}% (sequential), "
              f"{other_load:.0f}% (throughput){'  <- skewed' if max(other_seq, other_load) > 10 else ''}")
        print()
        print(f"(a) sequential latency, 1 keep-alive connection, raw-socket HTTP/1.1 client, "
              f"n={s['n']} each{'' if complete else ' (CUT SHORT by --max-seconds)'}, interleaved in blocks of {BLOCK}")
        print(f"    {'ms':<6}{'baseline':>10}{'stratus':>10}{'overhead':>10}   {'goal (overhead)':<18}"
              f"{'serverless-offline overhead':<28}")
        for key in ("p50", "p90", "p99", "max"):
            overhead = s[key] - b[key]
            goal = {"p50": GOAL_P50_OVERHEAD_MS, "p99": GOAL_P99_OVERHEAD_MS}.get(key)
            goal_text = f"<= {goal:g}  {verdict(overhead <= goal)}" if goal else ""
            peer = f"{PEER[key]:g}" if key in PEER else ""
            print(f"    {key:<6}{fmt(b[key]):>10}{fmt(s[key]):>10}{fmt(overhead):>10}   {goal_text:<18}{peer:<28}")
        print(f"    errors: baseline {base_seq.errors}, stratus {stratus_seq.errors}")
        print()
        print(f"(b) overhead (stratus - baseline): p50 {fmt(s['p50'] - b['p50'])} ms "
              f"(goal <= {GOAL_P50_OVERHEAD_MS:g}), p99 {fmt(s['p99'] - b['p99'])} ms "
              f"(goal <= {GOAL_P99_OVERHEAD_MS:g})")
        print()
        print(f"(c) throughput, {args.connections} keep-alive connections x {args.seconds:g} s; "
              f"generator: {generator_text}")
        print(f"    {'':<22}{'baseline':>12}{'stratus':>12}   {'goal':<16}{'serverless-offline':<18}")
        print(f"    {'requests/s':<22}{base_load['rps']:>12,.0f}{stratus_load['rps']:>12,.0f}   "
              f">= {GOAL_THROUGHPUT:,} {verdict(stratus_load['rps'] >= GOAL_THROUGHPUT):<7}{PEER['rps']:,}")
        print(f"    {'requests completed':<22}{base_load['requests']:>12,}{stratus_load['requests']:>12,}")
        for key in ("p50", "p90", "p99"):
            print(f"    {'latency ' + key + ' (ms)':<22}{fmt(base_load[key], 2):>12}{fmt(stratus_load[key], 2):>12}")
        print(f"    {'errors':<22}{base_load['errors']:>12}{stratus_load['errors']:>12}")
        print_cpu(base_load, stratus_load)
        if generator == "wrk":
            print("    (wrk counts non-2xx and socket errors; an Unhandled function error would be a 200 - "
                  "see the post-load check)")
        print(f"    environments (bootstrap processes) after load: {len(environments)}")
        print(f"    post-load invoke: HTTP {status}, body {body[:80]!r}"
              f"{', X-Amz-Function-Error!' if b'x-amz-function-error' in head.lower() else ''}")
        for label, seq, result in (("sequential", stratus_seq, None), ("throughput", None, stratus_load)):
            text = seq.first_error if seq else result["first_error"]
            if text:
                print(f"\nfirst stratus error ({label}):\n{text}")
                exit_code = 1
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        stop_and_report(server)
        stop_baseline(baseline_process)
        remove_workdir(workdir, args.keep, [server.log_path])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
