"""OpenAPI imports (ImportRestApi / PutRestApi, ImportApi / ReimportApi) and MOCK integrations, through boto3's
apigateway / apigatewayv2 clients against a real `stratus serve`, checked over HTTP: the definitions are shaped
as SAM writes them (aws-sam-translator's swagger for AWS::Serverless::Api, OpenAPI 3 for HttpApi)."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.frontdoor import api_host
from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

ECHO = '''
import base64, json

def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    if path.endswith("/png"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
'''

TOKEN_AUTHORIZER = '''
def handler(event, context):
    effect = "Allow" if event["authorizationToken"] == "allow" else "Deny"
    return {"principalId": "me", "context": {"who": "alice"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
'''

SIMPLE_AUTHORIZER = '''
def handler(event, context):
    return {"isAuthorized": event["headers"].get("authorization") == "let-me-in", "context": {"user": "bob"}}
'''


def _client(server, service: str):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def rest(server):
    return _client(server, "apigateway")


@pytest.fixture(scope="module")
def v2(server):
    return _client(server, "apigatewayv2")


def create_function(lam, name: str, code: str = ECHO) -> str:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": code})}, Timeout=30)["FunctionArn"]


def uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def proxy(arn: str, **extra) -> dict:
    return {"x-amazon-apigateway-integration": {"httpMethod": "POST", "type": "aws_proxy", "uri": uri(arn), **extra},
            "responses": {}}


def cors_options() -> dict:
    """The OPTIONS method aws-sam-translator writes for an Api's `Cors`."""
    return {"consumes": ["application/json"], "produces": ["application/json"], "summary": "CORS support",
            "responses": {"200": {"description": "Default response for CORS method", "headers": {
                "Access-Control-Allow-Origin": {"type": "string"},
                "Access-Control-Allow-Methods": {"type": "string"}}}},
            "x-amazon-apigateway-integration": {
                "type": "mock", "requestTemplates": {"application/json": "{\n  \"statusCode\" : 200\n}\n"},
                "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{}\n"},
                                          "responseParameters": {
                                              "method.response.header.Access-Control-Allow-Origin": "'*'",
                                              "method.response.header.Access-Control-Allow-Methods": "'GET,POST'"}}}}}


def swagger(echo: str, authorizer: str) -> dict:
    return {
        "swagger": "2.0", "info": {"version": "1.0", "title": "imported-shop"},
        "paths": {
            "/hello": {"get": proxy(echo), "options": cors_options()},
            "/items/{id}": {"get": proxy(echo)},
            "/secure": {"get": {**proxy(echo), "security": [{"TokAuth": []}]}},
            "/files/{proxy+}": {"x-amazon-apigateway-any-method": proxy(echo)},
        },
        "securityDefinitions": {"TokAuth": {
            "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "custom",
            "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": uri(authorizer),
                                               "authorizerResultTtlInSeconds": 0}}},
        "x-amazon-apigateway-binary-media-types": ["image/png"],
    }


def test_import_rest_api_serves_proxy_mock_cors_binary_and_authorizer(lam, rest, http, server, fn_name):
    echo = create_function(lam, fn_name)
    authorizer = create_function(lam, fn_name + "-auth", TOKEN_AUTHORIZER)
    api = rest.import_rest_api(body=json.dumps(swagger(echo, authorizer)).encode())
    api_id = api["id"]
    assert api["name"] == "imported-shop" and api["binaryMediaTypes"] == ["image/png"]
    resources = {r["path"]: r for r in rest.get_resources(restApiId=api_id, embed=["methods"])["items"]}
    assert set(resources) == {"/", "/hello", "/items", "/items/{id}", "/secure", "/files", "/files/{proxy+}"}
    assert set(resources["/hello"]["resourceMethods"]) == {"GET", "OPTIONS"}
    assert set(resources["/files/{proxy+}"]["resourceMethods"]) == {"ANY"}
    secure = rest.get_method(restApiId=api_id, resourceId=resources["/secure"]["id"], httpMethod="GET")
    (auth,) = rest.get_authorizers(restApiId=api_id)["items"]
    assert secure["authorizationType"] == "CUSTOM" and secure["authorizerId"] == auth["id"]
    assert auth["type"] == "TOKEN" and auth["identitySource"] == "method.request.header.Authorization"
    mock = rest.get_integration(restApiId=api_id, resourceId=resources["/hello"]["id"], httpMethod="OPTIONS")
    assert mock["type"] == "MOCK" and mock["integrationResponses"]["200"]["responseParameters"][
        "method.response.header.Access-Control-Allow-Origin"] == "'*'"
    rest.create_deployment(restApiId=api_id, stageName="Prod")
    host = api_host(api_id, server.port)

    hello = http.request("GET", "/Prod/hello", host)
    assert hello.status == 200 and json.loads(hello.body)["resource"] == "/hello"
    item = json.loads(http.request("GET", "/Prod/items/42", host).body)
    assert item["pathParameters"] == {"id": "42"}
    preflight = http.request("OPTIONS", "/Prod/hello", host, headers={"Origin": "http://x.test",
                                                                      "Access-Control-Request-Method": "GET"})
    assert preflight.status == 200 and preflight.body == b"{}\n"
    assert preflight.header("access-control-allow-origin") == "*"
    assert preflight.header("access-control-allow-methods") == "GET,POST"
    png = http.request("GET", "/Prod/files/a/png", host, headers={"Accept": "image/png"})
    assert png.status == 200 and png.body == bytes(range(256))
    assert http.request("GET", "/Prod/secure", host).status == 401
    assert http.request("GET", "/Prod/secure", host, headers={"Authorization": "deny"}).status == 403
    allowed = http.request("GET", "/Prod/secure", host, headers={"Authorization": "allow"})
    assert allowed.status == 200 and json.loads(allowed.body)["requestContext"]["authorizer"]["who"] == "alice"
    rest.delete_rest_api(restApiId=api_id)
    lam.delete_function(FunctionName=fn_name)
    lam.delete_function(FunctionName=fn_name + "-auth")


def test_put_rest_api_overwrites_and_merges(lam, rest, http, server, fn_name):
    echo = create_function(lam, fn_name)
    first = {"openapi": "3.0.1", "info": {"title": "v1"},
             "paths": {"/old": {"get": proxy(echo)}, "/kept": {"post": proxy(echo)}}}
    api = rest.import_rest_api(body=yaml.safe_dump(first).encode())  # YAML works as well as JSON
    api_id, root = api["id"], api["rootResourceId"]
    rest.create_deployment(restApiId=api_id, stageName="v")
    host = api_host(api_id, server.port)
    assert http.request("GET", "/v/old", host).status == 200

    second = {"openapi": "3.0.1", "info": {"title": "v2"}, "paths": {"/new/{name}": {"get": proxy(echo)}}}
    updated = rest.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(second).encode())
    assert updated["name"] == "v2" and updated["rootResourceId"] == root
    assert {r["path"] for r in rest.get_resources(restApiId=api_id)["items"]} == {"/", "/new", "/new/{name}"}
    assert http.request("GET", "/v/old", host).status == 200  # the stage serves its deployment until redeployed
    rest.create_deployment(restApiId=api_id, stageName="v")
    gone = http.request("GET", "/v/old", host)
    assert (gone.status, gone.body) == (403, b'{"message":"Missing Authentication Token"}')
    assert json.loads(http.request("GET", "/v/new/x", host).body)["pathParameters"] == {"name": "x"}

    rest.put_rest_api(restApiId=api_id, mode="merge", body=json.dumps(first).encode())
    assert {r["path"] for r in rest.get_resources(restApiId=api_id)["items"]} == {
        "/", "/new", "/new/{name}", "/old", "/kept"}
    rest.delete_rest_api(restApiId=api_id)
    lam.delete_function(FunctionName=fn_name)


BAD_REST_BODIES = [
    (b"", "the definition is empty"),
    (b"{not json: [", "neither JSON nor YAML"),
    (b"[1, 2]", "must be an object"),
    (b'{"info": {"title": "x"}, "paths": {}}', "swagger"),
    (b'{"swagger": "2.0", "paths": []}', "'paths' must be an object"),
    (b'{"swagger": "2.0", "paths": {"nope": {}}}', "must start with '/'"),
    (b'{"swagger": "2.0", "paths": {"/a b": {"get": {}}}}', "invalid part"),
    (b'{"swagger": "2.0", "paths": {"/{p+}/x": {"get": {}}}}', "greedy"),
    (b'{"swagger": "2.0", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "http"}}}}}',
     "type 'http'"),
    (b'{"swagger": "2.0", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy"}}}}}',
     "has no uri"),
    (b'{"swagger": "2.0", "paths": {"/a": {"get": {"security": [{"Nope": []}]}}}}', "does not define"),
    (b'{"swagger": "2.0", "paths": {}, "securityDefinitions": {"C": {"x-amazon-apigateway-authorizer": '
     b'{"type": "cognito_user_pools"}}}}', "Lambda authorizers"),
    (b'{"swagger": "2.0", "paths": {}, "x-amazon-apigateway-binary-media-types": "image/png"}', "list"),
]


def test_import_rest_api_refuses_malformed_definitions_and_creates_nothing(rest):
    before = len(rest.get_rest_apis()["items"])
    for body, words in BAD_REST_BODIES:
        with pytest.raises(ClientError) as refused:
            rest.import_rest_api(body=body)
        error = refused.value.response["Error"]
        assert error["Code"] == "BadRequestException" and words in error["Message"], (body, error)
        assert error["Message"].startswith("Errors found during import: ") and "\n" not in error["Message"]
    assert len(rest.get_rest_apis()["items"]) == before
    api = rest.create_rest_api(name="target")
    with pytest.raises(ClientError) as refused:
        rest.put_rest_api(restApiId=api["id"], mode="overwrite", body=b'{"swagger": "2.0", "paths": {"x": 1}}')
    assert refused.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as refused:
        rest.put_rest_api(restApiId=api["id"], mode="sideways", body=b'{"swagger": "2.0", "paths": {}}')
    assert "mode" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        rest.put_rest_api(restApiId="nosuchapi0", mode="overwrite", body=b'{"swagger": "2.0", "paths": {}}')
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    rest.delete_rest_api(restApiId=api["id"])


def test_mock_integration_through_put_integration_and_responses(rest, http, server):
    api = rest.create_rest_api(name="mocked")
    api_id, root = api["id"], api["rootResourceId"]
    teapot = rest.create_resource(restApiId=api_id, parentId=root, pathPart="teapot")["id"]
    rest.put_method(restApiId=api_id, resourceId=teapot, httpMethod="GET", authorizationType="NONE")
    rest.put_integration(restApiId=api_id, resourceId=teapot, httpMethod="GET", type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 418}'})
    rest.put_method_response(restApiId=api_id, resourceId=teapot, httpMethod="GET", statusCode="418",
                             responseParameters={"method.response.header.X-Brew": False})
    rest.put_integration_response(restApiId=api_id, resourceId=teapot, httpMethod="GET", statusCode="418",
                                  selectionPattern="4\\d{2}", responseTemplates={"application/json": '{"tea": 1}'},
                                  responseParameters={"method.response.header.X-Brew": "'earl grey'"})
    rest.put_integration_response(restApiId=api_id, resourceId=teapot, httpMethod="GET", statusCode="200",
                                  responseTemplates={"application/json": "default"})
    integration = rest.get_integration(restApiId=api_id, resourceId=teapot, httpMethod="GET")
    assert integration["type"] == "MOCK" and set(integration["integrationResponses"]) == {"200", "418"}
    rest.create_deployment(restApiId=api_id, stageName="s")
    reply = http.request("GET", "/s/teapot", api_host(api_id, server.port))
    assert (reply.status, reply.body, reply.header("x-brew")) == (418, b'{"tea": 1}', "earl grey")

    bare = rest.create_resource(restApiId=api_id, parentId=root, pathPart="bare")["id"]
    rest.put_method(restApiId=api_id, resourceId=bare, httpMethod="GET", authorizationType="NONE")
    rest.put_integration(restApiId=api_id, resourceId=bare, httpMethod="GET", type="MOCK")
    rest.create_deployment(restApiId=api_id, stageName="s")
    failed = http.request("GET", "/s/bare", api_host(api_id, server.port))  # no integration response to answer
    assert (failed.status, failed.body) == (502, b'{"message": "Internal server error"}')
    with pytest.raises(ClientError) as refused:
        rest.put_integration(restApiId=api_id, resourceId=bare, httpMethod="GET", type="HTTP",
                             uri="http://example.com")
    assert "MOCK" in refused.value.response["Error"]["Message"]
    rest.delete_rest_api(restApiId=api_id)


def http_definition(echo: str, authorizer: str) -> dict:
    """An OpenAPI 3 document as aws-sam-translator writes it for an AWS::Serverless::HttpApi."""
    integration = {"httpMethod": "POST", "type": "aws_proxy", "uri": uri(echo), "payloadFormatVersion": "2.0"}
    return {
        "openapi": "3.0.1", "info": {"version": "1.0", "title": "imported-http"},
        "paths": {
            "/items/{id}": {"get": {"x-amazon-apigateway-integration": integration, "security": [{"LamAuth": []}],
                                    "parameters": [{"required": True, "name": "id", "in": "path"}],
                                    "responses": {}}},
            "/$default": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": integration,
                                                             "isDefaultRoute": True, "responses": {}}},
        },
        "x-amazon-apigateway-cors": {"allowOrigins": ["https://app.test"], "allowMethods": ["GET"], "maxAge": 60},
        "tags": [{"name": "httpapi:createdBy", "x-amazon-apigateway-tag-value": "SAM"}],
        "components": {"securitySchemes": {"LamAuth": {
            "type": "apiKey", "name": "Unused", "in": "header",
            "x-amazon-apigateway-authorizer": {"type": "request", "authorizerUri": uri(authorizer),
                                               "identitySource": ["$request.header.Authorization"],
                                               "authorizerPayloadFormatVersion": "2.0",
                                               "enableSimpleResponses": True}}}},
    }


def test_import_http_api_routes_parameters_cors_authorizer_and_reimport(lam, v2, http, server, fn_name):
    echo = create_function(lam, fn_name)
    authorizer = create_function(lam, fn_name + "-auth", SIMPLE_AUTHORIZER)
    api = v2.import_api(Body=json.dumps(http_definition(echo, authorizer)))
    api_id = api["ApiId"]
    assert api["Name"] == "imported-http" and api["CorsConfiguration"]["AllowOrigins"] == ["https://app.test"]
    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api_id)["Items"]}
    assert set(routes) == {"GET /items/{id}", "$default"}
    (auth,) = v2.get_authorizers(ApiId=api_id)["Items"]
    assert routes["GET /items/{id}"]["AuthorizerId"] == auth["AuthorizerId"] and auth["EnableSimpleResponses"]
    (integration,) = v2.get_integrations(ApiId=api_id)["Items"]  # the two routes share one integration
    assert integration["PayloadFormatVersion"] == "2.0"
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    host = api_host(api_id, server.port)

    assert http.request("GET", "/items/42", host).status == 401
    assert http.request("GET", "/items/42", host, headers={"Authorization": "no"}).status == 403
    event = json.loads(http.request("GET", "/items/42", host, headers={"Authorization": "let-me-in"}).body)
    assert event["pathParameters"] == {"id": "42"} and event["routeKey"] == "GET /items/{id}"
    assert event["requestContext"]["authorizer"]["lambda"]["user"] == "bob"
    assert json.loads(http.request("POST", "/anything/else", host).body)["routeKey"] == "$default"
    preflight = http.request("OPTIONS", "/items/42", host, headers={"Origin": "https://app.test",
                                                                    "Access-Control-Request-Method": "GET"})
    assert preflight.status == 200 and preflight.header("access-control-allow-origin") == "https://app.test"
    assert preflight.header("access-control-max-age") == "60"

    smaller = http_definition(echo, authorizer)
    del smaller["paths"]["/items/{id}"]
    del smaller["x-amazon-apigateway-cors"]
    reimported = v2.reimport_api(ApiId=api_id, Body=json.dumps(smaller))
    assert "CorsConfiguration" not in reimported
    assert [r["RouteKey"] for r in v2.get_routes(ApiId=api_id)["Items"]] == ["$default"]
    assert json.loads(http.request("GET", "/items/42", host).body)["routeKey"] == "$default"
    assert v2.get_stages(ApiId=api_id)["Items"][0]["StageName"] == "$default"  # stages stay
    v2.delete_api(ApiId=api_id)
    lam.delete_function(FunctionName=fn_name)
    lam.delete_function(FunctionName=fn_name + "-auth")


BAD_HTTP_BODIES = [
    ("{]", "neither JSON nor YAML"),
    ('{"openapi": "3.0.1", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "http_proxy"}}}}}',
     "type 'http_proxy'"),
    ('{"openapi": "3.0.1", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", '
     '"uri": "arn:x", "payloadFormatVersion": "3.0"}}}}}', "PayloadFormatVersion"),
    ('{"openapi": "3.0.1", "paths": {"/{p+}/x": {"get": {}}}}', "greedy"),
    ('{"openapi": "3.0.1", "paths": {}, "x-amazon-apigateway-cors": {"allowOrigin": ["*"]}}', "unknown member"),
    ('{"openapi": "3.0.1", "paths": {}, "components": {"securitySchemes": {"J": {'
     '"x-amazon-apigateway-authorizer": {"type": "jwt"}}}}}', "request"),
    ('{"openapi": "3.0.1", "paths": {"/a": {"get": {"security": [{"J": []}]}}}}', "does not define"),
]


def test_import_http_api_refuses_malformed_definitions(v2):
    before = len(v2.get_apis()["Items"])
    for body, words in BAD_HTTP_BODIES:
        with pytest.raises(ClientError) as refused:
            v2.import_api(Body=body)
        error = refused.value.response["Error"]
        assert error["Code"] == "BadRequestException" and words in error["Message"], (body, error)
    assert len(v2.get_apis()["Items"]) == before
    with pytest.raises(ClientError) as missing:
        v2.reimport_api(ApiId="nosuchapi0", Body='{"openapi": "3.0.1", "paths": {}}')
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
