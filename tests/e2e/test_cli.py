"""The user journey through the real AWS CLI v1 (pip `awscli`): create → wait → invoke → update code →
invoke sees new code → update configuration → list with paging → delete → not found.

AWS CLI v1 sends `--payload` as given (v1 has no `--cli-binary-format`; it never base64-decodes it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def code(version: str) -> bytes:
    return make_zip({"app.py": f"""
import os
def handler(event, context):
    print("hello from {version}")
    return {{"version": "{version}", "event": event, "greeting": os.environ.get("GREETING")}}
"""})


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class Aws:
    """Runs `python -m awscli --endpoint-url … lambda …` in a work dir, with dummy credentials only."""

    def __init__(self, endpoint: str, cwd):
        self.endpoint = endpoint
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(cwd / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "no-credentials"),
            AWS_PAGER="", AWS_MAX_ATTEMPTS="1",
        )
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", self.endpoint, "--output", "json", "lambda", *args],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60,
        )
        if check:
            assert completed.returncode == 0, f"aws lambda {' '.join(args)} failed:\n{completed.stderr}"
        return completed

    def json(self, *args: str) -> dict:
        completed = self.run(*args)
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def fails(self, *args: str) -> str:
        """Run a command that must fail; its stderr."""
        completed = self.run(*args, check=False)
        assert completed.returncode != 0, f"aws lambda {' '.join(args)} unexpectedly succeeded: {completed.stdout}"
        return completed.stderr


@pytest.fixture
def aws(server, tmp_path):
    return Aws(server.endpoint, tmp_path)


def create(aws, name: str, zip_name: str = "fn.zip", runtime: str = "python3.12") -> dict:
    return aws.json("create-function", "--function-name", name, "--runtime", runtime,
                    "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{zip_name}")


def invoke(aws, name: str, payload: str, out: str = "out.json") -> tuple[dict, object]:
    """`aws lambda invoke --log-type Tail`: (the CLI's JSON output, the decoded response payload)."""
    meta = aws.json("invoke", "--function-name", name, "--payload", payload, "--log-type", "Tail", out)
    return meta, json.loads((aws.cwd / out).read_text())


def assert_log_tail(log_result: str) -> str:
    """The decoded X-Amz-Log-Result has one START, END and REPORT line, in order, for one request;
    returns the REPORT line."""
    lines = base64.b64decode(log_result).decode().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("START RequestId: ")]
    ends = [i for i, line in enumerate(lines) if line.startswith("END RequestId: ")]
    reports = [i for i, line in enumerate(lines) if line.startswith("REPORT RequestId: ")]
    assert len(starts) == len(ends) == len(reports) == 1, lines
    assert starts[0] < ends[0] < reports[0], lines
    assert lines[starts[0]].endswith("Version: $LATEST")
    request_id = lines[starts[0]].split()[2]
    assert lines[ends[0]] == f"END RequestId: {request_id}"
    report = lines[reports[0]]
    assert report.startswith(f"REPORT RequestId: {request_id}\t")
    for field in ("Duration: ", "Billed Duration: ", "Memory Size: ", "Max Memory Used: "):
        assert f"\t{field}" in report, report
    return report


def test_cli_full_lifecycle(aws, fn_name, tmp_path):
    (tmp_path / "fn.zip").write_bytes(code("v1"))
    created = create(aws, fn_name)
    assert created["FunctionName"] == fn_name
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert created["Runtime"] == "python3.12" and created["Handler"] == "app.handler"
    assert created["CodeSha256"] == sha256_b64(code("v1"))
    assert created["CodeSize"] == len(code("v1"))
    assert created["Version"] == "$LATEST"
    aws.run("wait", "function-active-v2", "--function-name", fn_name)

    # Invoke with the log tail: START / END / REPORT of this request, Init Duration on the cold start.
    meta, body = invoke(aws, fn_name, '{"x":1}')
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    assert body == {"version": "v1", "event": {"x": 1}, "greeting": None}
    report = assert_log_tail(meta["LogResult"])
    assert "Memory Size: 128 MB" in report and "Init Duration:" in report

    # New code: the next invoke runs it, in a new environment (a cold start again).
    (tmp_path / "fn2.zip").write_bytes(code("v2"))
    updated = aws.json("update-function-code", "--function-name", fn_name, "--zip-file", "fileb://fn2.zip")
    assert updated["CodeSha256"] == sha256_b64(code("v2"))
    assert updated["RevisionId"] != created["RevisionId"]
    aws.run("wait", "function-updated-v2", "--function-name", fn_name)
    meta, body = invoke(aws, fn_name, '{"x":2}')
    assert body == {"version": "v2", "event": {"x": 2}, "greeting": None}
    assert "Init Duration:" in assert_log_tail(meta["LogResult"])

    # New configuration.
    configured = aws.json("update-function-configuration", "--function-name", fn_name, "--timeout", "10",
                          "--memory-size", "256", "--description", "from the cli",
                          "--environment", "Variables={GREETING=hi}")
    assert configured["Timeout"] == 10 and configured["MemorySize"] == 256
    assert configured["Environment"] == {"Variables": {"GREETING": "hi"}}
    aws.run("wait", "function-updated-v2", "--function-name", fn_name)
    got = aws.json("get-function", "--function-name", fn_name)
    assert got["Configuration"]["Description"] == "from the cli"
    assert got["Configuration"]["Timeout"] == 10
    with urllib.request.urlopen(got["Code"]["Location"]) as download:
        assert download.read() == code("v2")
    meta, body = invoke(aws, fn_name, '{"x":3}')
    assert body["greeting"] == "hi"
    assert "Memory Size: 256 MB" in assert_log_tail(meta["LogResult"])

    # Delete: then it is gone for every call.
    aws.run("delete-function", "--function-name", fn_name)
    stderr = aws.fails("get-function", "--function-name", fn_name)
    assert "ResourceNotFoundException" in stderr and fn_name in stderr
    stderr = aws.fails("invoke", "--function-name", fn_name, "--payload", "{}", "gone.json")
    assert "ResourceNotFoundException" in stderr


def test_cli_list_functions_pages(aws, lam, fn_name):
    names = [f"{fn_name}-{i}" for i in range(2)]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": code("list")})
    try:
        # --max-items 1: one function per call and a NextToken to continue from, until the end.
        seen, token, calls = [], None, 0
        while True:
            args = ["list-functions", "--max-items", "1"]
            if token:
                args += ["--starting-token", token]
            page = aws.json(*args)
            calls += 1
            assert len(page["Functions"]) == 1, page
            seen += [f["FunctionName"] for f in page["Functions"]]
            token = page.get("NextToken")
            if not token:
                break
            assert calls < 100, "paging does not end"
        assert len(seen) == len(set(seen)), seen
        assert [name for name in seen if name.startswith(fn_name)] == names
        assert calls == len(seen) >= len(names)

        # --page-size 1: the CLI follows NextMarker itself and prints every function in one document.
        everything = aws.json("list-functions", "--page-size", "1")
        assert [f["FunctionName"] for f in everything["Functions"]] == seen
        assert "NextToken" not in everything
    finally:
        for name in names:
            lam.delete_function(FunctionName=name)


def test_cli_reports_aws_errors(aws, lam, fn_name, tmp_path):
    """Refused calls exit non-zero with AWS's error type in the CLI's message, and change nothing."""
    (tmp_path / "fn.zip").write_bytes(code("v1"))
    stderr = aws.fails("create-function", "--function-name", fn_name, "--runtime", "python2.99",
                       "--handler", "app.handler", "--role", ROLE, "--zip-file", "fileb://fn.zip")
    assert "InvalidParameterValueException" in stderr
    stderr = aws.fails("get-function-configuration", "--function-name", fn_name)
    assert "ResourceNotFoundException" in stderr

    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": code("v1")})
    before = lam.get_function_configuration(FunctionName=fn_name)  # Active (the create answered Pending)
    try:
        stderr = aws.fails("create-function", "--function-name", fn_name, "--runtime", "python3.12",
                           "--handler", "app.handler", "--role", ROLE, "--zip-file", "fileb://fn.zip")
        assert "ResourceConflictException" in stderr
        stderr = aws.fails("invoke", "--function-name", fn_name, "--payload", "not json", "bad.json")
        assert "InvalidRequestContentException" in stderr
        stderr = aws.fails("update-function-configuration", "--function-name", fn_name, "--timeout", "901")
        assert "InvalidParameterValueException" in stderr
        after = lam.get_function_configuration(FunctionName=fn_name)
        assert after["RevisionId"] == before["RevisionId"] and after["Timeout"] == 3
    finally:
        lam.delete_function(FunctionName=fn_name)


def test_cold_start_log_tail_holds_the_handlers_output(server, fn_name):
    """Found through the CLI journey: what a handler prints must be in its own tail, between START and
    END, on cold starts too.

    The bug was a race between the output pipe and the runtime's response post (Environment._finish
    cleared the current invocation before its last read of the output, so the output was filed as init
    output of the next invocation); it lost the output about half the time when several environments
    started together, so this starts several at once, six times over.
    """
    lam = server.client(max_pool_connections=16)
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": (
                            "def handler(event, context):\n"
                            "    print('output of ' + event['tag'])\n"
                            "    return event['tag']\n")})})

    def cold_invoke(tag: str) -> tuple[str, list[str]]:
        response = lam.invoke(FunctionName=fn_name, LogType="Tail", Payload=json.dumps({"tag": tag}))
        assert json.loads(response["Payload"].read()) == tag
        return tag, base64.b64decode(response["LogResult"]).decode().splitlines()

    try:
        for round_ in range(6):
            # New configuration → every invoke below needs a fresh environment.
            lam.update_function_configuration(FunctionName=fn_name, Description=f"round {round_}")
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(cold_invoke, [f"{round_}-{i}" for i in range(8)]))
            # (A request may queue for an environment that has just finished its first one: not every
            # invoke is a cold start, but most are.)
            assert sum("Init Duration:" in lines[-1] for _, lines in results) >= 2, results
            for tag, lines in results:
                assert f"output of {tag}" in lines, f"invoke {tag}: its output is missing from its tail: {lines}"
                assert not any(line.startswith("output of ") and line != f"output of {tag}" for line in lines), lines
                start = next(i for i, line in enumerate(lines) if line.startswith("START "))
                end = next(i for i, line in enumerate(lines) if line.startswith("END "))
                assert start < lines.index(f"output of {tag}") < end, lines
    finally:
        lam.delete_function(FunctionName=fn_name)
