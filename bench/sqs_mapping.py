"""SQS event source mapping throughput against moto_server, beside a bare boto3 receive+delete loop.

    .venv/bin/python bench/sqs_mapping.py [--messages 2000] [--batch-size 10] [--concurrency 10]

Starts its own moto_server and `stratus serve` (temp dir, free loopback ports). (a) Baseline: the
queue is filled with `--messages` messages, then `--receivers` threads (default 5, the receive loops a
mapping runs) ReceiveMessage (10 at a time) and DeleteMessageBatch until it is empty: messages/s.
(b) Stratus: a no-op python3.12 function with a mapping on another queue (`--batch-size`,
ScalingConfig.MaximumConcurrency `--concurrency`); the mapping is disabled, the queue filled with
the same number of messages, the mapping enabled, and the clock runs until the queue is empty
(every message invoked and deleted): messages/s and invokes. A warm-up of 100 messages through the
mapping runs first (environments started). The baseline runs again after Stratus, so drift shows.
Both sides share moto_server, which is usually the bottleneck: the ratio says what the mapping adds.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))  # for tests.support (not only as a side effect of importing _common)
from tests.support.moto import MotoServer  # noqa: E402

from _common import (  # noqa: E402
    OtherLoad,
    StratusServer,
    add_run_options,
    busy_note,
    machine_busy_percent,
    make_zip,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
)

HANDLER = "def handler(event, context):\n    return {}\n"


def fill(sqs, url: str, count: int) -> None:
    bodies = [f"message-{i}" for i in range(count)]
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body}
                                                      for i, body in enumerate(bodies[start:start + 10])])


def counts(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain_with_boto3(moto: MotoServer, url: str, count: int, receivers: int) -> tuple[float, int]:
    """Receive and delete `count` messages with `receivers` threads; (seconds, messages)."""
    done = [0]
    lock = threading.Lock()

    def work():
        sqs = moto.client("sqs")
        while True:
            with lock:
                if done[0] >= count:
                    return
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages")
            if not messages:
                continue
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            with lock:
                done[0] += len(messages)

    threads = [threading.Thread(target=work) for _ in range(receivers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return time.perf_counter() - start, done[0]


def wait(condition, timeout_s: float, what: str, interval_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (default 2000)")
    parser.add_argument("--batch-size", type=int, default=10, help="the mapping's BatchSize (default 10)")
    parser.add_argument("--concurrency", type=int, default=10, help="ScalingConfig.MaximumConcurrency (default 10)")
    parser.add_argument("--receivers", type=int, default=5, help="baseline receive threads (default 5)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="bound on each run (default 300)")
    add_run_options(parser, wait_idle_default=60.0)
    args = parser.parse_args()
    args.messages = max(10, min(args.messages, 100_000))
    window = 0 if args.batch_size <= 10 else 1

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-sqs-"))
    moto = MotoServer(workdir / "moto.log")
    server: StratusServer | None = None
    exit_code = 0
    try:
        moto.start()
        server = StratusServer(workdir / "data", env={**moto.service_env(), "STRATUS_ESM_SQS_WAIT_S": "1"})
        server.start()
        sqs = moto.client("sqs")
        lam = server.client()
        name = "bench-sqs-" + uuid.uuid4().hex[:8]
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", MemorySize=1769,
                            Role="arn:aws:iam::000000000000:role/bench",
                            Code={"ZipFile": make_zip({"app.py": HANDLER})})
        wait_active(lam, name)
        baseline_url = sqs.create_queue(QueueName=name + "-baseline")["QueueUrl"]
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, BatchSize=args.batch_size, MaximumBatchingWindowInSeconds=window,
            ScalingConfig={"MaximumConcurrency": max(2, args.concurrency)})["UUID"]
        state = lambda: lam.get_event_source_mapping(UUID=mapping)["State"]  # noqa: E731
        wait(lambda: state() == "Enabled", 30, "the mapping")
        fill(sqs, url, 100)  # warm-up: environments started, clients connected
        wait(lambda: counts(sqs, url) == 0, 60, "the warm-up")

        results = []
        other = OtherLoad(lambda: [server.process.pid, moto.process.pid]).start()
        fill(sqs, baseline_url, args.messages)
        seconds, got = drain_with_boto3(moto, baseline_url, args.messages, args.receivers)
        results.append(("boto3 receive+delete (baseline)", seconds, got))

        lam.update_event_source_mapping(UUID=mapping, Enabled=False)
        wait(lambda: state() == "Disabled", 60, "the mapping to be disabled")
        fill(sqs, url, args.messages)
        start = time.perf_counter()
        lam.update_event_source_mapping(UUID=mapping, Enabled=True)
        wait(lambda: counts(sqs, url) == 0, args.max_seconds, "the mapping to drain the queue", interval_s=0.01)
        results.append(("Stratus SQS mapping", time.perf_counter() - start, args.messages))

        fill(sqs, baseline_url, args.messages)
        seconds, got = drain_with_boto3(moto, baseline_url, args.messages, args.receivers)
        results.append(("boto3 receive+delete (again)", seconds, got))
        other_percent = other.percent()

        print()
        print(f"SQS event source mapping throughput - no-op python3.12 handler, moto_server {moto.endpoint}; "
              f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}")
        print(f"mapping: BatchSize {args.batch_size}, MaximumConcurrency {max(2, args.concurrency)}, "
              f"window {window} s; baseline: {args.receivers} threads, 10 per ReceiveMessage, DeleteMessageBatch")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
              f"{'  <- skewed' if other_percent > 10 else ''}")
        print(f"    {'run':<34}{'messages':>10}{'seconds':>10}{'msg/s':>10}")
        for label, seconds, got in results:
            print(f"    {label:<34}{got:>10}{seconds:>10.2f}{got / seconds:>10.0f}")
        baseline = (results[0][2] / results[0][1] + results[2][2] / results[2][1]) / 2
        print(f"    Stratus / baseline (mean of both baseline runs): {results[1][2] / results[1][1] / baseline:.2f}")
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        if server is not None:
            stop_and_report(server)
        moto.stop()
        remove_workdir(workdir, args.keep, [server.log_path] if server else [])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
