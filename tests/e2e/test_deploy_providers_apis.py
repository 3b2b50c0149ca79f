"""The API, schedule and queue providers (deploy/providers/{apigateway,apigatewayv2,events,sqs,sns,dynamodb,s3}.py)
driven one resource at a time, with properties as the deploy engine hands them over (intrinsics resolved, shaped as
aws-sam-translator writes them), against a real `stratus serve` and a real moto_server; the results checked with
boto3 and over HTTP. `Context` is the part of deploy/engine.py's context providers use: boto3 clients of the
server (and of moto for sqs/sns/dynamodb/s3 when given), generated names, logical ids, base URLs."""

from __future__ import annotations

import json
import secrets
import string
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stratus.deploy.providers import apigateway, apigatewayv2, dynamodb, events, s3, sns, sqs  # noqa: F401
from stratus.deploy.providers.base import PROVIDERS, Applied, ResourceFailed, ResourceState
from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
APP = '''
import base64, json

def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    if path.endswith(".png"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x89PNG-bytes").decode()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"message": "hello world", "path": path,
                                "params": event.get("pathParameters")})}
'''
OWN = ("lambda", "events", "apigateway", "apigatewayv2", "iam", "logs", "sts")


class Context:
    """What a provider may use (providers/base.py's DeployContext), for a stack named `stack`."""

    def __init__(self, server, services_endpoint: str | None = None, stack: str = "prov"):
        self.server = server
        self.services_endpoint = services_endpoint
        self.stack_name = stack
        self.stack_id = f"arn:aws:cloudformation:us-east-1:000000000000:stack/{stack}/x"
        self.region, self.account_id, self.partition = "us-east-1", "000000000000", "aws"
        self.resources: dict[str, str] = {}  # physical id → logical id

    def client(self, service: str):
        endpoint = self.server.endpoint if service in OWN else self.services_endpoint
        if endpoint is None:
            raise ResourceFailed(f"no endpoint is configured for {service} (STRATUS_SERVICE_ENDPOINTS)")
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}))

    def physical_name(self, logical_id: str, max_length: int = 64) -> str:
        suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(13))
        return f"{self.stack_name}-{logical_id}-{suffix}"[-max_length:]

    def logical_id_of(self, physical_id: str) -> str | None:
        return self.resources.get(physical_id)

    def api_base_url(self, api_id: str, stage: str | None) -> str:
        return f"{self.server.endpoint}/_stratus/api/{api_id}" + (f"/{stage}" if stage else "")

    # the engine's part, reduced: apply one resource and remember it
    def create(self, logical_id: str, kind: str, properties: dict) -> ResourceState:
        applied: Applied = PROVIDERS[kind].create(self, logical_id, properties)
        self.resources[applied.physical_id] = logical_id
        return ResourceState(logical_id, kind, applied.physical_id, properties, applied.attributes, applied.endpoint)

    def update(self, state: ResourceState, properties: dict) -> ResourceState:
        applied = PROVIDERS[state.resource_type].update(self, state, properties)
        self.resources[applied.physical_id] = state.logical_id
        return ResourceState(state.logical_id, state.resource_type, applied.physical_id, properties,
                             applied.attributes, applied.endpoint)

    def delete(self, state: ResourceState) -> None:
        PROVIDERS[state.resource_type].delete(self, state)


def get(url: str, headers: dict | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def invocation_uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def rest_body(arn: str, paths: list[str]) -> dict:
    """ServerlessRestApi's Body as aws-sam-translator writes it (Cors on the first path), intrinsics resolved."""
    integration = {"httpMethod": "POST", "type": "aws_proxy", "uri": invocation_uri(arn)}
    body: dict = {"swagger": "2.0", "info": {"version": "1.0", "title": "prov"},
                  "paths": {path: {"get": {"x-amazon-apigateway-integration": integration, "responses": {}}}
                            for path in paths}}
    body["paths"][paths[0]]["options"] = {
        "responses": {"200": {"description": "Default response for CORS method"}},
        "x-amazon-apigateway-integration": {
            "type": "mock", "requestTemplates": {"application/json": "{\n  \"statusCode\" : 200\n}\n"},
            "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{}\n"},
                                      "responseParameters": {
                                          "method.response.header.Access-Control-Allow-Origin": "'*'"}}}}}
    return body


@pytest.fixture
def function_arn(lam, fn_name):
    arn = lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                              Code={"ZipFile": make_zip({"app.py": APP})}, Timeout=30)["FunctionArn"]
    yield arn
    lam.delete_function(FunctionName=fn_name)


def test_rest_api_deployment_and_stage_providers_serve_and_update(server, function_arn):
    ctx = Context(server)
    api = ctx.create("ServerlessRestApi", "AWS::ApiGateway::RestApi",
                     {"Body": rest_body(function_arn, ["/hello", "/img/{name}"]), "BinaryMediaTypes": ["image~1png"]})
    api_id = api.physical_id
    assert api.attributes["RestApiId"] == api_id and api.attributes["RootResourceId"]
    deployment = ctx.create("ServerlessRestApiDeploymentaaaa", "AWS::ApiGateway::Deployment",
                            {"RestApiId": api_id, "Description": "RestApi deployment id: aaaa", "StageName": "Stage"})
    stage = ctx.create("ServerlessRestApiProdStage", "AWS::ApiGateway::Stage",
                       {"RestApiId": api_id, "DeploymentId": deployment.physical_id, "StageName": "Prod"})
    endpoint = stage.endpoint
    assert stage.physical_id == "Prod" and endpoint is not None
    assert (endpoint.owner, endpoint.kind) == ("ServerlessRestApi", "REST")
    assert endpoint.base_url.endswith(f"/{api_id}/Prod")
    assert endpoint.routes == [("GET", "/hello"), ("GET", "/img/{name}"), ("OPTIONS", "/hello")]

    status, _, body = get(endpoint.base_url + "/hello")
    assert status == 200 and json.loads(body)["message"] == "hello world"
    status, headers, body = get(endpoint.base_url + "/img/cat.png", {"Accept": "image/png"})
    assert status == 200 and body == b"\x89PNG-bytes" and headers["Content-Type"] == "image/png"
    request = urllib.request.Request(endpoint.base_url + "/hello", method="OPTIONS")
    with urllib.request.urlopen(request, timeout=30) as preflight:
        assert preflight.status == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"

    # A new Body: PutRestApi overwrite, then (as SAM names it) a new Deployment and the Stage moved to it.
    api = ctx.update(api, {"Body": rest_body(function_arn, ["/bye"]), "BinaryMediaTypes": ["image~1png"]})
    assert api.physical_id == api_id
    second = ctx.create("ServerlessRestApiDeploymentbbbb", "AWS::ApiGateway::Deployment",
                        {"RestApiId": api_id, "Description": "RestApi deployment id: bbbb", "StageName": "Stage"})
    stage = ctx.update(stage, {"RestApiId": api_id, "DeploymentId": second.physical_id, "StageName": "Prod",
                               "Variables": {"color": "blue"}})
    assert stage.endpoint.routes == [("GET", "/bye"), ("OPTIONS", "/bye")]
    assert get(stage.endpoint.base_url + "/hello")[0] == 403
    assert json.loads(get(stage.endpoint.base_url + "/bye")[2])["path"] == "/bye"
    rest = ctx.client("apigateway")
    assert rest.get_stage(restApiId=api_id, stageName="Prod")["variables"] == {"color": "blue"}
    ctx.delete(deployment)  # the old deployment goes after the update: its "Stage" stage serves the new one now
    assert {s["stageName"] for s in rest.get_stages(restApiId=api_id)["item"]} == {"Prod", "Stage"}

    for state in (stage, second, api):
        ctx.delete(state)
        ctx.delete(state)  # a second delete (a rollback's retry) succeeds
    with pytest.raises(ClientError):
        rest.get_rest_api(restApiId=api_id)


def test_rest_api_piecewise_resources_methods_and_authorizer(server, function_arn):
    ctx = Context(server)
    api = ctx.create("Api", "AWS::ApiGateway::RestApi", {"Name": "piecewise"})
    api_id = api.physical_id
    items = ctx.create("Items", "AWS::ApiGateway::Resource",
                       {"RestApiId": api_id, "ParentId": api.attributes["RootResourceId"], "PathPart": "items"})
    auth = ctx.create("Auth", "AWS::ApiGateway::Authorizer",
                      {"RestApiId": api_id, "Name": "gate", "Type": "TOKEN", "AuthorizerUri": invocation_uri(
                          function_arn), "IdentitySource": "method.request.header.Authorization"})
    get_items = ctx.create("GetItems", "AWS::ApiGateway::Method", {
        "RestApiId": api_id, "ResourceId": items.physical_id, "HttpMethod": "GET", "AuthorizationType": "NONE",
        "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": invocation_uri(function_arn)}})
    options = ctx.create("OptionsItems", "AWS::ApiGateway::Method", {
        "RestApiId": api_id, "ResourceId": items.physical_id, "HttpMethod": "OPTIONS", "AuthorizationType": "NONE",
        "Integration": {"Type": "MOCK", "RequestTemplates": {"application/json": '{"statusCode": 204}'},
                        "IntegrationResponses": [{"StatusCode": "204", "ResponseParameters": {
                            "method.response.header.Access-Control-Allow-Origin": "'https://a.test'"}}]},
        "MethodResponses": [{"StatusCode": "204", "ResponseParameters": {
            "method.response.header.Access-Control-Allow-Origin": True}}]})
    deployment = ctx.create("Deployment", "AWS::ApiGateway::Deployment", {"RestApiId": api_id, "StageName": "v1"})
    base = ctx.api_base_url(api_id, "v1")
    assert json.loads(get(base + "/items")[2])["path"] == "/items"
    request = urllib.request.Request(base + "/items", method="OPTIONS")
    with urllib.request.urlopen(request, timeout=30) as preflight:
        assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Origin"] == "https://a.test"
    rest = ctx.client("apigateway")
    assert rest.get_authorizer(restApiId=api_id, authorizerId=auth.physical_id)["type"] == "TOKEN"
    for state in (deployment, options, get_items, auth, items, api):
        ctx.delete(state)


def test_http_api_providers_body_stage_reimport_and_quick_create(server, function_arn):
    ctx = Context(server)
    integration = {"httpMethod": "POST", "type": "aws_proxy", "uri": invocation_uri(function_arn),
                   "payloadFormatVersion": "2.0"}
    body = {"openapi": "3.0.1", "info": {"version": "1.0", "title": "prov"},
            "paths": {"/items/{id}": {"get": {"x-amazon-apigateway-integration": integration, "responses": {}}}},
            "x-amazon-apigateway-cors": {"allowOrigins": ["*"]}}
    api = ctx.create("ServerlessHttpApi", "AWS::ApiGatewayV2::Api", {"Body": body})
    api_id = api.physical_id
    assert api.attributes["ApiEndpoint"].startswith("http://") and api.endpoint is None
    stage = ctx.create("ServerlessHttpApiApiGatewayDefaultStage", "AWS::ApiGatewayV2::Stage",
                       {"ApiId": api_id, "StageName": "$default", "AutoDeploy": True})
    assert stage.endpoint.owner == "ServerlessHttpApi" and stage.endpoint.kind == "HTTP"
    assert stage.endpoint.base_url.endswith(f"/_stratus/api/{api_id}")
    assert stage.endpoint.routes == [("GET", "/items/{id}")]
    status, _, reply = get(stage.endpoint.base_url + "/items/42")
    assert status == 200 and json.loads(reply)["params"] == {"id": "42"}

    body["paths"]["/$default"] = {"x-amazon-apigateway-any-method": {
        "x-amazon-apigateway-integration": integration, "responses": {}}}
    api = ctx.update(api, {"Body": body, "CorsConfiguration": {"AllowOrigins": ["https://b.test"], "MaxAge": "5"}})
    assert api.physical_id == api_id
    v2 = ctx.client("apigatewayv2")
    assert v2.get_api(ApiId=api_id)["CorsConfiguration"] == {"AllowOrigins": ["https://b.test"], "MaxAge": 5}
    assert json.loads(get(stage.endpoint.base_url + "/other")[2])["path"] == "/other"
    for state in (stage, api):
        ctx.delete(state)
    with pytest.raises(ClientError):
        v2.get_api(ApiId=api_id)

    quick = ctx.create("Quick", "AWS::ApiGatewayV2::Api", {"Name": "quick", "ProtocolType": "HTTP",
                                                           "Target": function_arn})
    assert quick.endpoint.routes == [("ANY", "/{proxy+}")]
    assert json.loads(get(quick.endpoint.base_url + "/x/y")[2])["path"] == "/x/y"
    ctx.delete(quick)
    with pytest.raises(ResourceFailed, match="BadRequestException"):
        ctx.create("Socket", "AWS::ApiGatewayV2::Api", {"Name": "ws", "ProtocolType": "WEBSOCKET"})
    with pytest.raises(ResourceFailed, match="Errors found during import"):
        ctx.create("Bad", "AWS::ApiGatewayV2::Api", {"Body": {"openapi": "3.0.1", "paths": {"x": {}}}})


def test_events_rule_provider_schedule_targets_update_and_delete(server, function_arn):
    ctx = Context(server)
    events_client = ctx.client("events")
    targets = [{"Arn": function_arn, "Id": "FnSchedLambdaTarget", "Input": '{"a": 1}'}]
    rule = ctx.create("FnSched", "AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)", "Targets": targets})
    name = rule.physical_id
    assert name.startswith("prov-FnSched-") and rule.attributes["Arn"].endswith(f":rule/{name}")
    described = events_client.describe_rule(Name=name)
    assert described["ScheduleExpression"] == "rate(1 minute)" and described["State"] == "ENABLED"
    (target,) = events_client.list_targets_by_rule(Rule=name)["Targets"]
    assert target["Arn"] == function_arn and target["Input"] == '{"a": 1}'

    rule = ctx.update(rule, {"ScheduleExpression": "rate(5 minutes)", "State": "DISABLED", "Targets": [
        {"Arn": function_arn, "Id": "Other", "InputTransformer": {"InputPathsMap": {"t": "$.time"},
                                                                  "InputTemplate": '{"at": <t>}'}}]})
    assert rule.physical_id == name
    described = events_client.describe_rule(Name=name)
    assert (described["ScheduleExpression"], described["State"]) == ("rate(5 minutes)", "DISABLED")
    assert [t["Id"] for t in events_client.list_targets_by_rule(Rule=name)["Targets"]] == ["Other"]

    pattern = ctx.create("OnOrder", "AWS::Events::Rule", {
        "EventPattern": {"source": ["shop"]}, "Targets": [{"Arn": function_arn, "Id": "t", "InputPath": "$.detail"}]})
    assert json.loads(events_client.describe_rule(Name=pattern.physical_id)["EventPattern"]) == {"source": ["shop"]}
    for state in (rule, pattern):
        ctx.delete(state)
        ctx.delete(state)
    with pytest.raises(ClientError):
        events_client.describe_rule(Name=name)
    with pytest.raises(ResourceFailed, match="ValidationException"):
        ctx.create("Bad", "AWS::Events::Rule", {"ScheduleExpression": "rate(never)"})


def test_queue_topic_table_bucket_providers_on_the_configured_endpoints(server, moto_endpoint):
    ctx = Context(server, moto_endpoint.endpoint)
    sqs_client, sns_client = moto_endpoint.client("sqs"), moto_endpoint.client("sns")
    dlq = ctx.create("DeadLetters", "AWS::SQS::Queue", {})
    queue = ctx.create("Queue", "AWS::SQS::Queue", {
        "VisibilityTimeout": 60, "MessageRetentionPeriod": "3600",
        "RedrivePolicy": {"deadLetterTargetArn": dlq.attributes["Arn"], "maxReceiveCount": 3}})
    url = queue.physical_id
    assert queue.attributes["QueueUrl"] == url and queue.attributes["QueueName"].startswith("prov-Queue-")
    attributes = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == queue.attributes["Arn"] and attributes["VisibilityTimeout"] == "60"
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq.attributes["Arn"]
    queue = ctx.update(queue, {"VisibilityTimeout": 90})  # retention and redrive go back to SQS's defaults
    attributes = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "90" and attributes["MessageRetentionPeriod"] == "345600"
    assert "RedrivePolicy" not in attributes or not attributes["RedrivePolicy"]
    fifo = ctx.create("Orders", "AWS::SQS::Queue", {"FifoQueue": True, "ContentBasedDeduplication": True})
    assert fifo.attributes["QueueName"].endswith(".fifo")
    policy_document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                               "Action": "sqs:SendMessage", "Resource": "*"}]}
    policy = ctx.create("QueuePolicy", "AWS::SQS::QueuePolicy", {"PolicyDocument": policy_document, "Queues": [url]})
    stored = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    assert json.loads(stored)["Statement"][0]["Action"] == "sqs:SendMessage"

    topic = ctx.create("Topic", "AWS::SNS::Topic", {"DisplayName": "news", "Subscription": [
        {"Protocol": "sqs", "Endpoint": queue.attributes["Arn"]}]})
    arn = topic.physical_id
    assert topic.attributes == {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}
    (subscribed,) = sns_client.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert subscribed["Endpoint"] == queue.attributes["Arn"]
    subscription = ctx.create("Sub", "AWS::SNS::Subscription", {
        "TopicArn": arn, "Protocol": "sqs", "Endpoint": dlq.attributes["Arn"], "RawMessageDelivery": True})
    assert sns_client.get_subscription_attributes(SubscriptionArn=subscription.physical_id)["Attributes"][
        "RawMessageDelivery"] == "true"
    sns_client.publish(TopicArn=arn, Message="hi")
    message = sqs_client.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]
    assert json.loads(message["Body"])["Message"] == "hi"

    table = ctx.create("Table", "AWS::DynamoDB::Table", {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}], "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamViewType": "NEW_IMAGE"}})
    assert table.attributes["Arn"].endswith(f":table/{table.physical_id}")
    assert table.attributes["StreamArn"].startswith(table.attributes["Arn"] + "/stream/")
    dynamo = moto_endpoint.client("dynamodb")
    dynamo.put_item(TableName=table.physical_id, Item={"id": {"S": "1"}})

    bucket = ctx.create("UploadsBucket", "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}})
    name = bucket.physical_id
    assert name == name.lower() and len(name) <= 63 and bucket.attributes["Arn"] == f"arn:aws:s3:::{name}"
    assert bucket.attributes["DomainName"] == f"{name}.s3.amazonaws.com"
    s3_client = moto_endpoint.client("s3")
    assert s3_client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    s3_client.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ResourceFailed, match="BucketNotEmpty"):
        ctx.delete(bucket)
    s3_client.delete_object(Bucket=name, Key="k")
    for version in s3_client.list_object_versions(Bucket=name).get("DeleteMarkers", []) + \
            s3_client.list_object_versions(Bucket=name).get("Versions", []):
        s3_client.delete_object(Bucket=name, Key="k", VersionId=version["VersionId"])

    for state in (bucket, table, subscription, topic, policy, fifo, queue, dlq):
        ctx.delete(state)
        ctx.delete(state)
    with pytest.raises(ClientError):
        sqs_client.get_queue_attributes(QueueUrl=url)
    assert arn not in [t["TopicArn"] for t in sns_client.list_topics()["Topics"]]
    with pytest.raises(ClientError):
        dynamo.describe_table(TableName=table.physical_id)
