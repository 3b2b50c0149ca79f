"""Function URLs in InvokeMode RESPONSE_STREAM: the response reaches the HTTP client as chunked HTTP/1.1 while
the function still runs; Node's awslambda.HttpResponseStream.from prelude gives status, headers and cookies.

A raw-socket client reads the chunks as they come. A handler that must still be running when a chunk arrives
waits at a TCP gate of the test's (tests/e2e/test_response_streaming.py's Gate), opened only once the test has
that chunk.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.e2e.test_response_streaming import Gate, needs_node
from tests.support.environments import wait_for_log
from tests.support.frontdoor import NODE_STREAM_STEPS, url_host, url_id
from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
PUBLIC = {"StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"}

# The request body lists the steps: ["prelude", {...}] (HttpResponseStream.from), ["type", contentType],
# ["write", text], ["gate", port], ["time"] (writes end=<epoch seconds>), ["env"] (writes env=<log stream>),
# ["bytes", n], ["log", text], ["throw", message].
NODE_URL_STREAMER = NODE_STREAM_STEPS + r"""
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const steps = event.body ? JSON.parse(event.body).steps : [];
  for (const [op, arg] of steps) {
    if (op === 'prelude') responseStream = awslambda.HttpResponseStream.from(responseStream, arg);
    else if (op === 'type') responseStream.setContentType(arg);
    else await commonStep(op, arg, responseStream, context);
  }
  responseStream.end();
});
"""

PY_BUFFERED = '''
def handler(event, context):
    if event["rawPath"] == "/boom":
        raise RuntimeError("boom")
    return {"statusCode": 201, "headers": {"X-Custom": "yes"}, "body": "hi"}
'''


class Streamed:
    """One request on a raw socket; the answer's head, then its chunks one by one as they arrive."""

    def __init__(self, port: int, host: str | None, path: str, steps: list | None = None, method: str = "POST",
                 extra: str = ""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        body = json.dumps({"steps": steps or []}).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n")
        self.sock.sendall(head.encode() + body)
        self.buffer = b""
        self.status, self.headers = self._head()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _head(self) -> tuple[int, list[tuple[str, str]]]:
        while True:
            while b"\r\n\r\n" not in self.buffer:
                if not self._fill():
                    raise ConnectionError(f"closed before a head: {self.buffer!r}")
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 100 "):  # `Expect: 100-continue` answered first
                break
        lines = head.decode("latin-1").split("\r\n")
        headers = [(name.strip().lower(), value.strip()) for name, _, value in (line.partition(":")
                                                                                 for line in lines[1:])]
        return int(lines[0].split(" ")[1]), headers

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def chunk(self) -> bytes | None:
        """The next chunk's data; b"" for the last chunk; None if the connection closed before it (truncated)."""
        while b"\r\n" not in self.buffer:
            if not self._fill():
                return None
        size_line, _, rest = self.buffer.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            if not self._fill():
                return None
            rest = self.buffer.partition(b"\r\n")[2]
        if size == 0:  # the last chunk (no trailers are sent): its CRLF ends the body
            self.buffer = rest[2:]
            return b""
        self.buffer = rest[size + 2:]
        return rest[:size]

    def read_until(self, text: bytes) -> bytes:
        data = b""
        while text not in data:
            piece = self.chunk()
            assert piece, f"the body ended before {text!r}: {data[:300]!r}"
            data += piece
        return data

    def rest(self) -> tuple[bytes, bool]:
        """The rest of the body, and whether it ended with its last chunk (False: truncated)."""
        data = b""
        while (piece := self.chunk()) not in (b"", None):
            data += piece
        return data, piece == b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Streamed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def gate(server):
    return Gate(server.host_service)


def _streaming_url(lam, name: str, runtime: str = "nodejs20.x", code: dict | None = None, **url) -> str:
    handler = "index.handler" if runtime.startswith("nodejs") else "app.handler"
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Timeout=30,
                        Code={"ZipFile": make_zip(code or {"index.js": NODE_URL_STREAMER})})
    function_url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM",
                                                  **url)["FunctionUrl"]
    lam.add_permission(FunctionName=name, **PUBLIC)
    return function_url


@pytest.fixture
def node_url(lam, fn_name):
    needs_node()
    yield _streaming_url(lam, fn_name)
    lam.delete_function(FunctionName=fn_name)


def test_prelude_status_headers_cookies_then_chunks_while_the_handler_runs(server, node_url, gate):
    prelude = {"statusCode": 201, "headers": {"X-Custom": "yes", "Content-Type": "text/plain", "Content-Length": "9"},
               "cookies": ["session=abc; Path=/", "theme=dark"]}
    steps = [["prelude", prelude], ["write", "first "], ["gate", gate.port], ["time"]]
    with Streamed(server.port, url_host(node_url), "/live?x=1", steps) as answer:
        assert answer.status == 201
        assert answer.header("x-custom") == "yes" and answer.header("content-type") == "text/plain"
        assert answer.all("set-cookie") == ["session=abc; Path=/", "theme=dark"]
        assert answer.header("transfer-encoding") == "chunked" and answer.header("content-length") is None
        assert answer.header("x-amzn-requestid")
        assert answer.read_until(b"first ") == b"first "
        first_at = time.time()
        gate.open_next()  # only now may the handler end
        rest, complete = answer.rest()
    assert complete
    handler_end = float(rest.decode().removeprefix("end="))
    assert first_at < handler_end, (first_at, handler_end)


def test_a_stream_without_the_prelude_is_200_with_its_content_type(server, node_url):
    path = f"/_stratus/url/{url_id(node_url)}/csv"
    with Streamed(server.port, None, path, [["type", "text/csv"], ["write", "a,b\n"], ["write", "1,2\n"]]) as answer:
        assert (answer.status, answer.header("content-type")) == (200, "text/csv")
        assert answer.rest() == (b"a,b\n1,2\n", True)
    with Streamed(server.port, url_host(node_url), "/raw", [["write", "raw bytes"]]) as answer:
        assert (answer.status, answer.header("content-type")) == (200, "application/octet-stream")
        assert answer.rest() == (b"raw bytes", True)
    with Streamed(server.port, url_host(node_url), "/empty", []) as answer:  # ends without writing
        assert answer.status == 200 and answer.rest() == (b"", True)


def test_a_function_that_does_not_stream_sends_its_payload_unread(server, lam, fn_name):
    """AWS (LocalStack's AWS-validated test_lambda_url_echo_invoke[RESPONSE_STREAM]): the body is the
    function's whole result, not interpreted as a BUFFERED URL would."""
    url = _streaming_url(lam, fn_name, "python3.12", {"app.py": PY_BUFFERED})
    with Streamed(server.port, url_host(url), "/", method="GET") as answer:
        assert (answer.status, answer.header("content-type")) == (200, "application/json")
        assert answer.header("x-custom") is None
        body, complete = answer.rest()
    assert complete and json.loads(body) == {"statusCode": 201, "headers": {"X-Custom": "yes"}, "body": "hi"}
    with Streamed(server.port, url_host(url), "/boom", method="GET") as answer:
        assert answer.status == 502 and answer.header("x-amzn-requestid")
    lam.delete_function(FunctionName=fn_name)


def test_errors_before_the_head_are_502_and_after_it_truncate_the_body(server, lam, node_url, fn_name):
    with Streamed(server.port, url_host(node_url), "/", [["throw", "before anything"]]) as answer:
        assert answer.status == 502 and answer.header("content-length") == "21"
    with Streamed(server.port, url_host(node_url), "/", [["prelude", {"statusCode": "x"}], ["write", "y"]]) as answer:
        assert answer.status == 502, "a prelude whose status is not one"
    bad_header = {"statusCode": 200, "headers": {"X-Split": "a\r\nX-Injected: 1"}}
    with Streamed(server.port, url_host(node_url), "/", [["prelude", bad_header], ["write", "y"]]) as answer:
        assert answer.status == 502 and answer.header("x-injected") is None
    steps = [["prelude", {"statusCode": 200}], ["write", "partial"], ["throw", "mid-stream"]]
    with Streamed(server.port, url_host(node_url), "/", steps) as answer:
        assert answer.status == 200
        assert answer.rest() == (b"partial", False), "the connection closes before the last chunk"
    with Streamed(server.port, url_host(node_url), "/", [["type", "text/plain"], ["write", "ok"]]) as answer:
        assert answer.status == 200 and answer.rest() == (b"ok", True), "the function is invokable after"
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=0)
    with Streamed(server.port, url_host(node_url), "/", [["write", "never"]]) as answer:
        assert answer.status == 429


def test_a_client_that_disconnects_mid_stream_leaves_the_function_invokable(server, node_url, gate, fn_name):
    with Streamed(server.port, url_host(node_url), "/", [["write", "warm"]]) as answer:
        assert answer.rest() == (b"warm", True)
    steps = [["env"], ["gate", gate.port], ["bytes", 4 * 1024 * 1024], ["log", "HANDLER END"]]
    answer = Streamed(server.port, url_host(node_url), "/", steps)
    first_env = answer.read_until(b"env=").removeprefix(b"env=")
    answer.close()  # gone mid-stream
    gate.open_next()
    assert "HANDLER END" in wait_for_log(server, fn_name, "HANDLER END")
    with Streamed(server.port, url_host(node_url), "/", [["env"]]) as answer:
        body, complete = answer.rest()
    assert complete and body.startswith(b"env=")
    assert body.removeprefix(b"env=").startswith(first_env[:20]), "the same environment serves the next request"


def test_cors_on_a_streaming_url(server, lam, node_url, fn_name):
    lam.update_function_url_config(FunctionName=fn_name, Cors={
        "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "ExposeHeaders": ["X-Custom"],
        "AllowCredentials": True, "MaxAge": 60})
    preflight = Streamed(server.port, url_host(node_url), "/", method="OPTIONS", extra=(
        "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"))
    assert preflight.status == 200 and preflight.header("access-control-max-age") == "60"
    preflight.close()
    prelude = {"statusCode": 200, "headers": {"X-Custom": "yes", "Access-Control-Allow-Origin": "http://x.example"}}
    with Streamed(server.port, url_host(node_url), "/", [["prelude", prelude], ["write", "body"]],
                  extra="Origin: https://app.example\r\n") as answer:
        assert answer.all("access-control-allow-origin") == ["https://app.example"]
        assert answer.header("access-control-expose-headers") == "x-custom"
        assert answer.header("access-control-allow-credentials") == "true"
        assert answer.rest() == (b"body", True)


def test_requests_the_fast_path_declines_stream_through_asgi(server, node_url, gate):
    """`Expect: 100-continue` goes through uvicorn's ASGI cycle: it streams the same way, and a mid-stream
    error closes the connection there too."""
    steps = [["prelude", {"statusCode": 202, "cookies": ["c=1"]}], ["write", "first "], ["gate", gate.port], ["time"]]
    with Streamed(server.port, url_host(node_url), "/", steps, extra="Expect: 100-continue\r\n") as answer:
        assert answer.status == 202 and answer.all("set-cookie") == ["c=1"]
        assert answer.read_until(b"first ") == b"first "
        first_at = time.time()
        gate.open_next()
        rest, complete = answer.rest()
    assert complete and first_at < float(rest.decode().removeprefix("end="))
    steps = [["prelude", {"statusCode": 200}], ["write", "partial"], ["throw", "mid-stream"]]
    with Streamed(server.port, url_host(node_url), "/", steps, extra="Expect: 100-continue\r\n") as answer:
        assert answer.status == 200 and answer.rest() == (b"partial", False)


def test_a_client_that_stops_reading_does_not_block_other_requests(server, lam, fn_name):
    needs_node()
    url = _streaming_url(lam, fn_name)
    lam.update_function_configuration(FunctionName=fn_name, Timeout=5)
    stalled = Streamed(server.port, url_host(url), "/", [["bytes", 32 * 1024 * 1024]])
    try:
        assert stalled.status == 200  # the answer has started; then nothing more is read
        started = time.monotonic()
        with Streamed(server.port, url_host(url), "/", [["write", "other"]]) as answer:
            assert answer.rest() == (b"other", True)
        assert time.monotonic() - started < 5, "served by another environment, not after the stalled one"
    finally:
        stalled.close()
    with Streamed(server.port, url_host(url), "/", [["write", "after"]]) as answer:
        assert answer.rest() == (b"after", True)
    lam.delete_function(FunctionName=fn_name)


def test_head_gets_the_head_only_and_the_connection_serves_on(server, node_url):
    head_only = Streamed(server.port, url_host(node_url), "/", [["type", "text/plain"], ["write", "body"]], "HEAD")
    try:
        assert (head_only.status, head_only.header("content-type")) == (200, "text/plain")
        body = json.dumps({"steps": [["type", "text/plain"], ["write", "next"]]}).encode()
        head_only.sock.sendall(f"POST / HTTP/1.1\r\nHost: {url_host(node_url)}\r\nContent-Type: application/json\r\n"
                               f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert head_only.buffer == b"", "no body after the head of a HEAD answer"
        head_only.status, head_only.headers = head_only._head()
        assert head_only.status == 200 and head_only.rest() == (b"next", True)
    finally:
        head_only.close()
