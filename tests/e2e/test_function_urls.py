"""Function URLs: the five operations with boto3, and requests served by `stratus serve` with a real HTTP
client, by Host (`<url-id>.lambda-url.us-east-1.localhost:PORT`) and by path (`/_stratus/url/<url-id>/...`)."""

from __future__ import annotations

import base64
import json
import urllib.request

import botocore.exceptions
import pytest

from tests.support.frontdoor import Client, url_host, url_id, zip_with_powertools
from tests.support.server import make_zip
from tests.support.signing import signed_headers

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
PUBLIC = {"StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"}

ECHO = '''
import base64, json

def handler(event, context):
    path = event["rawPath"]
    if path == "/plain":
        return {"hello": "world"}
    if path == "/string":
        return "hello"
    if path == "/list":
        return ["hello", 3, True]
    if path == "/malformed":
        return {"statusCode": "abc"}
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    return {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Custom": "yes",
                                           "Access-Control-Allow-Origin": "http://from-function.example"},
            "cookies": ["session=abc; Path=/", "theme=dark"], "body": json.dumps(event)}
'''

POWERTOOLS_APP = '''
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver

app = LambdaFunctionUrlResolver()

@app.get("/todos/<todo_id>")
def get_todo(todo_id: str):
    return {"id": todo_id, "q": app.current_event.get_query_string_value("q")}

@app.post("/todos")
def create_todo():
    return {"created": app.current_event.json_body}, 201

def handler(event, context):
    return app.resolve(event, context)
'''


@pytest.fixture
def echo_url(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})}, Timeout=10)
    url = lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=fn_name, **PUBLIC)
    yield url
    lam.delete_function(FunctionName=fn_name)


def both_forms(url: str, path: str) -> list[tuple[str | None, str]]:
    """(Host, request path) pairs that reach the same URL: by its Host, and by the path form."""
    return [(url_host(url), path), (None, f"/_stratus/url/{url_id(url)}{path}")]


def test_url_config_lifecycle_as_aws(lam, server, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    created = lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert url == f"http://{url_id(url)}.lambda-url.us-east-1.localhost:{server.port}/"
    assert len(url_id(url)) == 32 and url_id(url).isalnum() and url_id(url) == url_id(url).lower()
    assert "InvokeMode" not in created and "LastModifiedTime" not in created and "Cors" not in created
    got = lam.get_function_url_config(FunctionName=fn_name)
    assert got["InvokeMode"] == "BUFFERED" and got["AuthType"] == "NONE" and got["FunctionUrl"] == url
    with pytest.raises(lam.exceptions.ResourceConflictException) as conflict:
        lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")
    assert "FunctionUrlConfig exists for this Lambda function" in str(conflict.value)
    updated = lam.update_function_url_config(FunctionName=fn_name, AuthType="AWS_IAM", InvokeMode="RESPONSE_STREAM",
                                             Cors={"AllowOrigins": ["https://example.com"], "MaxAge": 60})
    assert updated["AuthType"] == "AWS_IAM" and updated["InvokeMode"] == "RESPONSE_STREAM"
    assert updated["Cors"] == {"AllowOrigins": ["https://example.com"], "MaxAge": 60}
    assert lam.update_function_url_config(FunctionName=fn_name)["InvokeMode"] == "RESPONSE_STREAM"
    for qualifier in ("1", "$LATEST"):
        with pytest.raises(botocore.exceptions.ClientError) as invalid:
            lam.get_function_url_config(FunctionName=fn_name, Qualifier=qualifier)
        assert invalid.value.response["Error"]["Code"] == "ValidationException"
        assert f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint" in str(invalid.value)
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing:
        lam.create_function_url_config(FunctionName=fn_name, Qualifier="nope", AuthType="NONE")
    assert "Function does not exist" in str(missing.value)
    with pytest.raises(botocore.exceptions.ClientError) as bad_mode:
        lam.create_function_url_config(FunctionName=fn_name + "x", AuthType="NONE", InvokeMode="UNKNOWN")
    assert bad_mode.value.response["Error"]["Code"] == "ValidationException"
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)
    alias_url = lam.create_function_url_config(FunctionName=fn_name, Qualifier="live", AuthType="NONE")
    assert alias_url["FunctionArn"].endswith(f":function:{fn_name}:live") and alias_url["FunctionUrl"] != url
    listed = lam.list_function_url_configs(FunctionName=fn_name)["FunctionUrlConfigs"]
    assert sorted(item["FunctionArn"].split(":")[-1] for item in listed) == sorted([fn_name, "live"])
    assert all(item["InvokeMode"] in ("BUFFERED", "RESPONSE_STREAM") for item in listed)
    lam.delete_alias(FunctionName=fn_name, Name="live")  # an alias's URL goes with it, as on AWS
    assert len(lam.list_function_url_configs(FunctionName=fn_name)["FunctionUrlConfigs"]) == 1
    assert lam.delete_function_url_config(FunctionName=fn_name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as gone:
        lam.get_function_url_config(FunctionName=fn_name)
    assert "The resource you requested does not exist." in str(gone.value)
    lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")
    lam.delete_function(FunctionName=fn_name)  # the function takes its URLs along
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_function_url_configs(FunctionName=fn_name)


def test_get_and_post_json_query_cookies_by_host_and_by_path(echo_url, http):
    for host, path in both_forms(echo_url, "/items/a%20b"):
        reply = http.request("POST", path + "?a=x+y&b=x%20y&c=&a=2", host, b'{"key": "value"}',
                             [("Content-Type", "application/json"), ("Cookie", "c1=v1; c2=v2"),
                              ("X-Multi", "one"), ("X-Multi", "two"), ("User-Agent", "front-door-test")])
        assert reply.status == 201, reply.body
        assert reply.header("x-custom") == "yes" and reply.header("content-type") == "application/json"
        assert reply.all("set-cookie") == ["session=abc; Path=/", "theme=dark"]
        assert reply.header("x-amzn-requestid")
        event = json.loads(reply.body)
        assert event["version"] == "2.0" and event["routeKey"] == "$default"
        # http.path is decoded (AWS's recorded echo answers: '/pa2%25Fth' arrives as '/pa2%Fth'); rawPath is raw.
        assert event["rawPath"] == "/items/a%20b" and event["requestContext"]["http"]["path"] == "/items/a b"
        # By the path form, the function still sees the URL's own domain as its Host (as on AWS).
        assert event["headers"]["host"] == (host or f"{url_id(echo_url)}.lambda-url.us-east-1.localhost")
        # The headers AWS's URL front adds (its recorded echo answers).
        assert event["headers"]["x-forwarded-for"] == "127.0.0.1" and event["headers"]["x-forwarded-proto"] == "http"
        assert event["headers"]["x-forwarded-port"] == str(http.port)
        assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
        assert event["rawQueryString"] == "a=x+y&b=x%20y&c=&a=2"
        assert event["queryStringParameters"] == {"a": "x y,2", "b": "x y", "c": ""}
        assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
        assert event["headers"]["x-multi"] == "one,two" and event["headers"]["content-type"] == "application/json"
        assert event["body"] == '{"key": "value"}' and event["isBase64Encoded"] is False
        context = event["requestContext"]
        assert context["http"]["method"] == "POST" and context["http"]["sourceIp"] == "127.0.0.1"
        assert context["http"]["userAgent"] == "front-door-test" and context["http"]["protocol"] == "HTTP/1.1"
        assert context["apiId"] == url_id(echo_url) == context["domainPrefix"]
        assert context["domainName"] == f"{url_id(echo_url)}.lambda-url.us-east-1.localhost"
        assert context["accountId"] == "000000000000" and context["requestId"] == reply.header("x-amzn-requestid")
        assert context["timeEpoch"] > 0 and context["time"].endswith(" +0000")
    get = http.request("GET", "/", url_host(echo_url))
    event = json.loads(get.body)
    assert "body" not in event and "queryStringParameters" not in event and "cookies" not in event


def test_binary_bodies_in_and_out(echo_url, http):
    data = bytes(range(256)) * 4
    reply = http.request("PUT", "/upload", url_host(echo_url), data, {"Content-Type": "application/octet-stream"})
    event = json.loads(reply.body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data
    binary = http.request("GET", "/binary", url_host(echo_url))
    assert binary.status == 200 and binary.body == bytes(range(256))
    assert binary.header("content-type") == "image/png"


@pytest.mark.parametrize(("path", "body"), [("/plain", b'{"hello":"world"}'), ("/string", b"hello"),
                                            ("/list", b'["hello",3,true]')])
def test_results_that_are_not_responses_are_json_bodies(echo_url, http, path, body):
    reply = http.request("GET", path, url_host(echo_url))
    assert (reply.status, reply.body, reply.header("content-type")) == (200, body, "application/json")


@pytest.mark.parametrize("path", ["/malformed", "/boom"])
def test_malformed_results_and_function_errors_are_502(echo_url, http, path):
    reply = http.request("GET", path, url_host(echo_url))
    assert (reply.status, reply.body) == (502, b"Internal Server Error")


def test_unknown_url_and_missing_permission_are_403_as_aws(lam, http, server, fn_name):
    unknown = http.request("GET", "/", f"0123456789abcdefghijklmnopqrstuv.lambda-url.us-east-1.localhost:{server.port}")
    assert (unknown.status, unknown.body) == (403, b'{"Message":null}')
    assert unknown.header("x-amzn-errortype") == "AccessDeniedException"
    assert http.request("GET", "/_stratus/url/0123456789abcdefghijklmnopqrstuv/x").status == 403
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    url = lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")["FunctionUrl"]
    denied = http.request("GET", "/", url_host(url))
    assert denied.status == 403 and json.loads(denied.body)["Message"].startswith("Forbidden.")
    lam.add_permission(FunctionName=fn_name, **PUBLIC)
    assert http.request("GET", "/plain", url_host(url)).status == 200
    lam.remove_permission(FunctionName=fn_name, StatementId="url")
    assert http.request("GET", "/plain", url_host(url)).status == 403
    lam.delete_function(FunctionName=fn_name)


def test_aws_iam_urls_need_a_signature(lam, http, server, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    url = lam.create_function_url_config(FunctionName=fn_name, AuthType="AWS_IAM")["FunctionUrl"]
    assert http.request("GET", "/", url_host(url)).status == 403
    body = b'{"signed": true}'
    headers = signed_headers("POST", f"{url}signed?x=1", body, {"Content-Type": "application/json"})
    reply = http.request("POST", "/signed?x=1", url_host(url), body, headers)
    assert reply.status == 201, reply.body
    iam = json.loads(reply.body)["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "test" and iam["accountId"] == "000000000000"
    tampered = http.request("POST", "/signed?x=1", url_host(url), b'{"signed": false}', headers)
    assert tampered.status == 403
    lam.delete_function(FunctionName=fn_name)


def test_cors_preflight_is_answered_and_headers_added(lam, echo_url, http, fn_name):
    lam.update_function_url_config(FunctionName=fn_name, Cors={
        "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["X-Token"],
        "ExposeHeaders": ["X-Custom"], "MaxAge": 300, "AllowCredentials": True})
    preflight = http.request("OPTIONS", "/anything", url_host(echo_url), headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-token"})
    assert preflight.status == 200 and preflight.body == b""
    assert preflight.header("access-control-allow-origin") == "https://app.example"
    assert preflight.header("access-control-allow-methods") == "GET,POST"
    assert preflight.header("access-control-allow-headers") == "x-token"
    assert preflight.header("access-control-max-age") == "300"
    assert preflight.header("access-control-allow-credentials") == "true"
    actual = http.request("GET", "/", url_host(echo_url), headers={"Origin": "https://app.example"})
    assert actual.status == 201 and actual.header("access-control-allow-origin") == "https://app.example"
    assert actual.header("access-control-expose-headers") == "x-custom"
    foreign = http.request("GET", "/", url_host(echo_url), headers={"Origin": "https://evil.example"})
    assert foreign.status == 201 and foreign.header("access-control-allow-origin") is None


def test_bodies_over_6_mb_are_413(echo_url, http):
    reply = http.request("POST", "/", url_host(echo_url), b"x" * (6 * 1024 * 1024 + 1), {"Content-Type": "text/plain"})
    assert reply.status == 413


def test_powertools_function_url_resolver_routes(lam, http, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_with_powertools({"app.py": POWERTOOLS_APP})}, Timeout=30, MemorySize=256)
    url = lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=fn_name, **PUBLIC)
    got = http.request("GET", "/todos/42?q=milk", url_host(url))
    assert got.status == 200 and json.loads(got.body) == {"id": "42", "q": "milk"}
    created = http.request("POST", "/todos", url_host(url), b'{"title": "x"}', {"Content-Type": "application/json"})
    assert created.status == 201 and json.loads(created.body) == {"created": {"title": "x"}}
    assert http.request("GET", "/nowhere", url_host(url)).status == 404
    lam.delete_function(FunctionName=fn_name)


def test_urls_survive_a_restart(fresh_server, tmp_path):
    data_dir = tmp_path / "restart"
    first = fresh_server(data_dir=data_dir)
    lam = first.client()
    lam.create_function(FunctionName="kept", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    url = lam.create_function_url_config(FunctionName="kept", AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName="kept", **PUBLIC)
    first.stop()
    second = fresh_server(data_dir=data_dir)
    assert second.client().get_function_url_config(FunctionName="kept")["FunctionUrl"].replace(
        f":{second.port}/", "") == url.replace(f":{first.port}/", "")
    client = Client(second.port)
    reply = client.request("GET", f"/_stratus/url/{url_id(url)}/plain")
    client.close()
    assert (reply.status, reply.body) == (200, b'{"hello":"world"}')


def test_requests_the_fast_path_declines_are_served_the_same_through_asgi(echo_url, server):
    """HTTP/1.0 and `Expect: 100-continue` requests go through uvicorn's ASGI cycle: same answers."""
    import socket

    for version, extra in (("HTTP/1.0", ""), ("HTTP/1.1", "Expect: 100-continue\r\nConnection: close\r\n")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            head = (f"GET /plain?x=1 {version}\r\nHost: {url_host(echo_url)}\r\n{extra}Content-Length: 0\r\n\r\n")
            sock.sendall(head.encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        if data.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
            data = data[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        status_line, _, rest = data.partition(b"\r\n")
        assert b" 200 " in status_line, data
        assert rest.endswith(b'{"hello":"world"}')


@pytest.mark.parametrize("style", ["path", "auto"])
def test_function_urls_in_the_path_form_reach_the_function_with_any_http_client(fresh_server, tmp_path, style):
    """A FunctionUrl any HTTP client (urllib here, which resolves names with the host's resolver) can reach:
    the path form, chosen by STRATUS_FUNCTION_URL_STYLE=path, or by "auto" on a host that does not resolve
    names under .localhost."""
    from stratus.control.function_urls import localhost_names_resolve

    server = fresh_server(data_dir=tmp_path / style, env={"STRATUS_FUNCTION_URL_STYLE": style})
    lam = server.client()
    lam.create_function(FunctionName="reach", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    url = lam.create_function_url_config(FunctionName="reach", AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName="reach", **PUBLIC)
    if style == "auto" and localhost_names_resolve():
        assert url.startswith("http://") and ".lambda-url.us-east-1.localhost:" in url
    else:
        assert url.startswith(f"http://127.0.0.1:{server.port}/_stratus/url/") and url.endswith("/")
    with urllib.request.urlopen(url + "plain?x=1", timeout=30) as reply:
        assert (reply.status, reply.read()) == (200, b'{"hello":"world"}')


def test_an_object_body_is_sent_as_json_as_aws_does(lam, http, fn_name):
    """LocalStack's echo fixture returns {"statusCode": 200, "body": {...}}; AWS's recorded answer is that JSON."""
    source = ("def handler(event, context):\n"
              "    return {'statusCode': 200, 'headers': {'Content-Type': 'application/json'},\n"
              "            'body': {'path': event['rawPath'], 'data': event.get('body', '')}}\n")
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": source})})
    url = lam.create_function_url_config(FunctionName=fn_name, AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=fn_name, **PUBLIC)
    reply = http.request("POST", "/test/value", url_host(url), b"field=1",
                         {"Content-Type": "application/x-www-form-urlencoded"})
    # (A form body reaches the function base64-encoded, as AWS sends it.)
    assert reply.status == 200 and json.loads(reply.body) == {"path": "/test/value",
                                                              "data": base64.b64encode(b"field=1").decode()}
    lam.delete_function(FunctionName=fn_name)


def test_a_deleted_url_is_forbidden_and_an_unknown_one_null_as_aws(lam, http, fn_name):
    """AWS's recorded answers: the URL of a deleted alias answers 403 "Forbidden. ..." while an id that never
    existed answers 403 {"Message": null}."""
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})}, Publish=True)
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    url = lam.create_function_url_config(FunctionName=fn_name, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=fn_name, Qualifier="live", **PUBLIC)
    assert http.request("GET", "/plain", url_host(url)).status == 200
    lam.delete_alias(FunctionName=fn_name, Name="live")
    gone = http.request("GET", "/plain", url_host(url))
    assert gone.status == 403 and json.loads(gone.body)["Message"].startswith("Forbidden. For troubleshooting")
    never = http.request("GET", "/", url_host(url).replace(url_id(url), "0" * 32))
    assert (never.status, json.loads(never.body)) == (403, {"Message": None})
    lam.delete_function(FunctionName=fn_name)
