"""Web origins against a real server (raw HTTP): a web page of another origin, or a DNS-rebinding page
(`Host: evil.example:PORT`), can neither create nor invoke functions — refused with AWS's 403 shape
before anything is created or run, on the ASGI app and on the Invoke fast path; no CORS headers; the
links in answers use the server's own (or configured public) name, never the request's Host; and
Code.Location / Content.Location are presigned, expiring URLs that download with no headers.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from tests.support.server import StratusServer, make_zip
from tests.support.signing import signed_headers

ROLE = "arn:aws:iam::000000000000:role/x"
COUNTER = make_zip({"app.py": "CALLS = 0\n\ndef handler(event, context):\n"
                              "    global CALLS\n    CALLS += 1\n    return CALLS\n"})


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("web") / "data", env={"STRATUS_SANDBOX": "plain"}) as running:
        yield running


@pytest.fixture(scope="module")
def web_lam(web):
    return web.client()


def raw(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"",
        version: str = "HTTP/1.1", sign: bool = True) -> tuple[int, dict[str, str], bytes]:
    """One request over a raw socket, headers exactly as given (Host included or not) plus, with `sign`, a
    valid SigV4 signature for them (the origin rules must refuse even a signed request); (status, headers,
    body)."""
    if sign:
        # The Host is signed exactly as sent (botocore takes a Host header over the URL's).
        with_host = {"Host": f"127.0.0.1:{port}"} | headers
        signed = signed_headers(method, f"http://127.0.0.1:{port}{path}", body, with_host,
                                service="events" if path == "/" else "lambda")
        headers = with_host
        headers = headers | {"X-Amz-Date": signed["X-Amz-Date"], "Authorization": signed["Authorization"]}
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    answer_headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), answer_headers, payload


def create_body(name: str) -> bytes:
    return json.dumps({"FunctionName": name, "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
                       "Code": {"ZipFile": base64.b64encode(COUNTER).decode()}}).encode()


def names(lam) -> set[str]:
    return {f["FunctionName"] for f in lam.list_functions(MaxItems=1000)["Functions"]}


def assert_refused(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 403, (status, body[:300])
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert json.loads(body)["Message"]
    assert not any(name.startswith("access-control-") for name in headers)


FOREIGN = [
    pytest.param({"Origin": "http://evil.example"}, id="foreign-origin"),
    pytest.param({"Origin": "null"}, id="null-origin"),
    pytest.param({"Origin": "http://localhost:3000"}, id="other-localhost-port"),
    pytest.param({"Host": "evil.example:{port}"}, id="rebinding-host"),
    pytest.param({"Host": "evil.example:{port}", "Origin": "http://evil.example:{port}"}, id="rebinding-same-origin"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-site"),
]


def foreign_headers(extra: dict[str, str], port: int) -> dict[str, str]:
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "text/plain"}
    headers.update({k: v.format(port=port) for k, v in extra.items()})
    return headers


@pytest.mark.parametrize("extra", FOREIGN)
def test_a_foreign_page_cannot_create_a_function(web, web_lam, extra, fn_name):
    status, headers, body = raw(web.port, "POST", "/2015-03-31/functions", foreign_headers(extra, web.port),
                                create_body(fn_name))
    assert_refused(status, headers, body)
    assert fn_name not in names(web_lam)


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])  # 1.1: the fast path; 1.0: the ASGI app
@pytest.mark.parametrize("extra", FOREIGN)
def test_a_foreign_page_cannot_invoke_and_the_function_does_not_run(web, web_lam, extra, version, fn_name):
    web_lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": COUNTER})
    assert json.loads(web_lam.invoke(FunctionName=fn_name)["Payload"].read()) == 1
    for invocation_type in ("RequestResponse", "Event"):
        headers = foreign_headers(extra, web.port) | {"X-Amz-Invocation-Type": invocation_type}
        status, answer, body = raw(web.port, "POST", f"/2015-03-31/functions/{fn_name}/invocations", headers,
                                   b"{}", version)
        assert_refused(status, answer, body)  # 403, not 202: nothing was queued either
    assert json.loads(web_lam.invoke(FunctionName=fn_name)["Payload"].read()) == 2  # the same warm environment
    web_lam.delete_function(FunctionName=fn_name)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_the_servers_own_names_are_answered(web, host):
    status, answer, _ = raw(web.port, "GET", "/2015-03-31/functions/", {"Host": host.format(port=web.port)},
                            version="HTTP/1.0")
    assert status == 200
    assert not any(name.startswith("access-control-") for name in answer)


def test_a_request_without_host_is_not_taken_for_a_foreign_page(web):
    """HTTP/1.0 tools may send no Host (a browser always sends one): the origin rules let it through, and
    the signature check answers (SigV4 signs the Host, so such a request cannot be signed)."""
    status, answer, _ = raw(web.port, "GET", "/2015-03-31/functions/", {}, version="HTTP/1.0", sign=False)
    assert status == 403
    assert answer["x-amzn-errortype"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:1", "localhost:{port}.evil.example", "x.lambda-url.eu-west-1"
                                  ".localhost:{port}", "evil.lambda-url.us-east-1.localhost.evil.example:{port}"])
def test_near_misses_of_own_names_are_refused(web, host):
    assert_refused(*raw(web.port, "GET", "/2015-03-31/functions/", {"Host": host.format(port=web.port)}))


def test_own_origin_is_answered_and_no_cors_headers_anywhere(web):
    own = {"Host": f"127.0.0.1:{web.port}", "Origin": f"http://127.0.0.1:{web.port}", "Sec-Fetch-Site": "same-origin"}
    status, headers, _ = raw(web.port, "GET", "/2015-03-31/functions/", own)
    assert status == 200 and not any(name.startswith("access-control-") for name in headers)
    preflight = {"Host": f"127.0.0.1:{web.port}", "Origin": "http://evil.example",
                 "Access-Control-Request-Method": "POST"}
    assert_refused(*raw(web.port, "OPTIONS", "/2015-03-31/functions", preflight))


def test_code_location_is_presigned_and_downloads_with_curl_and_no_headers(web, web_lam, fn_name):
    web_lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": COUNTER})
    location = web_lam.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert location.startswith(f"http://127.0.0.1:{web.port}/_stratus/code/")
    query = parse_qs(urlsplit(location).query)
    assert int(query["X-Stratus-Expires"][0]) - time.time() == pytest.approx(600, abs=5)  # AWS's 10 minutes
    assert subprocess.run(["curl", "-sf", location], capture_output=True, timeout=30).stdout == COUNTER
    with urllib.request.urlopen(location) as download:
        assert download.read() == COUNTER
    web_lam.delete_function(FunctionName=fn_name)


def test_code_location_ignores_the_requests_host(web, fn_name):
    web_lam = web.client()
    web_lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": COUNTER})
    status, _, body = raw(web.port, "GET", f"/2015-03-31/functions/{fn_name}", {"Host": f"localhost:{web.port}"})
    assert status == 200
    assert json.loads(body)["Code"]["Location"].startswith(f"http://127.0.0.1:{web.port}/_stratus/code/")
    web_lam.delete_function(FunctionName=fn_name)


def access_denied(url: str) -> str:
    """The S3-style XML message of a download that must be refused with 403."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    assert refused.value.code == 403
    body = refused.value.read().decode()
    assert refused.value.headers["Content-Type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in body
    return body


def tampered(location: str, **changes: str) -> str:
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items() if v)))


def test_a_tampered_or_unsigned_code_url_is_refused(web, web_lam, fn_name):
    web_lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": COUNTER})
    location = web_lam.get_function(FunctionName=fn_name)["Code"]["Location"]
    signature = parse_qs(urlsplit(location).query)["X-Stratus-Signature"][0]
    expires = parse_qs(urlsplit(location).query)["X-Stratus-Expires"][0]
    access_denied(location.split("?")[0])  # no signature at all
    access_denied(tampered(location, **{"X-Stratus-Signature": ("0" if signature[0] != "0" else "1") + signature[1:]}))
    access_denied(tampered(location, **{"X-Stratus-Expires": str(int(expires) + 3600)}))  # a longer life
    access_denied(tampered(location, **{"X-Stratus-Signature": ""}))
    other = location.replace("/_stratus/code/", "/_stratus/code/" + "0" * 64 + "?x=").split("?x=")[0]
    access_denied(other + "?" + urlsplit(location).query)  # the signature of one blob for another
    web_lam.delete_function(FunctionName=fn_name)


def test_an_expired_code_url_is_refused_and_the_public_url_names_the_links(fresh_server, fn_name):
    # As behind a reverse proxy: the public name has no port, the proxy forwards its Host.
    server = fresh_server(env={"STRATUS_SANDBOX": "plain", "STRATUS_CODE_URL_EXPIRY_S": "1",
                               "STRATUS_PUBLIC_URL": "https://stratus.test/"})
    lam = server.client()
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": COUNTER})
    location = lam.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert location.startswith("https://stratus.test/_stratus/code/")
    path = location[len("https://stratus.test"):]
    status, _, body = raw(server.port, "GET", path, {"Host": "stratus.test"})
    assert (status, body) == (200, COUNTER)
    status, headers, _ = raw(server.port, "GET", "/2015-03-31/functions/", {"Host": "stratus.test",
                                                                           "Origin": "https://stratus.test"})
    assert status == 200
    assert_refused(*raw(server.port, "GET", "/2015-03-31/functions/", {"Host": "evil.example"}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, _, body = raw(server.port, "GET", path, {"Host": "stratus.test"})
        if status != 200:
            break
        time.sleep(0.2)
    assert status == 403 and b"Request has expired" in body and b"<Code>AccessDenied</Code>" in body


def test_a_layer_content_location_is_presigned_too(web, web_lam, fn_name):
    data = make_zip({"python/lib.py": "X = 1\n"})
    published = web_lam.publish_layer_version(LayerName=fn_name, Content={"ZipFile": data})
    for answer in (published, web_lam.get_layer_version(LayerName=fn_name, VersionNumber=1),
                   web_lam.get_layer_version_by_arn(Arn=published["LayerVersionArn"])):
        location = answer["Content"]["Location"]
        assert "X-Stratus-Signature=" in location
        with urllib.request.urlopen(location) as download:
            assert download.read() == data
        access_denied(location.split("?")[0])
    web_lam.delete_layer_version(LayerName=fn_name, VersionNumber=1)


def test_a_bad_public_url_is_refused_at_start(tmp_path):
    server = StratusServer(tmp_path / "data", env={"STRATUS_SANDBOX": "plain",
                                                   "STRATUS_PUBLIC_URL": "ftp://stratus.test/path"})
    with pytest.raises(RuntimeError, match="public URL"):
        server.start()


def test_a_network_listener_warns_that_the_api_is_unauthenticated(tmp_path):
    """--host 0.0.0.0: the warning comes before the socket is bound. The port is held here (bound, not
    listening), so the server fails to bind and nothing is ever served to the network."""
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", "serve", "--host", "0.0.0.0", "--port", str(port),
             "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, timeout=60, env=dict(os.environ, STRATUS_SANDBOX="plain"))
    assert result.returncode != 0
    assert "beyond loopback" in result.stderr and "0.0.0.0" in result.stderr, result.stderr[-2000:]


def test_a_loopback_listener_does_not_warn(web):
    assert "beyond loopback" not in web.log()
