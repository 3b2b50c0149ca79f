"""Durable async enqueue throughput beside a raw SQLite insert loop with the same fsync policy, and
end-to-end async throughput to a handler that only records that it ran.

    .venv/bin/python bench/async_enqueue.py [--seconds 3] [--connections 64] [--e2e-events 2000]

(a) Enqueue: a server started with `STRATUS_ASYNC_WORKERS=0` (events are accepted and kept, none
runs), so the figure is the front door plus the durable queue alone. Event invokes (payload
`{"n": 1}`) over `--connections` keep-alive HTTP/1.1 connections (non-pipelined): with `wrk` when
installed (one thread, a Lua script sets the header and body, for `--seconds`), else `--events`
requests from an asyncio raw-socket client in `--processes` processes. Counted accepted when
answered 202; each 202 leaves only after its event's group commit (one WAL fsync per batch). The
server logs how many events its commits held. With wrk, the same requests with
`X-Amz-Invocation-Type: DryRun` (the same front door and checks, answered 204 at once, nothing
stored) are measured first on the same server: the ceiling the HTTP path allows. (b) The baseline: as many rows
inserted into a file with the same schema and pragmas (WAL, synchronous=FULL), on the same file
system, by a plain loop, one transaction (one multi-row INSERT, as the server writes) per batch of
that same average size; and, for scale, one transaction per row (an fsync per event).
(c) End to end: a fresh server (plain sandbox, default settings) with a python3.12 function that
appends its request id and the time to a file; `--e2e-events` events are enqueued with the Python
client; the figure is events / (last handler run - first enqueue). The compass goal (>= 10,000
events/s accepted) is printed beside (a). Everything is bounded in count and time; servers are
stopped at the end, even on error.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    OtherLoad,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    make_zip,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
    wrk_auth_lines,
)

GOAL_ACCEPTED_PER_S = 10_000
ROLE = "arn:aws:iam::000000000000:role/bench"
RECORDER = """
import os, time
PATH = os.environ["RECORD_TO"]
def handler(event, context):
    with open(PATH, "a") as out:
        out.write(f"{context.aws_request_id} {time.time():.6f}\\n")
"""


# ---------------------------------------------------------------------------------------------
# load: N keep-alive connections, each sending the next request when the previous one is answered

def _load_process(port: int, raw: bytes, count: int, connections: int, barrier, results) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def main():
        remaining = [count]
        statuses: dict[int, int] = {}

        async def connection():
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            buffer = b""
            while remaining[0] > 0:
                remaining[0] -= 1
                writer.write(raw)
                while (end := buffer.find(b"\r\n\r\n")) < 0:
                    chunk = await reader.read(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buffer += chunk
                head = buffer[:end].lower()
                match = re.search(rb"content-length:\s*(\d+)", head)
                stop = end + 4 + (int(match.group(1)) if match else 0)
                while len(buffer) < stop:
                    buffer += await reader.read(65536)
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
                buffer = buffer[stop:]
            writer.close()

        barrier.wait(30)
        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(connections)))
        return started, time.perf_counter(), statuses

    try:
        results.put(asyncio.run(main()))
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        results.put(exc)


def run_load(port: int, function: str, count: int, connections: int, processes: int) -> dict:
    """Send `count` Event invokes; (accepted per second, statuses, first start, last end)."""
    raw = build_request(f"/2015-03-31/functions/{function}/invocations", port, b'{"n": 1}',
                        {"X-Amz-Invocation-Type": "Event"})
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    per_process = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    workers = [context.Process(target=_load_process, daemon=True,
                               args=(port, raw, n, max(1, connections // processes), barrier, results))
               for n in per_process]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(30)
        outcomes = [results.get(timeout=300) for _ in workers]
    finally:
        for worker in workers:
            worker.join(5)
            if worker.is_alive():
                worker.terminate()
    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    if errors:
        raise RuntimeError(f"load generator failed: {errors[0]!r}")
    start = min(outcome[0] for outcome in outcomes)
    end = max(outcome[1] for outcome in outcomes)
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        for status, n in outcome[2].items():
            statuses[status] = statuses.get(status, 0) + n
    return {"rate": statuses.get(202, 0) / (end - start), "statuses": statuses, "start": start, "end": end,
            "wall_start": time.time() - (time.perf_counter() - start), "accepted": statuses.get(202, 0),
            "latency": ""}


WRK_SCRIPT = ('wrk.method = "POST"\nwrk.body = \'{"n": 1}\'\nwrk.headers["Content-Type"] = "application/json"\n'
              'wrk.headers["X-Amz-Invocation-Type"] = "%s"\n')


def run_wrk(port: int, function: str, seconds: float, connections: int, script: Path) -> dict:
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
            "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = int(match.group(1)) if (match := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)) else 0
    errors = re.search(r"Socket errors: .*", out)
    p50 = re.search(r"^\s*50(?:\.000)?%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.000)?%\s+(\S+)", out, re.MULTILINE)
    return {"rate": float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)) * (requests - bad) / max(1, requests),
            "statuses": {"2xx": requests - bad, "other": bad}, "accepted": requests - bad,
            "latency": f"p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'}"
                       + (f"; {errors.group(0)}" if errors else "")}


# ---------------------------------------------------------------------------------------------
# the raw SQLite baseline: the queue's schema and pragmas, a plain loop

def sqlite_baseline(folder: Path, count: int, batch: int) -> float:
    """Rows per second inserted in transactions of `batch` rows (WAL, synchronous=FULL)."""
    from stratus.store.migrations import migrate
    from stratus.store.queue_sqlite import INSERT, MIGRATIONS, ROW

    path = folder / f"baseline-{batch}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    migrate(conn, MIGRATIONS, path)
    payload = b'{"n": 1}'
    started = time.perf_counter()
    next_id = 1
    while next_id <= count:
        rows = []
        for _ in range(min(batch, count - next_id + 1)):
            now = time.time()
            rows.append((next_id, str(uuid.uuid4()), "sink", None, payload, now, now, 0))
            next_id += 1
        conn.execute(INSERT + ",".join([ROW] * len(rows)), [value for row in rows for value in row])  # its own txn
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


# ---------------------------------------------------------------------------------------------

def create(client, name: str, code: str, env: dict | None = None) -> None:
    client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=30,
                           Code={"ZipFile": make_zip({"app.py": code})},
                           Environment={"Variables": env or {}})
    wait_active(client, name)


def batch_stats(server: StratusServer) -> tuple[int, int]:
    match = re.findall(r"async queue: (\d+) events accepted in (\d+) commits", server.log_path.read_text())
    return (int(match[-1][0]), int(match[-1][1])) if match else (0, 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the enqueue load with wrk")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator for the enqueue figure (auto: wrk when installed)")
    parser.add_argument("--events", type=int, default=10_000,
                        help="Event invokes for the enqueue figure (python client)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections, all processes together")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes")
    parser.add_argument("--e2e-events", type=int, default=2_000, help="events for the end-to-end figure")
    add_run_options(parser, wait_idle_default=60)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-async-"))
    servers: list[StratusServer] = []
    busy_before = wait_for_idle(args.wait_idle)
    other = OtherLoad(lambda: [srv.process.pid for srv in servers if srv.process is not None]).start()
    try:
        # (a) enqueue only: the workers are off, so nothing runs while we measure.
        use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
        sink_server = StratusServer(workdir / "enqueue" / "data", env={"STRATUS_ASYNC_WORKERS": "0"})
        servers.append(sink_server.start())
        client = sink_server.client()
        create(client, "sink", "def handler(event, context):\n    return None\n")
        run_load(sink_server.port, "sink", 500, args.connections, 1)  # warm-up
        if use_wrk:
            scripts = {kind: workdir / f"{kind}.lua" for kind in ("Event", "DryRun")}
            for kind, script in scripts.items():
                script.write_text(WRK_SCRIPT % kind + wrk_auth_lines(
                    "/2015-03-31/functions/sink/invocations", sink_server.port, b'{"n": 1}'))
            front_door = run_wrk(sink_server.port, "sink", args.seconds, args.connections, scripts["DryRun"])
            enqueue = run_wrk(sink_server.port, "sink", args.seconds, args.connections, scripts["Event"])
            generator = f"wrk, 1 thread, {args.seconds:g} s"
        else:
            front_door = None
            enqueue = run_load(sink_server.port, "sink", args.events, args.connections, args.processes)
            generator = f"python asyncio client, {args.processes} process(es)"
        stop_and_report(sink_server, "enqueue")
        total_events, commits = batch_stats(sink_server)
        batch = max(1, round(total_events / commits)) if commits else 1

        # (b) the raw SQLite loop, same file system, same pragmas, same batch size.
        rows = max(1000, enqueue["accepted"])
        raw_batched = sqlite_baseline(workdir, rows, batch)
        raw_single = sqlite_baseline(workdir, min(rows, 500), 1)

        # (c) end to end: every event runs a handler that records it.
        record = workdir / "ran.txt"
        record.touch()
        e2e_server = StratusServer(workdir / "e2e" / "data", env={"STRATUS_SANDBOX": "plain"})
        servers.append(e2e_server.start())
        client = e2e_server.client()
        create(client, "recorder", RECORDER, {"RECORD_TO": str(record)})
        client.invoke(FunctionName="recorder", Payload=b"{}")  # one warm environment to start from
        record.write_text("")
        e2e = run_load(e2e_server.port, "recorder", args.e2e_events, args.connections, args.processes)
        deadline = time.monotonic() + 120
        ran: dict[str, float] = {}
        while len(ran) < e2e["statuses"].get(202, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
            ran = {}
            for line in record.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2:
                    ran[parts[0]] = float(parts[1])
        last_run = max(ran.values()) if ran else float("nan")
        e2e_seconds = last_run - e2e["wall_start"]
        stop_and_report(e2e_server, "end to end")
        other_load = other.percent()

        print(f"\nDurable async enqueue ({enqueue['accepted']} Event invokes, "
              f"{args.connections} keep-alive connections, "
              f"{generator}; WAL + synchronous=FULL, group commit)")
        print(f"  accepted with 202         {enqueue['rate']:>10,.0f} events/s   (statuses {enqueue['statuses']}) "
              f"{enqueue['latency']}")
        if front_door is not None:
            print(f"  same front door, DryRun   {front_door['rate']:>10,.0f} requests/s (204 at once, nothing stored) "
                  f"{front_door['latency']}")
        print(f"  events per commit (avg)   {batch:>10}   "
              f"({total_events} events in {commits} commits, warm-up included)")
        print(f"  raw SQLite, {batch}-row txns  {raw_batched:>10,.0f} rows/s     ({rows} rows: same schema, pragmas, "
              f"file system, statement form)")
        print(f"  raw SQLite, 1-row txns    {raw_single:>10,.0f} rows/s     "
              "(an fsync per event: what group commit avoids)")
        print(f"  compass goal              {GOAL_ACCEPTED_PER_S:>10,} events/s accepted "
              f"-> {'met' if enqueue['rate'] >= GOAL_ACCEPTED_PER_S else 'NOT met'}")
        print(f"\nEnd to end ({args.e2e_events} events to a handler that appends its request id to a file, "
              "plain sandbox)")
        print(f"  accepted with 202         {e2e['rate']:>10,.0f} events/s while the workers ran them")
        print(f"  ran                       {len(ran):>10} distinct events "
              f"({e2e['statuses'].get(202, 0)} accepted)")
        print(f"  first enqueue -> last run {e2e_seconds:>10.2f} s  "
              f"= {len(ran) / e2e_seconds:,.0f} events/s end to end")
        print(f"\n{busy_note(busy_before, other_load)}")
        return 0
    finally:
        for srv in servers:
            if srv.process is not None:
                srv.stop()
        remove_workdir(workdir, args.keep, [srv.log_path for srv in servers])


if __name__ == "__main__":
    sys.exit(main())
