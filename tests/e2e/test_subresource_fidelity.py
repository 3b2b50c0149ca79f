"""Answers of a function's sub-resources as AWS gives them (LocalStack's AWS-recorded tests are the source):
tags on event source mappings, the account concurrency errors' body, layer validation wording (AWS's own
runtime sets and list constraints), destination ARN patterns, and the RevisionId a publish moves.

One Stratus server of this module's own, pointed at the session's moto_server for the SQS mappings.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.support.server import StratusServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
LAYER = make_zip({"python/helper.py": "VALUE = 1\n"})
# AWS's words for an unknown runtime among a layer's CompatibleRuntimes: the runtimes one may create functions with.
CREATABLE = ("nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, "
             "python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, "
             "dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2")
WAIT_S = 3  # the pollers' SQS long poll: a create must not wait behind a stopped poller's


@pytest.fixture(scope="module")
def server(moto_endpoint, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("subresources") / "data"
    env = {**moto_endpoint.service_env(), "STRATUS_ESM_SQS_WAIT_S": str(WAIT_S)}
    with StratusServer(data_dir, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


@pytest.fixture(scope="module")
def queue_arn(moto_endpoint):
    sqs = moto_endpoint.client("sqs")
    url = sqs.create_queue(QueueName="subresource-fidelity")["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create(lam, name: str, **extra) -> dict:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": CODE}, **extra)


def refused(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    return excinfo.value.response


def deleted(lam, mapping_id: str) -> None:
    lam.delete_event_source_mapping(UUID=mapping_id)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            lam.get_event_source_mapping(UUID=mapping_id)
        except lam.exceptions.ResourceNotFoundException:
            return
        time.sleep(0.05)
    raise AssertionError(f"mapping {mapping_id} still there 30 s after its delete")


# ---------------------------------------------------------------------------------------- event source mappings

def test_mapping_tags_from_create_and_tag_resource(lam, queue_arn):
    create(lam, "esm-tags")
    mapping = lam.create_event_source_mapping(FunctionName="esm-tags", EventSourceArn=queue_arn,
                                              Tags={"team": "blue"})
    arn = mapping["EventSourceMappingArn"]
    try:
        assert lam.list_tags(Resource=arn)["Tags"] == {"team": "blue"}
        lam.tag_resource(Resource=arn, Tags={"A": "tag-a", "team": "red"})
        assert lam.list_tags(Resource=arn)["Tags"] == {"team": "red", "A": "tag-a"}
        lam.untag_resource(Resource=arn, TagKeys=["team", "missing"])
        assert lam.list_tags(Resource=arn)["Tags"] == {"A": "tag-a"}
        assert lam.list_tags(Resource=lam.get_function(FunctionName="esm-tags")["Configuration"]["FunctionArn"])[
            "Tags"] == {}  # the function's tags are its own
    finally:
        deleted(lam, mapping["UUID"])
    for call, kwargs in ((lam.list_tags, {}), (lam.tag_resource, {"Tags": {"A": "B"}}),
                         (lam.untag_resource, {"TagKeys": ["A"]})):
        response = refused(call, Resource=arn, **kwargs)
        assert response["Error"] == {"Code": "ResourceNotFoundException",
                                     "Message": f"Event source mapping not found: {arn}"}


def test_mappings_created_one_after_another_answer_at_once(lam, queue_arn):
    """Each delete leaves its poller's long poll running for a while; the next create must not wait for it."""
    function = create(lam, "esm-sequence")
    version = lam.publish_version(FunctionName="esm-sequence")
    alias = lam.create_alias(FunctionName="esm-sequence", Name="live", FunctionVersion=version["Version"])
    references = ["esm-sequence", "esm-sequence:$LATEST", "esm-sequence:1", "esm-sequence:live",
                  function["FunctionArn"], version["FunctionArn"], alias["AliasArn"]]
    for reference in references:
        started = time.monotonic()
        mapping = lam.create_event_source_mapping(FunctionName=reference, EventSourceArn=queue_arn)
        assert time.monotonic() - started < WAIT_S / 2, f"CreateEventSourceMapping({reference}) waited"
        assert mapping["State"] == "Creating"
        expected = function["FunctionArn"] + ("" if reference in ("esm-sequence", function["FunctionArn"]) else
                                              ":" + reference.rpartition(":")[2])
        assert mapping["FunctionArn"] == expected
        deadline = time.monotonic() + 30
        while lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] != "Enabled":
            assert time.monotonic() < deadline, "mapping never became Enabled"
            time.sleep(0.05)
        deleted(lam, mapping["UUID"])


# ---------------------------------------------------------------------------------------- concurrency

def test_account_concurrency_refusals_carry_no_type(lam):
    create(lam, "concurrency-limits")
    limit = lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    response = refused(lam.put_function_concurrency, FunctionName="concurrency-limits",
                       ReservedConcurrentExecutions=limit)
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["message"].startswith("Specified ReservedConcurrentExecutions for function decreases account's "
                                          "UnreservedConcurrentExecution below its minimum value of [")
    assert "Type" not in response  # AWS leaves it out of these answers (and keeps it in others)
    version = lam.publish_version(FunctionName="concurrency-limits")["Version"]
    response = refused(lam.put_provisioned_concurrency_config, FunctionName="concurrency-limits",
                       Qualifier=version, ProvisionedConcurrentExecutions=limit + 1)
    assert response["message"] == ("Specified ConcurrentExecutions for function is greater than account's unreserved "
                                   f"concurrency [{limit}].")
    assert "Type" not in response
    qualified = lam.get_function_configuration(FunctionName="concurrency-limits", Qualifier="$LATEST")["FunctionArn"]
    response = refused(lam.put_function_concurrency, FunctionName=qualified, ReservedConcurrentExecutions=0)
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["Type"] == "User"


# ---------------------------------------------------------------------------------------- layers

def test_layer_runtime_and_architecture_refusals_in_aws_words(lam):
    message = refused(lam.list_layers, CompatibleRuntime="runtimedoesnotexist")["Error"]["Message"]
    assert message.startswith("1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' "
                              "failed to satisfy constraint: Member must satisfy enum value set: [ruby3.5, ruby2.6, ")
    response = refused(lam.publish_layer_version, LayerName="bad-layer", Content={"ZipFile": LAYER},
                       CompatibleRuntimes=["invalidruntime", "nodejs20.x"], CompatibleArchitectures=["invalidarch"])
    assert response["Error"] == {"Code": "ValidationException", "Message": (
        "2 validation errors detected: Value '[invalidruntime, nodejs20.x]' at 'compatibleRuntimes' failed to "
        f"satisfy constraint: Member must satisfy enum value set: [{CREATABLE}]; Value '[invalidarch]' at "
        "'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must "
        "satisfy enum value set: [x86_64, arm64], Member must not be null]")}
    # Deprecated runtimes are still fine for a layer.
    published = lam.publish_layer_version(LayerName="old-runtimes", Content={"ZipFile": LAYER},
                                          CompatibleRuntimes=["python3.7", "go1.x", "provided"])
    assert published["CompatibleRuntimes"] == ["python3.7", "go1.x", "provided"]


def test_function_layers_without_a_version_in_aws_words(lam):
    layer = lam.publish_layer_version(LayerName="unversioned", Content={"ZipFile": LAYER})
    create(lam, "layer-user")
    response = refused(lam.update_function_configuration, FunctionName="layer-user", Layers=[layer["LayerArn"]])
    assert response["Error"]["Message"] == (
        f"1 validation error detected: Value '[{layer['LayerArn']}]' at 'layers' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have "
        "length greater than or equal to 1, Member must satisfy regular expression pattern: "
        r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
        r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]")


# ---------------------------------------------------------------------------------------- destinations, URLs, revisions

def test_destination_arn_pattern_is_aws_current_one(lam):
    create(lam, "destinations")
    bad = "arn:aws:_-/!lambda:us-east-1:111111111111:function:target"
    response = refused(lam.put_function_event_invoke_config, FunctionName="destinations",
                       DestinationConfig={"OnFailure": {"Destination": bad}})
    assert response["Error"]["Message"] == (
        f"1 validation error detected: Value '{bad}' at 'destinationConfig.onFailure.destination' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: $|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|"
        r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:"
        r"(\d{12})?:(.*)")


def test_url_config_invoke_mode_enum_in_aws_order(lam):
    create(lam, "url-modes")
    response = refused(lam.create_function_url_config, FunctionName="url-modes", AuthType="NONE",
                       InvokeMode="UNKNOWN")
    assert response["Error"]["Message"] == (
        "1 validation error detected: Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: Member must "
        "satisfy enum value set: [RESPONSE_STREAM, BUFFERED]")


def test_publish_moves_the_latest_revision_and_an_alias_does_not(lam):
    create(lam, "revisions")
    before = lam.get_function(FunctionName="revisions")["Configuration"]["RevisionId"]
    version = lam.publish_version(FunctionName="revisions", RevisionId=before)
    latest = lam.get_function(FunctionName="revisions")["Configuration"]["RevisionId"]
    assert latest not in (before, version["RevisionId"])
    assert lam.get_function(FunctionName="revisions", Qualifier="1")["Configuration"]["RevisionId"] == \
        version["RevisionId"]
    lam.create_alias(FunctionName="revisions", Name="live", FunctionVersion="1")
    assert lam.get_function(FunctionName="revisions")["Configuration"]["RevisionId"] == latest
    # Nothing changed since version 1: publishing again gives version 1, and $LATEST still runs as before.
    assert lam.publish_version(FunctionName="revisions")["Version"] == "1"
    assert lam.invoke(FunctionName="revisions", Payload=b'{"ok": 1}')["Payload"].read() == b'{"ok": 1}'
