"""REST API (v1) resource matching: specificity per segment, method fall-through, trailing slashes, path parts;
and the REST authorizer's answer checks."""

from __future__ import annotations

import pytest

from stratus.frontdoor.rest_authorizers import CONFIGURATION, UNAUTHORIZED, Refusal, _failure, parse_answer
from stratus.frontdoor.rest_routes import RouteTable, valid_path_part


def _resource(rid: str, path: str, *methods: str) -> dict:
    return {"id": rid, "path": path, "resourceMethods": {m: {"httpMethod": m} for m in methods}}


TABLE = RouteTable({r["id"]: r for r in [
    _resource("root", "/", "GET"),
    _resource("items", "/items", "GET"),
    _resource("item", "/items/{id}", "GET"),
    _resource("special", "/items/special", "GET", "POST"),
    _resource("proxy", "/{proxy+}", "ANY"),
    _resource("files", "/files/{path+}", "GET"),
    _resource("empty", "/nothing"),  # no methods: never served
]})


@pytest.mark.parametrize(("method", "path", "resource", "params"), [
    ("GET", "/", "root", {}),
    ("GET", "/items", "items", {}),
    ("GET", "/items/", "items", {}),  # trailing slash ignored
    ("GET", "/items/special", "special", {}),  # a literal before a variable
    ("GET", "/items/a%20b", "item", {"id": "a b"}),
    ("POST", "/items/7", "proxy", {"proxy": "items/7"}),  # no POST on /items/{id}: falls through to ANY
    ("GET", "/files/a/b/c.txt", "files", {"path": "a/b/c.txt"}),
    ("DELETE", "/files/a", "proxy", {"proxy": "files/a"}),
    ("POST", "/", None, None),  # the root has only GET and {proxy+} needs a segment
    ("GET", "/nothing", "proxy", {"proxy": "nothing"}),
])
def test_most_specific_resource_with_the_method_serves(method, path, resource, params):
    found = TABLE.match(method, path)
    if resource is None:
        assert found is None
    else:
        assert found is not None and found[0]["id"] == resource and found[2] == params


@pytest.mark.parametrize(("part", "valid"), [
    ("items", True), ("a.b-c_d:e", True), ("{id}", True), ("{proxy+}", True), ("", False), ("a b", False),
    ("{id", False), ("x{id}", False), ("{a/b}", False), ("a/b", False),
])
def test_path_parts(part, valid):
    assert valid_path_part(part) is valid


def test_authorizer_answers_are_checked_and_context_stringified():
    answer = parse_answer(b'{"principalId":"p","policyDocument":{"Statement":[]},'
                          b'"context":{"s":"x","n":1.5,"b":false,"z":null}}')
    assert answer["context"] == {"s": "x", "n": "1.5", "b": "false", "z": None}
    for bad in (b'"allow"', b'{"principalId":"p"}', b'{"policyDocument":{},"context":{"o":{}}}',
                b'{"policyDocument":{},"context":[1]}', b"not json"):
        with pytest.raises(Refusal) as refused:
            parse_answer(bad)
        assert refused.value.answer == CONFIGURATION
    assert _failure(b'{"errorMessage":"Unauthorized","errorType":"Exception"}') == UNAUTHORIZED
    assert _failure(b'{"errorMessage":"boom"}') == CONFIGURATION


def test_python_interface_builds_paths_deploys_snapshots_and_reloads(tmp_path):
    """The interface the SAM deploy calls: create_path is idempotent, a stage serves its deployment's copy, and a
    second RestApis over the same store sees the same APIs."""
    import asyncio

    from stratus.config import Settings
    from stratus.frontdoor.rest_apis import RestApis
    from stratus.store.sqlite import SqliteStore

    uri = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:0:function:f"
           "/invocations")

    async def scenario():
        store = SqliteStore(tmp_path / "db")
        await store.open()
        rest = RestApis(Settings(), store)
        api = await rest.create_rest_api("shop", binary_media_types=["image/png"])
        item = await rest.create_path(api["id"], "/items/{id}")
        assert item["path"] == "/items/{id}" and (await rest.create_path(api["id"], "/items/{id}"))["id"] == item["id"]
        await rest.put_method(api["id"], item["id"], "GET")
        await rest.put_integration(api["id"], item["id"], "GET", "AWS_PROXY", uri)
        await rest.create_deployment(api["id"], stage_name="prod", variables={"a": "1"})
        other = await rest.create_path(api["id"], "/other")
        await rest.put_method(api["id"], other["id"], "ANY")
        await rest.put_integration(api["id"], other["id"], "ANY", "AWS_PROXY", uri)
        served = rest.served(api["id"], "prod")
        assert served is not None and served[2].match("GET", "/other") is None  # not in the deployment
        assert served[2].match("GET", "/items/9")[2] == {"id": "9"}  # type: ignore[index]
        again = RestApis(Settings(), store)
        await again.load()
        stage, snapshot, table = again.served(api["id"], "prod")  # type: ignore[misc]
        assert stage["variables"] == {"a": "1"} and snapshot["binaryMediaTypes"] == ["image/png"]
        assert table.match("GET", "/items/9") is not None
        assert [r["path"] for r in again.get_resources(api["id"])] == ["/", "/items", "/items/{id}", "/other"]
        await again.delete_rest_api(api["id"])
        assert await store.list_documents("rest-api-deployment") == []
        await store.close()

    asyncio.run(scenario())
