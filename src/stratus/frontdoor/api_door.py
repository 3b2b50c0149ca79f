"""HTTP API requests served: stage → route → (Lambda REQUEST authorizer) → one invoke → AWS's answer.

The stage is the path's first segment when it names one of the API's stages, else `$default`; the route is
the most specific match (frontdoor/apis.py). AWS's answers for HTTP APIs: no stage or route → 404
`{"message":"Not Found"}`; a missing identity source → 401 `{"message":"Unauthorized"}`; an authorizer's
deny → 403 `{"message":"Forbidden"}`; a function error (timeouts included), a malformed result or an
authorizer failure → 500 `{"message":"Internal Server Error"}`; a body over Lambda's 6 MB → 413.
Authorizer results are cached per identity-source values for `authorizerResultTtlInSeconds`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec

from stratus.auth.policy_eval import Decision, evaluate
from stratus.errors import LambdaError, TooManyRequestsException
from stratus.frontdoor.apis import HttpApis, Resource, function_arn_of
from stratus.frontdoor.cors import CorsRules, decorate, is_preflight, preflight
from stratus.frontdoor.payloads import (
    HttpRequest,
    HttpResponse,
    Malformed,
    RequestContext,
    event_v1,
    event_v2,
    query_pairs,
    response_v1,
    response_v2,
)
from stratus.frontdoor.urls import done
from stratus.invoke.entry import InvokeService
from stratus.invoke.types import InvokeResult

_JSON = (b"content-type", b"application/json")


def _message(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [_JSON], msgspec.json.encode({"message": message}))


NOT_FOUND = 404, "Not Found"
UNAUTHORIZED = 401, "Unauthorized"
FORBIDDEN = 403, "Forbidden"
INTERNAL = 500, "Internal Server Error"
THROTTLED = 429, "Too Many Requests"
UNAVAILABLE = 503, "Service Unavailable"  # an integration timeout (AWS's recorded HTTP API answer)


class _Refused(Exception):
    def __init__(self, answer: tuple[int, str]):
        super().__init__(answer[1])
        self.answer = answer


class ApiDoor:
    """Serves the requests for HTTP APIs (the front door's dispatcher finds the API id)."""

    def __init__(self, apis: HttpApis, invoke_service: InvokeService, account_id: str, region: str, body_limit: int):
        self.apis = apis
        self.invoke_service = invoke_service
        self.account_id = account_id
        self.region = region
        self.body_limit = body_limit
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, bool | dict[str, Any], dict[str, Any]]] = {}
        self._cors: dict[str, tuple[object, CorsRules | None]] = {}

    def too_large(self) -> HttpResponse:
        return _message(413, "Request Entity Too Large")

    def handle(self, api_id: str, request: HttpRequest, raw_path: str, domain: str) -> asyncio.Future[HttpResponse]:
        api = self.apis.api(api_id)
        if api is None:
            return done(_message(*NOT_FOUND))
        stage, path = self._stage(api, raw_path)
        if stage is None:
            return done(_message(*NOT_FOUND))
        rules = self._rules(api)
        if rules is not None and is_preflight(request):
            return done(preflight(rules, request))
        found = self.apis.route_for(api_id, request.method, path.split("?", 1)[0])
        if found is None:
            return done(_message(*NOT_FOUND))
        route, params = found
        integration_id = route.get("target", "")[len("integrations/"):]
        integration = api["integrations"].get(integration_id)
        if integration is None:
            return done(_message(*INTERNAL))
        if len(request.body) > self.body_limit:
            return done(self.too_large())
        request_id = _request_id()
        context = RequestContext(self.account_id, api_id, domain, api_id.split(".")[0], request_id,
                                 route_key=route["routeKey"], stage=stage["stageName"])
        call = _Call(self, api, stage, route, integration, params, request, raw_path, path, context, rules)
        authorizer = api["authorizers"].get(route.get("authorizerId", "")) if route.get("authorizerId") else None
        if authorizer is not None:
            return asyncio.ensure_future(call.authorized_then_invoked(authorizer))
        return call.invoked()

    def _stage(self, api: Resource, raw_path: str) -> tuple[Resource | None, str]:
        """(stage, path within it): a first segment naming a stage selects it, else `$default`."""
        first, slash, rest = raw_path[1:].partition("/")
        stages = api["stages"]
        if first and first != "$default" and first in stages:
            return stages[first], slash + rest or "/"
        if first == "$default" and "$default" in stages:
            return stages["$default"], slash + rest or "/"
        return stages.get("$default"), raw_path

    def _rules(self, api: Resource) -> CorsRules | None:
        cors = api.get("corsConfiguration")
        cached = self._cors.get(api["apiId"])
        if cached is not None and cached[0] is cors:
            return cached[1]
        rules = CorsRules.of(_CorsView(cors)) if cors else None
        self._cors[api["apiId"]] = (cors, rules)
        return rules


class _CorsView:
    """apigatewayv2's corsConfiguration (lowerCamel members) seen as the Cors shape CorsRules reads."""

    def __init__(self, cors: Resource):
        self.AllowOrigins = cors.get("allowOrigins")
        self.AllowMethods = cors.get("allowMethods")
        self.AllowHeaders = cors.get("allowHeaders")
        self.ExposeHeaders = cors.get("exposeHeaders")
        self.MaxAge = cors.get("maxAge")
        self.AllowCredentials = cors.get("allowCredentials")


def _request_id() -> str:
    return uuid.uuid4().hex[:14] + "="


class _Call:
    """One routed request: its authorizer (if any), its invoke, its answer."""

    def __init__(self, door: ApiDoor, api: Resource, stage: Resource, route: Resource, integration: Resource,
                 params: dict[str, str], request: HttpRequest, raw_path: str, path: str, context: RequestContext,
                 rules: CorsRules | None):
        self.door = door
        self.api = api
        self.stage = stage
        self.route = route
        self.integration = integration
        self.params = params
        self.request = request
        self.raw_path = raw_path
        self.path = path
        self.context = context
        self.rules = rules

    # ------------------------------------------------------------------ the integration
    def event(self, version: str) -> bytes:
        variables = self.stage.get("stageVariables")
        if version == "1.0":
            resource = self.route["routeKey"].partition(" ")[2] or "$default"
            return event_v1(self.request, self.context, resource=resource, path=self.path,
                            path_parameters=self.params, stage_variables=variables, version="1.0")
        return event_v2(self.request, self.context, raw_path=self.raw_path, path_parameters=self.params,
                        stage_variables=variables)

    def invoked(self) -> asyncio.Future[HttpResponse]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[HttpResponse] = loop.create_future()
        version = self.integration.get("payloadFormatVersion", "2.0")
        event = self.event(version)
        if len(event) > self.door.body_limit:
            answer.set_result(self.door.too_large())
            return answer
        try:
            future = self._invoke(self.integration["integrationUri"], event)
        except _Refused as refused:
            answer.set_result(self._finish(_message(*refused.answer)))
            return answer

        def timed_out() -> None:
            if not answer.done():
                answer.set_result(self._finish(_message(*UNAVAILABLE)))

        timer = loop.call_later(self.integration.get("timeoutInMillis", 30000) / 1000, timed_out)

        def finished(result: asyncio.Future[InvokeResult]) -> None:
            timer.cancel()
            response = self._response(result, version)
            if not answer.done():
                answer.set_result(self._finish(response))

        future.add_done_callback(finished)
        return answer

    def _invoke(self, uri: str, event: bytes) -> asyncio.Future[InvokeResult]:
        service = self.door.invoke_service
        try:
            target = service.resolve(function_arn_of(uri))
            return service.invoke(target, event, request_id=str(uuid.uuid4()),
                                  trace_id=(self.request.header(b"x-amzn-trace-id") or "").encode() or None)
        except TooManyRequestsException:
            raise _Refused(THROTTLED) from None
        except LambdaError:
            raise _Refused(INTERNAL) from None

    def _response(self, result: asyncio.Future[InvokeResult], version: str) -> HttpResponse:
        try:
            outcome = result.result().outcome
        except TooManyRequestsException:
            return _message(*THROTTLED)
        except Exception:  # noqa: BLE001 - the invoke failed in Stratus: the client sees AWS's 500
            return _message(*INTERNAL)
        if outcome is None or outcome.function_error:
            return _message(*INTERNAL)
        try:
            return response_v1(outcome.payload) if version == "1.0" else response_v2(outcome.payload)
        except Malformed:
            return _message(*INTERNAL)

    def _finish(self, response: HttpResponse) -> HttpResponse:
        response.headers.append((b"apigw-requestid", self.context.request_id.encode()))
        if self.rules is not None:
            decorate(self.rules, self.request, response)
        return response

    # ------------------------------------------------------------------ the authorizer
    async def authorized_then_invoked(self, authorizer: Resource) -> HttpResponse:
        try:
            allowed, context = await self._authorize(authorizer)
        except _Refused as refused:
            return self._finish(_message(*refused.answer))
        if not allowed:
            return self._finish(_message(*FORBIDDEN))
        if self.integration.get("payloadFormatVersion", "2.0") == "1.0":
            self.context.authorizer = dict(context)
        else:
            self.context.authorizer = {"lambda": context}
        return await self.invoked()

    def identity(self, authorizer: Resource) -> tuple[str, ...] | None:
        """The identity-source values ($request.header.X, $request.querystring.X, $context.X,
        $stageVariables.X); None when one is missing or empty."""
        values = []
        for source in authorizer.get("identitySource", []):
            value: str | None = None
            if source.startswith("$request.header."):
                value = self.request.header(source[len("$request.header."):].lower().encode("latin-1"))
            elif source.startswith("$request.querystring."):
                name = source[len("$request.querystring."):]
                value = ",".join(v for k, v in query_pairs(self.request.query) if k == name) or None
            elif source.startswith("$stageVariables."):
                value = (self.stage.get("stageVariables") or {}).get(source[len("$stageVariables."):])
            elif source.startswith("$context."):
                value = {"routeKey": self.route["routeKey"], "stage": self.stage["stageName"],
                         "httpMethod": self.request.method}.get(source[len("$context."):])
            if not value:
                return None
            values.append(value)
        return tuple(values)

    async def _authorize(self, authorizer: Resource) -> tuple[bool, dict[str, Any]]:
        identity = self.identity(authorizer)
        if identity is None:
            raise _Refused(UNAUTHORIZED)
        ttl = authorizer.get("authorizerResultTtlInSeconds", 0)
        key = (f"{self.api['apiId']}/{authorizer['authorizerId']}", identity)
        cache = self.door._cache
        # The route ARN names the request's method and path (AWS's routeArn / methodArn).
        route_arn = (f"arn:aws:execute-api:{self.door.region}:{self.door.account_id}:{self.api['apiId']}/"
                     f"{self.stage['stageName']}/{self.request.method}{self.path}")
        cached = cache.get(key) if ttl else None
        if cached is not None and cached[0] > time.monotonic():
            verdict, context = cached[1], cached[2]
        else:
            version = authorizer.get("authorizerPayloadFormatVersion", "2.0")
            event = msgspec.json.decode(self.event(version))
            if version == "1.0":
                event.update({"type": "REQUEST", "methodArn": route_arn})
            else:
                event.update({"type": "REQUEST", "routeArn": route_arn, "identitySource": list(identity)})
            outcome = (await self._invoke(authorizer["authorizerUri"], msgspec.json.encode(event))).outcome
            if outcome is None or outcome.function_error:
                raise _Refused(INTERNAL)
            verdict, context = _decision(outcome.payload, bool(authorizer.get("enableSimpleResponses")))
            if ttl:
                if len(cache) > 10_000:
                    cache.clear()
                cache[key] = (time.monotonic() + ttl, verdict, context)
        if isinstance(verdict, bool):
            return verdict, context
        # A cached policy is judged again for each request's route, as AWS does.
        return evaluate([verdict], "execute-api:Invoke", route_arn) is Decision.ALLOW, context


def _decision(payload: bytes, simple: bool) -> tuple[bool | dict[str, Any], dict[str, Any]]:
    """(verdict, context) from an authorizer's answer: a simple response's verdict, or its IAM policy document
    (judged for the route: a Deny wins, no Allow denies)."""
    try:
        answer = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        raise _Refused(INTERNAL) from None
    if not isinstance(answer, dict):
        raise _Refused(INTERNAL)
    context = answer.get("context") or {}
    if not isinstance(context, dict):
        raise _Refused(INTERNAL)
    if simple and "isAuthorized" in answer:
        return answer.get("isAuthorized") is True, context
    policy = answer.get("policyDocument")
    if not isinstance(policy, dict):
        raise _Refused(INTERNAL)
    if "principalId" in answer:
        context = {**context, "principalId": answer["principalId"]}
    return policy, context
