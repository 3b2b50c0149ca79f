"""The limit logic of stratus.http_limits and the Runtime API protocol, fed bytes directly (no server)."""

from __future__ import annotations

import asyncio
import time

from stratus.http_limits import INFINITE, ConnectionTable, HttpLimits
from stratus.runtime.http import HttpServerProtocol, Request

LIMITS = HttpLimits(max_head_bytes=1024, max_header_count=10, header_timeout_s=5.0, body_timeout_s=7.0,
                    idle_timeout_s=11.0, max_connections=2, large_body_bytes=100, max_large_bodies=1,
                    first_request_timeout_s=13.0)


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closing = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.eof and not self.closing
        self.written += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


class Endpoint:
    """A handler that answers every request with 200 (or parks `/next`), and remembers what it got."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def handle(self, conn: HttpServerProtocol, request: Request) -> None:
        self.requests.append(request)
        if not request.path.endswith(b"/next"):
            conn.send(200, b"{}")


def connect(endpoint: Endpoint, table: ConnectionTable) -> tuple[HttpServerProtocol, FakeTransport]:
    conn = HttpServerProtocol(endpoint.handle, 6 * 1024 * 1024, table)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def run(test) -> None:
    async def main():
        test(asyncio.get_running_loop())
    asyncio.run(main())


def test_sweep_interval_is_a_quarter_of_the_shortest_timeout_within_bounds():
    assert HttpLimits(header_timeout_s=2, body_timeout_s=30, idle_timeout_s=60).sweep_interval_s == 0.5
    assert HttpLimits(header_timeout_s=0.01).sweep_interval_s == 0.05
    assert HttpLimits().sweep_interval_s == 1.0


def test_the_table_counts_connections_and_large_body_slots():
    def check(loop):
        table = ConnectionTable(LIMITS)
        a, b, c = object(), object(), object()
        assert table.admit(a, loop) and table.admit(b, loop)  # type: ignore[arg-type]
        assert not table.admit(c, loop)  # type: ignore[arg-type]
        table.drop(a)  # type: ignore[arg-type]
        assert table.admit(c, loop)  # type: ignore[arg-type]
        assert table.acquire_large_body() and not table.acquire_large_body()
        table.release_large_body()
        assert table.acquire_large_body()
    run(check)


def test_a_huge_header_is_refused_after_the_head_budget_not_after_reading_it():
    def check(loop):
        endpoint = Endpoint()
        conn, transport = connect(endpoint, ConnectionTable(LIMITS))
        start = time.perf_counter()
        conn.data_received(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nX-Big: ")
        chunks = 0
        while not transport.eof and chunks < 256:
            conn.data_received(b"a" * 65536)  # 16 MB if it were all read
            chunks += 1
        assert chunks == 1  # refused within the first chunk past the budget
        assert transport.written.startswith(b"HTTP/1.1 431 ")
        assert not endpoint.requests
        for _ in range(10):
            conn.data_received(b"a" * 65536)  # discarded while lingering, nothing written
        assert transport.written.count(b"HTTP/1.1") == 1
        assert time.perf_counter() - start < 0.1
    run(check)


def test_too_many_header_fields_are_refused():
    def check(loop):
        endpoint = Endpoint()
        conn, transport = connect(endpoint, ConnectionTable(LIMITS))
        fields = b"".join(b"X-%d: v\r\n" % i for i in range(11))
        conn.data_received(b"GET /a HTTP/1.1\r\n" + fields + b"\r\n")
        assert transport.written.startswith(b"HTTP/1.1 431 ") and not endpoint.requests
    run(check)


def test_a_chunk_past_the_budget_that_completes_the_head_is_read_on():
    """A head plus a body (and a pipelined request) in one chunk larger than the head limit is fine."""
    def check(loop):
        endpoint = Endpoint()
        conn, transport = connect(endpoint, ConnectionTable(LIMITS))
        body = b"x" * 90
        request = b"POST /r HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        conn.data_received(request * 20)  # 2.4 KB > 1 KB budget
        assert len(endpoint.requests) == 20 and all(r.body == body for r in endpoint.requests)
        assert transport.written.count(b"HTTP/1.1 200 ") == 20 and not transport.eof
    run(check)


def test_the_sweeper_gives_each_phase_its_deadline():
    """The protocol only records phase and progress; the sweep (here called with made-up times) sets deadlines
    from them and expires the late."""
    def check(loop):
        endpoint = Endpoint()
        table = ConnectionTable(LIMITS)
        conn, transport = connect(endpoint, table)
        table.sweep(100.0)
        assert conn.deadline == 113.0  # a new connection: the first request's timeout
        table.sweep(112.0)
        assert conn.deadline == 113.0 and not transport.closing
        conn.data_received(b"POST /r HTTP/1.1\r\nContent-")
        table.sweep(120.0)
        assert conn.deadline == 125.0  # a head under way
        conn.data_received(b"Length: 4\r\n\r\nab")
        table.sweep(121.0)
        assert conn.deadline == 128.0  # a body under way
        table.sweep(127.0)
        conn.data_received(b"c")  # progress moves the body's deadline
        table.sweep(127.5)
        assert conn.deadline == 134.5
        conn.data_received(b"d")
        table.sweep(130.0)
        assert conn.deadline == 141.0  # answered: idle
        conn.data_received(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n")
        table.sweep(131.0)
        assert conn.deadline == INFINITE  # parked: the server's turn
        table.sweep(10_000.0)
        assert not transport.closing
        conn.send(200, b"{}")
        table.sweep(10_001.0)
        assert conn.deadline == 10_012.0
        table.sweep(10_012.0)
        assert transport.closing and transport.written.count(b"HTTP/1.1") == 2  # closed without a word
    run(check)


def test_a_late_head_is_answered_408_by_the_sweep():
    def check(loop):
        table = ConnectionTable(LIMITS)
        conn, transport = connect(Endpoint(), table)
        conn.data_received(b"GET /slow HTTP/1.1\r\nX-Slow: ")
        table.sweep(0.0)
        table.sweep(4.9)
        assert transport.written == b""
        table.sweep(5.0)
        assert transport.written.startswith(b"HTTP/1.1 408 ") and transport.eof and not transport.closing
        table.sweep(5.1)  # lingering: the connection ends after LINGER_S
        table.sweep(5.1 + 2.0)
        assert transport.closing
    run(check)


def test_expiry_answers_a_late_request_and_closes_an_idle_connection():
    def check(loop):
        endpoint = Endpoint()
        table = ConnectionTable(LIMITS)
        late, late_transport = connect(endpoint, table)
        late.data_received(b"GET /slow HTTP/1.1\r\nX-Slow: ")
        late.expire()
        assert late_transport.written.startswith(b"HTTP/1.1 408 ") and late_transport.eof
        idle, idle_transport = connect(endpoint, table)
        idle.expire()
        assert idle_transport.written == b"" and idle_transport.closing
    run(check)


def test_connections_past_the_limit_are_refused_at_once():
    def check(loop):
        endpoint = Endpoint()
        table = ConnectionTable(LIMITS)
        connect(endpoint, table)
        connect(endpoint, table)
        refused, transport = connect(endpoint, table)
        assert transport.written.startswith(b"HTTP/1.1 503 ") and transport.closing
        refused.connection_lost(None)
        assert len(table.connections) == 2
    run(check)


def test_large_bodies_beyond_the_slots_get_429():
    def check(loop):
        endpoint = Endpoint()
        table = ConnectionTable(LIMITS)
        first, first_transport = connect(endpoint, table)
        second, second_transport = connect(endpoint, table)
        first.data_received(b"POST /r HTTP/1.1\r\nContent-Length: 300\r\n\r\n" + b"a" * 200)  # holds the slot
        second.data_received(b"POST /r HTTP/1.1\r\nContent-Length: 300\r\n\r\n" + b"b" * 300)
        assert second_transport.written.startswith(b"HTTP/1.1 429 ")
        first.data_received(b"a" * 100)
        assert first_transport.written.startswith(b"HTTP/1.1 200 ") and endpoint.requests[0].body == b"a" * 300
        second.data_received(b"POST /r HTTP/1.1\r\nContent-Length: 300\r\n\r\n" + b"b" * 300)  # the slot is free
        assert second_transport.written.count(b"HTTP/1.1 200 ") == 1
    run(check)


def test_the_sweeper_expires_late_connections():
    limits = HttpLimits(header_timeout_s=0.2, body_timeout_s=0.2, idle_timeout_s=0.2, first_request_timeout_s=0.2)

    async def main():
        endpoint = Endpoint()
        table = ConnectionTable(limits)
        conn, transport = connect(endpoint, table)
        conn.data_received(b"GET /slow HTTP/1.1\r\n")
        await asyncio.sleep(0.4)
        assert transport.written.startswith(b"HTTP/1.1 408 ")

    asyncio.run(main())


def test_each_handler_has_its_own_table_by_default():
    """Without an explicit table, the connections of one handler (one environment's endpoint) share a table;
    another handler's connections are not counted in it."""
    def check(loop):
        from stratus.runtime import http

        ones, others = Endpoint(), Endpoint()
        conns = []
        for endpoint in (ones, ones, others):
            conn = HttpServerProtocol(endpoint.handle, 1024)
            conn.connection_made(FakeTransport())  # type: ignore[arg-type]
            conns.append(conn)
        tables = {id(conn._table) for conn in conns}
        assert len(tables) == 2
        for conn in conns:
            conn.connection_lost(None)
        assert id(ones) not in http._tables and id(others) not in http._tables
    run(check)


def test_a_flood_of_pipelined_requests_in_one_read_ends_the_connection():
    """A runtime pipelines two requests at most; hundreds in one read would hold the event loop."""
    def check(loop):
        endpoint = Endpoint()
        conn, transport = connect(endpoint, ConnectionTable(LIMITS))
        conn.data_received(b"GET /x HTTP/1.1\r\n\r\n" * 2)
        assert transport.written.count(b"HTTP/1.1 200 ") == 2
        conn.data_received(b"GET /x HTTP/1.1\r\n\r\n" * 50)
        assert len(endpoint.requests) == 2 + 16
        assert transport.written.endswith(b"Too many pipelined requests\",\"errorType\":\"TooManyRequests\"}\n")
        assert transport.eof
    run(check)


def test_a_late_sweep_after_the_loop_was_held_up_expires_nobody():
    """When the event loop itself was blocked, what clients sent has not been read: no one is judged late on
    that tick; the next tick judges."""
    limits = HttpLimits(header_timeout_s=0.2, body_timeout_s=0.2, idle_timeout_s=0.2, first_request_timeout_s=0.2)

    async def main():
        conn, transport = connect(Endpoint(), ConnectionTable(limits))
        conn.data_received(b"GET /slow HTTP/1.1\r\n")
        time.sleep(1.0)  # the loop is held up past the deadline and past the sweep
        await asyncio.sleep(0.01)
        assert transport.written == b""
        await asyncio.sleep(0.6)
        assert transport.written.startswith(b"HTTP/1.1 408 ")

    asyncio.run(main())
