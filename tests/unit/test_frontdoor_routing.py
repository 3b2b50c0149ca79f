"""The front door's dispatch (Host and path forms) and HTTP API route specificity."""

from __future__ import annotations

import pytest

from stratus.config import Settings
from stratus.frontdoor.apis import ApiError, check_route_key, compile_route, function_arn_of
from stratus.frontdoor.door import FrontDoor


class _Door:
    body_limit = 10


URLS, APIS = _Door(), _Door()
DOOR = FrontDoor(Settings(port=8421), URLS, APIS)  # type: ignore[arg-type]


@pytest.mark.parametrize(("host", "path", "door", "resource", "seen"), [
    (b"abc123.lambda-url.us-east-1.localhost:8421", "/x/y", URLS, "abc123", "/x/y"),
    (b"ABC123.Lambda-Url.us-east-1.localhost:8421", "/", URLS, "abc123", "/"),
    (b"api1.execute-api.localhost:8421", "/prod/items", APIS, "api1", "/prod/items"),
    (b"127.0.0.1:8421", "/_stratus/url/abc123/x", URLS, "abc123", "/x"),
    (b"127.0.0.1:8421", "/_stratus/url/abc123", URLS, "abc123", "/"),
    (None, "/_stratus/api/api1/prod/a", APIS, "api1", "/prod/a"),
])
def test_requests_of_the_front_door(host, path, door, resource, seen):
    match = DOOR.match(host, path)
    assert match is not None and (match.door, match.resource_id, match.raw_path) == (door, resource, seen)


@pytest.mark.parametrize(("host", "path"), [
    (b"127.0.0.1:8421", "/2015-03-31/functions/f/invocations"),
    (b"abc.lambda-url.eu-west-1.localhost:8421", "/"),  # another region
    (b"abc.lambda-url.us-east-1.localhost:9999", "/"),  # another port
    (b"a.b.lambda-url.us-east-1.localhost:8421", "/"),
    (b"abc.lambda-url.us-east-1.localhost", "/"),  # the port is not 80
    (b"127.0.0.1:8421", "/_stratus/health"),
    (b"127.0.0.1:8421", "/_stratus/code/abc"),
])
def test_everything_else_is_not(host, path):
    assert DOOR.match(host, path) is None


def _best(keys, method, path):
    routes = sorted((compile_route({"routeKey": key}) for key in keys), key=lambda route: route.rank)
    for route in routes:
        params = route.match(method, path)
        if params is not None:
            return route.route["routeKey"], params
    return None


def test_most_specific_route_wins():
    keys = ["$default", "ANY /{proxy+}", "GET /items/{id}", "GET /items/special", "ANY /items/{id}",
            "GET /items/{id}/parts/{part+}"]
    assert _best(keys, "GET", "/items/special") == ("GET /items/special", {})
    assert _best(keys, "GET", "/items/a%2Fb") == ("GET /items/{id}", {"id": "a/b"})
    assert _best(keys, "PUT", "/items/7") == ("ANY /items/{id}", {"id": "7"})
    assert _best(keys, "GET", "/items/7/parts/a/b") == ("GET /items/{id}/parts/{part+}", {"id": "7", "part": "a/b"})
    assert _best(keys, "POST", "/other/deep/path") == ("ANY /{proxy+}", {"proxy": "other/deep/path"})
    assert _best(["$default", "GET /a"], "GET", "/b") == ("$default", {})
    assert _best(["GET /a"], "GET", "/b") is None


def test_route_keys_are_checked_and_integration_uris_read():
    for bad in ("GET", "FETCH /x", "GET /{proxy+}/tail", "GET x"):
        with pytest.raises(ApiError):
            check_route_key(bad)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert function_arn_of(arn) == arn
    assert function_arn_of(f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations") == arn
