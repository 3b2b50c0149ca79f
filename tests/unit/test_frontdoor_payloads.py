"""Payload formats 2.0 and 1.0: HTTP request → event, function result → HTTP response (frontdoor/payloads.py)."""

from __future__ import annotations

import base64
import json

import pytest

from stratus.frontdoor.payloads import (
    HttpRequest,
    Malformed,
    RequestContext,
    clf_time,
    event_v1,
    event_v2,
    is_text,
    media_matches,
    query_pairs,
    response_v1,
    response_v2,
)

CTX = RequestContext(account_id="000000000000", api_id="abc", domain_name="abc.lambda-url.us-east-1.localhost",
                     domain_prefix="abc", request_id="req-1")


def request(method="GET", path="/", query="", headers=(), body=b"") -> HttpRequest:
    return HttpRequest(method, path, query, [(n.lower(), v) for n, v in headers], body, "127.0.0.1",
                       time_ms=1583348638390)


def test_v2_event_matches_aws_layout():
    req = request("POST", "/my/path", "parameter1=value1&parameter1=value2&parameter2=value",
                  [(b"header1", b"value1"), (b"header2", b"value1"), (b"header2", b"value2"),
                   (b"cookie", b"cookie1=a; cookie2=b"), (b"user-agent", b"agent"),
                   (b"content-type", b"text/plain")], b"Hello from client!")
    event = json.loads(event_v2(req, CTX))
    assert list(event) == ["version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
                           "queryStringParameters", "requestContext", "body", "isBase64Encoded"]
    assert event["cookies"] == ["cookie1=a", "cookie2=b"]
    assert event["headers"] == {"header1": "value1", "header2": "value1,value2", "user-agent": "agent",
                                "content-type": "text/plain"}
    assert event["queryStringParameters"] == {"parameter1": "value1,value2", "parameter2": "value"}
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=value"
    context = event["requestContext"]
    assert context["http"] == {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "agent"}
    assert context["time"] == "04/Mar/2020:19:03:58 +0000" and context["timeEpoch"] == 1583348638390
    assert (context["routeKey"], context["stage"], context["requestId"]) == ("$default", "$default", "req-1")
    assert (context["domainPrefix"], context["apiId"], context["accountId"]) == ("abc", "abc", "000000000000")
    assert event["body"] == "Hello from client!" and event["isBase64Encoded"] is False


def test_v2_event_leaves_out_what_the_request_lacks():
    event = json.loads(event_v2(request(), CTX))
    for absent in ("cookies", "queryStringParameters", "body", "pathParameters", "stageVariables"):
        assert absent not in event
    assert event["rawQueryString"] == "" and event["isBase64Encoded"] is False


def test_v2_binary_and_form_bodies_are_base64_json_is_text():
    raw = bytes(range(256))
    binary = json.loads(event_v2(request("POST", body=raw, headers=[(b"content-type", b"image/png")]), CTX))
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == raw
    form = json.loads(event_v2(request("POST", body=b"a=1", headers=[
        (b"content-type", b"application/x-www-form-urlencoded")]), CTX))
    assert form["isBase64Encoded"] is True and base64.b64decode(form["body"]) == b"a=1"
    bad_utf8 = json.loads(event_v2(request("POST", body=b"\xff\xfe", headers=[(b"content-type", b"text/plain")]), CTX))
    assert bad_utf8["isBase64Encoded"] is True
    as_json = json.loads(event_v2(request("POST", body=b'{"a":1}', headers=[
        (b"content-type", b"application/json; charset=utf-8")]), CTX))
    assert as_json == {**as_json, "body": '{"a":1}', "isBase64Encoded": False}


def test_query_strings_plus_percent_empty_and_repeats():
    assert query_pairs("a=x+y&b=x%20y&c=&d&e=%2B&a=2") == [
        ("a", "x y"), ("b", "x y"), ("c", ""), ("d", ""), ("e", "+"), ("a", "2")]
    event = json.loads(event_v2(request(query="a=x+y&b=x%20y&c=&d&a=2"), CTX))
    assert event["queryStringParameters"] == {"a": "x y,2", "b": "x y", "c": "", "d": ""}
    assert event["rawQueryString"] == "a=x+y&b=x%20y&c=&d&a=2"


def test_v2_response_plain_values_are_json_bodies():
    assert response_v2(b'"hello"').body == b"hello"
    for payload, body in ((b'{"hello": "world"}', b'{"hello":"world"}'), (b'["hello", 3, true]', b'["hello",3,true]'),
                          (b"3", b"3"), (b"3.1", b"3.1"), (b"true", b"true"), (b"null", b"null")):
        response = response_v2(payload)
        assert (response.status, response.body) == (200, body)
        assert response.headers == [(b"content-type", b"application/json")]


def test_v2_response_structured():
    response = response_v2(json.dumps({
        "statusCode": "418", "headers": {"Content-Type": "text/plain", "X-Num": 3, "X-Flag": True},
        "cookies": ["a=1; Max-Age=60", "b=2"], "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True}).encode())
    assert response.status == 418 and response.body == b"\x00\x01"
    assert response.headers == [(b"content-type", b"text/plain"), (b"x-num", b"3"), (b"x-flag", b"true"),
                                (b"set-cookie", b"a=1; Max-Age=60"), (b"set-cookie", b"b=2")]
    default = response_v2(b'{"statusCode": 200, "body": "body123"}')
    assert default.headers == [(b"content-type", b"application/json")] and default.body == b"body123"
    empty = response_v2(b'{"statusCode": 204}')
    assert (empty.status, empty.body) == (204, b"")


@pytest.mark.parametrize("payload", [
    b"not json", b'{"statusCode": "abc"}', b'{"statusCode": 99}', b'{"statusCode": true}',
    b'{"statusCode": 200, "headers": []}', b'{"statusCode": 200, "headers": {"a": {"b": 1}}}',
    b'{"statusCode": 200, "body": {"a": 1}}', b'{"statusCode": 200, "cookies": "a=1"}',
    b'{"statusCode": 200, "body": "@@", "isBase64Encoded": true}',
])
def test_v2_malformed_responses(payload):
    with pytest.raises(Malformed):
        response_v2(payload)


def test_v1_event_matches_aws_layout():
    req = request("GET", "/prod/items/7", "q=1&q=2&e=", [(b"accept", b"a"), (b"accept", b"b"),
                                                      (b"user-agent", b"ua")])
    ctx = RequestContext("000000000000", "api1", "api1.execute-api.localhost", "api1", "rid", stage="prod")
    event = json.loads(event_v1(req, ctx, resource="/items/{id}", path="/items/7", path_parameters={"id": "7"},
                                binary_media_types=[]))
    assert "version" not in event
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/7" and event["httpMethod"] == "GET"
    assert event["headers"] == {"accept": "b", "user-agent": "ua"}
    assert event["multiValueHeaders"] == {"accept": ["a", "b"], "user-agent": ["ua"]}
    assert event["queryStringParameters"] == {"q": "2", "e": ""}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"], "e": [""]}
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["path"], context["resourcePath"], context["stage"]) == ("/prod/items/7", "/items/{id}", "prod")
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "ua"
    assert context["requestTime"] == clf_time(1583348638390)


def test_v1_binary_media_types():
    png = request("POST", body=b"\x89PNG", headers=[(b"content-type", b"image/png")])
    as_binary = json.loads(event_v1(png, CTX, resource="/", path="/", binary_media_types=["image/*"]))
    assert as_binary["isBase64Encoded"] is True and base64.b64decode(as_binary["body"]) == b"\x89PNG"
    text = request("POST", body=b"plain", headers=[(b"content-type", b"application/octet-stream")])
    as_text = json.loads(event_v1(text, CTX, resource="/", path="/", binary_media_types=["image/*"]))
    assert as_text["body"] == "plain" and as_text["isBase64Encoded"] is False
    assert media_matches("image/png", ["*/*"]) and not media_matches(None, ["*/*"])


def test_v1_responses():
    response = response_v1(b'{"statusCode": 201, "headers": {"A": "1"}, "multiValueHeaders": {"B": ["x", "y"]},'
                           b' "body": "ok"}')
    assert response.status == 201 and response.body == b"ok"
    assert response.headers == [(b"a", b"1"), (b"b", b"x"), (b"b", b"y"), (b"content-type", b"application/json")]
    assert response_v1(b'{"body": "x"}').status == 200
    for payload in (b'"text"', b"[1]", b'{"statusCode": 200, "extra": 1}', b'{"errorMessage": "boom"}'):
        with pytest.raises(Malformed):
            response_v1(payload)


def test_text_types():
    assert is_text("text/html; charset=utf-8") and is_text("application/json") and is_text("application/ld+json")
    assert is_text("application/xml") and not is_text("application/octet-stream") and not is_text(None)


def test_function_url_bodies_that_are_not_strings_are_sent_as_json():
    """AWS's recorded Function URL answers: a `body` object reaches the client as its JSON (HTTP APIs refuse it)."""
    response = response_v2(b'{"statusCode": 200, "body": {"a": [1, "x"]}}', json_bodies=True)
    assert (response.status, json.loads(response.body)) == (200, {"a": [1, "x"]})
