"""What every control API handler shares, so that each one reads: path and query members → the body
within its limit → the model's checks → the shape → the control service → `json_response`.

`parse_body` (operations with a JSON body) and `check` (operations without) do the middle steps;
`operation` turns LambdaError into AWS's error response. The body limits are defined here, once.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from stratus.api.asgi import internal_error
from stratus.api.validation import validate
from stratus.errors import InvalidRequestContentException, LambdaError, RequestEntityTooLargeException

KB = 1024
MB = 1024 * KB

# Request body limits. AWS publishes one only for the requests that carry a deployment package
# (CreateFunction, UpdateFunctionCode, PublishLayerVersion: Settings.control_request_max_bytes, a 50 MB
# zip in base64); the others are generous caps on JSON documents whose model members are small.
CONFIG_BODY_MAX = 1 * MB  # function configuration, versions, aliases, policies, tags, layer permissions
SETTINGS_BODY_MAX = 64 * KB  # reserved / provisioned concurrency, event invoke configs
MAPPING_BODY_MAX = 256 * KB  # event source mappings (FilterCriteria patterns)
EVENTS_BODY_MAX = 2 * MB  # EventBridge: a full PutEvents (256 KB of entries) fits with room for JSON escaping

TOO_DEEP = "Could not parse request body into json: the JSON document is nested too deeply."

S = TypeVar("S")
Endpoint = Callable[[Request], Awaitable[Response]]

_encode = msgspec.json.encode


def json_response(shape: Any, status: int = 200) -> Response:
    return Response(_encode(shape), status_code=status, media_type="application/json")


def error_response(error: LambdaError, request_id: str) -> Response:
    response = Response(error.body(), status_code=error.status, media_type="application/json")
    response.headers["x-amzn-ErrorType"] = error.error_type
    response.headers["x-amzn-RequestId"] = request_id
    return response


JSON11_CONTENT_TYPE = "application/x-amz-json-1.1"


def json11_error_response(error_type: str, message: str, status: int, request_id: str) -> Response:
    """An error of a JSON 1.1 service on the port (EventBridge, CloudWatch Logs): `{"__type", "message"}`."""
    body = msgspec.json.encode({"__type": error_type, "message": message})
    return Response(body, status_code=status, media_type=JSON11_CONTENT_TYPE,
                    headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error_type})


def operation(endpoint: Endpoint) -> Endpoint:
    """Map LambdaError to AWS's error response, and anything unexpected to ServiceException."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            response = await endpoint(request)
        except LambdaError as error:
            return error_response(error, request_id)
        except RecursionError:  # JSON inside a member (e.g. a filter pattern) nested past Python's limit
            return error_response(InvalidRequestContentException(TOO_DEEP), request_id)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            return error_response(internal_error(exc), request_id)
        if "x-amzn-requestid" not in response.headers:  # an endpoint may name its own (InvokeAsync: the event's)
            response.headers["x-amzn-RequestId"] = request_id
        return response

    return wrapper


async def read_limited(request: Request, limit: int, too_large: Callable[[], Exception]) -> bytes:
    """The request body; `too_large()` is raised once more than `limit` bytes arrived."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int, operation_name: str = "") -> dict[str, Any]:
    """The request's JSON object ({} for no body); InvalidRequestContentException if it is not one."""

    def too_large() -> Exception:
        return RequestEntityTooLargeException(
            f"Request must be smaller than {limit} bytes for the {operation_name + ' ' if operation_name else ''}"
            "operation")

    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise too_large()
    body = await read_limited(request, limit, too_large)
    if not body:
        return {}
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    except RecursionError:  # msgspec's nesting limit (the interpreter's recursion limit)
        raise InvalidRequestContentException(TOO_DEEP) from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException("Could not parse request body into json: expected a JSON object")
    return document


def convert(document: dict[str, Any], shape: type[S]) -> S:
    try:
        return msgspec.convert(document, shape)
    except msgspec.ValidationError as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None


def present(params: dict[str, Any]) -> dict[str, Any]:
    """The members that have a value (the model checks see an absent member and a null alike)."""
    return {key: value for key, value in params.items() if value is not None}


def check(operation_name: str, **members: Any) -> None:
    """The model's checks on an operation without a body: its path and query members."""
    validate(operation_name, present(members))


def checked(operation_name: str, document: dict[str, Any], shape: type[S], **members: Any) -> S:
    """The model's checks on a body `document` with the path and query `members`; then the body as `shape`."""
    validate(operation_name, present(dict(document, **members)))
    return convert(document, shape)


async def parse_body(request: Request, operation_name: str, shape: type[S], limit: int, **members: Any) -> S:
    """The JSON body (at most `limit` bytes) checked against the model with `members`, as `shape`."""
    return checked(operation_name, await json_body(request, limit, operation_name), shape, **members)


def query(request: Request, name: str) -> str | None:
    return request.query_params.get(name)


def query_params(request: Request, params: dict[str, Any], *names: str) -> dict[str, Any]:
    """Add the query-string members `names` that are present to `params` (MaxItems as an integer)."""
    for name in names:
        value = query(request, name)
        if value is None:
            continue
        if name == "MaxItems":
            try:
                params[name] = int(value)
            except ValueError:
                raise InvalidRequestContentException("MaxItems must be an integer") from None
        else:
            params[name] = value
    return params

