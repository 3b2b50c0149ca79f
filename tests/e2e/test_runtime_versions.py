"""Real runtime versions (issue 12): a pythonX.Y / nodejsN.x function runs on that interpreter where the host
has one its sandbox can run; elsewhere on the nearest version with one warning line at INIT (and once in
the server log), or it is refused with strict runtimes; `stratus runtimes` shows the mapping.

What the host has is read with the server's own discovery code (runtime/catalog.py); a version it lacks
is skipped with the reason. STRATUS_RUNTIME_SEARCH_PATH=/usr/bin narrows discovery to the distribution's
python3.11 and node (nothing is removed) to make the other versions missing.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys

import pytest

from stratus.runtime.catalog import RuntimeCatalog
from stratus.runtime.interpreters import wanted_label
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
NARROW = {"STRATUS_RUNTIME_SEARCH_PATH": "/usr/bin"}  # Debian's python3.11 and node 20 only

PYTHON_APP = """
import os, sys
def handler(event, context):
    if event.get("fail"):
        raise ValueError("failed on purpose")
    return {"version": "%d.%d" % sys.version_info[:2], "executable": sys.executable,
            "executionEnv": os.environ["AWS_EXECUTION_ENV"], "echo": event}
"""
PEP_695_APP = """
import sys
type Pair[T] = tuple[T, T]
def first[T](pair: Pair[T]) -> T:
    return pair[0]
def handler(event, context):
    return {"version": "%d.%d" % sys.version_info[:2], "first": first((event["a"], event["b"]))}
"""
NODE_APP = """exports.handler = async (event) => ({version: process.version,
  executionEnv: process.env.AWS_EXECUTION_ENV, nodePath: process.env.NODE_PATH, echo: event});
"""


@functools.cache
def catalog(sandbox: str) -> RuntimeCatalog:
    return RuntimeCatalog.discover(sandbox)


def require_exact(sandbox: str, runtime: str) -> None:
    resolution = catalog(sandbox).resolution(runtime)
    if resolution.status != "exact":
        pytest.skip(f"no {wanted_label(runtime)} here that the {sandbox} sandbox can run ({resolution.status})")


def create_python(lam, name: str, runtime: str, source: str = PYTHON_APP) -> None:
    lam.create_function(FunctionName=name, Role=ROLE, Runtime=runtime, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": source})})


def tail(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def warnings_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if "is not available on this Stratus host" in line]


@pytest.mark.parametrize("runtime", ["python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
                                     "python3.14"])
def test_each_python_runtime_runs_its_own_version_with_the_bootstrap(server, lam, fn_name, runtime):
    require_exact(server.sandbox, runtime)
    create_python(lam, fn_name, runtime)
    event = {"text": "é \u2028 ✓", "numbers": [1, 2.5, None, True], "nested": {"k": "v"}}
    response, body = invoke_json(lam, fn_name, event, LogType="Tail")
    assert "FunctionError" not in response, body
    assert body["version"] == runtime[len("python"):]
    assert body["executionEnv"] == f"AWS_Lambda_{runtime}" and body["echo"] == event
    assert not warnings_in(tail(response))
    response, body = invoke_json(lam, fn_name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "failed on purpose"


def test_python312_syntax_runs_on_python312(server, lam, fn_name):
    require_exact(server.sandbox, "python3.12")
    create_python(lam, fn_name, "python3.12", PEP_695_APP)
    response, body = invoke_json(lam, fn_name, {"a": "x", "b": "y"})
    assert "FunctionError" not in response, body
    assert body == {"version": "3.12", "first": "x"}


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs22.x", "nodejs24.x"])
def test_each_node_runtime_runs_its_own_major(server, lam, fn_name, runtime):
    require_exact(server.sandbox, runtime)
    major = runtime[len("nodejs"):].split(".")[0]
    lam.create_function(FunctionName=fn_name, Role=ROLE, Runtime=runtime, Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.js": NODE_APP})})
    response, body = invoke_json(lam, fn_name, {"k": [1, "two"]})
    assert "FunctionError" not in response, body
    assert body["version"].startswith(f"v{major}.")
    assert body["executionEnv"] == f"AWS_Lambda_{runtime}" and body["echo"] == {"k": [1, "two"]}
    assert any(entry.endswith(f"/nodejs/node{major}/node_modules") for entry in body["nodePath"].split(":"))


@pytest.mark.parametrize("sandbox", ["namespaced", "plain"])
def test_a_missing_version_runs_on_the_nearest_with_one_warning_at_init(fresh_server, sandbox):
    from tests.conftest import require_sandbox

    require_sandbox(sandbox)
    if catalog(sandbox).resolution("python3.11").interpreter is None:
        pytest.skip("no /usr/bin/python3.11 to narrow discovery to")
    srv = fresh_server(env={**NARROW, "STRATUS_SANDBOX": sandbox})
    lam = srv.client()
    create_python(lam, "old-syntax-312", "python3.12")
    first, body = invoke_json(lam, "old-syntax-312", {}, LogType="Tail")
    assert "FunctionError" not in first, body
    assert body["version"] == "3.11" and body["executable"] == "/usr/bin/python3.11"
    assert body["executionEnv"] == "AWS_Lambda_python3.12", "the runtime's name, as on AWS"
    lines = warnings_in(tail(first))
    assert len(lines) == 1, tail(first)
    assert "Python 3.12" in lines[0] and "runs on Python 3.11" in lines[0] and "/usr/bin/python3.11" in lines[0]
    warm, _ = invoke_json(lam, "old-syntax-312", {}, LogType="Tail")
    assert not warnings_in(tail(warm)), "only INIT warns"
    create_python(lam, "old-syntax-312-b", "python3.12")  # another cold start: its INIT warns too
    second, _ = invoke_json(lam, "old-syntax-312-b", {}, LogType="Tail")
    assert len(warnings_in(tail(second))) == 1
    assert len(warnings_in(srv.log())) == 1, "the server log says it once per runtime"

    create_python(lam, "new-syntax-312", "python3.12", PEP_695_APP)  # what the warning is for
    response, body = invoke_json(lam, "new-syntax-312", {"a": 1, "b": 2}, LogType="Tail")
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert len(warnings_in(tail(response))) == 1, tail(response)


def test_strict_runtimes_refuse_a_missing_version(fresh_server, tmp_path):
    if catalog("namespaced").resolution("python3.11").interpreter is None:
        pytest.skip("no /usr/bin/python3.11 to narrow discovery to")
    data_dir = tmp_path / "data"
    srv = fresh_server(env=NARROW, data_dir=data_dir)  # not strict: made while its version could be missed
    create_python(srv.client(), "made-before", "python3.12")
    srv.stop()

    strict = fresh_server(env={**NARROW, "STRATUS_STRICT_RUNTIMES": "1"}, data_dir=data_dir)
    lam = strict.client()
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        create_python(lam, "strict-312", "python3.12")
    assert refused.value.response["Error"]["Message"].startswith(
        "The runtime parameter of python3.12 is not supported on this Stratus host: Python 3.12 was not found")
    assert "python3.11" in refused.value.response["Error"]["Message"], "it names a runtime that is available"
    create_python(lam, "strict-311", "python3.11")
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="python3.13"):
        lam.update_function_configuration(FunctionName="strict-311", Runtime="python3.13")
    response, body = invoke_json(lam, "strict-311", {})
    assert "FunctionError" not in response and body["version"] == "3.11"

    with pytest.raises(lam.exceptions.InvalidRuntimeException) as gone:  # a function whose version went away
        lam.invoke(FunctionName="made-before", Payload=b"{}")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert gone.value.response["Error"]["Message"].startswith(
        "The runtime or runtime version specified is not supported. Runtime python3.12: Python 3.12 was not found")
    with pytest.raises(lam.exceptions.InvalidRuntimeException):
        lam.invoke(FunctionName="made-before", InvocationType="Event", Payload=b"{}")
    response, body = invoke_json(lam, "strict-311", {})
    assert "FunctionError" not in response, "the server goes on serving the others"
    assert "Traceback" not in strict.log()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stratus.cli.main", "runtimes", "--local", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_stratus_runtimes_lists_each_runtime_interpreter_human_and_json():
    listed = run_cli("--json")
    assert listed.returncode == 0, listed.stderr
    report = {item["runtime"]: item["sandboxes"] for item in json.loads(listed.stdout)["runtimes"]}
    assert {"python3.9", "python3.14", "nodejs18.x", "nodejs24.x", "provided.al2023"} <= set(report)
    for sandbox in ("namespaced", "plain"):
        for runtime, views in report.items():
            expected = catalog(sandbox).resolution(runtime)  # the server's own resolution, in this process
            assert views[sandbox]["status"] == expected.status, (runtime, sandbox)
            assert views[sandbox]["path"] == (expected.interpreter.path if expected.interpreter else None)

    narrowed = json.loads(run_cli("--json", env=NARROW).stdout)
    views = {item["runtime"]: item["sandboxes"]["plain"] for item in narrowed["runtimes"]}
    assert views["python3.11"]["status"] == "exact" and views["python3.11"]["path"] == "/usr/bin/python3.11"
    assert views["python3.12"]["status"] == "fallback" and views["python3.12"]["version"].startswith("3.11.")
    assert narrowed["searchPath"] == "/usr/bin"

    strict = json.loads(run_cli("--json", env={**NARROW, "STRATUS_STRICT_RUNTIMES": "1"}).stdout)
    assert {item["runtime"]: item["sandboxes"]["plain"]["usable"] for item in strict["runtimes"]}["python3.12"] is False

    human = run_cli(env=NARROW)
    assert human.returncode == 0, human.stderr
    rows = [line for line in human.stdout.splitlines() if "python3.12" in line]
    assert rows and "fallback" in rows[0] and "/usr/bin/python3.11" in rows[0], human.stdout
