"""Function URLs served: one HTTP request → one invoke through `InvokeService` → AWS's HTTP answer.

AWS's answers (LocalStack's AWS-recorded tests, the Lambda developer guide):
- an unknown url-id: 403 `{"Message":null}` with x-amzn-ErrorType AccessDeniedException;
- not allowed (AuthType NONE without a resource-policy statement allowing lambda:InvokeFunctionUrl to
  `*` with lambda:FunctionUrlAuthType NONE; AWS_IAM without a valid signature or permission): 403
  `{"Message":"Forbidden. For troubleshooting …"}`;
- a function error (timeouts included) or a malformed result: 502 `Internal Server Error`;
- a body over the synchronous payload limit (6 MB): 413.
AWS's October 2025 rule (new URLs also need lambda:InvokeFunction) is not enforced: the recorded
behaviour and existing templates grant lambda:InvokeFunctionUrl alone.
A URL in `InvokeMode RESPONSE_STREAM` invokes through `InvokeService.invoke_stream` and answers with a
`StreamedHttpResponse` (frontdoor/url_stream.py): the response is passed on as it comes, chunked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from typing import Any
from urllib.parse import unquote

import msgspec

from stratus.auth.gate import Authenticator, header_map
from stratus.auth.policy_eval import Decision, evaluate
from stratus.auth.principal import Principal
from stratus.control.function_urls import FunctionUrlService, UrlTarget
from stratus.errors import LambdaError, TooManyRequestsException
from stratus.frontdoor.cors import CorsRules, decorate, is_preflight, preflight
from stratus.frontdoor.payloads import (
    HttpRequest,
    HttpResponse,
    Malformed,
    RequestContext,
    event_v2,
    forwarded_headers,
    response_v2,
)
from stratus.frontdoor.url_stream import open_stream
from stratus.invoke.entry import InvokeService
from stratus.invoke.streaming import StreamLimits
from stratus.invoke.types import InvokeResult

INVOKE_URL = "lambda:InvokeFunctionUrl"
_JSON = (b"content-type", b"application/json")
_FORBIDDEN = msgspec.json.encode({"Message": "Forbidden. For troubleshooting Function URL authorization issues, "
                                             "see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"})
_DENIED = (b"x-amzn-errortype", b"AccessDeniedException")


def unknown_url() -> HttpResponse:
    return HttpResponse(403, [_JSON, _DENIED], b'{"Message":null}')


def forbidden() -> HttpResponse:
    return HttpResponse(403, [_JSON, _DENIED], _FORBIDDEN)


def bad_gateway(request_id: str) -> HttpResponse:
    return HttpResponse(502, [_JSON, (b"x-amzn-requestid", request_id.encode())], b"Internal Server Error")


def request_too_large(limit: int) -> HttpResponse:
    body = msgspec.json.encode({"Message": f"Request must be smaller than {limit} bytes for the InvokeFunction "
                                           "operation"})
    return HttpResponse(413, [_JSON, (b"x-amzn-errortype", b"RequestTooLargeException")], body)


def throttled() -> HttpResponse:
    return HttpResponse(429, [_JSON, (b"x-amzn-errortype", b"TooManyRequestsException")],
                        b'{"Message":"Rate Exceeded."}')


def done(response: HttpResponse) -> asyncio.Future[HttpResponse]:
    future: asyncio.Future[HttpResponse] = asyncio.get_running_loop().create_future()
    future.set_result(response)
    return future


class FunctionUrls:
    """Serves the requests for Function URLs (the front door's dispatcher finds the url-id)."""

    def __init__(self, urls: FunctionUrlService, invoke_service: InvokeService, auth: Authenticator,
                 statements: Any, account_id: str, region: str, body_limit: int,
                 stream_limits: StreamLimits | None = None, stream_drain_timeout_s: float = 60.0,
                 scheme: str = "http", port: int = 80):
        self.urls = urls
        self.invoke_service = invoke_service
        self.auth = auth
        self.statements = statements  # function ARN → its resource-policy statements (PolicyService.statements_for)
        self.account_id = account_id
        self.region = region
        self.body_limit = body_limit
        self.stream_limits = stream_limits or StreamLimits()
        self.stream_drain_timeout_s = stream_drain_timeout_s
        self.scheme, self.port = scheme, port  # for the X-Forwarded-Proto / -Port the function sees
        self._streams: set[asyncio.Task[HttpResponse]] = set()  # RESPONSE_STREAM answers being opened
        self._public: dict[str, tuple[object, bool]] = {}  # ARN → (the statements judged, allowed?)
        self._cors: dict[str, tuple[UrlTarget, CorsRules | None]] = {}  # url-id → (the URL judged, its rules)

    def too_large(self) -> HttpResponse:
        return request_too_large(self.body_limit)

    def handle(self, url_id: str, request: HttpRequest, raw_path: str, domain: str) -> asyncio.Future[HttpResponse]:
        """Answer one request for url-id (`raw_path`: the path the function sees)."""
        target = self.urls.target(url_id)
        if target is None:  # AWS: a deleted URL is "Forbidden", an id that never was one {"Message": null}
            return done(forbidden() if self.urls.was_deleted(url_id) else unknown_url())
        rules = self._rules(target)
        if rules is not None and is_preflight(request):
            return done(preflight(rules, request))
        if len(request.body) > self.body_limit:
            return done(request_too_large(self.body_limit))
        authorizer = self._authorize(target, request)
        if authorizer is False:
            return done(forbidden())
        request_id = str(uuid.uuid4())
        context = RequestContext(self.account_id, url_id, domain, url_id, request_id,
                                 authorizer=authorizer if isinstance(authorizer, dict) else None)
        # As AWS: requestContext.http.path is the decoded path (one leading slash); the function sees the URL's
        # own domain as Host also when the request came by the path form (/_stratus/url/<id>/...).
        sent_host = (request.header(b"host") or "").partition(":")[0].lower()
        seen = dataclasses.replace(request, headers=forwarded_headers(request, self.port, self.scheme), names=None)
        event = event_v2(seen, context, raw_path=raw_path, http_path="/" + unquote(raw_path).lstrip("/"),
                         host=None if sent_host == domain else domain)
        if len(event) > self.body_limit:
            return done(request_too_large(self.body_limit))
        trace_id = (request.header(b"x-amzn-trace-id") or "").encode() or None
        if target.invoke_mode == "RESPONSE_STREAM":
            return self._stream(target, event, request_id, trace_id, rules, request)
        answer: asyncio.Future[HttpResponse] = asyncio.get_running_loop().create_future()
        try:
            invocation = self.invoke_service.invoke(
                self.invoke_service.resolve(target.function_name, target.qualifier), event, request_id=request_id,
                trace_id=trace_id)
        except TooManyRequestsException:
            answer.set_result(throttled())
            return answer
        except LambdaError:
            answer.set_result(bad_gateway(request_id))
            return answer

        def finished(future: asyncio.Future[InvokeResult]) -> None:
            answer.set_result(self._answer(future, request_id, rules, request))

        invocation.add_done_callback(finished)
        return answer

    def _answer(self, future: asyncio.Future[InvokeResult], request_id: str, rules: CorsRules | None,
                request: HttpRequest) -> HttpResponse:
        try:
            outcome = future.result().outcome
        except TooManyRequestsException:
            return throttled()
        except Exception:  # noqa: BLE001 - the invoke failed in Stratus: the client sees AWS's 502
            return bad_gateway(request_id)
        if outcome is None or outcome.function_error:
            return bad_gateway(request_id)
        try:
            response = response_v2(outcome.payload, json_bodies=True)
        except Malformed:
            return bad_gateway(request_id)
        response.headers.append((b"x-amzn-requestid", request_id.encode()))
        if rules is not None:
            decorate(rules, request, response)
        return response

    def _stream(self, target: UrlTarget, event: bytes, request_id: str, trace_id: bytes | None,
                rules: CorsRules | None, request: HttpRequest) -> asyncio.Future[HttpResponse]:
        """RESPONSE_STREAM: the answer (a StreamedHttpResponse, or 429/502 when refused before anything was sent)."""
        try:
            stream = self.invoke_service.invoke_stream(
                self.invoke_service.resolve(target.function_name, target.qualifier), event, request_id=request_id,
                limits=self.stream_limits, trace_id=trace_id)
        except TooManyRequestsException:
            return done(throttled())
        except LambdaError:
            return done(bad_gateway(request_id))
        task = asyncio.get_running_loop().create_task(
            open_stream(stream, request_id, request, rules, self.stream_drain_timeout_s, _refusal))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)
        return task

    def _rules(self, target: UrlTarget) -> CorsRules | None:
        cached = self._cors.get(target.url_id)
        if cached is not None and cached[0] is target:
            return cached[1]
        rules = CorsRules.of(target.cors)
        self._cors[target.url_id] = (target, rules)
        return rules

    def _authorize(self, target: UrlTarget, request: HttpRequest) -> bool | dict[str, Any]:
        """False if the request may not invoke; else True, or the `authorizer.iam` member for AWS_IAM."""
        if target.auth_type == "NONE":
            return self._public_allowed(target.function_arn)
        return self._iam(target, request)

    def _public_allowed(self, arn: str) -> bool:
        statements = self.statements(arn)
        cached = self._public.get(arn)
        if cached is not None and cached[0] is statements:
            return cached[1]
        public = [s for s in statements if s.get("Principal") == "*" or s.get("Principal") == {"AWS": "*"}]
        allowed = evaluate([{"Statement": public}], INVOKE_URL, arn,
                           {"lambda:FunctionUrlAuthType": "NONE"}) is Decision.ALLOW
        self._public[arn] = (statements, allowed)
        return allowed

    def _iam(self, target: UrlTarget, request: HttpRequest) -> bool | dict[str, Any]:
        query = request.query
        try:
            pending = self.auth.begin(request.method, request.raw_path, query, header_map(request.headers), "lambda")
            if pending is None:  # STRATUS_AUTH=off: no principal to check
                return True
            principal = self.auth.finish(pending, hashlib.sha256(request.body))
            self.auth.authorize(principal, INVOKE_URL, target.function_arn, {"lambda:FunctionUrlAuthType": "AWS_IAM"})
        except LambdaError:
            return False
        return {"iam": _iam_identity(principal, self.account_id)}


def _refusal(request_id: str, throttle: bool) -> HttpResponse:
    return throttled() if throttle else bad_gateway(request_id)


def _iam_identity(principal: Principal, account_id: str) -> dict[str, Any]:
    if principal.kind == "role":
        arn = principal.session_arn()
        account = principal.role_arn.split(":")[4] if principal.role_arn.count(":") >= 5 else account_id
    else:
        arn, account = f"arn:aws:iam::{account_id}:root", account_id
    return {"accessKey": principal.access_key_id, "accountId": account, "callerId": principal.access_key_id,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": arn, "userId": principal.access_key_id}
