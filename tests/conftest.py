"""Shared fixtures: one real server per test session (and fresh ones where a test needs its own)."""

from __future__ import annotations

import itertools
import os
import socket

import pytest

from tests.support.frontdoor import Client
from tests.support.server import StratusServer

_names = itertools.count()


def namespaced_unavailable_reason() -> str:
    """Why the namespaced sandbox cannot run here ("" when it can)."""
    from stratus.sandbox import NamespacedSandbox

    cgroups, _, reason = NamespacedSandbox.available()
    return "" if cgroups is not None else reason


def require_sandbox(name: str) -> None:
    """Skip (fail under CI=true, where it must run) when the sandbox backend `name` is unavailable."""
    if name != "namespaced":
        return
    reason = namespaced_unavailable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the namespaced sandbox must run in CI: {reason}")
        pytest.skip(f"namespaced sandbox unavailable: {reason}")


# "namespaced-spawn": the namespaced sandbox with Python cold starts spawned (STRATUS_PYTHON_ZYGOTE=0) rather
# than forked from a zygote (the namespaced default): only for modules marked `both_python_paths`.
BOTH_PATHS_MARK = "both_python_paths"


@pytest.fixture(scope="session", params=["namespaced", "plain", "namespaced-spawn"])
def server(request, tmp_path_factory):
    """A `stratus serve` per sandbox backend, shared by the session's tests (each test uses its own
    function names); every test that uses it runs against both backends (and, in modules marked
    `both_python_paths`, on both of the namespaced sandbox's Python paths: `server.python_path`)."""
    sandbox = request.param.split("-")[0]
    require_sandbox(sandbox)
    data_dir = tmp_path_factory.mktemp(f"stratus-{request.param}") / "data"
    # A host loopback port functions may reach (STRATUS_FUNCTION_HOST_PORTS), for tests that run a
    # service there (test_concurrency's gate): others are out of a namespaced function's reach.
    with socket.create_server(("127.0.0.1", 0)) as host_service:
        env = {"STRATUS_SANDBOX": sandbox, "STRATUS_FUNCTION_HOST_PORTS": str(host_service.getsockname()[1])}
        if request.param == "namespaced-spawn":
            env["STRATUS_PYTHON_ZYGOTE"] = "0"
        with StratusServer(data_dir, env=env) as running:
            running.sandbox = sandbox
            running.python_path = "fork" if request.param == "namespaced" else "spawn"
            running.host_service = host_service
            yield running


def pytest_collection_modifyitems(config, items):
    """The namespaced-spawn server runs only the modules marked `both_python_paths`."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        spawn = callspec is not None and callspec.params.get("server") == "namespaced-spawn"
        (dropped if spawn and item.get_closest_marker(BOTH_PATHS_MARK) is None else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def lam(server):
    """A boto3 Lambda client pointed at the session's server."""
    return server.client()


@pytest.fixture
def fn_name(request):
    """A function name unique within the session."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return f"{base}-{next(_names)}"


@pytest.fixture
def fresh_server(tmp_path):
    """A server of the test's own (for restarts, signals, settings)."""
    servers = []

    def start(env=None, data_dir=None):
        srv = StratusServer(data_dir or tmp_path / f"data{len(servers)}", env=env)
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        srv.stop()


def pytest_report_header(config):
    return f"CI={os.environ.get('CI', '')}"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """A real moto_server (SQS/SNS/Kinesis/DynamoDB/DynamoDB Streams) on a free loopback port for the
    session: a tests.support.moto.MotoServer (`.endpoint`, `.client(service)`, `.service_env()`)."""
    from tests.support.moto import MotoServer

    with MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as moto:
        yield moto


@pytest.fixture
def http(server):
    """A keep-alive HTTP/1.1 client of the session server, for the front door's tests (tests/support/frontdoor.py)."""
    client = Client(server.port)
    yield client
    client.close()
