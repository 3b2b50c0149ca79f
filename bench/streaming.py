"""Time to first byte of a streamed response (InvokeWithResponseStream, a RESPONSE_STREAM Function URL) beside
the handler's first write.

    .venv/bin/python bench/streaming.py [--requests 300] [--hold-ms 50] [--backend namespaced]

Starts its own `stratus serve` (temp data dir, free loopback port, env STRATUS_SANDBOX=<backend>) and one
nodejs20.x function made with awslambda.streamifyResponse: it writes `first=<epoch ms>` (its clock read
just before the write), waits --hold-ms, writes a second chunk and ends. Each round, over one keep-alive
HTTP/1.1 connection from a raw-socket client (pre-built signed requests, an incremental event-stream
reader), interleaved so drift hits both alike:
(a) InvokeWithResponseStream: from sending the request to (1) the handler's first write (its own
timestamp), (2) the first PayloadChunk fully received by the client (TTFB), (3) InvokeComplete; and the
delivery latency (2)-(1): how long a write takes to reach the client (runtime -> Stratus -> client).
(b) A Function URL of the function in InvokeMode RESPONSE_STREAM (`GET /?holdMs=N` on its Host; for URL
events the handler writes through awslambda.HttpResponseStream.from, so its prelude is parsed): (1), the
first body chunk at the client (TTFB), the last chunk, and the delivery latency.
(c) The baseline: a plain Invoke of the same function (the response buffered, as without streaming),
from sending to the whole answer, which cannot come before the handler ends.
Both clocks are this host's wall clock (Node: performance.timeOrigin + performance.now()). Bounded in
count and time; the server is stopped (SIGTERM) at the end, even on error.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import struct
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
    machine_busy_percent,
    make_zip,
    percentile,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
)

ROLE = "arn:aws:iam::000000000000:role/bench"
HANDLER = r"""
const { performance } = require('perf_hooks');
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  let holdMs = event.holdMs;
  if (event.rawPath !== undefined) {  // a Function URL request
    holdMs = Number(event.queryStringParameters.holdMs);
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 200, headers: { 'content-type': 'text/plain' } });
  } else {
    responseStream.setContentType('text/plain');
  }
  responseStream.write(`first=${performance.timeOrigin + performance.now()}`);
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  responseStream.write('second');
  responseStream.end();
});
"""


class EventStreamReader:
    """Reads one chunked event-stream response from a KeepAliveClient's socket, noting when each event
    arrived: [(perf_counter seconds, event type, payload)]."""

    def __init__(self, client: KeepAliveClient):
        self.client = client

    def read(self) -> tuple[int, list[tuple[float, str, bytes]]]:
        client = self.client
        while (end := client.buffer.find(b"\r\n\r\n")) < 0:
            client._fill()
        head, client.buffer = client.buffer[:end], client.buffer[end + 4:]
        status = int(head[9:12])
        if b"chunked" not in head.lower():
            raise RuntimeError(f"not a streamed answer: {head.decode(errors='replace')} {client.buffer[:300]!r}")
        events: list[tuple[float, str, bytes]] = []
        stream = b""
        while True:
            while (line_end := client.buffer.find(b"\r\n")) < 0:
                client._fill()
            size = int(client.buffer[:line_end].split(b";")[0], 16)
            stop = line_end + 2 + size + 2
            while len(client.buffer) < stop:
                client._fill()
            stream += client.buffer[line_end + 2:stop - 2]
            client.buffer = client.buffer[stop:]
            arrived = time.perf_counter()
            while len(stream) >= 12 and len(stream) >= (total := struct.unpack(">I", stream[:4])[0]):
                headers_length = struct.unpack(">I", stream[4:8])[0]
                headers = stream[12:12 + headers_length]
                payload = stream[12 + headers_length:total - 4]
                events.append((arrived, _event_type(headers), payload))
                stream = stream[total:]
            if size == 0:
                return status, events


def read_chunks(client: KeepAliveClient) -> tuple[int, list[tuple[float, bytes]]]:
    """One chunked response's status and its body chunks, each with its arrival (perf_counter seconds)."""
    while (end := client.buffer.find(b"\r\n\r\n")) < 0:
        client._fill()
    head, client.buffer = client.buffer[:end], client.buffer[end + 4:]
    if b"chunked" not in head.lower():
        raise RuntimeError(f"not a streamed answer: {head.decode(errors='replace')} {client.buffer[:300]!r}")
    chunks: list[tuple[float, bytes]] = []
    while True:
        while (line_end := client.buffer.find(b"\r\n")) < 0:
            client._fill()
        size = int(client.buffer[:line_end].split(b";")[0], 16)
        stop = line_end + 2 + size + 2
        while len(client.buffer) < stop:
            client._fill()
        chunks.append((time.perf_counter(), client.buffer[line_end + 2:stop - 2]))
        client.buffer = client.buffer[stop:]
        if size == 0:
            return int(head[9:12]), chunks


def _event_type(headers: bytes) -> str:
    at = 0
    while at < len(headers):
        name_length = headers[at]
        name = headers[at + 1:at + 1 + name_length]
        at += 1 + name_length + 1
        value_length = struct.unpack(">H", headers[at:at + 2])[0]
        value = headers[at + 2:at + 2 + value_length]
        at += 2 + value_length
        if name == b":event-type":
            return value.decode()
    return ""


def row(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    cells = "".join(f"{percentile(ordered, q):>9.2f}" for q in (50, 90, 99))
    return f"    {label:<70}{len(ordered):>5}{cells}{(ordered[-1] if ordered else float('nan')):>9.2f}"


ROWS = (  # (sample key, label); an empty key is a blank line
    ("first_write", "InvokeWithResponseStream: the handler's first write (its clock)"),
    ("ttfb", "InvokeWithResponseStream: first PayloadChunk at the client (TTFB)"),
    ("complete", "InvokeWithResponseStream: InvokeComplete at the client"),
    ("url_write", "Function URL (RESPONSE_STREAM): the handler's first write (its clock)"),
    ("url_ttfb", "Function URL (RESPONSE_STREAM): first body chunk at the client (TTFB)"),
    ("url_complete", "Function URL (RESPONSE_STREAM): last chunk at the client"),
    ("buffered", "baseline: Invoke of the same function, whole answer (buffered)"),
    ("", ""),
    ("delivery", "delivery: TTFB - first write (runtime -> Stratus -> client)"),
    ("url_delivery", "delivery through the Function URL: TTFB - first write"),
)


def url_round(client: KeepAliveClient, request: bytes, samples: dict[str, list[float]], record: bool) -> None:
    """One request to the streaming Function URL; its figures go to `samples` when `record`."""
    sent_wall, sent = time.time(), time.perf_counter()
    client.sock.sendall(request)
    status, chunks = read_chunks(client)
    data = b"".join(chunk for _, chunk in chunks)
    if status != 200 or not data.startswith(b"first=") or not data.endswith(b"second"):
        raise RuntimeError(f"function URL: HTTP {status}, body {data[:200]!r}")
    first_at = next(at for at, chunk in chunks if chunk)
    written = float(data[len(b"first="):-len(b"second")]) / 1e3 - sent_wall  # s after sending, its clock
    if record:
        samples["url_write"].append(written * 1e3)
        samples["url_ttfb"].append((first_at - sent) * 1e3)
        samples["url_delivery"].append((first_at - sent - written) * 1e3)
        samples["url_complete"].append((chunks[-1][0] - sent) * 1e3)


def print_report(args: argparse.Namespace, samples: dict[str, list[float]], busy_before: float,
                 other_percent: float, notes: list[str]) -> None:
    print()
    print(f"Stratus response streaming - nodejs20.x streamifyResponse handler, {args.backend} sandbox; "
          f"{os.cpu_count()} CPUs")
    print(f"note: {busy_note(busy_before, machine_busy_percent())}")
    print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
          f"{'  <- skewed' if other_percent > 10 else ''}")
    for note in notes:
        print(f"note: {note}")
    print()
    print(f"    {'ms after sending the request':<70}{'n':>5}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
    for key, label in ROWS:
        print(row(label, samples[key]) if key else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind (default 300, max 5000)")
    parser.add_argument("--hold-ms", type=int, default=50, help="the handler's wait between its writes (default 50)")
    parser.add_argument("--backend", default="namespaced", choices=("namespaced", "plain"))
    parser.add_argument("--max-seconds", type=float, default=120.0, help="bound on the measuring loop (default 120)")
    add_run_options(parser, 60.0)
    args = parser.parse_args()
    if shutil.which("node") is None:
        print("bench/streaming.py needs Node.js on PATH (the function is a nodejs20.x streamifyResponse handler)")
        return 1
    requests = max(1, min(args.requests, 5000))
    hold_ms = max(0, min(args.hold_ms, 5000))

    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-streaming-"))
    server = StratusServer(workdir / "data", env={"STRATUS_SANDBOX": args.backend})
    exit_code = 0
    try:
        server.start()
        name = "bench-streaming-" + uuid.uuid4().hex[:6]
        lam = server.client()
        lam.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                            Code={"ZipFile": make_zip({"index.js": HANDLER})}, Timeout=30)
        wait_active(lam, name)
        function_url = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                                      InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
        lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                           FunctionUrlAuthType="NONE")
        url_request = (f"GET /?holdMs={hold_ms} HTTP/1.1\r\nHost: {function_url.split('/')[2]}\r\n\r\n").encode()
        body = f'{{"holdMs": {hold_ms}}}'.encode()
        streamed_request = build_request(f"/2021-11-15/functions/{name}/response-streaming-invocations",
                                         server.port, body)
        buffered_request = build_request(f"/2015-03-31/functions/{name}/invocations", server.port, body)
        client = KeepAliveClient(server.port)
        reader = EventStreamReader(client)
        samples: dict[str, list[float]] = {key: [] for key, _ in ROWS if key}

        def streamed_once(record: bool) -> None:
            sent_wall, sent = time.time(), time.perf_counter()
            client.sock.sendall(streamed_request)
            status, events = reader.read()
            chunks = [event for event in events if event[1] == "PayloadChunk"]
            if status != 200 or not chunks or events[-1][1] != "InvokeComplete" or events[-1][2] != b"{}":
                raise RuntimeError(f"streamed invoke: HTTP {status}, events {[(e[1], e[2][:80]) for e in events]}")
            written = float(chunks[0][2].split(b"=", 1)[1]) / 1e3 - sent_wall  # s after sending, its clock
            if record:
                samples["first_write"].append(written * 1e3)
                samples["ttfb"].append((chunks[0][0] - sent) * 1e3)
                samples["delivery"].append((chunks[0][0] - sent - written) * 1e3)
                samples["complete"].append((events[-1][0] - sent) * 1e3)

        url_once = functools.partial(url_round, client, url_request, samples)

        def buffered_once(record: bool) -> None:
            sent = time.perf_counter()
            status, _, answer = client.request(buffered_request)
            if status != 200 or not answer.startswith(b"first="):
                raise RuntimeError(f"invoke: HTTP {status} {answer[:200]!r}")
            if record:
                samples["buffered"].append((time.perf_counter() - sent) * 1e3)

        for _ in range(20):  # warm-up: the environment, the JIT, the connection
            streamed_once(False)
            url_once(False)
            buffered_once(False)
        other = OtherLoad(lambda: [server.process.pid] if server.process is not None else []).start()
        print(f"streaming: {requests} InvokeWithResponseStream, Function URL and Invoke requests, interleaved, "
              f"handler holding {hold_ms} ms between writes, {args.backend} sandbox ...", flush=True)
        deadline = time.monotonic() + args.max_seconds
        notes = []
        for index in range(requests):
            if time.monotonic() > deadline:
                notes.append(f"stopped after {index} of {requests} requests (--max-seconds {args.max_seconds:g})")
                break
            steps = (streamed_once, url_once, buffered_once)
            for step in steps[index % 3:] + steps[:index % 3]:
                step(True)
        other_percent = other.percent()
        client.close()

        print_report(args, samples, busy_before, other_percent, notes)
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        stop_and_report(server)
        remove_workdir(workdir, args.keep, [server.log_path])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
