"""SigV4 authentication on every API of the port (issue 11, scope 3; findings 2 and 3).

Each test is an attack that worked before: unsigned or wrongly signed requests were served, boto3
with a wrong key pair worked, and a function could administer Stratus through its API.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.environments import function_log, wait_for_log
from tests.support.server import StratusServer, free_port, invoke_json, make_zip
from tests.support.signing import presigned_url, signed_headers, signed_request

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
MISSING = "Missing Authentication Token"
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.")


def create(lam, name: str, source: str, **extra) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": source})}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def send(request: urllib.request.Request | str) -> tuple[int, dict[str, str], dict]:
    """(status, lower-cased headers, JSON body) of a request, errors included."""
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, dict(error.headers), error.read()
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(body) if body else {}


def assert_refused(answer: tuple[int, dict[str, str], dict], error_type: str, message: str | None = None) -> None:
    status, headers, body = answer
    assert (status, headers.get("x-amzn-errortype")) == (403, error_type), answer
    if message is not None:
        assert body == {"message": message}


def client(server, key_id: str = "test", secret: str = "test", service: str = "lambda"):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}))


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


# ---------------------------------------------------------------------------------------------- refused

def test_unsigned_requests_are_refused_on_every_api_but_health(server, lam, fn_name):
    create(lam, fn_name, "def handler(e, c):\n    return 1\n")
    base = server.endpoint
    for request in (f"{base}/2015-03-31/functions/", f"{base}/2015-03-31/functions/{fn_name}/configuration",
                    f"{base}/2018-10-31/layers", f"{base}/no/such/path",
                    urllib.request.Request(f"{base}/2015-03-31/functions/{fn_name}", method="DELETE"),
                    urllib.request.Request(f"{base}/2015-03-31/functions/{fn_name}/invocations", data=b"{}")):
        assert_refused(send(request), "MissingAuthenticationTokenException", MISSING)
    status, headers, body = send(urllib.request.Request(f"{base}/", data=b"{}", headers={
        "X-Amz-Target": "AWSEvents.ListRules", "Content-Type": "application/x-amz-json-1.1"}))
    assert (status, body) == (403, {"__type": "MissingAuthenticationTokenException",
                                    "message": "Request is missing Authentication Token"})
    assert send(f"{base}/_stratus/health")[0] == 200
    assert lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionName"] == fn_name  # nothing deleted


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_unsigned_curl_is_refused(server):
    done = subprocess.run(["curl", "-sS", "-i", f"{server.endpoint}/2015-03-31/functions/"], capture_output=True,
                          text=True, timeout=30)
    head, _, body = done.stdout.partition("\n\n")  # (text mode: CRLF read as LF)
    assert head.startswith("HTTP/1.1 403")
    assert "x-amzn-errortype: MissingAuthenticationTokenException" in head
    assert json.loads(body) == {"message": MISSING}


def test_a_garbage_signature_is_refused(server):
    url = f"{server.endpoint}/2015-03-31/functions/"
    headers = signed_headers("GET", url)
    headers["Authorization"] = headers["Authorization"][:-64] + "0" * 64
    assert_refused(send(urllib.request.Request(url, headers=headers)), "InvalidSignatureException", MISMATCH)
    headers["Authorization"] = "AWS4-HMAC-SHA256 garbage"
    assert_refused(send(urllib.request.Request(url, headers=headers)), "IncompleteSignatureException")


def test_boto3_with_a_wrong_secret_or_an_unknown_key_is_refused(server, lam, fn_name):
    create(lam, fn_name, "def handler(e, c):\n    print('RAN')\n    return 1\n")
    wrong = client(server, secret="not-the-secret")
    assert error_of(wrong.list_functions) == ("InvalidSignatureException", 403, MISMATCH)
    assert error_of(lambda: wrong.invoke(FunctionName=fn_name))[:2] == ("InvalidSignatureException", 403)
    assert error_of(lambda: wrong.delete_function(FunctionName=fn_name))[:2] == ("InvalidSignatureException", 403)
    unknown = client(server, key_id="AKIAUNKNOWN000000000")
    assert error_of(unknown.list_functions) == (
        "UnrecognizedClientException", 403, "The security token included in the request is invalid.")
    assert error_of(lambda: unknown.invoke(FunctionName=fn_name))[:2] == ("UnrecognizedClientException", 403)
    events = client(server, secret="not-the-secret", service="events")
    assert error_of(events.list_rules)[0] == "InvalidSignatureException"
    assert "RAN" not in function_log(server, fn_name)
    assert lam.get_function(FunctionName=fn_name)  # still there


def test_a_signature_for_another_service_or_request_is_refused(server, lam, fn_name):
    create(lam, fn_name, "def handler(e, c):\n    return e\n")
    url = f"{server.endpoint}/2015-03-31/functions/"
    status, _, body = send(signed_request(url, service="events"))
    assert status == 403 and body["message"].startswith("Credential should be scoped to correct service: 'lambda'")
    # A signed invoke replayed with another body: the payload hash no longer matches.
    invoke_url = f"{server.endpoint}/2015-03-31/functions/{fn_name}/invocations"
    headers = signed_headers("POST", invoke_url, b'{"amount": 1}')
    assert send(urllib.request.Request(invoke_url, data=b'{"amount": 1}', headers=headers))[2] == {"amount": 1}
    assert_refused(send(urllib.request.Request(invoke_url, data=b'{"amount": 9}', headers=headers)),
                   "InvalidSignatureException", MISMATCH)
    # ... and to another path.
    other = f"{server.endpoint}/2015-03-31/functions/{fn_name}/configuration"
    assert_refused(send(urllib.request.Request(other, headers=signed_headers("GET", url))),
                   "InvalidSignatureException", MISMATCH)


@pytest.mark.parametrize("offset_s, message", [(-400, "Signature expired: "), (400, "Signature not yet current: ")])
def test_a_stale_or_future_date_is_refused(server, lam, fn_name, monkeypatch, offset_s, message):
    create(lam, fn_name, "def handler(e, c):\n    print('RAN')\n    return 1\n")
    then = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=offset_s)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)  # the client's clock is off
    code, status, text = error_of(lam.list_functions)
    assert (code, status) == ("InvalidSignatureException", 403) and text.startswith(message)
    assert ("is now earlier than" if offset_s < 0 else "is still later than") in text and "5 min." in text
    assert error_of(lambda: lam.invoke(FunctionName=fn_name))[:2] == ("InvalidSignatureException", 403)
    monkeypatch.undo()  # the log is read through the Logs API: with a clock that is right
    assert "RAN" not in function_log(server, fn_name)


# ---------------------------------------------------------------------------------------------- presigned

def test_presigned_urls_work_and_tampered_ones_do_not(server, lam, fn_name, monkeypatch):
    create(lam, fn_name, "def handler(e, c):\n    return 1\n")
    url = presigned_url(f"{server.endpoint}/2015-03-31/functions/{fn_name}/configuration")
    status, _, body = send(url)
    assert status == 200 and body["FunctionName"] == fn_name
    assert_refused(send(url[:-1] + ("0" if url[-1] != "0" else "1")), "InvalidSignatureException", MISMATCH)
    assert_refused(send(url.replace("/configuration", "/policy")), "InvalidSignatureException", MISMATCH)
    assert_refused(send(presigned_url(url.split("?")[0], credentials=Credentials("test", "wrong"))),
                   "InvalidSignatureException", MISMATCH)
    then = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(seconds=120)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    status, _, body = send(presigned_url(url.split("?")[0], expires=60))  # signed 2 minutes ago for 1 minute
    assert status == 403 and body["message"].startswith("Signature expired: ")


def test_code_location_is_presigned_and_the_bare_code_url_is_refused(server, lam, fn_name):
    create(lam, fn_name, "def handler(e, c):\n    return 1\n")
    location = lam.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert "X-Stratus-Signature=" in location and "X-Stratus-Expires=" in location  # api/code_urls.py
    with urllib.request.urlopen(location, timeout=30) as download:  # no headers, as on AWS
        assert download.read()[:2] == b"PK"
    try:  # the URL's signature is its only permission: without it, S3's XML AccessDenied
        urllib.request.urlopen(location.split("?")[0], timeout=30)
        raise AssertionError("the bare code URL downloaded")
    except urllib.error.HTTPError as error:
        assert error.code == 403 and b"<Code>AccessDenied</Code>" in error.read()


# ---------------------------------------------------------------------------------------------- invoke fast path

def test_the_fast_path_refuses_before_the_function_runs(server, lam, fn_name):
    import socket
    create(lam, fn_name, "def handler(e, c):\n    print('RAN', e)\n    return e\n")
    assert invoke_json(lam, fn_name, {"n": 0})[1] == {"n": 0}  # warm: a taken invoke would run at once
    path = f"/2015-03-31/functions/{fn_name}/invocations"
    host = f"127.0.0.1:{server.port}"  # the server's own name: the origin rules let it through to the check
    bad = signed_headers("POST", f"http://{host}{path}", b'{"n": 1}')
    bad["Authorization"] = bad["Authorization"][:-8] + "00000000"
    unknown_function = f"/2015-03-31/functions/{fn_name}-nope/invocations"
    cases = [
        (path, f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 8\r\n\r\n", "MissingAuthenticationToken"),
        (path, f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {bad['X-Amz-Date']}\r\n"
               f"Authorization: {bad['Authorization']}\r\nContent-Length: 8\r\n\r\n", "InvalidSignature"),
        # an unknown function with a bad signature is a 403, not a 404: nothing is told before the check
        (unknown_function, f"POST {unknown_function} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {bad['X-Amz-Date']}\r\n"
                           f"Authorization: {bad['Authorization']}\r\nContent-Length: 8\r\n\r\n", "InvalidSignature"),
    ]
    for _, head, error in cases:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head.encode())
            time.sleep(0.2)  # the head alone: a fast path that ran at head time would have run it by now
            sock.sendall(b'{"n": 1}')
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 403"), answer
        assert f"x-amzn-errortype: {error}Exception".lower().encode() in answer.lower()
    assert invoke_json(lam, fn_name, {"n": 2})[1] == {"n": 2}
    log = wait_for_log(server, fn_name, "RAN {'n': 2}")  # the log is written as the function runs
    assert "RAN {'n': 0}" in log and "RAN {'n': 2}" in log and "RAN {'n': 1}" not in log


# ---------------------------------------------------------------------------------------------- finding 2

ADMIN_FROM_INSIDE = """
import json, os, urllib.error, urllib.request
def handler(event, context):
    base = (os.environ.get("AWS_ENDPOINT_URL_LAMBDA") or os.environ.get("AWS_ENDPOINT_URL")
            or "http://127.0.0.1:%d" % event["port"])  # the endpoint its SDK is given, else the server's port
    results = {}
    for name, method, path in (("list", "GET", "/2015-03-31/functions/"),
                               ("config", "GET", "/2015-03-31/functions/%s/configuration" % event["victim"]),
                               ("code", "GET", "/2015-03-31/functions/%s" % event["victim"]),
                               ("delete", "DELETE", "/2015-03-31/functions/%s" % event["victim"])):
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=10) as r:
                results[name] = [r.status, r.read().decode()]
        except urllib.error.HTTPError as error:
            results[name] = [error.code, error.headers.get("x-amzn-ErrorType")]
    return results
"""


def test_a_function_cannot_administer_stratus_through_its_api(server, lam, fn_name):
    victim = fn_name + "-victim"
    create(lam, victim, "def handler(e, c):\n    return 1\n", Environment={"Variables": {"DB_PASSWORD": "hunter2"}})
    create(lam, fn_name, ADMIN_FROM_INSIDE, Timeout=30)
    results = invoke_json(lam, fn_name, {"port": server.port, "victim": victim})[1]
    assert "hunter2" not in json.dumps(results)
    assert results == {name: [403, "MissingAuthenticationTokenException"] for name in ("list", "config", "code",
                                                                                       "delete")}
    assert lam.get_function_configuration(FunctionName=victim)["Environment"]["Variables"] == {
        "DB_PASSWORD": "hunter2"}


# ---------------------------------------------------------------------------------------------- keys and modes

def test_the_generated_credentials_file_works_with_boto3_and_the_aws_cli(tmp_path):
    data_dir = tmp_path / "data"
    with StratusServer(data_dir, env={"STRATUS_ACCESS_KEYS": ""}) as srv:
        path = data_dir / "credentials"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"admin credentials created in {path}" in srv.log()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_SHARED_CREDENTIALS_FILE=str(path), AWS_CONFIG_FILE=str(tmp_path / "no-config"),
                   AWS_PROFILE="stratus", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        check = ("import boto3, sys; print(len(boto3.client('lambda', endpoint_url=sys.argv[1])"
                 ".list_functions()['Functions']))")
        done = subprocess.run([sys.executable, "-c", check, srv.endpoint], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "0", done.stderr
        cli = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", srv.endpoint, "--output", "json",
                              "lambda", "list-functions"], env=env, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0 and json.loads(cli.stdout)["Functions"] == [], cli.stderr
        assert error_of(client(srv).list_functions)[0] == "UnrecognizedClientException"  # test:test is not a key here
        first = path.read_text()
    with StratusServer(data_dir, env={"STRATUS_ACCESS_KEYS": ""}) as srv:  # a restart keeps the key pair
        assert path.read_text() == first and f"admin credentials in {path}" in srv.log()


def test_auth_off_works_on_loopback_only(tmp_path):
    with StratusServer(tmp_path / "data", env={"STRATUS_AUTH": "off"}) as srv:
        status, _, body = send(f"{srv.endpoint}/2015-03-31/functions/")
        assert status == 200 and body["Functions"] == []
        assert "authentication is OFF" in srv.log()
    for argv, env, line in (
            (["--host", "0.0.0.0"], {"STRATUS_AUTH": "off"},
             "stratus: STRATUS_AUTH=off is refused: the server would listen on 0.0.0.0, beyond loopback (listen on "
             "127.0.0.1, or keep STRATUS_AUTH=sigv4)"),
            (["--auth", "off", "--host", "::"], {},
             "stratus: STRATUS_AUTH=off is refused: the server would listen on ::, beyond loopback (listen on "
             "127.0.0.1, or keep STRATUS_AUTH=sigv4)"),
            ([], {"STRATUS_AUTH": "none"}, "stratus: STRATUS_AUTH must be 'sigv4' or 'off', not 'none'"),
            ([], {"STRATUS_ACCESS_KEYS": "justanid"},
             "stratus: STRATUS_ACCESS_KEYS: 'justanid:...' is not of the form id:secret")):
        done = subprocess.run([sys.executable, "-m", "stratus.cli.main", "serve", "--port", str(free_port()),
                               "--data-dir", str(tmp_path / "refused"), *argv],
                              env=dict(os.environ, **env), capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [line]


# ---------------------------------------------------------------------------------------------- TLS

class _HttpsServer(StratusServer):
    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def wait_healthy(endpoint: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if send(f"{endpoint}/_stratus/health")[0] == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
def test_https_with_tls_cert_and_key(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stratus",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the health check's urllib trusts it
    with _HttpsServer(tmp_path / "data", env={"STRATUS_TLS_CERT": str(cert), "STRATUS_TLS_KEY": str(key)}) as srv:
        def tls_client(secret: str):
            return boto3.client("lambda", endpoint_url=srv.endpoint, region_name="us-east-1", verify=str(cert),
                                aws_access_key_id="test", aws_secret_access_key=secret,
                                config=Config(retries={"max_attempts": 0}))

        lam = tls_client("test")
        create(lam, "tls", "def handler(e, c):\n    return e\n")
        assert invoke_json(lam, "tls", {"over": "https"})[1] == {"over": "https"}  # the fast path under TLS
        assert error_of(tls_client("wrong").list_functions)[0] == "InvalidSignatureException"
        assert "without TLS" not in srv.log()
    done = subprocess.run([sys.executable, "-m", "stratus.cli.main", "serve", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "half"), "--tls-cert", str(cert)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "stratus: HTTPS needs both --tls-cert and --tls-key (STRATUS_TLS_CERT, STRATUS_TLS_KEY), readable PEM files"]


def test_a_listener_beyond_loopback_without_tls_warns(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "stratus.cli.main", "serve", "--host", "0.0.0.0", "--port",
                                str(port), "--data-dir", str(tmp_path / "data")],
                               env=dict(os.environ, STRATUS_ACCESS_KEYS="test:test"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        assert_refused(send(f"http://127.0.0.1:{port}/2015-03-31/functions/"), "MissingAuthenticationTokenException")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "WARNING stratus: listening on 0.0.0.0 without TLS" in stderr
