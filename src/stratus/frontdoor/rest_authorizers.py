"""REST API Lambda authorizers (TOKEN and REQUEST), as API Gateway v1 runs them.

- TOKEN: the token is the header named by `method.request.header.<Name>`; missing, empty or not matching
  `identityValidationExpression` → 401 without calling the authorizer. Its event: type, authorizationToken,
  methodArn.
- REQUEST: the identity sources (comma-separated `method.request.header.X`, `method.request.querystring.X`,
  `stageVariables.X`, `context.X`) must all be present (else 401); its event is the request's 1.0 event
  (without the body) plus type and methodArn.
- The answer is an IAM policy (principalId, policyDocument, context): evaluated for `execute-api:Invoke` on
  the method ARN (`arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>`): an explicit Deny →
  403 "... with an explicit deny", no Allow → 403 "User is not authorized to access this resource"; an
  authorizer raising `Unauthorized` → 401; any other failure or a malformed answer (a context value that is an
  object or array) → 500 AuthorizerConfigurationException. Allowed: the function sees `requestContext.authorizer`
  = principalId, integrationLatency and the context with its values as strings (AWS stringifies them).
- Answers are cached per identity-source values for `authorizerResultTtlInSeconds` (300 when unset; 0: none),
  and a cached policy is evaluated again for each request's method ARN, as on AWS.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import msgspec

from stratus.auth.policy_eval import Decision, evaluate
from stratus.frontdoor.payloads import query_pairs

if TYPE_CHECKING:
    from stratus.frontdoor.rest_door import RestCall

Resource = dict[str, Any]
UNAUTHORIZED = 401, "UnauthorizedException", b'{"message":"Unauthorized"}'
EXPLICIT_DENY = 403, "AccessDeniedException", \
    b'{"Message":"User is not authorized to access this resource with an explicit deny"}'
NOT_AUTHORIZED = 403, "AccessDeniedException", b'{"Message":"User is not authorized to access this resource"}'
CONFIGURATION = 500, "AuthorizerConfigurationException", b'{"message": null}'
DEFAULT_TTL_S = 300
_CACHE_MAX = 10_000


class Refusal(Exception):
    """The request ends here with this gateway response (status, x-amzn-ErrorType, body)."""

    def __init__(self, answer: tuple[int, str, bytes]):
        super().__init__(answer[1])
        self.answer = answer


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Refusal(CONFIGURATION)


def parse_answer(payload: bytes) -> Resource:
    """The authorizer's answer checked: an object with a policyDocument and a context of scalars."""
    try:
        answer = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        raise Refusal(CONFIGURATION) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict):
        raise Refusal(CONFIGURATION)
    context = answer.get("context") or {}
    if not isinstance(context, dict):
        raise Refusal(CONFIGURATION)
    return {"principalId": answer.get("principalId"), "policyDocument": answer["policyDocument"],
            "context": {key: _text(value) for key, value in context.items()}}


def _failure(payload: bytes) -> tuple[int, str, bytes]:
    """A failed authorizer: `Unauthorized` (the documented way to answer 401) or a configuration error."""
    try:
        error = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return CONFIGURATION
    return UNAUTHORIZED if isinstance(error, dict) and error.get("errorMessage") == "Unauthorized" else CONFIGURATION


class RestAuthorizers:
    """Runs a method's authorizer for a request; keeps the cached answers."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, Resource]] = {}

    def forget(self, api_id: str) -> None:
        for key in [key for key in self._cache if key[0].startswith(api_id + "/")]:
            del self._cache[key]

    async def authorize(self, call: RestCall, authorizer: Resource) -> Resource:
        """The `requestContext.authorizer` of an allowed request; raises Refusal otherwise."""
        method_arn = call.method_arn()
        ttl = authorizer.get("authorizerResultTtlInSeconds", DEFAULT_TTL_S)
        identity: tuple[str, ...] | None
        if authorizer["type"] == "TOKEN":
            identity, event = self._token(call, authorizer, method_arn)
        else:
            identity, event = self._request(call, authorizer, method_arn)
            if identity is None:
                ttl = 0  # no identity sources: nothing to key a cache entry by
        key = (f"{call.api_id}/{authorizer['id']}", identity or ())
        cached = self._cache.get(key) if ttl else None
        latency = 0
        if cached is not None and cached[0] > time.monotonic():
            answer = cached[1]
        else:
            started = time.monotonic()
            outcome = (await call.invoke(authorizer["authorizerUri"], msgspec.json.encode(event))).outcome
            latency = int((time.monotonic() - started) * 1000)
            if outcome is None:
                raise Refusal(CONFIGURATION)
            if outcome.function_error:
                raise Refusal(_failure(outcome.payload))
            answer = parse_answer(outcome.payload)
            if ttl:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = (time.monotonic() + ttl, answer)
        decision = evaluate([answer["policyDocument"]], "execute-api:Invoke", method_arn)
        if decision is Decision.DENY:
            raise Refusal(EXPLICIT_DENY)
        if decision is not Decision.ALLOW:
            raise Refusal(NOT_AUTHORIZED)
        return {**answer["context"], "principalId": answer["principalId"], "integrationLatency": latency}

    @staticmethod
    def _token(call: RestCall, authorizer: Resource, method_arn: str) -> tuple[tuple[str, ...], Resource]:
        header = authorizer.get("identitySource", "")[len("method.request.header."):]
        token = call.request.header(header.lower().encode("latin-1"))
        if not token:
            raise Refusal(UNAUTHORIZED)
        expression = authorizer.get("identityValidationExpression")
        if expression and re.fullmatch(expression, token) is None:
            raise Refusal(UNAUTHORIZED)
        return (token,), {"type": "TOKEN", "methodArn": method_arn, "authorizationToken": token}

    @staticmethod
    def _request(call: RestCall, authorizer: Resource, method_arn: str) -> tuple[tuple[str, ...] | None, Resource]:
        sources = [s.strip() for s in authorizer.get("identitySource", "").split(",") if s.strip()]
        values = []
        for source in sources:
            value = identity_value(call, source)
            if not value:
                raise Refusal(UNAUTHORIZED)
            values.append(value)
        event = {"type": "REQUEST", "methodArn": method_arn, **msgspec.json.decode(call.event(with_body=False))}
        return (tuple(values) if values else None), event


def identity_value(call: RestCall, source: str) -> str | None:
    """One REQUEST identity source's value for the request (None when missing)."""
    if source.startswith("method.request.header."):
        return call.request.header(source[len("method.request.header."):].lower().encode("latin-1"))
    if source.startswith("method.request.querystring."):
        name = source[len("method.request.querystring."):]
        found = [v for k, v in query_pairs(call.request.query) if k == name]
        return found[-1] if found else None
    if source.startswith("stageVariables."):
        value: str | None = (call.stage.get("variables") or {}).get(source[len("stageVariables."):])
        return value
    if source.startswith("context."):
        return {"httpMethod": call.request.method, "stage": call.stage["stageName"], "resourceId": call.resource["id"],
                "resourcePath": call.resource["path"], "path": call.path}.get(source[len("context."):])
    return None
