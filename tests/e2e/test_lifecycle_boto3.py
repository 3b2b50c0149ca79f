"""The user journey through boto3: create → wait → invoke → update code → update config → list → delete."""

import base64
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support.environments import function_log, wait_for_log
from tests.support.server import invoke_json, make_zip
from tests.support.signing import auth_lines

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def code(version: str) -> bytes:
    return make_zip({"app.py": f"""
import os
def handler(event, context):
    return {{"version": "{version}", "event": event, "greeting": os.environ.get("GREETING")}}
"""})


def test_full_lifecycle(lam, fn_name):
    created = lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                  Code={"ZipFile": code("v1")}, Description="first")
    assert created["FunctionName"] == fn_name
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert created["Version"] == "$LATEST"
    assert created["PackageType"] == "Zip"
    assert created["Architectures"] == ["x86_64"]
    assert created["Timeout"] == 3 and created["MemorySize"] == 128
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["CodeSha256"] == base64.b64encode(__import__("hashlib").sha256(code("v1")).digest()).decode()
    assert created["CodeSize"] == len(code("v1"))
    assert created["RevisionId"] and created["LastModified"].endswith("+0000")
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name)

    response, body = invoke_json(lam, fn_name, {"n": 1})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert body == {"version": "v1", "event": {"n": 1}, "greeting": None}

    updated = lam.update_function_code(FunctionName=fn_name, ZipFile=code("v2"))
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["RevisionId"] != created["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert invoke_json(lam, fn_name, {"n": 2})[1]["version"] == "v2"

    configured = lam.update_function_configuration(
        FunctionName=fn_name, Timeout=10, MemorySize=256, Description="second",
        Environment={"Variables": {"GREETING": "hi"}}, EphemeralStorage={"Size": 1024})
    assert configured["Timeout"] == 10 and configured["MemorySize"] == 256
    assert configured["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert configured["EphemeralStorage"] == {"Size": 1024}
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert invoke_json(lam, fn_name)[1]["greeting"] == "hi"

    got = lam.get_function(FunctionName=fn_name)
    assert got["Configuration"]["Description"] == "second"
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as download:
        assert download.read() == code("v2")
    assert lam.get_function_configuration(FunctionName=fn_name)["MemorySize"] == 256

    lam.delete_function(FunctionName=fn_name)
    with pytest.raises(ClientError) as raised:
        lam.get_function(FunctionName=fn_name)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=fn_name)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_functions_pages_with_marker(lam, fn_name):
    names = [f"{fn_name}-{i}" for i in range(5)]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": code("x")})
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [name for name in seen if name.startswith(fn_name)] == names
    assert len(seen) == len(set(seen))
    assert pages >= 3
    paginated = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 3}) for f in p["Functions"]]
    assert paginated == seen
    for name in names:
        lam.delete_function(FunctionName=name)


def test_names_and_arns_are_accepted_where_aws_accepts_them(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.13", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": code("arn")})
    full = f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    partial = f"000000000000:function:{fn_name}"
    for reference in (fn_name, full, partial, f"{fn_name}:$LATEST", f"{full}:$LATEST"):
        assert lam.get_function_configuration(FunctionName=reference)["FunctionName"] == fn_name
        assert invoke_json(lam, reference)[1]["version"] == "arn"
    lam.delete_function(FunctionName=full)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn_name)


def test_account_settings_count_functions(lam, fn_name):
    before = lam.get_account_settings()
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": code("a")})
    after = lam.get_account_settings()
    assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] == before["AccountUsage"]["TotalCodeSize"] + len(code("a"))
    lam.delete_function(FunctionName=fn_name)


def test_event_and_dry_run_invocations(server, lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": """
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("ran", event["tag"])
    return COUNT
"""})})
    dry = lam.invoke(FunctionName=fn_name, InvocationType="DryRun", Payload=json.dumps({"tag": "dry"}))
    assert dry["StatusCode"] == 204
    event = lam.invoke(FunctionName=fn_name, InvocationType="Event", Payload=json.dumps({"tag": "event"}))
    assert event["StatusCode"] == 202
    assert "ran event" in wait_for_log(server, fn_name, "ran event")
    # The event ran in the (now warm) environment; the dry run never ran at all.
    assert invoke_json(lam, fn_name, {"tag": "sync"})[1] == 2
    assert "ran dry" not in function_log(server, fn_name)
    lam.delete_function(FunctionName=fn_name)


def test_invokes_the_fast_path_declines_take_the_asgi_path_with_the_same_answer(server, lam, fn_name):
    """HTTP/1.0 and `Expect: 100-continue` requests go through uvicorn + ASGI instead of api/fastpath.py."""
    import socket
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": code("asgi")})
    path = f"/2015-03-31/functions/{fn_name}/invocations"
    host = f"127.0.0.1:{server.port}"
    signature = auth_lines("POST", host, path, b'{"n": 42}')
    for head in (f"POST {path} HTTP/1.0\r\nHost: {host}\r\n{signature}Content-Length: 9\r\n\r\n",
                 f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{signature}Connection: close\r\nContent-Length: 9\r\n"
                 "Expect: 100-continue\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head.encode() + b'{"n": 42}')
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if answer.startswith(b"HTTP/1.1 100"):
            answer = answer.split(b"\r\n\r\n", 1)[1]
        status_line, _, rest = answer.partition(b"\r\n")
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert status_line.split()[1] == b"200", answer
        assert b"x-amz-executed-version: $latest" in headers.lower()
        assert json.loads(body) == {"version": "asgi", "event": {"n": 42}, "greeting": None}
    missing_path = f"/2015-03-31/functions/{fn_name}-nope/invocations"
    missing = (f"POST {missing_path} HTTP/1.0\r\nHost: x\r\n{auth_lines('POST', 'x', missing_path, b'{}')}"
               "Content-Length: 2\r\n\r\n{}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(missing.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"404"
    assert b"x-amzn-errortype: resourcenotfoundexception" in answer.lower()


def test_pipelined_invokes_on_one_connection_are_answered_in_order(server, lam, fn_name):
    import socket
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "import time\ndef handler(e, c):\n"
                                                              "    time.sleep(e['s'])\n    return e['n']\n"})})
    path = f"/2015-03-31/functions/{fn_name}/invocations"
    requests = b""
    for n, sleep in ((1, 0.3), (2, 0.0), (3, 0.1)):
        body = json.dumps({"n": n, "s": sleep}).encode()
        host = f"127.0.0.1:{server.port}"
        requests += (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth_lines('POST', host, path, body)}"
                     f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(requests)  # all three at once: HTTP/1.1 pipelining
        answers, buffer = [], b""
        while len(answers) < 3:
            buffer += sock.recv(65536)
            while b"\r\n\r\n" in buffer:
                head, rest = buffer.split(b"\r\n\r\n", 1)
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                if len(rest) < length:
                    break
                answers.append((head.split(b" ")[1], json.loads(rest[:length])))
                buffer = rest[length:]
    assert answers == [(b"200", 1), (b"200", 2), (b"200", 3)]
