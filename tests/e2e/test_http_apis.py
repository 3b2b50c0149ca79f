"""HTTP APIs (API Gateway v2): routes defined with boto3's apigatewayv2 client, requests served by
`stratus serve` by Host (`<api-id>.execute-api.localhost:PORT`) and by path (`/_stratus/api/<api-id>/...`)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from tests.support.frontdoor import Client, api_host, zip_with_powertools
from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

ECHO = '''
import json

def handler(event, context):
    if event.get("rawPath", event.get("path", "")).endswith("/malformed"):
        return {"statusCode": 200, "body": {"not": "a string"}}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
'''

AUTHORIZER = '''
def handler(event, context):
    token = event["headers"].get("authorization", "")
    return {"isAuthorized": token == "let-me-in", "context": {"user": "alice", "calls": 1}}
'''

POWERTOOLS_APP = '''
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()

@app.get("/orders/<order_id>")
def get_order(order_id: str):
    return {"order": order_id, "stage": app.current_event.request_context.stage}

@app.post("/orders")
def create_order():
    return {"created": app.current_event.json_body}, 201

def handler(event, context):
    return app.resolve(event, context)
'''


@pytest.fixture(scope="module")
def apigw(server):
    return boto3.client("apigatewayv2", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))


def create_echo(lam, name: str, code: str = ECHO, zip_bytes: bytes | None = None) -> str:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": zip_bytes or make_zip({"app.py": code})}, Timeout=30,
                               MemorySize=256)["FunctionArn"]


def test_quick_create_serves_every_path_on_the_default_route(lam, apigw, http, server, fn_name):
    arn = create_echo(lam, fn_name)
    api = apigw.create_api(Name=fn_name, ProtocolType="HTTP", Target=arn)
    assert api["ApiEndpoint"] == f"http://{api['ApiId']}.execute-api.localhost:{server.port}"
    assert [route["RouteKey"] for route in apigw.get_routes(ApiId=api["ApiId"])["Items"]] == ["$default"]
    assert apigw.get_stages(ApiId=api["ApiId"])["Items"][0]["StageName"] == "$default"
    for host, path in ((api_host(api["ApiId"], server.port), "/any/path?x=1&x=2"),
                       (None, f"/_stratus/api/{api['ApiId']}/any/path?x=1&x=2")):
        reply = http.request("GET", path, host, headers={"Cookie": "a=1"})
        assert reply.status == 200, reply.body
        assert reply.header("apigw-requestid")
        event = json.loads(reply.body)
        assert event["version"] == "2.0" and event["routeKey"] == "$default" and event["rawPath"] == "/any/path"
        assert event["queryStringParameters"] == {"x": "1,2"} and event["cookies"] == ["a=1"]
        assert event["requestContext"]["stage"] == "$default" and event["requestContext"]["apiId"] == api["ApiId"]
    apigw.delete_api(ApiId=api["ApiId"])
    assert http.request("GET", "/", api_host(api["ApiId"], server.port)).status == 404
    lam.delete_function(FunctionName=fn_name)


def test_routes_path_parameters_greedy_proxy_stages_and_payload_1_0(lam, apigw, http, server, fn_name):
    arn = create_echo(lam, fn_name)
    api_id = apigw.create_api(Name=fn_name, ProtocolType="HTTP")["ApiId"]
    v2 = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    v1 = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                  PayloadFormatVersion="1.0")["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{v2}")
    apigw.create_route(ApiId=api_id, RouteKey="GET /items/special", Target=f"integrations/{v2}")
    apigw.create_route(ApiId=api_id, RouteKey="ANY /files/{proxy+}", Target=f"integrations/{v2}")
    apigw.create_route(ApiId=api_id, RouteKey="POST /legacy/{name}", Target=f"integrations/{v1}")
    apigw.create_route(ApiId=api_id, RouteKey="GET /malformed", Target=f"integrations/{v2}")
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, StageVariables={"color": "blue"})
    host = api_host(api_id, server.port)

    event = json.loads(http.request("GET", "/prod/items/a%20b", host).body)
    assert event["routeKey"] == "GET /items/{id}" and event["pathParameters"] == {"id": "a b"}
    assert event["rawPath"] == "/prod/items/a%20b" and event["requestContext"]["stage"] == "prod"
    assert event["stageVariables"] == {"color": "blue"}
    assert json.loads(http.request("GET", "/prod/items/special", host).body)["routeKey"] == "GET /items/special"
    greedy = json.loads(http.request("DELETE", "/prod/files/a/b/c.txt", host).body)
    assert greedy["routeKey"] == "ANY /files/{proxy+}" and greedy["pathParameters"] == {"proxy": "a/b/c.txt"}
    legacy = json.loads(http.request("POST", "/prod/legacy/x?q=1&q=2", host, b"hi",
                                     [("Content-Type", "text/plain"), ("X-A", "1"), ("X-A", "2")]).body)
    assert legacy["version"] == "1.0" and legacy["resource"] == "/legacy/{name}" and legacy["path"] == "/legacy/x"
    assert legacy["httpMethod"] == "POST" and legacy["pathParameters"] == {"name": "x"}
    assert legacy["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert legacy["queryStringParameters"] == {"q": "2"}
    assert legacy["multiValueHeaders"]["x-a"] == ["1", "2"] and legacy["body"] == "hi"

    for path, method in (("/prod/nothing", "GET"), ("/prod/items/special", "POST"), ("/items/1", "GET"),
                         ("/staging/items/1", "GET")):
        missing = http.request(method, path, host)
        assert (missing.status, missing.body) == (404, b'{"message":"Not Found"}')
    malformed = http.request("GET", "/prod/malformed", host)
    assert (malformed.status, malformed.body) == (500, b'{"message":"Internal Server Error"}')
    assert http.request("GET", "/", api_host("nosuchapi0", server.port)).status == 404
    apigw.delete_api(ApiId=api_id)
    lam.delete_function(FunctionName=fn_name)


def test_request_authorizer_denies_allows_and_caches(lam, apigw, http, server, fn_name):
    arn = create_echo(lam, fn_name)
    authorizer_arn = create_echo(lam, fn_name + "-auth", AUTHORIZER)
    api_id = apigw.create_api(Name=fn_name, ProtocolType="HTTP")["ApiId"]
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                           PayloadFormatVersion="2.0")["IntegrationId"]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{authorizer_arn}/invocations"
    authorizer = apigw.create_authorizer(ApiId=api_id, Name="gate", AuthorizerType="REQUEST", AuthorizerUri=uri,
                                         IdentitySource=["$request.header.Authorization"],
                                         AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
                                         AuthorizerResultTtlInSeconds=300)
    apigw.create_route(ApiId=api_id, RouteKey="GET /secret", Target=f"integrations/{integration}",
                       AuthorizationType="CUSTOM", AuthorizerId=authorizer["AuthorizerId"])
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    path = f"/_stratus/api/{api_id}/secret"
    assert http.request("GET", path).status == 401  # no identity source: the authorizer is not called
    denied = http.request("GET", path, headers={"Authorization": "wrong"})
    assert (denied.status, denied.body) == (403, b'{"message":"Forbidden"}')
    allowed = http.request("GET", path, headers={"Authorization": "let-me-in"})
    assert allowed.status == 200
    assert json.loads(allowed.body)["requestContext"]["authorizer"] == {"lambda": {"user": "alice", "calls": 1}}
    lam.update_function_configuration(FunctionName=fn_name + "-auth", Description="changed")  # new environments
    lam.delete_function(FunctionName=fn_name + "-auth")  # cached decisions keep answering for their TTL
    assert http.request("GET", path, headers={"Authorization": "let-me-in"}).status == 200
    assert http.request("GET", path, headers={"Authorization": "wrong"}).status == 403
    assert http.request("GET", path, headers={"Authorization": "new-token"}).status == 500  # authorizer gone
    apigw.delete_api(ApiId=api_id)
    lam.delete_function(FunctionName=fn_name)


def test_powertools_http_resolver_routes_under_a_stage(lam, apigw, http, server, fn_name):
    arn = create_echo(lam, fn_name, zip_bytes=zip_with_powertools({"app.py": POWERTOOLS_APP}))
    api_id = apigw.create_api(Name=fn_name, ProtocolType="HTTP")["ApiId"]
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                           PayloadFormatVersion="2.0")["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{integration}")
    apigw.create_stage(ApiId=api_id, StageName="v1", AutoDeploy=True)
    host = api_host(api_id, server.port)
    got = http.request("GET", "/v1/orders/7", host)
    assert got.status == 200 and json.loads(got.body) == {"order": "7", "stage": "v1"}
    created = http.request("POST", "/v1/orders", host, b'{"n": 1}', {"Content-Type": "application/json"})
    assert created.status == 201 and json.loads(created.body) == {"created": {"n": 1}}
    assert http.request("GET", "/v1/unknown", host).status == 404
    apigw.delete_api(ApiId=api_id)
    lam.delete_function(FunctionName=fn_name)


def test_cors_preflight_and_control_api_errors(lam, apigw, http, server, fn_name):
    arn = create_echo(lam, fn_name)
    api_id = apigw.create_api(Name=fn_name, ProtocolType="HTTP", Target=arn, CorsConfiguration={
        "AllowOrigins": ["https://web.example"], "AllowMethods": ["GET"], "MaxAge": 60})["ApiId"]
    preflight = http.request("OPTIONS", "/x", api_host(api_id, server.port), headers={
        "Origin": "https://web.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status == 200 and preflight.header("access-control-allow-origin") == "https://web.example"
    assert preflight.header("access-control-max-age") == "60"
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.get_api(ApiId="doesnotexist")
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.create_route(ApiId=api_id, RouteKey="GET /x", Target="integrations/nope")
    with pytest.raises(apigw.exceptions.ConflictException):
        apigw.create_route(ApiId=api_id, RouteKey="$default")
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.create_route(ApiId=api_id, RouteKey="GET /{proxy+}/tail")
    apigw.delete_api(ApiId=api_id)
    lam.delete_function(FunctionName=fn_name)


def test_apis_survive_a_restart(fresh_server, tmp_path):
    data_dir = tmp_path / "restart"
    first = fresh_server(data_dir=data_dir)
    arn = create_echo(first.client(), "kept")
    gateway = boto3.client("apigatewayv2", endpoint_url=first.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    api_id = gateway.create_api(Name="kept", ProtocolType="HTTP", Target=arn)["ApiId"]
    first.stop()
    second = fresh_server(data_dir=data_dir)
    client = Client(second.port)
    reply = client.request("GET", "/hello", api_host(api_id, second.port))
    client.close()
    assert reply.status == 200 and json.loads(reply.body)["rawPath"] == "/hello"


POLICY_AUTHORIZER = '''
def handler(event, context):
    api_arn = event["routeArn"].split("/", 1)[0]
    return {"principalId": "p-" + event["headers"]["authorization"],
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_arn + "/*/GET/*"}]},
            "context": {"arn": event["routeArn"]}}
'''


def test_authorizer_policy_is_judged_for_each_route_even_when_cached(lam, apigw, http, server, fn_name):
    arn = create_echo(lam, fn_name)
    authorizer_arn = create_echo(lam, fn_name + "-auth", POLICY_AUTHORIZER)
    api_id = apigw.create_api(Name=fn_name, ProtocolType="HTTP")["ApiId"]
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                           PayloadFormatVersion="2.0")["IntegrationId"]
    authorizer = apigw.create_authorizer(ApiId=api_id, Name="policy", AuthorizerType="REQUEST",
                                         AuthorizerUri=authorizer_arn, IdentitySource=["$request.header.Authorization"],
                                         AuthorizerPayloadFormatVersion="2.0", AuthorizerResultTtlInSeconds=300)
    apigw.create_route(ApiId=api_id, RouteKey="ANY /items/{id}", Target=f"integrations/{integration}",
                       AuthorizationType="CUSTOM", AuthorizerId=authorizer["AuthorizerId"])
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    host = api_host(api_id, server.port)
    allowed = http.request("GET", "/prod/items/1", host, headers={"Authorization": "t"})
    assert allowed.status == 200, allowed.body
    context = json.loads(allowed.body)["requestContext"]["authorizer"]["lambda"]
    assert context == {"arn": f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/prod/GET/items/1",
                       "principalId": "p-t"}
    denied = http.request("DELETE", "/prod/items/1", host, headers={"Authorization": "t"})  # the cached policy
    assert (denied.status, denied.body) == (403, b'{"message":"Forbidden"}')
    apigw.delete_api(ApiId=api_id)
    lam.delete_function(FunctionName=fn_name + "-auth")
    lam.delete_function(FunctionName=fn_name)
