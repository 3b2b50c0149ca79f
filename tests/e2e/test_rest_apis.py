"""REST APIs (API Gateway v1): defined with boto3's apigateway client, served by `stratus serve` by Host
(`<api-id>.execute-api.localhost:PORT/<stage>/...`) and by path (`/_stratus/api/<api-id>/<stage>/...`)."""

from __future__ import annotations

import base64
import json
import socket
import time

import boto3
import pytest
from botocore.config import Config

from tests.support.frontdoor import Client, api_host, zip_with_powertools
from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

ECHO = '''
import base64, json, time

def handler(event, context):
    path = event["path"]
    if path.endswith("/boom"):
        raise RuntimeError("boom")
    if path.endswith("/malformed"):
        return {"statusCode": 200, "body": {"not": "a string"}, "extra": 1}
    if path.endswith("/slow"):
        time.sleep(3)
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": event["body"] if event["isBase64Encoded"] else base64.b64encode(b"text?").decode()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"X-Multi": ["a", "b"]}, "body": json.dumps(event)}
'''

TOKEN_AUTHORIZER = '''
def handler(event, context):
    token = event["authorizationToken"]
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise RuntimeError("boom")
    if token == "nested":
        return {"principalId": "x", "policyDocument": {"Version": "2012-10-17", "Statement": []},
                "context": {"bad": {"nested": 1}}}
    arn = event["methodArn"]
    api_arn = arn.split("/", 1)[0]
    effect, resource = {"allow": ("Allow", api_arn + "/*"), "deny": ("Deny", api_arn + "/*"),
                        "other": ("Allow", api_arn + "/*/DELETE/*")}.get(token, ("Deny", arn))
    return {"principalId": "user-" + token,
            "policyDocument": {"Version": "2012-10-17",
                               "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                                              "Resource": resource}]},
            "context": {"user": "alice", "level": 3, "admin": True, "arn": arn}}
'''

REQUEST_AUTHORIZER = '''
def handler(event, context):
    allowed = event["queryStringParameters"].get("key") == "sesame" and event["stageVariables"]["gate"] == "on"
    return {"principalId": "q",
            "policyDocument": {"Version": "2012-10-17",
                               "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow" if allowed else "Deny",
                                              "Resource": event["methodArn"]}]},
            "context": {"type": event["type"], "resource": event["resource"]}}
'''

POWERTOOLS_APP = '''
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

app = APIGatewayRestResolver()

@app.get("/orders/<order_id>")
def get_order(order_id: str):
    event = app.current_event
    return {"order": order_id, "stage": event.request_context.stage, "q": event.get_query_string_value("q"),
            "ua": event.get_header_value("user-agent")}

@app.post("/orders")
def create_order():
    return {"created": app.current_event.json_body}, 201

def handler(event, context):
    return app.resolve(event, context)
'''


@pytest.fixture(scope="module")
def apigw(server):
    return boto3.client("apigateway", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))


def invocation_uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def create_function(lam, name: str, code: str = ECHO, zip_bytes: bytes | None = None) -> str:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": zip_bytes or make_zip({"app.py": code})}, Timeout=30,
                               MemorySize=256)["FunctionArn"]


def add_route(apigw, api_id: str, parent_id: str, parts: list[str], uri: str, method: str = "ANY",
              **method_args) -> str:
    """Resources for `parts` under `parent_id` (reusing existing ones), a method and its proxy integration."""
    existing = {(r.get("parentId"), r.get("pathPart")): r["id"] for r in apigw.get_resources(restApiId=api_id)["items"]}
    for part in parts:
        parent_id = existing.get((parent_id, part)) or apigw.create_resource(
            restApiId=api_id, parentId=parent_id, pathPart=part)["id"]
    apigw.put_method(restApiId=api_id, resourceId=parent_id, httpMethod=method,
                     authorizationType=method_args.pop("authorizationType", "NONE"), **method_args)
    apigw.put_integration(restApiId=api_id, resourceId=parent_id, httpMethod=method, type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    return parent_id


def test_rest_api_path_parameters_greedy_proxy_multi_values_and_stage_variables(lam, apigw, http, server, fn_name):
    uri = invocation_uri(create_function(lam, fn_name))
    api = apigw.create_rest_api(name=fn_name, description="shop")
    api_id, root = api["id"], api["rootResourceId"]
    assert api["apiKeySource"] == "HEADER" and api["endpointConfiguration"]["types"] == ["EDGE"]
    item = add_route(apigw, api_id, root, ["items", "{id}"], uri, "GET")
    add_route(apigw, api_id, root, ["items", "special"], uri, "GET")
    add_route(apigw, api_id, root, ["{proxy+}"], uri)
    deployment = apigw.create_deployment(restApiId=api_id, stageName="prod", variables={"color": "blue"})
    stage = apigw.get_stage(restApiId=api_id, stageName="prod")
    assert stage["deploymentId"] == deployment["id"] and stage["variables"] == {"color": "blue"}
    host = api_host(api_id, server.port)

    query = "/prod/items/a%20b?q=1&q=2&e="
    for reply_host, path in ((host, query), (None, f"/_stratus/api/{api_id}{query}")):
        reply = http.request("GET", path, reply_host, headers=[("X-Mixed-Case", "one"), ("x-mixed-case", "two"),
                                                               ("Cookie", "a=1"), ("user-agent", "tester/1")])
        assert reply.status == 200, reply.body
        assert reply.all("x-multi") == ["a", "b"] and reply.header("x-amzn-requestid")
        event = json.loads(reply.body)
        assert event["resource"] == "/items/{id}" and event["path"] == "/items/a b" and event["httpMethod"] == "GET"
        assert event["pathParameters"] == {"id": "a b"} and event["stageVariables"] == {"color": "blue"}
        assert event["queryStringParameters"] == {"q": "2", "e": ""}
        assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"], "e": [""]}
        assert event["headers"]["X-Mixed-Case"] == "one" and event["headers"]["x-mixed-case"] == "two"
        assert event["multiValueHeaders"]["Cookie"] == ["a=1"] and event["headers"]["User-Agent"] == "tester/1"
        assert event["headers"]["Host"] == f"{api_id}.execute-api.localhost"
        assert event["headers"]["X-Forwarded-Port"] == str(server.port) and "X-Amzn-Trace-Id" in event["headers"]
        assert event["body"] is None and event["isBase64Encoded"] is False
        context = event["requestContext"]
        assert context["stage"] == "prod" and context["resourcePath"] == "/items/{id}" and context["resourceId"] == item
        assert context["path"] == "/prod/items/a%20b" and context["deploymentId"] == deployment["id"]
        assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "tester/1"
        assert context["requestId"] == reply.header("x-amzn-requestid") and context["apiId"] == api_id

    special = json.loads(http.request("GET", "/prod/items/special/", host).body)
    assert special["resource"] == "/items/special" and special["pathParameters"] is None
    greedy = json.loads(http.request("POST", "/prod/items/7/more/parts", host, b'{"a": 1}',
                                     {"Content-Type": "application/json"}).body)
    assert greedy["resource"] == "/{proxy+}" and greedy["pathParameters"] == {"proxy": "items/7/more/parts"}
    assert greedy["body"] == '{"a": 1}' and greedy["isBase64Encoded"] is False
    posted = json.loads(http.request("POST", "/prod/items/7", host).body)  # GET only on /items/{id}: falls through
    assert posted["resource"] == "/{proxy+}"

    for method, path, expected in (("GET", "/prod", b'{"message":"Missing Authentication Token"}'),
                                   ("GET", "/staging/items/1", b'{"message":"Forbidden"}'),
                                   ("GET", "/", b'{"message":"Forbidden"}')):
        refused = http.request(method, path, host)
        assert (refused.status, refused.body) == (403, expected)
    assert http.request("GET", "/prod", host).header("x-amzn-errortype") == "MissingAuthenticationTokenException"
    for path in ("/prod/x/boom", "/prod/x/malformed"):
        failed = http.request("GET", path, host)
        assert (failed.status, failed.body) == (502, b'{"message": "Internal server error"}')
        assert failed.header("x-amzn-errortype") == "InternalServerErrorException"
    apigw.delete_rest_api(restApiId=api_id)
    assert http.request("GET", "/prod/items/1", host).status == 404
    lam.delete_function(FunctionName=fn_name)


def test_binary_media_types_round_trip(lam, apigw, http, server, fn_name):
    uri = invocation_uri(create_function(lam, fn_name))
    api = apigw.create_rest_api(name=fn_name, binaryMediaTypes=["image/*"])
    assert api["binaryMediaTypes"] == ["image/*"]
    add_route(apigw, api["id"], api["rootResourceId"], ["{proxy+}"], uri)
    apigw.create_deployment(restApiId=api["id"], stageName="v1")
    host = api_host(api["id"], server.port)
    png = bytes(range(256))
    raw = http.request("POST", "/v1/binary", host, png, {"Content-Type": "image/png", "Accept": "image/png"})
    assert raw.status == 200 and raw.body == png and raw.header("content-type") == "image/png"
    as_text = http.request("POST", "/v1/binary", host, png, {"Content-Type": "image/png"})  # Accept not binary
    assert as_text.status == 200 and as_text.body == base64.b64encode(png)
    event = json.loads(http.request("POST", "/v1/echo", host, png, {"Content-Type": "image/png"}).body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == png
    text = json.loads(http.request("POST", "/v1/echo", host, b"plain", {"Content-Type": "text/plain"}).body)
    assert text["isBase64Encoded"] is False and text["body"] == "plain"
    apigw.delete_rest_api(restApiId=api["id"])
    lam.delete_function(FunctionName=fn_name)


def test_stages_serve_their_deployment_and_control_api_errors(lam, apigw, http, server, fn_name):
    uri = invocation_uri(create_function(lam, fn_name))
    api = apigw.create_rest_api(name=fn_name)
    api_id, root = api["id"], api["rootResourceId"]
    with pytest.raises(apigw.exceptions.BadRequestException, match="doesn't contain any methods"):
        apigw.create_deployment(restApiId=api_id, stageName="dev")
    add_route(apigw, api_id, root, ["first"], uri, "GET")
    first = apigw.create_deployment(restApiId=api_id, stageName="dev")["id"]
    add_route(apigw, api_id, root, ["second"], uri, "GET")
    host = api_host(api_id, server.port)
    assert http.request("GET", "/dev/first", host).status == 200
    assert http.request("GET", "/dev/second", host).status == 403  # not deployed yet: the stage is a snapshot
    second = apigw.create_deployment(restApiId=api_id, stageName="dev", description="two")["id"]
    assert http.request("GET", "/dev/second", host).status == 200
    apigw.create_stage(restApiId=api_id, stageName="old", deploymentId=first, variables={"v": "1"})
    assert http.request("GET", "/old/second", host).status == 403
    updated = apigw.update_stage(restApiId=api_id, stageName="old", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": second},
        {"op": "replace", "path": "/variables/v", "value": "2"}])
    assert updated["deploymentId"] == second and updated["variables"] == {"v": "2"}
    event = json.loads(http.request("GET", "/old/second", host).body)
    assert event["stageVariables"] == {"v": "2"} and event["requestContext"]["deploymentId"] == second
    assert {d["id"] for d in apigw.get_deployments(restApiId=api_id)["items"]} == {first, second}
    assert sorted(s["stageName"] for s in apigw.get_stages(restApiId=api_id)["item"]) == ["dev", "old"]
    resources = apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]
    first_resource = next(r for r in resources if r.get("pathPart") == "first")
    assert first_resource["resourceMethods"]["GET"]["methodIntegration"]["uri"] == uri
    assert apigw.get_integration(restApiId=api_id, resourceId=first_resource["id"],
                                 httpMethod="GET")["timeoutInMillis"] == 29000

    errors = apigw.exceptions
    with pytest.raises(errors.NotFoundException, match="Invalid API identifier specified"):
        apigw.get_rest_api(restApiId="nosuchapi0")
    with pytest.raises(errors.ConflictException, match="already has this name: first"):
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart="first")
    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    with pytest.raises(errors.BadRequestException, match="greedy path variable"):
        apigw.create_resource(restApiId=api_id, parentId=proxy, pathPart="x")
    with pytest.raises(errors.BadRequestException, match="only one is allowed"):
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{id}")
    with pytest.raises(errors.ConflictException, match="Method already exists"):
        apigw.put_method(restApiId=api_id, resourceId=first_resource["id"], httpMethod="GET", authorizationType="NONE")
    with pytest.raises(errors.BadRequestException, match="valid authorizer"):
        apigw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="GET", authorizationType="CUSTOM",
                         authorizerId="nope")
    with pytest.raises(errors.BadRequestException, match="Timeout should be between 50 ms and 29000 ms"):
        apigw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri, timeoutInMillis=40000)
    with pytest.raises(errors.BadRequestException, match="No integration defined for method"):
        apigw.create_deployment(restApiId=api_id, stageName="dev")
    with pytest.raises(errors.ConflictException, match="Stage already exists"):
        apigw.create_stage(restApiId=api_id, stageName="dev", deploymentId=first)
    with pytest.raises(errors.NotFoundException, match="Invalid Stage identifier specified"):
        apigw.get_stage(restApiId=api_id, stageName="nope")
    apigw.delete_stage(restApiId=api_id, stageName="old")
    apigw.delete_deployment(restApiId=api_id, deploymentId=first)
    apigw.delete_rest_api(restApiId=api_id)
    lam.delete_function(FunctionName=fn_name)


def test_powertools_rest_resolver_routes(lam, apigw, http, server, fn_name):
    uri = invocation_uri(create_function(lam, fn_name, zip_bytes=zip_with_powertools({"app.py": POWERTOOLS_APP})))
    api = apigw.create_rest_api(name=fn_name)
    add_route(apigw, api["id"], api["rootResourceId"], ["{proxy+}"], uri)
    apigw.create_deployment(restApiId=api["id"], stageName="api")
    host = api_host(api["id"], server.port)
    got = http.request("GET", "/api/orders/7?q=x", host, headers={"User-Agent": "pt/1"})
    assert got.status == 200, got.body
    assert json.loads(got.body) == {"order": "7", "stage": "api", "q": "x", "ua": "pt/1"}
    created = http.request("POST", "/api/orders", host, b'{"n": 1}', {"Content-Type": "application/json"})
    assert created.status == 201 and json.loads(created.body) == {"created": {"n": 1}}
    assert http.request("GET", "/api/unknown", host).status == 404  # Powertools' own not-found answer
    apigw.delete_rest_api(restApiId=api["id"])
    lam.delete_function(FunctionName=fn_name)


def test_token_authorizer_allows_denies_and_caches(lam, apigw, http, server, fn_name):
    uri = invocation_uri(create_function(lam, fn_name))
    authorizer_fn = fn_name + "-auth"
    authorizer_uri = invocation_uri(create_function(lam, authorizer_fn, TOKEN_AUTHORIZER))
    api = apigw.create_rest_api(name=fn_name)
    authorizer = apigw.create_authorizer(restApiId=api["id"], name="gate", type="TOKEN", authorizerUri=authorizer_uri,
                                         identitySource="method.request.header.Authorization",
                                         identityValidationExpression="^[a-z]+$", authorizerResultTtlInSeconds=300)
    assert authorizer["authType"] == "custom" and authorizer["type"] == "TOKEN"
    add_route(apigw, api["id"], api["rootResourceId"], ["secret"], uri, "GET", authorizationType="CUSTOM",
              authorizerId=authorizer["id"])
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    path = f"/_stratus/api/{api['id']}/prod/secret"

    def call(token: str | None) -> tuple[int, bytes, str | None]:
        reply = http.request("GET", path, headers={"Authorization": token} if token is not None else {})
        return reply.status, reply.body, reply.header("x-amzn-errortype")

    assert call(None) == (401, b'{"message":"Unauthorized"}', "UnauthorizedException")
    assert call("NOT-VALID-1")[0] == 401  # fails the validation expression: the authorizer is not called
    assert call("deny") == (403, b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
                            "AccessDeniedException")
    assert call("other") == (403, b'{"Message":"User is not authorized to access this resource"}',
                             "AccessDeniedException")
    assert call("unauthorized")[:2] == (401, b'{"message":"Unauthorized"}')
    assert call("boom") == (500, b'{"message": null}', "AuthorizerConfigurationException")
    assert call("nested")[2] == "AuthorizerConfigurationException"
    status, body, _ = call("allow")
    assert status == 200, body
    context = json.loads(body)["requestContext"]["authorizer"]
    assert context["principalId"] == "user-allow" and isinstance(context["integrationLatency"], int)
    assert (context["user"], context["level"], context["admin"]) == ("alice", "3", "true")  # stringified, as AWS
    assert context["arn"].endswith(f":{api['id']}/prod/GET/secret")
    lam.delete_function(FunctionName=authorizer_fn)  # cached answers keep answering for their TTL
    assert call("allow")[0] == 200
    assert call("deny")[0] == 403
    assert call("fresh")[2] == "AuthorizerConfigurationException"  # not cached: the authorizer is gone
    apigw.delete_rest_api(restApiId=api["id"])
    lam.delete_function(FunctionName=fn_name)


def test_request_authorizer_with_query_and_stage_variable_sources(lam, apigw, http, server, fn_name):
    uri = invocation_uri(create_function(lam, fn_name))
    authorizer_fn = fn_name + "-auth"
    authorizer_uri = invocation_uri(create_function(lam, authorizer_fn, REQUEST_AUTHORIZER))
    api = apigw.create_rest_api(name=fn_name)
    authorizer = apigw.create_authorizer(restApiId=api["id"], name="q", type="REQUEST", authorizerUri=authorizer_uri,
                                         identitySource="method.request.querystring.key, stageVariables.gate",
                                         authorizerResultTtlInSeconds=0)
    add_route(apigw, api["id"], api["rootResourceId"], ["{proxy+}"], uri, "ANY", authorizationType="CUSTOM",
              authorizerId=authorizer["id"])
    apigw.create_deployment(restApiId=api["id"], stageName="prod", variables={"gate": "on"})
    host = api_host(api["id"], server.port)
    assert http.request("GET", "/prod/a", host).status == 401  # identity source missing
    assert http.request("GET", "/prod/a?key=wrong", host).status == 403
    allowed = http.request("GET", "/prod/a?key=sesame", host)
    assert allowed.status == 200, allowed.body
    context = json.loads(allowed.body)["requestContext"]["authorizer"]
    assert context["type"] == "REQUEST" and context["resource"] == "/{proxy+}" and context["principalId"] == "q"
    apigw.delete_rest_api(restApiId=api["id"])
    lam.delete_function(FunctionName=authorizer_fn)
    lam.delete_function(FunctionName=fn_name)


def test_integration_timeouts_answer_as_aws(lam, apigw, http, server, fn_name):
    arn = create_function(lam, fn_name)
    api = apigw.create_rest_api(name=fn_name)
    resource = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="slow")["id"]
    apigw.put_method(restApiId=api["id"], resourceId=resource, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=resource, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=invocation_uri(arn), timeoutInMillis=1000)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    started = time.monotonic()
    reply = http.request("GET", "/prod/slow", api_host(api["id"], server.port))
    assert (reply.status, reply.body) == (504, b'{"message": "Endpoint request timed out"}')
    assert time.monotonic() - started < 2.9  # answered at the integration's timeout, not the function's end

    v2 = boto3.client("apigatewayv2", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    http_api = v2.create_api(Name=fn_name, ProtocolType="HTTP")["ApiId"]
    integration = v2.create_integration(ApiId=http_api, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                        PayloadFormatVersion="1.0", TimeoutInMillis=1000)
    assert integration["TimeoutInMillis"] == 1000
    v2.create_route(ApiId=http_api, RouteKey="GET /slow", Target=f"integrations/{integration['IntegrationId']}")
    v2.create_stage(ApiId=http_api, StageName="$default", AutoDeploy=True)
    started = time.monotonic()
    reply = http.request("GET", "/slow", api_host(http_api, server.port))
    assert (reply.status, reply.body) == (503, b'{"message":"Service Unavailable"}')  # HTTP APIs answer 503
    assert time.monotonic() - started < 2.9
    v2.delete_api(ApiId=http_api)
    apigw.delete_rest_api(restApiId=api["id"])
    lam.delete_function(FunctionName=fn_name)


def test_rest_apis_survive_a_restart(fresh_server, tmp_path):
    data_dir = tmp_path / "restart"
    first = fresh_server(data_dir=data_dir)
    arn = create_function(first.client(), "kept")
    gateway = boto3.client("apigateway", endpoint_url=first.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    api = gateway.create_rest_api(name="kept", binaryMediaTypes=["application/octet-stream"])
    add_route(gateway, api["id"], api["rootResourceId"], ["{proxy+}"], invocation_uri(arn))
    gateway.create_deployment(restApiId=api["id"], stageName="prod", variables={"k": "v"})
    first.stop()
    second = fresh_server(data_dir=data_dir)
    client = Client(second.port)
    reply = client.request("GET", "/prod/hello", api_host(api["id"], second.port))
    client.close()
    assert reply.status == 200, reply.body
    event = json.loads(reply.body)
    assert event["path"] == "/hello" and event["stageVariables"] == {"k": "v"}
    gateway = boto3.client("apigateway", endpoint_url=second.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    assert gateway.get_rest_api(restApiId=api["id"])["binaryMediaTypes"] == ["application/octet-stream"]


def test_header_case_kept_when_uvicorn_serves_the_request(lam, apigw, server, fn_name):
    """HTTP/1.0 requests take uvicorn's path (not the fast path): the event still has the client's header case."""
    uri = invocation_uri(create_function(lam, fn_name))
    api = apigw.create_rest_api(name=fn_name)
    add_route(apigw, api["id"], api["rootResourceId"], ["{proxy+}"], uri)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(f"GET /_stratus/api/{api['id']}/prod/old HTTP/1.0\r\nHost: 127.0.0.1:{server.port}\r\n"
                     "X-OLD-Style: yes\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    event = json.loads(body)
    assert event["headers"]["X-OLD-Style"] == "yes" and event["multiValueHeaders"]["X-OLD-Style"] == ["yes"]
    apigw.delete_rest_api(restApiId=api["id"])
    lam.delete_function(FunctionName=fn_name)
