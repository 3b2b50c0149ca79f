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

    # Invoke, with the log tail: START / END / REPORT around the function's own output.
    meta, body = invoke(aws, fn_name, '{"x":1}')
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    assert body == {"version": "v1", "event": {"x": 1}, "greeting": None}
    log = base64.b64decode(meta["LogResult"]).decode()
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("END RequestId: "))
    report = next(line for line in lines if line.startswith("REPORT RequestId: "))
    assert start < next(i for i, line in enumerate(lines) if "hello from v1" in line) < end
    assert "Version: $LATEST" in lines[start]
    request_id = lines[start].split()[2]
    assert request_id in lines[end] and request_id in report
    for field in ("Duration:", "Billed Duration:", "Memory Size: 128 MB", "Max Memory Used:", "Init Duration:"):
        assert field in report, report

    # New code: the next invoke runs it, on a warm path again (no Init Duration on the second v2 call).
    (tmp_path / "fn2.zip").write_bytes(code("v2"))
    updated = aws.json("update-function-code", "--function-name", fn_name, "--zip-file", "fileb://fn2.zip")
    assert updated["CodeSha256"] == sha256_b64(code("v2"))
    assert updated["RevisionId"] != created["RevisionId"]
    aws.run("wait", "function-updated-v2", "--function-name", fn_name)
    meta, body = invoke(aws, fn_name, '{"x":2}')
    assert body == {"version": "v2", "event": {"x": 2}, "greeting": None}
    assert "hello from v2" in base64.b64decode(meta["LogResult"]).decode()

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
    assert "Memory Size: 256 MB" in base64.b64decode(meta["LogResult"]).decode()

    # Delete: then it is gone for every call.
    aws.run("delete-function", "--function-name", fn_name)
    stderr = aws.fails("get-function", "--function-name", fn_name)
    assert "ResourceNotFoundException" in stderr and fn_name in stderr
    stderr = aws.fails("invoke", "--function-name", fn_name, "--payload", "{}", "gone.json")
    assert "ResourceNotFoundException" in stderr


def test_cli_list_functions_pages(aws, fn_name, tmp_path):
    (tmp_path / "fn.zip").write_bytes(code("list"))
    names = [f"{fn_name}-{i}" for i in range(3)]
    for name in names:
        create(aws, name)

    # --max-items 1: one function per call, and a NextToken to continue from, until the end.
    seen, token, calls = [], None, 0
    while True:
        args = ["list-functions", "--max-items", "1"]
        if token:
            args += ["--starting-token", token]
        page = aws.json(*args)
        calls += 1
        assert len(page["Functions"]) <= 1
        seen += [f["FunctionName"] for f in page["Functions"]]
        token = page.get("NextToken")
        if not token:
            break
        assert calls < 200, "paging does not end"
    assert len(seen) == len(set(seen)), seen
    assert [name for name in seen if name.startswith(fn_name)] == names
    assert calls >= len(names)

    # --page-size 1: the CLI follows NextMarker itself and prints everything in one document.
    everything = aws.json("list-functions", "--page-size", "1")
    assert [f["FunctionName"] for f in everything["Functions"]] == seen
    assert "NextToken" not in everything

    for name in names:
        aws.run("delete-function", "--function-name", name)
    remaining = [f["FunctionName"] for f in aws.json("list-functions")["Functions"]]
    assert not set(remaining) & set(names)


def test_cli_reports_aws_errors(aws, fn_name, tmp_path):
    (tmp_path / "fn.zip").write_bytes(code("v1"))
    (tmp_path / "not.zip").write_bytes(b"this is not a zip")
    stderr = aws.fails("create-function", "--function-name", fn_name, "--runtime", "python3.12",
                       "--handler", "app.handler", "--role", ROLE, "--zip-file", "fileb://not.zip")
    assert "InvalidParameterValueException" in stderr
    assert "ResourceNotFoundException" in aws.fails("get-function-configuration", "--function-name", fn_name)

    create(aws, fn_name)
    stderr = aws.fails("create-function", "--function-name", fn_name, "--runtime", "python3.12",
                       "--handler", "app.handler", "--role", ROLE, "--zip-file", "fileb://fn.zip")
    assert "ResourceConflictException" in stderr
    stderr = aws.fails("invoke", "--function-name", fn_name, "--payload", "not json", "bad.json")
    assert "InvalidRequestContentException" in stderr
    stderr = aws.fails("update-function-configuration", "--function-name", fn_name, "--timeout", "901")
    assert "InvalidParameterValueException" in stderr
    assert aws.json("get-function-configuration", "--function-name", fn_name)["Timeout"] == 3
    aws.run("delete-function", "--function-name", fn_name)
