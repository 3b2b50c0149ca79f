"""HTTP request → Lambda event, and function result → HTTP response, as AWS's HTTP front doors shape them.

Payload format 2.0 serves Function URLs and HTTP APIs (`event_v2`, `response_v2`); format 1.0 serves REST
APIs' Lambda proxy integrations and HTTP APIs set to 1.0 (`event_v1`, `response_v1`). Pure functions:
no I/O, no state, so they are unit-tested on their own and cost a few microseconds per request.

AWS's rules kept here (Lambda and API Gateway developer guides, and LocalStack's AWS-recorded answers):
- 2.0: header names lower-cased, repeated headers joined with commas; the `cookie` headers move to
  `cookies` (one entry per cookie); repeated query keys joined with commas in `queryStringParameters`;
  `rawQueryString` as sent; members without a value (cookies, query, body, path parameters, stage
  variables) are left out; a body that is not text (by its content type) or not UTF-8 is base64.
- 2.0 responses: a JSON object with `statusCode` is an HTTP response (headers, cookies → set-cookie,
  body, isBase64Encoded); any other JSON value is a 200 `application/json` body (a string as itself,
  anything else as compact JSON).
- 1.0: single- and multi-value headers and query parameters; members without a value are null; the
  response must be an object of statusCode/headers/multiValueHeaders/body/isBase64Encoded only.
Anything else the function returns is malformed (`Malformed`), which the front doors answer as AWS does.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

import msgspec

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_TEXT_SUBTYPES = ("json", "xml", "javascript", "yaml", "csv", "graphql")
_V1_RESPONSE_KEYS = frozenset(("statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_IDENTITY_NULLS = ("accessKey", "accountId", "caller", "cognitoAuthenticationProvider", "cognitoAuthenticationType",
                   "cognitoIdentityId", "cognitoIdentityPoolId", "principalOrgId")
_DROPPED_HEADERS = frozenset((b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"expect"))

Headers = list[tuple[bytes, bytes]]


class Malformed(ValueError):
    """The function's result is not a response the front door can send (AWS: 'Malformed Lambda proxy response')."""


@dataclass(slots=True)
class HttpRequest:
    """One HTTP request as the front door received it."""

    method: str
    raw_path: str  # as sent: percent-encoding kept, no query
    query: str  # the raw query string (after '?'), as sent
    headers: Headers  # (lower-case name, value) in arrival order
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    names: list[bytes] | None = None  # the header names as the client cased them (parallel to `headers`)

    def header(self, name: bytes) -> str | None:
        """The first value of a header (lower-case name), or None."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


@dataclass(slots=True)
class HttpResponse:
    """What goes back to the client: status, (name, value) headers and the body bytes."""

    status: int
    headers: Headers
    body: bytes


@dataclass(slots=True)
class RequestContext:
    """Where the request arrived: the members of `requestContext` that are not the request's own."""

    account_id: str
    api_id: str  # a Function URL's url-id, or an API's id
    domain_name: str
    domain_prefix: str
    request_id: str
    route_key: str = "$default"
    stage: str = "$default"
    authorizer: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------- helpers
def clf_time(time_ms: int) -> str:
    """API Gateway's request time: 12/Mar/2020:19:03:58 +0000."""
    t = time.gmtime(time_ms / 1000)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def is_text(content_type: str | None) -> bool:
    """Whether a body of this content type is passed as text (else base64), as API Gateway and Function URLs do."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith("text/"):
        return True
    _, _, subtype = media.partition("/")
    return any(word in subtype for word in _TEXT_SUBTYPES)


def encode_body(body: bytes, as_text: bool) -> tuple[str | None, bool]:
    """(body member, isBase64Encoded): text when allowed and valid UTF-8, else base64; None for no body."""
    if not body:
        return None, False
    if as_text:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def media_matches(content_type: str | None, patterns: Iterable[str]) -> bool:
    """Whether a content type matches one of a REST API's binaryMediaTypes (`*/*`, `image/*`, exact)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind = media.split("/", 1)[0]
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern in ("*/*", media) or (pattern.endswith("/*") and pattern[:-2] == kind):
            return True
    return False


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, decoded (`+` is a space, `%2B` a plus); `a` alone is ("a", "")."""
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def _joined_headers(headers: Headers, skip_cookie: bool) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, raw in headers:
        if name in _DROPPED_HEADERS or (skip_cookie and name == b"cookie"):
            continue
        key = name.decode("latin-1").lower()
        value = raw.decode("latin-1")
        joined[key] = joined[key] + "," + value if key in joined else value
    return joined


def _cookies(headers: Headers) -> list[str]:
    cookies = []
    for name, raw in headers:
        if name == b"cookie":
            cookies += [part.strip() for part in raw.decode("latin-1").split(";") if part.strip()]
    return cookies


def forwarded_headers(request: HttpRequest, port: int, scheme: str = "http") -> Headers:
    """The headers AWS's front doors add before the function sees the request."""
    forwarded_for = request.header(b"x-forwarded-for")
    chain = f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    trace = request.header(b"x-amzn-trace-id") or _trace_id(request.time_ms)
    added = [(b"x-forwarded-for", chain.encode()), (b"x-forwarded-port", str(port).encode()),
             (b"x-forwarded-proto", scheme.encode()), (b"x-amzn-trace-id", trace.encode())]
    kept = [(n, v) for n, v in request.headers
            if n not in (b"x-forwarded-for", b"x-forwarded-port", b"x-forwarded-proto", b"x-amzn-trace-id")]
    return kept + added


def _trace_id(time_ms: int) -> str:
    return f"Root=1-{time_ms // 1000:08x}-{os.urandom(12).hex()}"


# ---------------------------------------------------------------------------------------------- format 2.0
def event_v2(request: HttpRequest, context: RequestContext, *, raw_path: str | None = None,
             path_parameters: Mapping[str, str] | None = None,
             stage_variables: Mapping[str, str] | None = None,
             http_path: str | None = None, host: str | None = None) -> bytes:
    """The payload format 2.0 event (Function URLs, HTTP APIs) as JSON bytes. `raw_path` overrides the
    request's path (the part after a path-form prefix); `http_path` the requestContext's (default: the raw
    path), `host` the Host header the function sees."""
    path = request.raw_path if raw_path is None else raw_path
    headers = request.headers
    http = {"method": request.method, "path": path if http_path is None else http_path, "protocol": request.protocol,
            "sourceIp": request.source_ip, "userAgent": request.header(b"user-agent") or ""}
    request_context: dict[str, Any] = {
        "accountId": context.account_id, "apiId": context.api_id,
    }
    if context.authorizer is not None:
        request_context["authorizer"] = context.authorizer
    request_context.update({
        "domainName": context.domain_name, "domainPrefix": context.domain_prefix, "http": http,
        "requestId": context.request_id, "routeKey": context.route_key, "stage": context.stage,
        "time": clf_time(request.time_ms), "timeEpoch": request.time_ms,
    })
    event: dict[str, Any] = {"version": "2.0", "routeKey": context.route_key, "rawPath": path,
                             "rawQueryString": request.query}
    cookies = _cookies(headers)
    if cookies:
        event["cookies"] = cookies
    event["headers"] = _joined_headers(headers, skip_cookie=True)
    if host is not None:
        event["headers"]["host"] = host
    if request.query:
        params: dict[str, str] = {}
        for name, value in query_pairs(request.query):
            params[name] = params[name] + "," + value if name in params else value
        event["queryStringParameters"] = params
    event["requestContext"] = request_context
    body, encoded = encode_body(request.body, is_text(request.header(b"content-type")))
    if body is not None:
        event["body"] = body
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = encoded
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    return _encode(event)


def _header_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise Malformed(f"a header value must be a string, not {type(value).__name__}")


def _status(value: Any) -> int:
    if isinstance(value, bool):
        raise Malformed("statusCode must be an integer")
    try:
        status = int(value)
    except (TypeError, ValueError):
        raise Malformed("statusCode must be an integer") from None
    if not 100 <= status <= 599 or (isinstance(value, float) and value != status):
        raise Malformed(f"statusCode {value!r} is not an HTTP status")
    return status


def _response_headers(document: Mapping[str, Any]) -> Headers:
    headers: Headers = []
    single = document.get("headers")
    if single is not None:
        if not isinstance(single, dict):
            raise Malformed("headers must be an object")
        headers += [(name.lower().encode("latin-1"), _header_text(value).encode("latin-1"))
                    for name, value in single.items()]
    multi = document.get("multiValueHeaders")
    if multi is not None:
        if not isinstance(multi, dict):
            raise Malformed("multiValueHeaders must be an object")
        for name, values in multi.items():
            if not isinstance(values, list):
                raise Malformed("multiValueHeaders values must be lists")
            key = name.lower().encode("latin-1")
            headers = [(n, v) for n, v in headers if n != key]  # the multi-value list wins over `headers`
            headers += [(key, _header_text(value).encode("latin-1")) for value in values]
    return headers


def _response_body(document: Mapping[str, Any], json_bodies: bool = False) -> bytes:
    body = document.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        if json_bodies:  # a Function URL sends any other JSON value as its JSON (AWS's recorded answers)
            return _encode(body)
        raise Malformed("body must be a string")
    encoded = document.get("isBase64Encoded", False)
    if encoded not in (True, False, None):
        raise Malformed("isBase64Encoded must be a boolean")
    if encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("body is not valid base64") from None
    return body.encode("utf-8")


def _finish(status: int, headers: Headers, body: bytes) -> HttpResponse:
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers = [(n, v) for n, v in headers if n not in (b"content-length", b"transfer-encoding", b"connection")]
    return HttpResponse(status, headers, body)


def _json(payload: bytes) -> Any:
    try:
        return _decode(payload)
    except (msgspec.DecodeError, RecursionError):
        raise Malformed("the function's result is not JSON") from None


def response_v2(payload: bytes, json_bodies: bool = False) -> HttpResponse:
    """The HTTP response for a 2.0 function result (raises Malformed). `json_bodies` (Function URLs): a `body`
    that is not a string is sent as its JSON rather than refused."""
    value = _json(payload)
    if not isinstance(value, dict) or "statusCode" not in value:
        body = value.encode("utf-8") if isinstance(value, str) else _encode(value)
        return HttpResponse(200, [(b"content-type", b"application/json")], body)
    status = _status(value["statusCode"])
    headers = _response_headers(value)
    cookies = value.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
            raise Malformed("cookies must be a list of strings")
        headers += [(b"set-cookie", cookie.encode("latin-1")) for cookie in cookies]
    return _finish(status, headers, _response_body(value, json_bodies))


# ---------------------------------------------------------------------------------------------- format 1.0
def event_v1(request: HttpRequest, context: RequestContext, *, resource: str, path: str,
             path_parameters: Mapping[str, str] | None = None, stage_variables: Mapping[str, str] | None = None,
             binary_media_types: Iterable[str] | None = None, version: str | None = None,
             headers: Iterable[tuple[str, str]] | None = None, resource_id: str | None = None,
             extra_context: Mapping[str, Any] | None = None, with_body: bool = True) -> bytes:
    """The payload format 1.0 event (REST API proxy integrations; HTTP API integrations set to 1.0).

    `path` is the request path without the stage; `binary_media_types` (REST APIs) decides which bodies
    are base64 (without it, the 2.0 rule). `version` is "1.0" for HTTP APIs (REST events have none).
    `headers` replaces the request's (REST APIs: the client's case, plus what API Gateway adds);
    `extra_context` adds requestContext members; without `with_body` (a REQUEST authorizer's event) the
    body members are left out."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    pairs = headers if headers is not None else ((name.decode("latin-1"), raw.decode("latin-1"))
                                                 for name, raw in request.headers if name not in _DROPPED_HEADERS)
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for key, value in query_pairs(request.query):
        query_single[key] = value
        query_multi.setdefault(key, []).append(value)
    content_type = request.header(b"content-type")
    if binary_media_types is not None:
        body, encoded = encode_body(request.body, not media_matches(content_type, binary_media_types))
    else:
        body, encoded = encode_body(request.body, is_text(content_type))
    user_agent = request.header(b"user-agent")
    stage_path = path if context.stage == "$default" else f"/{context.stage}{path}"
    identity: dict[str, str | None] = dict.fromkeys(_IDENTITY_NULLS)
    identity.update({"sourceIp": request.source_ip, "user": None, "userAgent": user_agent, "userArn": None})
    request_context: dict[str, Any] = {
        "accountId": context.account_id, "apiId": context.api_id,
        "authorizer": context.authorizer if context.authorizer is not None else None,
        "domainName": context.domain_name, "domainPrefix": context.domain_prefix,
        "extendedRequestId": context.request_id, "httpMethod": request.method, "identity": identity,
        "path": stage_path, "protocol": request.protocol, "requestId": context.request_id,
        "requestTime": clf_time(request.time_ms), "requestTimeEpoch": request.time_ms,
        "resourceId": resource_id, "resourcePath": resource, "stage": context.stage,
    }
    if request_context["authorizer"] is None:
        del request_context["authorizer"]
    if extra_context:
        request_context.update(extra_context)
    event: dict[str, Any] = {"version": version} if version else {}
    event.update({
        "resource": resource, "path": unquote(path), "httpMethod": request.method,
        "headers": single or None, "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None, "multiValueQueryStringParameters": query_multi or None,
        "requestContext": request_context, "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": dict(stage_variables) if stage_variables else None,
    })
    if with_body:
        event.update({"body": body, "isBase64Encoded": encoded})
    return _encode(event)


def response_v1(payload: bytes, binary: bool = True) -> HttpResponse:
    """The HTTP response for a 1.0 function result (raises Malformed). Without `binary` (a REST API whose
    binaryMediaTypes do not match the request's Accept) a base64 body is sent as the text it is, as AWS does."""
    value = _json(payload)
    if not isinstance(value, dict) or not value.keys() <= _V1_RESPONSE_KEYS:
        raise Malformed("a proxy response must be an object of statusCode, headers, multiValueHeaders, body, "
                        "isBase64Encoded")
    status = _status(value["statusCode"]) if value.get("statusCode") is not None else 200
    if not binary and value.get("isBase64Encoded") is True:
        value = {**value, "isBase64Encoded": False}
    return _finish(status, _response_headers(value), _response_body(value))
