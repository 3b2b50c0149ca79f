"""The Runtime API's HTTP limits (issue 11, finding 7): a function that attacks its own Runtime API (16 MB heads,
slowly streamed heads, too many connections, pipelined floods) is cut off by its own endpoint's limits, and
another function's warm invokes stay fast meanwhile."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.e2e.test_http_limits import ECHO, ROLE, SHORT_LIMITS
from tests.support.rawhttp import Raw
from tests.support.server import StratusServer, invoke_json, make_zip


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("runtime-limits") / "data", env=SHORT_LIMITS) as running:
        lam = running.client()
        lam.create_function(FunctionName="echo", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": make_zip({"app.py": ECHO})})
        assert invoke_json(lam, "echo", {"warm": 1})[1] == {"warm": 1}
        yield running


ATTACKER = r'''
import os, socket, threading, time
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)

def connect():
    return socket.create_connection((HOST, int(PORT)), timeout=10)

def until_closed(sock):
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    return data

HOST_LINE = f"Host: {API}\r\n".encode()  # the endpoint's own name: only the limits refuse these requests
BIG = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n" + HOST_LINE + b"X-Big: " + b"a" * (16 << 20)

def big_header():
    sock = connect()
    start = time.monotonic()
    def send():
        try:
            sock.sendall(BIG)
        except OSError:
            pass
    threading.Thread(target=send, daemon=True).start()
    answer = until_closed(sock)
    return [answer[:12].decode(), round(time.monotonic() - start, 3)]

def slow_header(results, seconds):
    sock = connect()
    start = time.monotonic()
    def send():
        try:
            sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n" + HOST_LINE + b"X-Slow: ")
            while time.monotonic() - start < seconds:
                sock.sendall(b"s" * 8)
                time.sleep(0.01)
        except OSError:
            pass
    threading.Thread(target=send, daemon=True).start()
    answer = until_closed(sock)
    results.append([answer[:12].decode(), round(time.monotonic() - start, 3)])

def many_connections(n):
    socks, refused = [], 0
    for _ in range(n):
        sock = connect()
        sock.settimeout(0.3)
        socks.append(sock)
    time.sleep(0.3)
    for sock in socks:
        try:
            if sock.recv(64).startswith(b"HTTP/1.1 503"):
                refused += 1
        except OSError:
            pass
        sock.close()
    return refused

FLOOD = (b"GET /2018-06-01/runtime/nothing HTTP/1.1\r\n" + HOST_LINE + b"\r\n") * 5000

def flood(results, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock = connect()
        def send():
            try:
                sock.sendall(FLOOD)
            except OSError:
                pass
        threading.Thread(target=send, daemon=True).start()
        answer = until_closed(sock)
        results.append([answer.count(b"HTTP/1.1 404"), answer.count(b"HTTP/1.1 429")])

def handler(event, context):
    seconds = event["seconds"]
    slow, floods = [], []
    threads = [threading.Thread(target=slow_header, args=(slow, seconds)) for _ in range(4)]
    threads.append(threading.Thread(target=flood, args=(floods, seconds)))
    for thread in threads:
        thread.start()
    bigs = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        bigs.append(big_header())
    refused = many_connections(100)
    for thread in threads:
        thread.join()
    return {"big": bigs, "slow": slow, "refused": refused, "floods": floods}
'''


def test_a_function_attacking_its_own_runtime_api_slows_only_itself(srv):
    lam = srv.client()
    lam.create_function(FunctionName="attacker", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Timeout=60, MemorySize=512, Code={"ZipFile": make_zip({"app.py": ATTACKER})})
    quiet = Raw(srv.port)
    before = []
    for _ in range(200):
        start = time.perf_counter()
        assert quiet.request("POST", "/2015-03-31/functions/echo/invocations", b"{}")[0] == 200
        before.append((time.perf_counter() - start) * 1000)
    result: dict = {}
    attack = threading.Thread(target=lambda: result.update(invoke_json(lam, "attacker", {"seconds": 3})[1]))
    attack.start()
    during = []
    while attack.is_alive():
        start = time.perf_counter()
        assert quiet.request("POST", "/2015-03-31/functions/echo/invocations", b"{}")[0] == 200
        during.append((time.perf_counter() - start) * 1000)
        time.sleep(0.002)
    attack.join()
    quiet.close()
    before.sort()
    during.sort()
    p50_before, p50_during = before[len(before) // 2], during[len(during) // 2]
    p99_during = during[int(len(during) * 0.99)]
    print(f"another function's warm invokes: p50 {p50_before:.2f} ms before, during the attack p50 "
          f"{p50_during:.2f} ms, p99 {p99_during:.2f} ms (n={len(during)}); the attacker: {len(result.get('big', []))} "
          f"16 MB heads, slow heads {result.get('slow')}, {result.get('refused')} of 100 connections refused, "
          f"pipelined floods answered/refused {result.get('floods', [])[:5]} "
          f"({json.dumps(result)[:200]})")
    assert result["big"] and all(status == "HTTP/1.1 431" and elapsed < 1.0 for status, elapsed in result["big"])
    assert len(result["slow"]) == 4
    assert all(status == "HTTP/1.1 408" and elapsed < 2.5 for status, elapsed in result["slow"]), result["slow"]
    assert result["refused"] >= 100 - 64
    assert result["floods"] and all(answered < 5000 and refused == 1 for answered, refused in result["floods"])
    assert p50_during < max(5.0, 5 * p50_before), (p50_before, p50_during)
