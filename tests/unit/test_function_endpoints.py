"""AWS_ENDPOINT_URL_* names and values (invoke/endpoints.py): as botocore (and the SDK v3) spell them."""

from stratus.config import Settings
from stratus.invoke.endpoints import endpoint_variables, loopback_ports, variable_name


def test_variable_names_are_botocores():
    assert [variable_name(name) for name in ("lambda", "events", "secretsmanager", "stepfunctions", "logs",
                                             "dynamodbstreams", "sqs")] == [
        "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        "AWS_ENDPOINT_URL_SQS"]


def test_stratus_services_then_configured_ones_and_the_wildcard():
    services = Settings(service_endpoints="sqs=http://127.0.0.1:4566, *=http://localhost:9000,"
                                          "events=http://bus:1,bad").service_endpoint_map()
    assert endpoint_variables("http://127.0.0.1:8421", services) == {
        "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:8421", "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:8421",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:8421", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:8421",
        "AWS_ENDPOINT_URL_EVENTBRIDGE": "http://bus:1",
        "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL": "http://localhost:9000"}
    assert loopback_ports(services) == (4566, 9000)
    assert loopback_ports({"s3": "https://[::1]", "x": "http://example.com:1", "y": "http://127.0.0.1:bad"}) == (443,)


def test_local_endpoint_is_the_servers_loopback_url():
    assert Settings(port=1).local_endpoint == "http://127.0.0.1:1"
    assert Settings(host="0.0.0.0", port=2).local_endpoint == "http://127.0.0.1:2"
    assert Settings(host="::1", port=3, tls_cert="c").local_endpoint == "https://[::1]:3"
