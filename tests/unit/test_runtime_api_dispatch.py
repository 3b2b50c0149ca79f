"""The Runtime API as an environment serves it: requests routed by runtime/api.py to the environment's
handlers, driven with a fake connection (no server, no process)."""

import asyncio

import msgspec
import pytest

from stratus.invoke.environment import Environment
from stratus.invoke.types import Invocation, State
from stratus.runtime import api as runtime_api
from stratus.runtime.http import Request
from tests.unit.fakes_invoke import make_spec

REQUEST_ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


class FakeConnection:
    """An HttpServerProtocol as the handlers see it: what was sent, whether it was closed."""

    def __init__(self):
        self.sent: list[tuple[int, bytes, dict[bytes, bytes], bytes]] = []
        self.parked = False
        self.closed = False

    def send(self, status, body, headers=(), content_type=b"application/json"):
        self.parked = False
        self.sent.append((status, body, dict(headers), content_type))

    def close(self):
        self.closed = True

    @property
    def status(self) -> int:
        return self.sent[-1][0]


class FakeLogSink:
    def __init__(self):
        self.lines = b""

    def write(self, function_name, stream, data):
        self.lines += data


def request(method: bytes, path: str, body: bytes = b"", headers: dict | None = None) -> Request:
    made = Request()
    made.method = method
    made.path = path.encode()
    made.headers = {name.lower(): value for name, value in (headers or {}).items()}
    made.body = bytearray(body)
    made.size = len(body)
    return made


class Runtime:
    """Drives one environment's Runtime API as a runtime would."""

    def __init__(self):
        self.sink = FakeLogSink()
        self.env = Environment(make_spec(), sandbox=None, log_sink=self.sink, init_timeout_s=10, shutdown_grace_s=1)

    def call(self, method: bytes, path: str, body: bytes = b"", headers: dict | None = None) -> FakeConnection:
        conn = FakeConnection()
        self.env.runtime.dispatch(conn, request(method, "/2018-06-01/runtime/" + path, body, headers))
        return conn

    def next(self) -> FakeConnection:
        return self.call(b"GET", "invocation/next")

    def invoke(self, **options) -> tuple[Invocation, FakeConnection]:
        """A /next that gets an invocation (INIT ends at the first one)."""
        conn = self.next()
        invocation = Invocation(b'{"x": 1}', ARN, request_id=REQUEST_ID, **options)
        self.env.assign(invocation)
        return invocation, conn


def run(scenario):
    async def main():
        scenario(Runtime())

    asyncio.run(main())


def test_next_gets_the_invocation_with_only_the_headers_that_have_values():
    def scenario(runtime):
        invocation, conn = runtime.invoke()
        assert conn.sent, "the parked /next is answered when the invocation is assigned"
        status, body, headers, content_type = conn.sent[0]
        assert (status, body, content_type) == (200, b'{"x": 1}', b"application/json")
        assert headers[b"Lambda-Runtime-Aws-Request-Id"] == REQUEST_ID.encode()
        assert headers[b"Lambda-Runtime-Invoked-Function-Arn"] == ARN.encode()
        assert int(headers[b"Lambda-Runtime-Deadline-Ms"]) > 0
        for absent in (b"Lambda-Runtime-Trace-Id", b"Lambda-Runtime-Client-Context",
                       b"Lambda-Runtime-Cognito-Identity", b"Lambda-Runtime-Aws-Tenant-Id"):
            assert absent not in headers
        assert runtime.env.state is State.RUNNING
        assert b"START RequestId: " + REQUEST_ID.encode() in runtime.sink.lines

    run(scenario)


def test_next_carries_trace_client_context_cognito_and_tenant_when_set():
    def scenario(runtime):
        _, conn = runtime.invoke(trace_id=b"Root=1-5e1b4151-5ac6c58f5b5dbd6a4f6e1e26", client_context=b'{"c":1}',
                                 cognito_identity=b'{"i":2}', tenant_id=b"tenant-a")
        headers = conn.sent[0][2]
        assert headers[b"Lambda-Runtime-Trace-Id"] == b"Root=1-5e1b4151-5ac6c58f5b5dbd6a4f6e1e26"
        assert headers[b"Lambda-Runtime-Client-Context"] == b'{"c":1}'
        assert headers[b"Lambda-Runtime-Cognito-Identity"] == b'{"i":2}'
        assert headers[b"Lambda-Runtime-Aws-Tenant-Id"] == b"tenant-a"

    run(scenario)


def test_a_waiting_invocation_is_delivered_by_the_next_next():
    def scenario(runtime):
        invocation = Invocation(b"{}", ARN, request_id=REQUEST_ID)
        runtime.env.assign(invocation)  # before the runtime asked (a cold start)
        conn = runtime.next()
        assert conn.status == 200
        assert conn.sent[0][2][b"Lambda-Runtime-Aws-Request-Id"] == REQUEST_ID.encode()

    run(scenario)


def test_response_in_turn_resolves_the_invocation():
    def scenario(runtime):
        invocation, _ = runtime.invoke(want_log=True)
        conn = runtime.call(b"POST", f"invocation/{REQUEST_ID}/response", b'{"ok":true}',
                            {b"Content-Type": b"application/json; charset=utf-8"})
        assert (conn.status, conn.sent[0][1]) == (202, runtime_api.ACCEPTED)
        outcome = invocation.future.result()
        assert outcome.payload == b'{"ok":true}'
        assert outcome.content_type == b"application/json; charset=utf-8"
        assert outcome.function_error is None
        assert b"REPORT RequestId: " + REQUEST_ID.encode() in outcome.log

    run(scenario)


def test_a_second_response_is_out_of_turn_and_changes_nothing():
    def scenario(runtime):
        invocation, _ = runtime.invoke()
        runtime.call(b"POST", f"invocation/{REQUEST_ID}/response", b'"first"')
        again = runtime.call(b"POST", f"invocation/{REQUEST_ID}/response", b'"second"')
        assert again.status == 403
        assert msgspec.json.decode(again.sent[0][1])["errorType"] == "InvalidStateTransition"
        error = runtime.call(b"POST", f"invocation/{REQUEST_ID}/error", b"{}")
        assert error.status == 403
        assert invocation.future.result().payload == b'"first"'
        assert runtime.env.state is State.RESPONDED
        assert runtime.next().sent == []  # the runtime may ask for the next one: it waits
        assert runtime.env.state is State.READY

    run(scenario)


def test_unknown_request_id_is_400_and_the_invocation_stays():
    def scenario(runtime):
        invocation, _ = runtime.invoke()
        conn = runtime.call(b"POST", "invocation/not-this-one/response", b"{}")
        assert (conn.status, conn.sent[0][1]) == (400, runtime_api.INVALID_REQUEST_ID)
        assert not invocation.future.done()
        assert runtime.env.state is State.RUNNING
        assert runtime.call(b"POST", f"invocation/{REQUEST_ID}/response", b"1").status == 202
        assert invocation.future.result().payload == b"1"

    run(scenario)


def test_next_while_running_is_403():
    def scenario(runtime):
        runtime.invoke()
        conn = runtime.next()
        assert conn.status == 403
        assert runtime.env.state is State.RUNNING

    run(scenario)


@pytest.mark.parametrize(("posted", "reported"), [
    (b"Runtime.ImportModuleError", "Runtime.ImportModuleError"),
    (b"Function.MyError", "Function.MyError"),
    (b"Function.lowercase", "Function.Unknown"),
    (b"MyCustomError", "Runtime.Unknown"),
    (None, "Runtime.Unknown"),
])
def test_error_types_are_sanitised(posted, reported):
    def scenario(runtime):
        invocation, _ = runtime.invoke()
        headers = {b"Lambda-Runtime-Function-Error-Type": posted} if posted is not None else {}
        body = b'{"errorMessage":"boom","errorType":"X"}'
        conn = runtime.call(b"POST", f"invocation/{REQUEST_ID}/error", body, headers)
        assert conn.status == 202
        outcome = invocation.future.result()
        assert (outcome.function_error, outcome.error_type, outcome.payload) == ("Unhandled", reported, body)

    run(scenario)


def test_oversize_response_is_413_and_fails_the_invocation():
    def scenario(runtime):
        invocation, _ = runtime.invoke()
        conn = FakeConnection()
        too_big = request(b"POST", f"/2018-06-01/runtime/invocation/{REQUEST_ID}/response")
        too_big.too_large, too_big.size = True, 7 * 1024 * 1024
        runtime.env.runtime.dispatch(conn, too_big)
        assert conn.status == 413
        assert msgspec.json.decode(conn.sent[0][1])["errorType"] == "RequestEntityTooLarge"
        outcome = invocation.future.result()
        assert (outcome.function_error, outcome.error_type) == ("Unhandled", "Function.ResponseSizeTooLarge")
        assert msgspec.json.decode(outcome.payload)["errorType"] == "Function.ResponseSizeTooLarge"
        assert msgspec.json.decode(outcome.payload)["errorMessage"] == (
            "Response payload size exceeded maximum allowed payload size (6291556 bytes).")
        assert runtime.env.state is State.DEAD  # runtimes treat the 413 as fatal: the next invoke starts afresh

    run(scenario)


def test_init_error_fails_the_waiting_invocation():
    def scenario(runtime):
        invocation = Invocation(b"{}", ARN, request_id=REQUEST_ID)
        runtime.env.assign(invocation)
        conn = runtime.call(b"POST", "init/error", b'{"errorMessage":"bad"}',
                            {b"Lambda-Runtime-Function-Error-Type": b"Runtime.ImportModuleError"})
        assert conn.status == 202
        outcome = invocation.future.result()
        assert (outcome.error_type, outcome.payload) == ("Runtime.ImportModuleError", b'{"errorMessage":"bad"}')
        assert runtime.env.state is State.INIT_ERROR
        assert runtime.call(b"POST", "init/error", b"{}").status == 403  # only during INIT

    run(scenario)


def test_unknown_paths_and_wrong_methods():
    def scenario(runtime):
        assert runtime.call(b"GET", "nothing/here").status == 404
        conn = runtime.call(b"POST", "invocation/next")
        assert (conn.status, conn.sent[0][2]) == (405, {b"Allow": b"GET"})
        assert runtime.env.state is State.INIT  # nothing changed

    run(scenario)
