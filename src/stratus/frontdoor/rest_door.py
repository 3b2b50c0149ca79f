"""REST API requests served: stage → its deployment → resource and method → (Lambda authorizer) → one invoke
with the payload 1.0 event → AWS's answer.

AWS's gateway responses (body `{"message":...}`, x-amzn-ErrorType): a stage the API does not have → 403
Forbidden; no resource and method for the path → 403 "Missing Authentication Token"; a function error, a
function that cannot be invoked or a malformed proxy response → 502 `{"message": "Internal server error"}`;
no answer within the integration's timeoutInMillis (29 s by default) → 504 `{"message": "Endpoint request
timed out"}` (the function runs on, as on AWS); a body over Lambda's 6 MB → 413; authorizers: rest_authorizers.py.
The event keeps the client's header case and gets the headers API Gateway adds (Host, X-Forwarded-*,
X-Amzn-Trace-Id); bodies whose Content-Type matches the API's binaryMediaTypes arrive base64, and a base64
result is sent as binary only when the request's Accept matches them (else as the base64 text, as AWS).
MOCK integrations answer without invoking anything (`mocked`).
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

from stratus.errors import LambdaError, TooManyRequestsException
from stratus.frontdoor.apis import function_arn_of
from stratus.frontdoor.payloads import (
    HttpRequest,
    HttpResponse,
    Malformed,
    RequestContext,
    event_v1,
    media_matches,
    response_v1,
)
from stratus.frontdoor.rest_apis import RestApis
from stratus.frontdoor.rest_authorizers import Refusal, RestAuthorizers
from stratus.frontdoor.urls import done
from stratus.invoke.entry import InvokeService
from stratus.invoke.types import InvokeResult

Resource = dict[str, Any]
Answer = tuple[int, str, bytes]
FORBIDDEN: Answer = 403, "ForbiddenException", b'{"message":"Forbidden"}'
MISSING_TOKEN: Answer = 403, "MissingAuthenticationTokenException", b'{"message":"Missing Authentication Token"}'
INTERNAL: Answer = 502, "InternalServerErrorException", b'{"message": "Internal server error"}'
TIMED_OUT: Answer = 504, "InternalServerErrorException", b'{"message": "Endpoint request timed out"}'
THROTTLED: Answer = 429, "TooManyRequestsException", b'{"message":"Too Many Requests"}'
TOO_LARGE: Answer = 413, "RequestTooLargeException", b'{"message":"Request Too Long"}'
_SKIPPED = frozenset((b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"expect", b"content-length",
                      b"host", b"x-forwarded-for", b"x-forwarded-port", b"x-forwarded-proto", b"x-amzn-trace-id"))
_CLOUDFRONT_CASE = {b"authorization": "Authorization", b"user-agent": "User-Agent"}
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def _uuid(rand: str) -> str:
    """A version-4 UUID's text from 32 random hex digits."""
    return f"{rand[:8]}-{rand[8:12]}-4{rand[13:16]}-{'89ab'[int(rand[16], 16) & 3]}{rand[17:20]}-{rand[20:32]}"


def gateway(answer: Answer, request_id: str | None = None) -> HttpResponse:
    status, error_type, body = answer
    headers = [(b"content-type", b"application/json"), (b"x-amzn-errortype", error_type.encode())]
    if request_id:
        headers.append((b"x-amzn-requestid", request_id.encode()))
    return HttpResponse(status, headers, body)


_STATUS_CODE = re.compile(r'"?statusCode"?\s*:\s*"?(\d{3})')


def _template(templates: dict[str, str], content_type: str) -> str | None:
    """The mapping template for a content type: its own, else application/json's, else the only one."""
    if not templates:
        return None
    chosen = templates.get(content_type) or templates.get("application/json")
    return chosen if chosen is not None else next(iter(templates.values()))


def mocked(integration: Resource, request: HttpRequest) -> HttpResponse:
    """A MOCK integration's answer, as API Gateway makes it: the request template's `statusCode` (200 without
    one) selects the integration response (the one whose selectionPattern matches it, else the default), whose
    statusCode, static `'quoted'` header values and response template (as written: Stratus does not run VTL)
    are the answer; no integration response for it → 500 Internal server error."""
    content_type = (request.header(b"content-type") or "application/json").split(";", 1)[0].strip().lower()
    template = _template(integration.get("requestTemplates") or {}, content_type)
    found = _STATUS_CODE.search(template or "")
    status = found.group(1) if found else "200"
    responses = list((integration.get("integrationResponses") or {}).values())
    chosen = next((r for r in responses if r.get("selectionPattern")
                   and re.fullmatch(r["selectionPattern"], status) is not None), None)
    if chosen is None:
        chosen = next((r for r in responses if not r.get("selectionPattern")), None)
    if chosen is None:
        return gateway(INTERNAL)
    headers: list[tuple[bytes, bytes]] = []
    for target, source in (chosen.get("responseParameters") or {}).items():
        if target.startswith("method.response.header.") and len(source) >= 2 and source[0] == source[-1] == "'":
            headers.append((target[len("method.response.header."):].lower().encode("latin-1"),
                            source[1:-1].encode("latin-1")))
    accept = (request.header(b"accept") or "application/json").split(",", 1)[0].split(";", 1)[0].strip().lower()
    body = _template(chosen.get("responseTemplates") or {}, accept) or ""
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    return HttpResponse(int(chosen["statusCode"]), headers, body.encode())


class RestDoor:
    """Serves the requests for REST APIs (the front door's dispatcher finds the API id)."""

    def __init__(self, rest: RestApis, invoke_service: InvokeService, account_id: str, region: str, body_limit: int,
                 port: int, scheme: str = "http"):
        self.rest = rest
        self.invoke_service = invoke_service
        self.account_id = account_id
        self.region = region
        self.body_limit = body_limit
        self.port = port
        self.scheme = scheme
        self.authorizers = RestAuthorizers()

    def too_large(self) -> HttpResponse:
        return gateway(TOO_LARGE)

    def handle(self, api_id: str, request: HttpRequest, raw_path: str, domain: str) -> asyncio.Future[HttpResponse]:
        stage_name, slash, rest = raw_path[1:].partition("/")
        served = self.rest.served(api_id, stage_name) if stage_name else None
        if served is None:
            return done(gateway(FORBIDDEN))
        stage, snapshot, table = served
        path = slash + rest or "/"
        found = table.match(request.method, path)
        if found is None:
            return done(gateway(MISSING_TOKEN))
        if len(request.body) > self.body_limit:
            return done(self.too_large())
        resource, method, params = found
        call = RestCall(self, api_id, stage, snapshot, resource, method, params, request, path, domain)
        authorizer_id = method.get("authorizerId") if method.get("authorizationType") == "CUSTOM" else None
        if authorizer_id:
            authorizer = snapshot["authorizers"].get(authorizer_id)
            if authorizer is None:
                return done(call.finish(gateway(INTERNAL)))
            return asyncio.ensure_future(call.authorized_then_invoked(authorizer))
        return call.invoked()


class RestCall:
    """One routed REST request: its event, its authorizer (if any), its invoke and its answer."""

    def __init__(self, door: RestDoor, api_id: str, stage: Resource, snapshot: Resource, resource: Resource,
                 method: Resource, params: dict[str, str], request: HttpRequest, path: str, domain: str):
        self.door = door
        self.api_id = api_id
        self.stage = stage
        self.snapshot = snapshot
        self.resource = resource
        self.method = method
        self.params = params
        self.request = request
        self.path = path
        self.domain = domain
        # One read of randomness for the three ids (uuid.uuid4() costs ~5 µs each).
        rand = os.urandom(36).hex()
        self.request_id = _uuid(rand)
        self.extended_id = rand[32:46] + "="
        self.trace_id = request.header(b"x-amzn-trace-id") or f"Root=1-{request.time_ms // 1000:08x}-{rand[48:72]}"
        self.authorizer: Resource | None = None

    def method_arn(self) -> str:
        door = self.door
        return (f"arn:aws:execute-api:{door.region}:{door.account_id}:{self.api_id}/{self.stage['stageName']}/"
                f"{self.request.method}{self.path}")

    def headers(self) -> list[tuple[str, str]]:
        """The request's headers as the event shows them: the client's case, plus what API Gateway adds."""
        request = self.request
        names = request.names if request.names is not None and len(request.names) == len(request.headers) else None
        out: list[tuple[str, str]] = []
        for index, (lower, value) in enumerate(request.headers):
            if lower in _SKIPPED:
                continue
            name = names[index].decode("latin-1") if names is not None else lower.decode("latin-1")
            out.append((_CLOUDFRONT_CASE.get(lower, name) if name.islower() else name, value.decode("latin-1")))
        forwarded = request.header(b"x-forwarded-for")
        out += [("Host", self.domain), ("X-Amzn-Trace-Id", self.trace_id),
                ("X-Forwarded-For", f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip),
                ("X-Forwarded-Port", str(self.door.port)), ("X-Forwarded-Proto", self.door.scheme)]
        return out

    def event(self, with_body: bool = True) -> bytes:
        context = RequestContext(self.door.account_id, self.api_id, self.domain, self.api_id, self.request_id,
                                 stage=self.stage["stageName"], authorizer=self.authorizer)
        return event_v1(self.request, context, resource=self.resource["path"], path=self.path,
                        path_parameters=self.params, stage_variables=self.stage.get("variables"),
                        binary_media_types=self.snapshot.get("binaryMediaTypes") or [], headers=self.headers(),
                        resource_id=self.resource["id"], with_body=with_body,
                        extra_context={"deploymentId": self.stage["deploymentId"],
                                       "extendedRequestId": self.extended_id})

    def invoke(self, uri: str, event: bytes) -> asyncio.Future[InvokeResult]:
        """Invoke the function of an integration or authorizer URI (stage variables substituted)."""
        variables = self.stage.get("variables") or {}
        uri = _STAGE_VARIABLE.sub(lambda m: variables.get(m.group(1), ""), uri)
        service = self.door.invoke_service
        target = service.resolve(function_arn_of(uri))
        return service.invoke(target, event, request_id=_uuid(os.urandom(16).hex()), trace_id=self.trace_id.encode())

    def invoked(self) -> asyncio.Future[HttpResponse]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[HttpResponse] = loop.create_future()
        integration = self.method["methodIntegration"]
        if integration.get("type") == "MOCK":
            answer.set_result(self.finish(mocked(integration, self.request)))
            return answer
        event = self.event()
        if len(event) > self.door.body_limit:
            answer.set_result(self.finish(self.door.too_large()))
            return answer
        try:
            future = self.invoke(integration["uri"], event)
        except TooManyRequestsException:
            answer.set_result(self.finish(gateway(THROTTLED)))
            return answer
        except LambdaError:
            answer.set_result(self.finish(gateway(INTERNAL)))
            return answer

        def timed_out() -> None:
            if not answer.done():
                answer.set_result(self.finish(gateway(TIMED_OUT)))

        timer = loop.call_later(integration.get("timeoutInMillis", 29_000) / 1000, timed_out)

        def finished(result: asyncio.Future[InvokeResult]) -> None:
            timer.cancel()
            response = self._response(result)
            if not answer.done():
                answer.set_result(self.finish(response))

        future.add_done_callback(finished)
        return answer

    def _response(self, result: asyncio.Future[InvokeResult]) -> HttpResponse:
        try:
            outcome = result.result().outcome
        except TooManyRequestsException:
            return gateway(THROTTLED)
        except Exception:  # noqa: BLE001 - the invoke failed in Stratus: the client sees AWS's 502
            return gateway(INTERNAL)
        if outcome is None or outcome.function_error:
            return gateway(INTERNAL)
        accept = (self.request.header(b"accept") or "").split(",", 1)[0]
        binary = media_matches(accept, self.snapshot.get("binaryMediaTypes") or [])
        try:
            return response_v1(outcome.payload, binary=binary)
        except Malformed:
            return gateway(INTERNAL)

    def finish(self, response: HttpResponse) -> HttpResponse:
        response.headers += [(b"x-amzn-requestid", self.request_id.encode()),
                             (b"x-amz-apigw-id", self.extended_id.encode()),
                             (b"x-amzn-trace-id", self.trace_id.encode())]
        return response

    async def authorized_then_invoked(self, authorizer: Resource) -> HttpResponse:
        try:
            self.authorizer = await self.door.authorizers.authorize(self, authorizer)
        except Refusal as refused:
            return self.finish(gateway(refused.answer))
        except TooManyRequestsException:
            return self.finish(gateway(THROTTLED))
        except LambdaError:  # the authorizer function cannot be invoked
            return self.finish(gateway((500, "AuthorizerConfigurationException", b'{"message": null}')))
        return await self.invoked()


class ExecuteApiDoor:
    """HTTP APIs and REST APIs share the execute-api names: an id is one or the other."""

    def __init__(self, http: Any, rest: RestDoor):
        self.http = http
        self.rest = rest
        self.body_limit: int = http.body_limit

    def too_large(self) -> HttpResponse:
        response: HttpResponse = self.http.too_large()
        return response

    def handle(self, api_id: str, request: HttpRequest, raw_path: str, domain: str) -> asyncio.Future[HttpResponse]:
        if self.rest.rest.api(api_id) is not None:
            return self.rest.handle(api_id, request, raw_path, domain)
        future: asyncio.Future[HttpResponse] = self.http.handle(api_id, request, raw_path, domain)
        return future
