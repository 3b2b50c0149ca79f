"""Tags (TagResource, UntagResource, ListTags) and resource-based policies (AddPermission, RemovePermission,
GetPolicy) through boto3 and the AWS CLI v1, against a real server.

The expected policy JSON is AWS's own (botocore's AddPermission/GetPolicy examples and responses recorded
from AWS): compact JSON, members in the order Sid, Effect, Principal, Action, Resource, Condition. Every bad
input gets AWS's error type and leaves tags and policies exactly as they were.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_cli import Aws
from tests.support.server import make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
NO_RESOURCE = "The resource you requested does not exist."
REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. "
                     "Call the GetPolicy API to retrieve the latest Revision Id")
QUALIFIED_TAGS = "Tags on function aliases and versions are not supported. Please specify a function ARN."


def create(lam, name: str, **extra) -> str:
    """Create a function; its ARN."""
    return lam.create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    return event\n"})}, **extra,
    )["FunctionArn"]


def fails(call, **kwargs) -> tuple[int, str, str]:
    """Run a boto3 call that must fail; (HTTP status, error code, message)."""
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def policy_of(lam, name: str, qualifier: str | None = None) -> tuple[str, str] | None:
    """(Policy string, RevisionId) of a function, version or alias; None when it has no policy."""
    try:
        response = lam.get_policy(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        return None
    return response["Policy"], response["RevisionId"]


def statement(sid: str, principal, resource: str, action: str = "lambda:InvokeFunction", condition: str = "") -> str:
    """A statement as AWS writes it (compact JSON, AWS's member order)."""
    text = (f'{{"Sid":"{sid}","Effect":"Allow","Principal":{json.dumps(principal, separators=(",", ":"))},'
            f'"Action":"{action}","Resource":"{resource}"')
    return text + (f',"Condition":{condition}}}' if condition else "}")


def document(*statements: str) -> str:
    return '{"Version":"2012-10-17","Id":"default","Statement":[' + ",".join(statements) + "]}"


@pytest.fixture
def fn(lam, fn_name):
    """A function (tagged {"team": "core"} at creation): (name, ARN); deleted afterwards."""
    arn = create(lam, fn_name, Tags={"team": "core"})
    yield fn_name, arn
    try:
        lam.delete_function(FunctionName=fn_name)
    except ClientError:
        pass


@pytest.fixture
def aws(server, tmp_path):
    return Aws(server.endpoint, tmp_path)


# ============================================================================================ tags

def test_tag_journey_with_boto3(lam, fn):
    name, arn = fn
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}

    lam.tag_resource(Resource=arn, Tags={"B": "b", "team": "platform"})  # adds one, overwrites one
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "platform", "B": "b"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "platform", "B": "b"}

    lam.untag_resource(Resource=arn, TagKeys=["team", "never-set"])  # a missing key is ignored
    assert lam.list_tags(Resource=arn)["Tags"] == {"B": "b"}
    lam.untag_resource(Resource=arn, TagKeys=["B"])
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName=name)  # GetFunction omits an empty tag map, as AWS does

    # Limits: a 128-character key and a 256-character value are fine; 50 tags in all.
    boundary = {"k" * 128: "v" * 256, "unicode ключ": "wert: ü/=+-@_."}
    lam.tag_resource(Resource=arn, Tags=boundary)
    lam.tag_resource(Resource=arn, Tags={f"key{i}": str(i) for i in range(48)})
    assert len(lam.list_tags(Resource=arn)["Tags"]) == 50
    lam.tag_resource(Resource=arn, Tags={"key0": "changed"})  # overwriting at the limit is fine
    before = lam.list_tags(Resource=arn)["Tags"]
    assert before["key0"] == "changed" and before["k" * 128] == "v" * 256

    assert fails(lam.tag_resource, Resource=arn, Tags={"one-more": "x"}) == (
        400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")
    assert lam.list_tags(Resource=arn)["Tags"] == before

    lam.delete_function(FunctionName=name)
    assert fails(lam.list_tags, Resource=arn) == (404, "ResourceNotFoundException", f"Function not found: {arn}")


def test_tags_of_a_version_or_alias_arn_are_refused(lam, fn):
    name, arn = fn
    version = lam.publish_version(FunctionName=name)["FunctionArn"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for qualified in (version, f"{arn}:live", f"{arn}:$LATEST"):
        for call, kwargs in ((lam.tag_resource, {"Tags": {"a": "b"}}), (lam.untag_resource, {"TagKeys": ["team"]}),
                             (lam.list_tags, {})):
            assert fails(call, Resource=qualified, **kwargs) == (400, "InvalidParameterValueException", QUALIFIED_TAGS)
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}


def test_bad_tag_requests_get_aws_errors_and_change_nothing(lam, fn, server):
    name, arn = fn
    unchecked = server.client(parameter_validation=False)
    missing = f"{PREFIX}does-not-exist"
    for call, kwargs in ((lam.tag_resource, {"Tags": {"a": "b"}}), (lam.untag_resource, {"TagKeys": ["a"]}),
                         (lam.list_tags, {})):
        assert fails(call, Resource=missing, **kwargs) == (404, "ResourceNotFoundException",
                                                           f"Function not found: {missing}")
        other_region = arn.replace("us-east-1", "eu-west-1")
        assert fails(call, Resource=other_region, **kwargs)[:2] == (404, "ResourceNotFoundException")
        # Not a taggable Lambda ARN at all (the last one is a layer version) → the model's pattern error.
        for malformed in ("arn:aws:something", "my-function", "arn:aws:lambda:us-east-1:000000000000:layer:lib:1"):
            status, code, message = fails(call, Resource=malformed, **kwargs)
            assert (status, code) == (400, "ValidationException")
            assert message.startswith(f"1 validation error detected: Value '{malformed}' at 'resource' failed to "
                                      "satisfy constraint: Member must satisfy regular expression pattern: arn:")
        mapping = "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        assert fails(call, Resource=mapping, **kwargs) == (404, "ResourceNotFoundException",
                                                           f"Event source mapping not found: {mapping}")

    long_key = "k" * 129
    status, code, message = fails(lam.tag_resource, Resource=arn, Tags={long_key: "v"})
    assert (status, code) == (400, "ValidationException")
    assert message == (
        f"1 validation error detected: Value '{{{long_key}=v}}' at 'tags' failed to satisfy constraint: Map keys must "
        "satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater "
        r"than or equal to 1, Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]")
    status, code, message = fails(lam.tag_resource, Resource=arn, Tags={"k": "v" * 257})
    assert (status, code) == (400, "ValidationException") and "Map value must satisfy constraint" in message
    for bad in ({"bad#key": "v"}, {"k": "bad,value"}, {"": "v"}):
        assert fails(unchecked.tag_resource, Resource=arn, Tags=bad)[:2] == (400, "ValidationException")
    for reserved in ("aws:owner", "AWS:owner", "Aws:x"):
        status, code, message = fails(lam.tag_resource, Resource=arn, Tags={reserved: "v"})
        assert (status, code) == (400, "InvalidParameterValueException") and reserved in message
    assert fails(lam.tag_resource, Resource=arn, Tags={}) == (
        400, "InvalidParameterValueException", "An error occurred and the request cannot be processed.")
    assert fails(lam.untag_resource, Resource=arn, TagKeys=[]) == (
        400, "ValidationException",
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")

    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "core"}


def test_tags_through_the_aws_cli(aws, lam, fn):
    name, arn = fn
    aws.run("tag-resource", "--resource", arn, "--tags", "Department=Sales,Category=Web Tools")
    assert aws.json("list-tags", "--resource", arn) == {
        "Tags": {"team": "core", "Department": "Sales", "Category": "Web Tools"}}
    aws.run("untag-resource", "--resource", arn, "--tag-keys", "team", "Category")
    assert aws.json("list-tags", "--resource", arn) == {"Tags": {"Department": "Sales"}}
    assert "InvalidParameterValueException" in aws.fails("tag-resource", "--resource", f"{arn}:1", "--tags", "a=b")
    assert "ResourceNotFoundException" in aws.fails("list-tags", "--resource", f"{PREFIX}missing-fn")
    assert lam.list_tags(Resource=arn)["Tags"] == {"Department": "Sales"}


# ======================================================================================= policies

def test_policy_documents_are_exactly_what_aws_returns(lam, fn):
    name, arn = fn
    expected = []

    def add(expected_statement: str, **kwargs) -> None:
        response = lam.add_permission(FunctionName=name, **kwargs)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert response["Statement"] == expected_statement
        expected.append(expected_statement)

    # botocore's own AddPermission examples (output copied from AWS's documentation, with our ARN)
    add(statement("s3", {"Service": "s3.amazonaws.com"}, arn,
                  condition='{"StringEquals":{"AWS:SourceAccount":"123456789012"},'
                            '"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::my-bucket-1xpuxmplzrlbh"}}'),
        StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        SourceAccount="123456789012", SourceArn="arn:aws:s3:::my-bucket-1xpuxmplzrlbh")
    add(statement("xaccount", {"AWS": "arn:aws:iam::223456789012:root"}, arn),
        StatementId="xaccount", Action="lambda:InvokeFunction", Principal="223456789012")
    # Responses recorded from AWS (LocalStack's validated snapshots): wildcard, IAM ARN, every optional field,
    # an Alexa skill token.
    add(statement("wildcard", "*", arn, condition='{"StringEquals":{"AWS:SourceAccount":"000000000000"}}'),
        StatementId="wildcard", Action="lambda:InvokeFunction", Principal="*", SourceAccount="000000000000")
    role = "arn:aws:iam::123456789012:role/caller"
    add(statement("role", {"AWS": role}, arn, action="lambda:GetFunction"),
        StatementId="role", Action="lambda:GetFunction", Principal=role)
    add(statement("urlPermission", "*", arn, action="lambda:InvokeFunctionUrl",
                  condition='{"StringEquals":{"AWS:SourceAccount":"000000000000","lambda:FunctionUrlAuthType":"NONE",'
                            '"aws:PrincipalOrgID":"o-1234567890"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::test-bucket"}}'),
        StatementId="urlPermission", Action="lambda:InvokeFunctionUrl", Principal="*",
        SourceArn="arn:aws:s3:::test-bucket", SourceAccount="000000000000", PrincipalOrgID="o-1234567890",
        FunctionUrlAuthType="NONE")
    token = "amzn1.ask.skill.12345678-1234-1234-1234-123456789012"
    add(statement("alexaSkill", {"Service": "alexa-appkit.amazon.com"}, arn,
                  condition=f'{{"StringEquals":{{"lambda:EventSourceToken":"{token}"}}}}'),
        StatementId="alexaSkill", Action="lambda:InvokeFunction", Principal="alexa-appkit.amazon.com",
        EventSourceToken=token)
    add(statement("viaUrl", "*", arn, condition='{"Bool":{"lambda:InvokedViaFunctionUrl":"true"}}'),
        StatementId="viaUrl", Action="lambda:InvokeFunction", Principal="*", InvokedViaFunctionUrl=True)
    add(statement("all-actions", {"Service": "events.amazonaws.com"}, arn, action="lambda:*"),
        StatementId="all-actions", Action="lambda:*", Principal="events.amazonaws.com")

    policy, revision = policy_of(lam, name)
    assert policy == document(*expected)
    assert json.loads(policy)["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"].endswith("1xpuxmplzrlbh")
    assert len(revision) == 36


def test_permission_journey_with_revisions(lam, fn):
    name, arn = fn
    assert policy_of(lam, name) is None
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_RESOURCE)

    # Before the function has a policy, its RevisionId is the precondition; afterwards, the policy's.
    function_revision = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", RevisionId=function_revision)
    first, revision1 = policy_of(lam, name)
    lam.add_permission(FunctionName=arn, StatementId="sqs", Action="lambda:InvokeFunction",
                       Principal="sqs.amazonaws.com", RevisionId=revision1)
    second, revision2 = policy_of(lam, name)
    assert revision2 != revision1
    assert second == document(statement("s3", {"Service": "s3.amazonaws.com"}, arn),
                              statement("sqs", {"Service": "sqs.amazonaws.com"}, arn))

    assert fails(lam.add_permission, FunctionName=name, StatementId="late", Action="lambda:InvokeFunction",
                 Principal="*", RevisionId=revision1) == (412, "PreconditionFailedException", REVISION_MISMATCH)
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s3", RevisionId=revision1) == (
        412, "PreconditionFailedException", REVISION_MISMATCH)
    assert fails(lam.remove_permission, FunctionName=name, StatementId="non-existent") == (
        404, "ResourceNotFoundException", "Statement non-existent is not found in resource policy.")
    assert policy_of(lam, name) == (second, revision2)

    lam.remove_permission(FunctionName=name, StatementId="sqs", RevisionId=revision2)
    third, revision3 = policy_of(lam, name)
    assert third == document(statement("s3", {"Service": "s3.amazonaws.com"}, arn)) and revision3 != revision2
    lam.remove_permission(FunctionName=name, StatementId="s3")
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_RESOURCE)
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s3") == (
        404, "ResourceNotFoundException", "No policy is associated with the given resource.")
    # Policies do not touch the function's configuration.
    assert lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] == function_revision


def test_versions_and_aliases_have_policies_of_their_own(lam, fn):
    name, arn = fn
    lam.publish_version(FunctionName=name)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    kwargs = dict(StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")

    assert fails(lam.get_policy, FunctionName=name, Qualifier="1") == (404, "ResourceNotFoundException", NO_RESOURCE)
    lam.add_permission(FunctionName=name, **kwargs)
    lam.add_permission(FunctionName=f"{name}:1", Qualifier="1", **kwargs)  # the same Sid in each policy
    # An alias without a policy takes the alias's RevisionId as the precondition.
    lam.add_permission(FunctionName=name, Qualifier="live", RevisionId=alias["RevisionId"], **kwargs)

    principal = {"Service": "s3.amazonaws.com"}
    assert policy_of(lam, name)[0] == document(statement("s3", principal, arn))
    assert policy_of(lam, name, "$LATEST")[0] == document(statement("s3", principal, arn))
    assert policy_of(lam, name, "1")[0] == document(statement("s3", principal, f"{arn}:1"))
    assert policy_of(lam, f"{arn}:live")[0] == document(statement("s3", principal, f"{arn}:live"))
    for qualifier, message in (("2", NO_RESOURCE), ("nope", NO_RESOURCE)):
        assert fails(lam.get_policy, FunctionName=name, Qualifier=qualifier) == (
            404, "ResourceNotFoundException", message)

    lam.remove_permission(FunctionName=name, StatementId="s3", Qualifier="live")
    assert policy_of(lam, name, "live") is None
    assert policy_of(lam, name, "1")[0] == document(statement("s3", principal, f"{arn}:1"))
    assert policy_of(lam, name)[0] == document(statement("s3", principal, arn))

    # Deleting the function deletes every policy it had: a new function of the same name starts with none.
    lam.delete_function(FunctionName=name)
    create(lam, name)
    assert policy_of(lam, name) is None
    lam.publish_version(FunctionName=name)
    assert policy_of(lam, name, "1") is None


def test_bad_permission_requests_get_aws_errors_and_change_nothing(lam, fn, server):
    name, arn = fn
    unchecked = server.client(parameter_validation=False)
    lam.publish_version(FunctionName=name)
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::test-bucket")
    before = policy_of(lam, name)
    good = dict(FunctionName=name, StatementId="new", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")

    def refused(expected, client=lam, **changes):
        status, code, message = fails(client.add_permission, **{**good, **changes})
        assert (status, code) == expected[:2]
        if len(expected) == 3:
            assert message == expected[2]
        assert policy_of(lam, name) == before
        assert policy_of(lam, name, "1") is None

    refused((409, "ResourceConflictException", "The statement id (s3) provided already exists. Please provide a new "
                                               "statement id, or remove the existing statement."), StatementId="s3")
    refused((400, "ValidationException", "1 validation error detected: Value 'example.com' at 'statementId' failed "
                                         "to satisfy constraint: Member must satisfy regular expression pattern: "
                                         "([a-zA-Z0-9-_]+)"), StatementId="example.com")
    invalid_principal = "The provided principal was invalid. Please check the principal and try again."
    for principal in ("invalid.nonaws.com", "12345", "arn:aws:s3:::bucket", "someone"):
        refused((400, "InvalidParameterValueException", invalid_principal), Principal=principal)
    refused((400, "ValidationException"), Principal="has space")
    refused((400, "ValidationException"), Action="s3:GetObject")
    refused((400, "ValidationException"), Action="lambda:Invoke-Function")
    refused((400, "ValidationException"), SourceAccount="123")
    refused((400, "ValidationException"), PrincipalOrgID="o-NOT-LOWERCASE")
    refused((400, "ValidationException"), FunctionUrlAuthType="PUBLIC")
    refused((400, "ValidationException"), SourceArn="not-an-arn")
    refused((400, "InvalidParameterValueException", "FunctionUrlAuthType is only supported for "
                                                    "lambda:InvokeFunctionUrl action"), FunctionUrlAuthType="NONE")
    refused((400, "InvalidParameterValueException"), Action="lambda:InvokeFunctionUrl", InvokedViaFunctionUrl=True)
    refused((400, "InvalidParameterValueException", "We currently do not support adding policies for $LATEST."),
            Qualifier="$LATEST")
    refused((400, "InvalidParameterValueException", "We currently do not support adding policies for $LATEST."),
            FunctionName=f"{name}:$LATEST")
    refused((400, "InvalidParameterValueException",
             "The derived qualifier from the function name does not match the specified qualifier."),
            FunctionName=f"{name}:1", Qualifier="2")
    refused((400, "ValidationException", "1 validation error detected: Value 'invalid-?-char' at 'qualifier' failed "
                                         "to satisfy constraint: Member must satisfy regular expression pattern: "
                                         r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"), Qualifier="invalid-?-char")
    refused((404, "ResourceNotFoundException", f"Function not found: {arn}:42"), Qualifier="42")
    refused((404, "ResourceNotFoundException", f"Cannot find alias arn: {arn}:no-alias"), Qualifier="no-alias")
    refused((404, "ResourceNotFoundException", f"Function not found: {arn}:with-$-sign"), Qualifier="with-$-sign")
    refused((404, "ResourceNotFoundException", f"Function not found: {PREFIX}does-not-exist"),
            FunctionName="does-not-exist")
    refused((412, "PreconditionFailedException", REVISION_MISMATCH), RevisionId="stale")
    refused((400, "ValidationException"), client=unchecked, StatementId="")
    refused((400, "ValidationException"), client=unchecked, Principal=None)

    # A policy of exactly 20,480 bytes is accepted; one over it is refused whole.
    bare = statement("big", {"Service": "s3.amazonaws.com"}, arn,
                     condition='{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::"}}')
    fill = 20480 - len(before[0]) - len(",") - len(bare)
    lam.add_permission(**{**good, "StatementId": "big", "SourceArn": "arn:aws:s3:::" + "b" * fill})
    before = policy_of(lam, name)
    assert len(before[0]) == 20480
    status, code, message = fails(lam.add_permission, **good)
    assert (status, code) == (400, "PolicyLengthExceededException")
    assert message.startswith("The final policy size (") and message.endswith(") is bigger than the limit (20480).")
    assert policy_of(lam, name) == before

    # RemovePermission and GetPolicy of things that do not exist.
    assert fails(lam.remove_permission, FunctionName="does-not-exist", StatementId="s3") == (
        404, "ResourceNotFoundException", f"No policy found for: {PREFIX}does-not-exist")
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s3", Qualifier="no-alias") == (
        404, "ResourceNotFoundException", f"Cannot find alias arn: {arn}:no-alias")
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s3", Qualifier="1") == (
        404, "ResourceNotFoundException", "No policy is associated with the given resource.")
    assert fails(lam.remove_permission, FunctionName=name, StatementId="bad*id")[:2] == (400, "ValidationException")
    assert fails(lam.get_policy, FunctionName="does-not-exist") == (404, "ResourceNotFoundException", NO_RESOURCE)
    assert fails(lam.get_policy, FunctionName=name, Qualifier="77") == (404, "ResourceNotFoundException", NO_RESOURCE)
    assert policy_of(lam, name) == before


def test_permissions_through_the_aws_cli(aws, lam, fn):
    name, arn = fn
    added = aws.json("add-permission", "--function-name", name, "--statement-id", "s3",
                     "--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com",
                     "--source-arn", "arn:aws:s3:::my-bucket", "--source-account", "123456789012")
    expected = statement("s3", {"Service": "s3.amazonaws.com"}, arn,
                         condition='{"StringEquals":{"AWS:SourceAccount":"123456789012"},'
                                   '"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::my-bucket"}}')
    assert added == {"Statement": expected}
    aws.run("add-permission", "--function-name", arn, "--statement-id", "xaccount",
            "--action", "lambda:InvokeFunction", "--principal", "223456789012")
    got = aws.json("get-policy", "--function-name", name)
    assert got["Policy"] == document(expected, statement("xaccount", {"AWS": "arn:aws:iam::223456789012:root"}, arn))
    assert got["RevisionId"] == lam.get_policy(FunctionName=name)["RevisionId"]

    assert "ResourceConflictException" in aws.fails(
        "add-permission", "--function-name", name, "--statement-id", "s3", "--action", "lambda:InvokeFunction",
        "--principal", "s3.amazonaws.com")
    assert "PreconditionFailedException" in aws.fails(
        "remove-permission", "--function-name", name, "--statement-id", "s3", "--revision-id", "stale")
    aws.run("remove-permission", "--function-name", name, "--statement-id", "s3")
    aws.run("remove-permission", "--function-name", name, "--statement-id", "xaccount")
    assert "ResourceNotFoundException" in aws.fails("get-policy", "--function-name", name)


def test_restart_keeps_tags_and_policies(fresh_server, tmp_path):
    data_dir = tmp_path / "persistent"
    first = fresh_server(data_dir=data_dir)
    lam = first.client()
    arn = create(lam, "keeper", Tags={"team": "core"})
    lam.tag_resource(Resource=arn, Tags={"cost-center": "42"})
    lam.publish_version(FunctionName="keeper")
    lam.create_alias(FunctionName="keeper", Name="live", FunctionVersion="1")
    for qualifier in (None, "1", "live"):
        lam.add_permission(FunctionName="keeper", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
                           **({"Qualifier": qualifier} if qualifier else {}))
    policies = {qualifier: policy_of(lam, "keeper", qualifier) for qualifier in (None, "1", "live")}
    tags = lam.list_tags(Resource=arn)["Tags"]
    assert tags == {"team": "core", "cost-center": "42"}

    assert first.stop() == 0

    lam = fresh_server(data_dir=data_dir).client()
    assert lam.list_tags(Resource=arn)["Tags"] == tags
    assert {qualifier: policy_of(lam, "keeper", qualifier) for qualifier in (None, "1", "live")} == policies


def test_deleting_a_version_or_alias_drops_its_policy(lam, fn):
    name, arn = fn
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="two")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    kwargs = dict(StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    for qualifier in ("1", "live"):
        lam.add_permission(FunctionName=name, Qualifier=qualifier, **kwargs)
    lam.delete_function(FunctionName=name, Qualifier="1")
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")  # a new alias of the same name
    assert policy_of(lam, name, "live") is None
    assert fails(lam.get_policy, FunctionName=name, Qualifier="1")[1] == "ResourceNotFoundException"
    assert policy_of(lam, name, "2") is None


def test_create_function_applies_the_tag_rules(lam, fn_name):
    too_many = {f"key{i}": "v" for i in range(51)}
    assert fails(create, lam=lam, name=fn_name, Tags=too_many)[:2] == (400, "InvalidParameterValueException")
    assert fails(create, lam=lam, name=fn_name, Tags={"aws:owner": "me"})[:2] == (400, "InvalidParameterValueException")
    assert fails(lam.get_function, FunctionName=fn_name)[1] == "ResourceNotFoundException"  # nothing stored
    create(lam, fn_name, Tags={f"key{i}": "v" for i in range(50)})
    assert len(lam.list_tags(Resource=f"{PREFIX}{fn_name}")["Tags"]) == 50


def test_tagging_changes_the_revision_not_the_environment(lam, fn):
    """As on AWS, TagResource/UntagResource give the function a new RevisionId; how it runs does not
    change, so its warm environment keeps serving and publishing does not make a new version."""
    name, arn = fn
    probe = make_zip({"app.py": "import uuid\nENV = str(uuid.uuid4())\ndef handler(event, context):\n    return ENV\n"})
    lam.update_function_code(FunctionName=name, ZipFile=probe)
    first = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    version = lam.publish_version(FunctionName=name)["Version"]
    before = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    lam.tag_resource(Resource=arn, Tags={"team": "blue"})
    tagged = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    untagged = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    assert len({before, tagged, untagged}) == 3
    assert fails(lam.update_function_configuration, FunctionName=name, Description="x",
                 RevisionId=before)[1] == "PreconditionFailedException"
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == first  # the same environment
    assert lam.publish_version(FunctionName=name)["Version"] == version  # code and configuration unchanged
    lam.update_function_configuration(FunctionName=name, Description="changed", RevisionId=untagged)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) != first  # a real change: a new one
