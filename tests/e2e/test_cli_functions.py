"""The `stratus` CLI's function commands against a real server: invoke, logs (--follow within 1 s), ls (with warm
environments from GET /_stratus/environments), runtimes over HTTP; errors as one line with exit code 1."""

from __future__ import annotations

import json
import time
import uuid

import botocore.session
import pytest

from stratus.cli.logs import parse_since
from tests.support.cli import Lines, cli_env, stratus
from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/cli"
CODE = make_zip({"app.py": """
def handler(event, context):
    print("said:", event.get("say", "nothing"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event}
"""})


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("cli") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def lam(cli_server):
    return cli_server.client()


@pytest.fixture
def env(cli_server, tmp_path):
    return cli_env(cli_server.endpoint, home=tmp_path)


@pytest.fixture
def function(lam, request):
    name = f"cli-{request.node.name[5:25].replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    lam.create_function(FunctionName=name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": CODE}, MemorySize=256)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    yield name
    lam.delete_function(FunctionName=name)


def test_invoke_prints_result_and_log_tail(env, function, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"say": "from a file"}))
    done = stratus("invoke", function, "--event", str(event), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": {"say": "from a file"}}
    assert "  " in done.stdout  # pretty-printed
    assert "said: from a file" in done.stderr and "REPORT RequestId:" in done.stderr

    piped = stratus("invoke", function, "--event", "-", env=env, input=json.dumps({"say": "piped"}))
    assert piped.returncode == 0 and json.loads(piped.stdout) == {"echo": {"say": "piped"}}


def test_invoke_function_error_exits_1_with_type_and_message(env, function):
    done = stratus("invoke", function, "--event", "-", env=env, input='{"fail": true}')
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"stratus: {function} failed: ValueError: asked to fail"
    assert "Traceback" not in done.stdout


def test_invoke_qualifier(env, function, lam):
    version = lam.publish_version(FunctionName=function)["Version"]
    done = stratus("invoke", function, "--qualifier", version, env=env)
    assert done.returncode == 0, done.stderr
    assert f"Version: {version}" in done.stderr  # START RequestId: ... Version: 1


def test_errors_are_one_line_exit_1(env, tmp_path):
    missing = stratus("invoke", "no-such-function", env=env)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("stratus: ResourceNotFoundException:")
    unreachable = stratus("ls", "--endpoint-url", "http://127.0.0.1:9", env=env)
    assert unreachable.returncode == 1 and "cannot reach Stratus at http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    bad_event = stratus("invoke", "f", "--event", str(tmp_path / "nope.json"), env=env)
    assert bad_event.returncode == 1 and bad_event.stderr.strip() == f"stratus: --event {tmp_path}/nope.json: " \
        "no such file"
    usage = stratus("logs", "f", "--since", "yesterday", env=env)
    assert usage.returncode == 2 and "--since" in usage.stderr


def test_wrong_keys_are_refused_in_one_line(cli_server, tmp_path, function):
    env = cli_env(cli_server.endpoint, home=tmp_path, AWS_SECRET_ACCESS_KEY="wrong")
    done = stratus("ls", env=env)
    assert done.returncode == 1 and done.stderr.startswith("stratus: InvalidSignatureException") \
        and done.stderr.count("\n") == 1


def test_credentials_fall_back_to_the_servers_generated_profile(tmp_path, function):
    """No AWS_* keys: the CLI signs with ~/.stratus/credentials (profile stratus), as a server writes it."""
    data = tmp_path / "own"
    with StratusServer(data, env={"STRATUS_ACCESS_KEYS": ""}) as own:
        home = tmp_path / "home"
        (home / ".stratus").mkdir(parents=True)
        (home / ".stratus" / "credentials").write_text((data / "credentials").read_text())
        env = cli_env(own.endpoint, home=home)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(key)
        done = stratus("ls", env=env)
        assert done.returncode == 0, done.stderr
        assert "No functions" in done.stdout


def test_ls_shows_runtime_memory_and_warm_environments(env, function, lam):
    before = json.loads(stratus("ls", "--json", env=env).stdout)
    (row,) = [f for f in before["Functions"] if f["FunctionName"] == function]
    assert row["Runtime"] == HOST_PYTHON_RUNTIME and row["MemorySize"] == 256 and row["WarmEnvironments"] == 0
    lam.invoke(FunctionName=function, Payload=b"{}")
    after = json.loads(stratus("ls", "--json", env=env).stdout)
    (row,) = [f for f in after["Functions"] if f["FunctionName"] == function]
    assert row["WarmEnvironments"] == 1 and row["WarmByVersion"] == {"$LATEST": 1}
    table = stratus("ls", env=env)
    assert table.returncode == 0
    (line,) = [line for line in table.stdout.splitlines() if function in line]
    assert HOST_PYTHON_RUNTIME in line and "256 MB" in line and line.rstrip(" │").endswith("1")


def test_environments_route_is_admin_only(cli_server, function, lam):
    """A function's role credentials (what its code holds) get 403 from the admin routes."""
    lam.invoke(FunctionName=function, Payload=b"{}")
    from botocore.credentials import Credentials

    from stratus.cli.client import Client

    admin = Client(cli_server.endpoint, "us-east-1", Credentials("test", "test"), botocore.session.Session())
    counts = admin.call("GET", "/_stratus/environments")["Environments"]
    assert {"FunctionName": function, "Version": "$LATEST", "Total": 1, "Idle": 1, "Busy": 0,
            "Provisioned": 0} in counts
    code = make_zip({"app.py": """
import os, json, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
def handler(event, context):
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                        os.environ.get("AWS_SESSION_TOKEN"))
    request = AWSRequest(method="GET", url=event["url"])
    SigV4Auth(creds, "lambda", "us-east-1").add_auth(request)
    try:
        urllib.request.urlopen(urllib.request.Request(event["url"], headers=dict(request.headers.items())))
        return 200
    except urllib.error.HTTPError as e:
        return [e.code, e.headers.get("x-amzn-ErrorType")]
"""})
    name = f"{function}-role"
    lam.create_function(FunctionName=name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": code})
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        for path in ("/_stratus/environments", "/_stratus/runtimes"):
            answer = lam.invoke(FunctionName=name, Payload=json.dumps({"url": cli_server.endpoint + path}))
            assert json.loads(answer["Payload"].read()) == [403, "AccessDeniedException"], path
    finally:
        lam.delete_function(FunctionName=name)


def test_runtimes_asks_the_server(env, cli_server):
    remote = stratus("runtimes", "--json", env=env)
    assert remote.returncode == 0, remote.stderr
    data = json.loads(remote.stdout)
    assert data["sandbox"] in ("namespaced", "plain")
    assert HOST_PYTHON_RUNTIME in [item["runtime"] for item in data["runtimes"]]
    unreachable = stratus("runtimes", "--endpoint-url", "http://127.0.0.1:9", env=env)
    assert unreachable.returncode == 1  # it did ask the server
    local = stratus("runtimes", "--local", "--json", "--endpoint-url", "http://127.0.0.1:9", env=env)
    assert local.returncode == 0 and "sandbox" not in json.loads(local.stdout)
    assert [i["runtime"] for i in json.loads(local.stdout)["runtimes"]] == [i["runtime"] for i in data["runtimes"]]


def test_logs_lists_filters_and_follows_within_a_second(env, function, lam):
    lam.invoke(FunctionName=function, Payload=json.dumps({"say": "alpha"}))
    lam.invoke(FunctionName=function, Payload=json.dumps({"say": "beta"}))
    deadline = time.monotonic() + 10
    while True:
        past = stratus("logs", function, "--since", "5m", env=env)
        if "said: beta" in past.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert past.returncode == 0, past.stderr
    lines = past.stdout.splitlines()
    said = [line for line in lines if "said:" in line]
    assert [line.split("said: ")[1] for line in said] == ["alpha", "beta"]
    assert said[0][:4].isdigit() and "[$LATEST]" in said[0]  # <time> <stream> <message>
    filtered = stratus("logs", function, "--filter", '"said: beta"', env=env)
    assert [line for line in filtered.stdout.splitlines() if "said:" in line][0].endswith("said: beta")
    assert "said: alpha" not in filtered.stdout

    follower = Lines("logs", function, "--follow", "--since", "1m", env=env)
    try:
        follower.wait_for("said: beta", timeout=15)  # the past lines first: it is running
        delays = []
        for attempt in range(3):
            marker = f"marker-{attempt}-{uuid.uuid4().hex[:8]}"
            started = time.monotonic()
            lam.invoke(FunctionName=function, Payload=json.dumps({"say": marker}))  # prints, then returns
            delays.append(follower.wait_for(marker, timeout=10) - started)
        assert max(delays) < 1.0, delays
    finally:
        follower.stop()
    assert sum("said: alpha" in line for line in follower.seen) <= 1  # nothing shown twice


def test_parse_since():
    now = 1_700_000_000.0
    assert parse_since("10m", now) == (now - 600) * 1000
    assert parse_since("2d", now) == (now - 2 * 86400) * 1000
    assert parse_since("2023-11-14T22:13:20Z", now) == 1_700_000_000_000
    with pytest.raises(ValueError):
        parse_since("soon", now)
