"""What a qualifier costs on the invoke path: $LATEST vs a version vs an alias vs a weighted alias.

    .venv/bin/python bench/alias_routing.py [--requests 4000]

Starts its own `stratus serve` (temp data dir, free loopback port), creates a no-op python3.12
function, publishes versions 1 and 2 of it and two aliases: `live` (→ 1) and `canary` (→ 1, 50 % to
2). Then sequential latency over ONE keep-alive connection per target, the targets interleaved in
blocks so drift hits them alike; the baseline is the same function invoked unqualified ($LATEST) in
the same run. Bounded in count and time; the server is stopped at the end, even on error.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    OtherLoad,
    SequentialTarget,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    machine_busy_percent,
    make_zip,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
)

HANDLER = "def handler(event, context):\n    return event\n"
BLOCK = 200


class Target(SequentialTarget):
    """Sequential invokes of one qualifier over its own keep-alive connection, counting the executed versions."""

    def __init__(self, label: str, port: int, path: str):
        super().__init__(label, port, build_request(path, port))
        self.versions: dict[str, int] = {}

    def on_head(self, head: bytes) -> None:
        at = head.lower().find(b"x-amz-executed-version:") + len(b"x-amz-executed-version:")
        version = head[at:].split(b"\r\n", 1)[0].strip().decode()
        self.versions[version] = self.versions.get(version, 0) + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="sequential requests per target (default 4000)")
    parser.add_argument("--warmup", type=int, default=300, help="unrecorded requests per target first (default 300)")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="bound on the measuring phase (default 180)")
    add_run_options(parser, wait_idle_default=60.0)
    args = parser.parse_args()
    args.requests = max(BLOCK, min(args.requests, 50_000))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-alias-"))
    server = StratusServer(workdir / "data")
    exit_code = 0
    try:
        server.start()
        client = server.client()
        name = "bench-alias-" + uuid.uuid4().hex[:8]
        client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", MemorySize=1769,
                               Role="arn:aws:iam::000000000000:role/bench", Publish=True,
                               Code={"ZipFile": make_zip({"app.py": HANDLER})})
        wait_active(client, name)
        client.update_function_configuration(FunctionName=name, Description="second")
        client.publish_version(FunctionName=name)
        client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        client.create_alias(FunctionName=name, Name="canary", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        base = f"/2015-03-31/functions/{name}/invocations"
        targets = [Target("$LATEST (baseline)", server.port, base),
                   Target("version 1", server.port, base + "?Qualifier=1"),
                   Target("alias live -> 1", server.port, base + "?Qualifier=live"),
                   Target("alias canary 1/2 50%", server.port, base + "?Qualifier=canary")]
        for target in targets:
            target.run(args.warmup, record=False)
        other = OtherLoad(lambda: [server.process.pid]).start()
        deadline = time.monotonic() + args.max_seconds
        done, complete = 0, True
        gc.collect()
        gc.disable()
        try:
            while done < args.requests:
                if time.monotonic() > deadline:
                    complete = False
                    break
                for target in targets:
                    target.run(min(BLOCK, args.requests - done))
                done += BLOCK
        finally:
            gc.enable()
        other_percent = other.percent()
        for target in targets:
            target.client.close()

        base_stats = targets[0].stats_ms()
        print()
        print(f"Stratus invoke by qualifier - no-op python3.12 handler; {os.cpu_count()} CPUs ({platform.machine()}), "
              f"Python {platform.python_version()}")
        print(f"baseline: the same function invoked unqualified ($LATEST) in the same run, "
              f"interleaved in blocks of {BLOCK}")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
              f"{'  <- skewed' if other_percent > 10 else ''}")
        print(f"sequential latency, 1 keep-alive connection per target{'' if complete else ' (CUT SHORT)'}")
        print(f"    {'target':<24}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'+p50 ms':>10}{'+p99 ms':>10}"
              "  executed versions")
        for target in targets:
            stats = target.stats_ms()
            print(f"    {target.label:<24}{stats['n']:>7}{stats['p50']:>10.3f}{stats['p99']:>10.3f}"
                  f"{stats['p50'] - base_stats['p50']:>10.3f}{stats['p99'] - base_stats['p99']:>10.3f}  "
                  f"{dict(sorted(target.versions.items()))}")
            if target.errors:
                print(f"    {target.label}: {target.errors} errors")
                exit_code = 1
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        stop_and_report(server)
        remove_workdir(workdir, args.keep, [server.log_path])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
