"""`stratus dev` as a user runs it: the sam-init hello world served at the root of --api-port, an edit to app.py in
the next response within 2 s, a syntax error or a broken template printed while the previous version keeps
serving, and — with no server at the endpoint — a `stratus serve` of its own, stopped by Ctrl-C."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.cli import Lines, cli_env
from tests.support.server import StratusServer, free_port

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sam-hello-world"


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def message(url: str) -> str | None:
    status, body = get(url)
    return json.loads(body).get("message") if status == 200 else None


def wait_for_message(url: str, expected: str, timeout: float) -> float:
    """Seconds until GET `url` answers {"message": expected} (polled; AssertionError after `timeout`)."""
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < timeout:
        seen = message(url)
        if seen == expected:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{url} answered {seen!r}, not {expected!r}, for {timeout} s")


@pytest.fixture
def hello(tmp_path) -> Path:
    target = tmp_path / "sam-app"
    shutil.copytree(FIXTURE, target)
    return target


def test_dev_serves_the_hello_world_and_reloads_an_edit_within_2_s(tmp_path, hello):
    """No server at the endpoint: dev starts one (generated keys, no AWS_* in the environment), deploys, serves
    GET /hello on --api-port, reloads edits; Ctrl-C stops it and the server it started."""
    server_port, api_port = free_port(), free_port()
    env = cli_env(f"http://127.0.0.1:{server_port}", home=tmp_path / "home")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    dev = Lines("dev", "-t", str(hello / "template.yaml"), "--api-port", str(api_port),
                "--data-dir", str(tmp_path / "dev-data"), env=env, cwd=hello)
    url = f"http://127.0.0.1:{api_port}/hello"
    try:
        dev.wait_for("starting stratus serve", timeout=10)
        dev.wait_for(f"GET     http://127.0.0.1:{api_port}/hello", timeout=120)
        assert json.loads(get(url)[1]) == {"message": "hello world"}
        assert get(f"http://127.0.0.1:{api_port}/nowhere") == (403, b'{"message":"Missing Authentication Token"}')

        app = hello / "hello_world" / "app.py"
        original = app.read_text()
        reloads = []
        for word in ("hello edited", "hello again"):
            app.write_text(original.replace('"hello world"', f'"{word}"'))
            reloads.append(wait_for_message(url, word, timeout=2.0))
        line = dev.wait_for("Reloaded HelloWorldFunction in", timeout=5)
        assert line
        times = [float(t) for t in re.findall(r"Reloaded HelloWorldFunction in ([\d.]+) s", "\n".join(dev.seen))]
        print(f"\ndev: edit → new response in {', '.join(f'{s:.2f}' for s in reloads)} s; "
              f"reload (build + upload + deploy) {', '.join(f'{s:.2f}' for s in times)} s")

        # A syntax error is printed as file:line and nothing is deployed: the previous version keeps serving.
        app.write_text(original.replace('"hello world"', '"broken"') + "\ndef oops(:\n")
        dev.wait_for(f"{app}:", timeout=5)
        assert any("SyntaxError" in seen for seen in dev.seen[-3:])
        assert message(url) == "hello again"
        # A broken template likewise.
        template = hello / "template.yaml"
        good_template = template.read_text()
        template.write_text(good_template + "\n  Broken: [unclosed\n")
        dev.wait_for("not a valid template", timeout=5)
        assert message(url) == "hello again"
        template.write_text(good_template)
        app.write_text(original)
        wait_for_message(url, "hello world", timeout=5)
    finally:
        code = dev.stop(signal.SIGINT)
    assert code == 0, "\n".join(dev.seen)
    assert any("Stopping the stratus serve" in seen for seen in dev.seen)
    assert get_refused(f"http://127.0.0.1:{server_port}/_stratus/health")
    assert get_refused(url)


def get_refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.URLError as error:
        return isinstance(error.reason, ConnectionRefusedError)
    return False


def test_dev_uses_a_running_server_and_leaves_it_running(tmp_path, hello):
    with StratusServer(tmp_path / "data") as server:
        api_port = free_port()
        env = cli_env(server.endpoint, home=tmp_path / "home")
        dev = Lines("dev", "-t", str(hello / "template.yaml"), "--stack-name", "devstack", "--api-port",
                    str(api_port), env=env, cwd=hello)
        try:
            dev.wait_for(f"Using the Stratus server at {server.endpoint}", timeout=10)
            dev.wait_for(f"GET     http://127.0.0.1:{api_port}/hello", timeout=120)
            assert message(f"http://127.0.0.1:{api_port}/hello?x=1") == "hello world"
        finally:
            assert dev.stop(signal.SIGTERM) == 0
        assert get(server.endpoint + "/_stratus/health")[0] == 200
        assert not any("Stopping the stratus serve" in seen for seen in dev.seen)


def test_dev_debug_port_puts_the_stacks_function_under_a_debugger_until_it_stops(tmp_path, hello):
    """`stratus dev --debug-port P`: the stack's function is in debug mode on P (the route answers through its
    debug environment, and a DAP client gets debugpy's answer there); leaving dev takes it out of debug mode."""
    import botocore.session
    from botocore.credentials import Credentials

    from stratus.cli.client import Client
    from stratus.cli.debug import get_debug_mode
    from tests.support.dap import Dap

    with StratusServer(tmp_path / "data") as server:
        api_port, debug_port = free_port(), free_port()
        env = cli_env(server.endpoint, home=tmp_path / "home")
        dev = Lines("dev", "-t", str(hello / "template.yaml"), "--stack-name", "debugstack", "--api-port",
                    str(api_port), "--debug-port", str(debug_port), env=env, cwd=hello)
        admin = Client(server.endpoint, "us-east-1", Credentials("test", "test"), botocore.session.Session())
        try:
            dev.wait_for(f"to 127.0.0.1:{debug_port}", timeout=120)
            (function,) = [f["FunctionName"] for f in server.client().list_functions()["Functions"]]
            state = get_debug_mode(admin, function)
            assert state is not None and state["Port"] == debug_port
            dev.wait_for(f"GET     http://127.0.0.1:{api_port}/hello", timeout=30)
            assert message(f"http://127.0.0.1:{api_port}/hello") == "hello world"
            debugger = Dap(debug_port)
            try:
                answer = debugger.request("initialize", adapterID="debugpy", clientID="test")
                assert answer["success"] is True and answer["command"] == "initialize"
            finally:
                debugger.close()
        finally:
            assert dev.stop(signal.SIGINT) == 0, "\n".join(dev.seen)
        assert get_debug_mode(admin, function) is None
