"""Response streaming's parts without a server: the event-stream framing (decoded by botocore's own
parser), the ResponseStream's flow control and limits, the HTTP-integration prelude reader, the
InvokeComplete error mapping, and the operation's IAM action."""

from __future__ import annotations

import asyncio

import msgspec
from botocore.eventstream import EventStreamBuffer

from stratus.api.stream_invoke import invoke_complete, payload_chunk
from stratus.auth.routes import LambdaRoutes
from stratus.invoke.streaming import (
    HIGH_WATER,
    HTTP_INTEGRATION,
    HttpPrelude,
    ResponseStream,
    StreamLimits,
    completion_error,
    read_http_prelude,
)
from stratus.invoke.types import InvokeResult, Outcome, platform_error


def run(coroutine):
    return asyncio.run(coroutine)


class FakeConnection:
    """The runtime's connection as a stream sees it: paused or reading."""

    def __init__(self):
        self.reading = True
        self.pauses = 0
        self.resumed: asyncio.Event | None = None

    def pause_reading(self):
        self.reading = False
        self.pauses += 1

    def resume_reading(self):
        self.reading = True
        if self.resumed is not None:
            self.resumed.set()


def decoded(data: bytes) -> list[tuple[dict, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_frames_decode_with_botocore_and_carry_aws_headers():
    data = payload_chunk(b"hello") + payload_chunk(b"\0\xff" * 40000) + invoke_complete(("Unhandled", "boom"), "TG9n")
    (chunk, payload), (big, big_payload), (complete, complete_payload) = decoded(data)  # CRCs checked on the way
    assert chunk == {":event-type": "PayloadChunk", ":content-type": "application/octet-stream",
                     ":message-type": "event"}
    assert payload == b"hello" and big_payload == b"\0\xff" * 40000 and big == chunk
    assert complete[":event-type"] == "InvokeComplete" and complete[":content-type"] == "application/json"
    assert msgspec.json.decode(complete_payload) == {"ErrorCode": "Unhandled", "ErrorDetails": "boom",
                                                     "LogResult": "TG9n"}
    assert decoded(invoke_complete(None, None))[0][1] == b"{}"


def test_invoke_with_response_stream_is_authorized_as_invoke_function():
    routes = LambdaRoutes("us-east-1", "000000000000")
    assert routes.resolve("POST", "/2021-11-15/functions/f/response-streaming-invocations", "Qualifier=live") == (
        "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:f:live")


def test_a_slow_reader_pauses_the_runtime_and_pieces_come_joined():
    async def scenario():
        stream = ResponseStream(StreamLimits(bandwidth_bytes_per_s=0))
        conn = FakeConnection()
        stream.begin(conn, b"text/plain")  # type: ignore[arg-type]
        await stream.started()
        piece = b"x" * 65536
        for _ in range(HIGH_WATER // len(piece) + 1):
            assert stream.push(piece)
        assert not conn.reading, "past the high-water mark the runtime is not read"
        got = await stream.__anext__()
        assert len(got) == 256 * 1024, "queued pieces are handed over joined"
        while not conn.reading:
            await stream.__anext__()
        assert conn.pauses == 1
        stream.detach()
    run(scenario())


def test_past_the_maximum_the_response_up_to_it_is_kept():
    async def scenario():
        stream = ResponseStream(StreamLimits(max_bytes=10, bandwidth_bytes_per_s=0))
        stream.begin(FakeConnection(), None)  # type: ignore[arg-type]
        assert stream.content_type == b"application/octet-stream"
        assert stream.push(b"123456")
        assert not stream.push(b"789abc")
        assert await stream.__anext__() == b"123456789a"
        assert stream.received == 12
    run(scenario())


def test_bandwidth_cap_stops_reading_until_the_bytes_are_due():
    async def scenario():
        stream = ResponseStream(StreamLimits(uncapped_bytes=100, bandwidth_bytes_per_s=1000))
        conn = FakeConnection()
        stream.begin(conn, None)  # type: ignore[arg-type]
        assert stream.push(b"x" * 100) and conn.reading, "the first bytes are uncapped"
        assert stream.push(b"x" * 50) and not conn.reading, "50 more bytes at 1000 B/s are due in 50 ms"
        conn.resumed = asyncio.Event()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(conn.resumed.wait(), 2)
        assert asyncio.get_running_loop().time() - started >= 0.04
    run(scenario())


def test_an_abandoned_stream_drops_what_comes_and_never_holds_the_runtime():
    async def scenario():
        stream = ResponseStream(StreamLimits(bandwidth_bytes_per_s=0))
        conn = FakeConnection()
        stream.begin(conn, None)  # type: ignore[arg-type]
        for _ in range(40):
            stream.push(b"x" * 65536)
        assert not conn.reading
        stream.abandon()
        assert conn.reading
        for _ in range(40):
            stream.push(b"x" * 65536)
        assert conn.reading
    run(scenario())


def test_a_buffered_answer_comes_whole_when_the_invocation_ends():
    async def scenario():
        stream = ResponseStream()
        done: asyncio.Future[InvokeResult] = asyncio.get_running_loop().create_future()
        stream.follow(done)
        done.set_result(InvokeResult(200, "r", "$LATEST", Outcome(b'{"a":1}')))
        await stream.started()
        assert not stream.streamed and stream.content_type == b"application/json"
        assert [piece async for piece in stream] == [b'{"a":1}']
        assert stream.result is not None and completion_error(stream.result.outcome) is None
    run(scenario())


def test_invoke_complete_error_codes():
    assert completion_error(Outcome(b'{"errorType":"Error","errorMessage":"boom","trace":[]}',
                                    function_error="Unhandled", error_type="Runtime.Unknown")) == ("Unhandled", "boom")
    timeout = platform_error("r", "Sandbox.Timedout", "Task timed out after 3.00 seconds")
    assert completion_error(timeout) == ("Sandbox.Timedout", "RequestId: r Error: Task timed out after 3.00 seconds")
    assert completion_error(Outcome(b"not json", function_error="Unhandled")) == ("Unhandled", "not json")


def test_http_prelude_is_read_across_pieces_and_the_body_follows():
    async def scenario(pieces: list[bytes], content_type: bytes = HTTP_INTEGRATION):
        stream = ResponseStream(StreamLimits(bandwidth_bytes_per_s=0))
        stream.begin(FakeConnection(), content_type)  # type: ignore[arg-type]
        for piece in pieces:
            stream.push(piece)
        done: asyncio.Future[InvokeResult] = asyncio.get_running_loop().create_future()
        stream.follow(done)
        done.set_result(InvokeResult(200, "r", "$LATEST", Outcome(b"")))
        prelude = await read_http_prelude(stream)
        return prelude, b"".join([piece async for piece in stream])

    prelude_json = b'{"statusCode":201,"headers":{"X-A":"b"},"cookies":["c=d"]}'
    whole = prelude_json + bytes(8) + b"body"
    expected = (HttpPrelude(201, {"x-a": "b"}, ["c=d"]), b"body")
    assert run(scenario([whole])) == expected
    assert run(scenario([whole[:10], whole[10:len(prelude_json) + 3], whole[len(prelude_json) + 3:]])) == expected
    assert run(scenario([b"plain"], b"text/plain")) == (HttpPrelude(200, {"content-type": "text/plain"}, []), b"plain")
    assert run(scenario([b"[1]" + bytes(8)]))[0] is None, "a prelude that is not an object"
    assert run(scenario([b'{"statusCode":200}']))[0] is None, "ended before the delimiter"
