"""What the HTTP front door adds: a Function URL request, an HTTP API and a REST API route vs a direct Invoke.

    .venv/bin/python bench/front_door.py [--requests 4000]

Starts its own `stratus serve` (temp data dir, free loopback port), creates one no-op python3.12
function (`return {"statusCode": 200, "body": "ok"}`), a Function URL for it (AuthType NONE, public
permission), an HTTP API (quick create: `$default` route and stage) and a REST API (`ANY /{proxy+}`
deployed to stage `prod`). Then sequential latency over ONE keep-alive HTTP/1.1 connection per target, the
targets interleaved in blocks so drift hits them alike: a signed Invoke of the function (the baseline),
`GET /` on the Function URL's Host, `GET /ping` on the HTTP API's Host, `GET /prod/ping` on the REST API's.
The front door's extra work is the request → event translation (a ~1 KB event instead of `{}`), the route
lookup and the response translation. Bounded in count and time; the server is stopped at the end, even on
error.
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

import boto3

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

HANDLER = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
BLOCK = 200


def get_request(host: str, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="sequential requests per target (default 4000)")
    parser.add_argument("--warmup", type=int, default=300, help="unrecorded requests per target first (default 300)")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="bound on the measuring phase (default 180)")
    add_run_options(parser, wait_idle_default=60.0)
    args = parser.parse_args()
    args.requests = max(BLOCK, min(args.requests, 50_000))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-frontdoor-"))
    server = StratusServer(workdir / "data")
    exit_code = 0
    try:
        server.start()
        client = server.client()
        name = "bench-frontdoor-" + uuid.uuid4().hex[:8]
        arn = client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                     MemorySize=1769, Role="arn:aws:iam::000000000000:role/bench",
                                     Code={"ZipFile": make_zip({"app.py": HANDLER})})["FunctionArn"]
        wait_active(client, name)
        url = client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        client.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                              Principal="*", FunctionUrlAuthType="NONE")
        gateway = boto3.client("apigatewayv2", endpoint_url=server.endpoint, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")
        api_id = gateway.create_api(Name=name, ProtocolType="HTTP", Target=arn)["ApiId"]
        rest = boto3.client("apigateway", endpoint_url=server.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")
        rest_api = rest.create_rest_api(name=name)
        proxy = rest.create_resource(restApiId=rest_api["id"], parentId=rest_api["rootResourceId"],
                                     pathPart="{proxy+}")["id"]
        rest.put_method(restApiId=rest_api["id"], resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
        rest.put_integration(restApiId=rest_api["id"], resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                             integrationHttpMethod="POST",
                             uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
        rest.create_deployment(restApiId=rest_api["id"], stageName="prod")
        url_host = url.split("//", 1)[1].rstrip("/")
        targets = [
            SequentialTarget("Invoke (baseline)", server.port,
                   build_request(f"/2015-03-31/functions/{name}/invocations", server.port)),
            SequentialTarget("Function URL GET /", server.port, get_request(url_host, "/")),
            SequentialTarget("HTTP API GET /ping", server.port,
                   get_request(f"{api_id}.execute-api.localhost:{server.port}", "/ping")),
            SequentialTarget("REST API GET /prod/ping", server.port,
                   get_request(f"{rest_api['id']}.execute-api.localhost:{server.port}", "/prod/ping")),
        ]
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
        print(f"Stratus HTTP front door - no-op python3.12 handler; {os.cpu_count()} CPUs ({platform.machine()}), "
              f"Python {platform.python_version()}")
        print(f"baseline: a signed Invoke of the same function in the same run, interleaved in blocks of {BLOCK}")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
              f"{'  <- skewed' if other_percent > 10 else ''}")
        print(f"sequential latency, 1 keep-alive connection per target{'' if complete else ' (CUT SHORT)'}")
        print(f"    {'target':<26}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'+p50 ms':>10}{'+p99 ms':>10}")
        for target in targets:
            stats = target.stats_ms()
            print(f"    {target.label:<26}{stats['n']:>7}{stats['p50']:>10.3f}{stats['p99']:>10.3f}"
                  f"{stats['p50'] - base_stats['p50']:>10.3f}{stats['p99'] - base_stats['p99']:>10.3f}")
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
