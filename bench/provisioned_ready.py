"""Time from PutProvisionedConcurrencyConfig to Status READY, beside cold starts of the same function.

    .venv/bin/python bench/provisioned_ready.py [--count 10] [--rounds 3] [--backend namespaced]

Starts one `stratus serve` (temp data dir, free loopback port, env STRATUS_SANDBOX=<backend>) and
makes one no-op python3.12 function with a published version. Each round, interleaved so drift hits
all alike: (a) PutProvisionedConcurrencyConfig of `--count` on the version, then
GetProvisionedConcurrencyConfig polled (every ~5 ms, boto3) until READY: the time from sending the
Put to the first READY answer; one invoke of the version then checks that it ran on a provisioned
environment (no Init Duration in its REPORT line); the config is deleted and the round waits until
those environments are gone. (b) The baseline: `--count` sequential cold starts of the same function's
$LATEST, each after an UpdateFunctionConfiguration (new revision: the old environment retires), timed
client-side on a raw keep-alive connection (LogType=Tail, so Init Duration is read too); their sum is
what starting that many environments one after another costs. (c) `--count` concurrent first invokes
of a fresh revision (one connection each): the wall time until all answered, the on-demand way to get
that many environments up at once. Bounded by --max-seconds; the server is stopped (SIGTERM) at the
end, even on error.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
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
    OtherLoad,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    header,
    machine_busy_percent,
    make_zip,
    percentile,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
)

sys.path.insert(0, str(REPO))
from tests.support.environments import processes_of  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/bench"
CODE = make_zip({"app.py": "def handler(event, context):\n    return {'ok': True}\n"})
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.1f}"


def summary(values: list[float]) -> tuple[int, float, float, float]:
    ordered = sorted(values)
    return len(ordered), percentile(ordered, 50), percentile(ordered, 99), (ordered[-1] if ordered else float("nan"))


def provisioned_pids(function_name: str) -> list[int]:
    """Host pids of the function's provisioned environments (found through /proc environ)."""
    found = []
    for pid in processes_of(function_name, variable="AWS_LAMBDA_FUNCTION_NAME"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if b"\0AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency\0" in b"\0" + environ.read() + b"\0":
                    found.append(pid)
        except OSError:
            continue
    return found


def wait_provisioned_gone(function_name: str, timeout_s: float = 30.0) -> None:
    """Wait (bounded) until no provisioned environment of the function is alive."""
    deadline = time.monotonic() + timeout_s
    while provisioned_pids(function_name):
        if time.monotonic() > deadline:
            raise RuntimeError(f"provisioned environments of {function_name} still alive after {timeout_s:g} s")
        time.sleep(0.02)


class Bench:
    def __init__(self, server: StratusServer, name: str, count: int):
        self.server, self.name, self.count = server, name, count
        self.client = server.client()
        self.ready_ms: list[float] = []
        self.first_provisioned_ms: list[float] = []
        self.cold_ms: list[float] = []
        self.cold_init_ms: list[float] = []
        self.sequential_total_ms: list[float] = []
        self.concurrent_ms: list[float] = []
        self.notes: list[str] = []
        self.revision = 0

    def setup(self) -> None:
        self.client.create_function(FunctionName=self.name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                    Code={"ZipFile": CODE})
        wait_active(self.client, self.name)
        self.version = self.client.publish_version(FunctionName=self.name)["Version"]

    def invoke_raw(self, connection: KeepAliveClient, qualifier: str | None = None) -> tuple[float, str]:
        path = f"/2015-03-31/functions/{self.name}/invocations" + (f"?Qualifier={qualifier}" if qualifier else "")
        raw = build_request(path, self.server.port, body=b"{}", headers={"X-Amz-Log-Type": "Tail"})
        start = time.perf_counter()
        status, head, body = connection.request(raw)
        elapsed = (time.perf_counter() - start) * 1e3
        if status != 200 or header(head, "x-amz-function-error"):
            raise RuntimeError(f"invoke: HTTP {status} {body[:300]!r}")
        return elapsed, base64.b64decode(header(head, "x-amz-log-result") or "").decode(errors="replace")

    def new_revision(self) -> None:
        self.revision += 1
        self.client.update_function_configuration(FunctionName=self.name, Description=f"revision {self.revision}")

    def provisioned_round(self) -> None:
        lam = self.client
        start = time.perf_counter()
        lam.put_provisioned_concurrency_config(FunctionName=self.name, Qualifier=self.version,
                                               ProvisionedConcurrentExecutions=self.count)
        deadline = time.monotonic() + 120
        while True:
            config = lam.get_provisioned_concurrency_config(FunctionName=self.name, Qualifier=self.version)
            if config["Status"] == "READY":
                break
            if config["Status"] == "FAILED" or time.monotonic() > deadline:
                raise RuntimeError(f"provisioned concurrency ended {config['Status']} {config.get('StatusReason')}")
            time.sleep(0.005)
        self.ready_ms.append((time.perf_counter() - start) * 1e3)
        connection = KeepAliveClient(self.server.port)
        try:
            elapsed, log = self.invoke_raw(connection, self.version)
        finally:
            connection.close()
        self.first_provisioned_ms.append(elapsed)
        if _INIT.search(log):
            self.notes.append("an invoke after READY reported an Init Duration "
                              "(it did not run on a provisioned environment)")
        lam.delete_provisioned_concurrency_config(FunctionName=self.name, Qualifier=self.version)
        wait_provisioned_gone(self.name)

    def sequential_round(self) -> None:
        connection = KeepAliveClient(self.server.port)
        total = 0.0
        try:
            for _ in range(self.count):
                self.new_revision()
                elapsed, log = self.invoke_raw(connection)
                total += elapsed
                self.cold_ms.append(elapsed)
                if match := _INIT.search(log):
                    self.cold_init_ms.append(float(match.group(1)))
        finally:
            connection.close()
        self.sequential_total_ms.append(total)

    def concurrent_round(self) -> None:
        self.new_revision()
        connections = [KeepAliveClient(self.server.port) for _ in range(self.count)]
        errors: list[str] = []
        barrier = threading.Barrier(self.count + 1)

        def one(connection: KeepAliveClient) -> None:
            barrier.wait()
            try:
                self.invoke_raw(connection)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(str(exc))

        threads = [threading.Thread(target=one, args=(connection,)) for connection in connections]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        self.concurrent_ms.append((time.perf_counter() - start) * 1e3)
        for connection in connections:
            connection.close()
        if errors:
            raise RuntimeError(f"{len(errors)} concurrent invoke(s) failed; first: {errors[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10,
                        help="provisioned environments (and baseline cold starts) per round (default 10, max 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3, max 50)")
    parser.add_argument("--backend", default="namespaced", choices=("namespaced", "plain"),
                        help="sandbox backend (default namespaced)")
    parser.add_argument("--max-seconds", type=float, default=150.0, help="bound on the measuring loop (default 150)")
    add_run_options(parser, 60.0)
    args = parser.parse_args()
    count = max(1, min(args.count, 50))
    rounds = max(1, min(args.rounds, 50))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-provisioned-"))
    server = StratusServer(workdir / "data", env={"STRATUS_SANDBOX": args.backend})
    exit_code = 0
    try:
        server.start()
        bench = Bench(server, "bench-provisioned-" + uuid.uuid4().hex[:6], count)
        bench.setup()
        other = OtherLoad(lambda: [server.process.pid] if server.process is not None else []).start()
        print(f"provisioned concurrency: {rounds} round(s) of {count} environments on {args.backend}, "
              f"interleaved with {count} sequential and {count} concurrent cold starts (bounded by "
              f"{args.max_seconds:g} s) ...", flush=True)
        deadline = time.monotonic() + args.max_seconds
        started = time.monotonic()
        done = 0
        steps = [bench.provisioned_round, bench.sequential_round, bench.concurrent_round]
        for index in range(rounds):
            if time.monotonic() > deadline:
                bench.notes.append(f"stopped after {index} rounds of {rounds} (--max-seconds {args.max_seconds:g})")
                break
            shift = index % len(steps)  # rotate the order so no measurement always follows another
            for step in steps[shift:] + steps[:shift]:
                step()
            done = index + 1
        other_percent = other.percent()
        elapsed = time.monotonic() - started

        print()
        print(f"Stratus provisioned concurrency - no-op python3.12 function, {args.backend} sandbox; "
              f"{os.cpu_count()} CPUs; {done} round(s) in {elapsed:.0f} s")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
              f"{'  <- skewed' if other_percent > 10 else ''}")
        for note in dict.fromkeys(bench.notes):
            print(f"note: {note}")
        print()
        print(f"    {'ms':<72}{'n':>5}{'p50':>9}{'p99':>9}{'max':>9}")
        rows = [
            (f"PutProvisionedConcurrencyConfig({count}) -> READY", bench.ready_ms),
            ("  then one invoke of the version (provisioned, client-side)", bench.first_provisioned_ms),
            (f"baseline: {count} sequential cold starts of $LATEST, summed", bench.sequential_total_ms),
            ("baseline: one cold start (first invoke, client-side)", bench.cold_ms),
            ("baseline: one cold start's REPORT Init Duration", bench.cold_init_ms),
            (f"baseline: {count} concurrent first invokes, until all answered", bench.concurrent_ms),
        ]
        for label, values in rows:
            n, p50, p99, top = summary(values)
            print(f"    {label:<72}{n:>5}{fmt(p50):>9}{fmt(p99):>9}{fmt(top):>9}")
        if bench.ready_ms and bench.sequential_total_ms:
            ratio = summary(bench.sequential_total_ms)[1] / summary(bench.ready_ms)[1]
            print(f"\n    READY for {count} environments took 1/{ratio:.1f} of {count} sequential cold starts (p50s)")
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        stop_and_report(server)
        remove_workdir(workdir, args.keep, [server.log_path])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
