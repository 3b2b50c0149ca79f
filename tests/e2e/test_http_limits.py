"""HTTP hardening (issue 11, finding 7): heads, timeouts, connections and uploads are bounded on the API port
and on every Runtime API endpoint. A real server with short timeouts, raw sockets, loopback only."""

from __future__ import annotations

import http.client
import json
import resource
import selectors
import socket
import statistics
import threading
import time

import pytest

from tests.support.rawhttp import Raw, drained_to_close, host_line, read_until_closed, send_in_background
from tests.support.server import StratusServer, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HEADER_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 3.0
HALF_OPEN = 2000
ECHO = "def handler(event, context):\n    return event\n"
SHORT_LIMITS = {  # the timeouts shrunk, so that tests wait seconds
    "STRATUS_HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "STRATUS_HTTP_BODY_TIMEOUT_S": "1",
    "STRATUS_HTTP_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
    "STRATUS_HTTP_MAX_CONNECTIONS": str(HALF_OPEN + 300),
    "STRATUS_HTTP_LARGE_BODY_BYTES": str(1024 * 1024),
    "STRATUS_HTTP_MAX_LARGE_BODIES": "1",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("http-limits") / "data", env=SHORT_LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def warm(srv):
    """A warm echo function."""
    lam = srv.client()
    lam.create_function(FunctionName="echo", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    assert invoke_json(lam, "echo", {"warm": 1})[1] == {"warm": 1}
    return "echo"


def config_latency_ms(port: int, name: str, seconds: float) -> list[float]:
    """GetFunctionConfiguration in a loop on one keep-alive connection for `seconds`; latencies in ms."""
    client = Raw(port)
    latencies = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            status, _ = client.request("GET", f"/2015-03-31/functions/{name}/configuration")
            latencies.append((time.perf_counter() - start) * 1000)
            assert status == 200
    finally:
        client.close()
    return latencies


def test_a_16_mb_header_is_431_within_a_second(srv, warm):
    sock = socket.create_connection(("127.0.0.1", srv.port))
    start = time.monotonic()
    head = b"GET /2015-03-31/functions/echo/configuration HTTP/1.1\r\n" + host_line(srv.port) + b"X-Big: "
    sender = send_in_background(sock, [head] + [b"a" * (1024 * 1024)] * 16)
    answer = read_until_closed(sock, 5)
    elapsed = time.monotonic() - start
    sender.join(5)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"RequestHeaderFieldsTooLargeException" in answer
    assert elapsed < 1.0, elapsed
    assert Raw(srv.port).request("GET", "/2015-03-31/functions/echo/configuration")[0] == 200


def test_a_client_that_sends_its_whole_huge_head_before_reading_still_reads_the_431(srv, warm):
    """The answer is followed by a half-close and what the client still sends is discarded (for a while), so a
    plain client (send everything, then read) gets the 431 rather than a connection reset."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    start = time.monotonic()
    conn.request("GET", "/2015-03-31/functions/echo/configuration", headers={"X-Big": "a" * (16 << 20)})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 431 and response.getheader("x-amzn-errortype") == "RequestHeaderFieldsTooLargeException"
    assert body == {"Type": "User", "Message": "Request header fields too large"}
    assert time.monotonic() - start < 1.0


def test_too_many_header_fields_is_431(srv, warm):
    sock = socket.create_connection(("127.0.0.1", srv.port))
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(150))
    sock.sendall(b"GET /2015-03-31/functions/echo/configuration HTTP/1.1\r\n" + host_line(srv.port) + fields + b"\r\n")
    answer = read_until_closed(sock, 5)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_streamed_header_is_cut_and_the_api_stays_fast(srv, warm):
    """The original attack: a header streamed for 20 s made GetFunctionConfiguration take seconds. Now a fast
    stream is cut at the size limit, a slow one at the header timeout, and the API answers as usual meanwhile."""
    quiet = config_latency_ms(srv.port, "echo", 0.5)
    fast = socket.create_connection(("127.0.0.1", srv.port))
    slow = socket.create_connection(("127.0.0.1", srv.port))
    start = time.monotonic()
    head = b"GET /2015-03-31/functions/echo/configuration HTTP/1.1\r\n" + host_line(srv.port) + b"X-Slow: "
    send_in_background(fast, [head] + [b"b" * 1024] * 20_000)
    send_in_background(slow, [head] + [b"c" * 8] * 300, pause_s=0.01)  # ~800 bytes/s: under the size limit
    busy = config_latency_ms(srv.port, "echo", 2.0)
    fast_answer = read_until_closed(fast, 5)
    slow_answer = read_until_closed(slow, 5)
    slow_cut_after = time.monotonic() - start
    fast.close()
    slow.close()
    assert fast_answer.startswith(b"HTTP/1.1 431 "), fast_answer[:100]
    assert slow_answer.startswith(b"HTTP/1.1 408 "), slow_answer[:100]
    assert slow_cut_after < 2.0 + HEADER_TIMEOUT_S + 1.5, slow_cut_after  # cut well before its 3 s of sending
    print(f"GetFunctionConfiguration p50: quiet {statistics.median(quiet):.2f} ms, "
          f"under attack {statistics.median(busy):.2f} ms")
    assert statistics.median(busy) < max(20.0, 5 * statistics.median(quiet))


def test_a_stalled_body_is_cut_at_the_body_timeout(srv, warm):
    sock = socket.create_connection(("127.0.0.1", srv.port))
    start = time.monotonic()
    sock.sendall(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\n" + host_line(srv.port)
                 + b"Content-Length: 100\r\n\r\n{\"a\":")
    answer = read_until_closed(sock, 10)
    elapsed = time.monotonic() - start
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert 0.7 < elapsed < 3.0, elapsed


def test_an_idle_keep_alive_connection_is_closed(srv, warm):
    client = Raw(srv.port)
    assert client.request("GET", "/2015-03-31/functions/echo/configuration")[0] == 200
    start = time.monotonic()
    assert read_until_closed(client.sock, 15) == b""  # closed without a word
    elapsed = time.monotonic() - start
    client.close()
    assert IDLE_TIMEOUT_S - 0.5 < elapsed < IDLE_TIMEOUT_S + 2.0, elapsed


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def test_2000_half_open_connections_are_closed_and_invokes_keep_working(srv, warm):
    _raise_file_limit(HALF_OPEN + 512)
    invoker = Raw(srv.port)
    payload = b'{"n":1}'
    latencies: list[float] = []
    failures: list[object] = []
    stop = threading.Event()

    def invoke_loop():
        while not stop.is_set():
            start = time.perf_counter()
            try:
                status, body = invoker.request("POST", "/2015-03-31/functions/echo/invocations", payload)
            except OSError as exc:
                failures.append(exc)
                return
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 200 or json.loads(body) != {"n": 1}:
                failures.append((status, body))
            time.sleep(0.002)

    thread = threading.Thread(target=invoke_loop, daemon=True)
    thread.start()
    sockets = []
    selector = selectors.DefaultSelector()
    try:
        opened = time.monotonic()
        for _ in range(HALF_OPEN):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            sock.sendall(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\n" + host_line(srv.port))
            sock.setblocking(False)
            sockets.append(sock)
            selector.register(sock, selectors.EVENT_READ)
        all_open = time.monotonic()
        closed = 0
        first_closed = None
        deadline = all_open + HEADER_TIMEOUT_S + 5
        while closed < HALF_OPEN and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                if drained_to_close(key.fileobj):
                    selector.unregister(key.fileobj)
                    closed += 1
                    first_closed = first_closed or time.monotonic()
        all_closed = time.monotonic()
    finally:
        stop.set()
        thread.join(10)
        selector.close()
        for sock in sockets:
            sock.close()
        invoker.close()
    assert closed == HALF_OPEN, f"{HALF_OPEN - closed} of {HALF_OPEN} half-open connections still open"
    assert not failures, failures[:3]
    assert first_closed is not None and first_closed - opened > HEADER_TIMEOUT_S * 0.7  # not before their time
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99)]
    print(f"{HALF_OPEN} half-open connections opened in {all_open - opened:.2f} s, all closed "
          f"{all_closed - all_open:.2f} s after the last; {len(latencies)} warm invokes meanwhile: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms")
    assert len(latencies) > 100
    assert p99 < 100, p99


def test_concurrent_large_uploads_are_bounded_with_429(srv, warm):
    """STRATUS_HTTP_MAX_LARGE_BODIES=1 here: while one large body is being received, another gets AWS's
    throttling answer at once (SDKs retry it); once the first is done, the next is read."""
    size = 5 * 1024 * 1024
    path = "/2015-03-31/functions"
    first_body = b"{" * 1024 + b" " * (size - 1024)
    second_body = b" " * size
    json_type = "Content-Type: application/json\r\n"
    first = Raw(srv.port)
    first.sock.sendall(first.signed_head("POST", path, first_body, json_type) + first_body[:1024])
    time.sleep(0.2)  # let the server take the first request's head (and its slot)
    second = Raw(srv.port)
    head = second.signed_head("POST", path, second_body, json_type)
    second.sock.sendall(head)
    status, body = second.response()
    assert status == 429, body
    assert json.loads(body)["Reason"] == "CallerRateLimitExceeded"
    third = socket.create_connection(("127.0.0.1", srv.port))  # waits for 100 Continue: 429 and the end
    third.sendall(head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
    answer = read_until_closed(third, 5)
    third.close()
    assert answer.startswith(b"HTTP/1.1 429 ") and b"connection: close" in answer, answer[:200]
    second.sock.sendall(second_body)  # the refused body is read and discarded; the connection stays usable
    assert second.request("GET", "/2015-03-31/functions/echo/configuration")[0] == 200
    first.sock.sendall(first_body[1024:])
    status, body = first.response()
    first.close()
    assert status == 400, body  # read to its end and answered (not JSON)
    assert json.loads(body)["Type"] == "User", body
    second.sock.sendall(head + second_body)  # the slot is free again: read and answered (bad JSON: 400)
    status, body = second.response()
    second.close()
    assert status == 400, body
    assert json.loads(body)["Type"] == "User", body


def test_too_many_connections_are_refused_at_once(fresh_server):
    server = fresh_server(env={"STRATUS_HTTP_MAX_CONNECTIONS": "20", "STRATUS_HTTP_HEADER_TIMEOUT_S": "30"})
    keep = Raw(server.port)
    assert keep.request("GET", "/2015-03-31/functions")[0] == 200
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(19)]
    time.sleep(0.2)  # accepted
    start = time.monotonic()
    extra = socket.create_connection(("127.0.0.1", server.port))
    answer = read_until_closed(extra, 5)
    elapsed = time.monotonic() - start
    extra.close()
    assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
    assert elapsed < 0.5, elapsed
    assert keep.request("GET", "/2015-03-31/functions")[0] == 200  # those admitted keep working
    for sock in idle:
        sock.close()
    deadline = time.monotonic() + 5
    while True:  # their places come back
        sock = Raw(server.port)
        try:
            if sock.request("GET", "/2015-03-31/functions")[0] == 200:
                break
        except ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        finally:
            sock.close()
    keep.close()
