"""Functions answered as AWS answers them (LocalStack's AWS-recorded snapshots are the reference): states and
RevisionIds across create and update, the fields AWS always returns and those ListFunctions leaves out, runtime
and size refusals in AWS's words, code AWS accepts that fails at invoke, VpcConfig (checked on a real moto EC2),
and model validation of lists and maps in AWS's (Java) rendering."""

from __future__ import annotations

import io
import os
import uuid
import zipfile

import botocore.exceptions
import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ECHO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
SNAPSTART_OFF = {"ApplyOn": "None", "OptimizationStatus": "Off"}
STATE_FIELDS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
                "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


def refusal(call, **params) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**params)
    return caught.value.response


def create(lam, name: str, **extra) -> dict:
    return lam.create_function(FunctionName=name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": ECHO}, **extra)


def test_create_answers_pending_then_the_function_is_active_under_a_new_revision(lam, fn_name):
    created = create(lam, fn_name)
    assert (created["State"], created["StateReason"], created["StateReasonCode"]) == \
        ("Pending", "The function is being created.", "Creating")
    assert "LastUpdateStatus" not in created and created["SnapStart"] == SNAPSTART_OFF
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    active = lam.get_function(FunctionName=fn_name)["Configuration"]
    assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
    assert "StateReason" not in active and active["RevisionId"] != created["RevisionId"]
    assert active["SnapStart"] == SNAPSTART_OFF and active["RuntimeVersionConfig"]["RuntimeVersionArn"]
    # The create answer's RevisionId is the one before activation: a precondition on it fails, as on AWS.
    stale = refusal(lam.update_function_configuration, FunctionName=fn_name, Timeout=5,
                    RevisionId=created["RevisionId"])
    assert stale["Error"]["Code"] == "PreconditionFailedException" and stale["Type"] == "User"
    assert "message" in stale  # botocore fills the model's member: AWS's body says "message" for this error


def test_updates_answer_in_progress_then_successful(lam, fn_name):
    create(lam, fn_name)
    before = lam.get_function(FunctionName=fn_name)["Configuration"]["RevisionId"]
    for update in (lambda: lam.update_function_configuration(FunctionName=fn_name, Timeout=7),
                   lambda: lam.update_function_code(FunctionName=fn_name, ZipFile=ECHO)):
        answer = update()
        assert (answer["State"], answer["LastUpdateStatus"], answer["LastUpdateStatusReason"],
                answer["LastUpdateStatusReasonCode"]) == ("Active", "InProgress", "The function is being created.",
                                                          "Creating")
        lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name,
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 5})
        settled = lam.get_function(FunctionName=fn_name)["Configuration"]
        assert settled["LastUpdateStatus"] == "Successful" and "LastUpdateStatusReason" not in settled
        assert len({before, answer["RevisionId"], settled["RevisionId"]}) == 3
        before = settled["RevisionId"]


def test_publish_on_create_answers_the_version_under_the_unqualified_arn(lam, fn_name):
    created = create(lam, fn_name, Publish=True)
    assert created["Version"] == "1" and created["FunctionArn"].endswith(f":function:{fn_name}")
    assert created["State"] == "Pending"
    latest = lam.get_function(FunctionName=fn_name, Qualifier="$LATEST")["Configuration"]
    assert latest["FunctionArn"].endswith(f":function:{fn_name}:$LATEST")
    assert lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionArn"].endswith(f":function:{fn_name}")
    republished = lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"app.py": "x = 1\n"}),
                                           Publish=True)
    assert (republished["Version"], republished["State"], republished["StateReasonCode"]) == ("2", "Pending",
                                                                                              "Creating")


def test_list_entries_leave_out_the_state_fields_and_keep_the_variables(lam, fn_name):
    create(lam, fn_name, Environment={"Variables": {"GREETING": "hi"}}, Publish=True)
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == fn_name]
    assert len(listed) == 1 and listed[0]["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert not set(STATE_FIELDS) & set(listed[0]) and listed[0]["SnapStart"] == SNAPSTART_OFF
    every = [f for f in lam.list_functions(FunctionVersion="ALL")["Functions"] if f["FunctionName"] == fn_name]
    assert [f["FunctionArn"].rsplit(":", 1)[1] for f in every] == ["$LATEST", "1"]
    versions = lam.list_versions_by_function(FunctionName=fn_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert all(not set(STATE_FIELDS) & set(v) for v in versions)
    assert "State" in lam.get_function(FunctionName=fn_name, Qualifier="1")["Configuration"]


def test_snapstart_is_stored_and_published_versions_report_it_on(lam, fn_name):
    # (python3.12: SnapStart's runtimes are python3.12 and later, as on AWS)
    lam.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": ECHO})
    updated = lam.update_function_configuration(FunctionName=fn_name, SnapStart={"ApplyOn": "PublishedVersions"})
    assert updated["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    version = lam.publish_version(FunctionName=fn_name)
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}


@pytest.mark.parametrize("runtime,message", [
    ("PYTHON3.12",
     "Value PYTHON3.12 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, "),
    ("python3.7",
     "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. "
     "We recommend you use a supported runtime while creating or updating functions."),
    ("provided", "The runtime parameter of provided is no longer supported"),
])
def test_runtimes_are_refused_in_awss_words(lam, fn_name, runtime, message):
    on_create = refusal(lam.create_function, FunctionName=fn_name, Runtime=runtime, Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": ECHO})
    create(lam, fn_name)
    on_update = refusal(lam.update_function_configuration, FunctionName=fn_name, Runtime=runtime)
    for response in (on_create, on_update):
        assert response["Error"]["Code"] == "InvalidParameterValueException"
        assert response["Error"]["Message"].startswith(message) and response["Type"] == "User"


def test_code_without_the_handler_is_accepted_and_fails_at_invoke(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": make_zip({"other.py": "x = 1\n"})})
    answer, payload = invoke_json(lam, fn_name)
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == "Unable to import module 'index': No module named 'index'"


def test_a_custom_runtime_without_bootstrap_fails_with_invalid_entrypoint(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": make_zip({"readme.txt": "no bootstrap\n"})})
    answer, payload = invoke_json(lam, fn_name)
    assert answer["FunctionError"] == "Unhandled" and payload["errorType"] == "Runtime.InvalidEntrypoint"
    # /var/task as namespaced environments see it; the plain sandbox names the code's real folder.
    assert "Error: Couldn't find valid bootstrap(s): [" in payload["errorMessage"]
    assert payload["errorMessage"].endswith("/bootstrap /opt/bootstrap]")


def stored_zip(size: int) -> bytes:
    """A zip of about `size` bytes that no compression shrinks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
        archive.writestr("pad.bin", os.urandom(size))
    return buffer.getvalue()


def test_size_refusals_name_the_limit_and_operation(lam, fn_name):
    # Over the 50 MB zip limit, while its base64 still fits the 70,167,211-byte request limit.
    zipped = refusal(lam.create_function, FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                     Handler="app.handler", Code={"ZipFile": stored_zip(52_500_000)})
    assert zipped["Error"] == {"Code": "RequestEntityTooLargeException",
                               "Message": "Zipped size must be smaller than 52428800 bytes"}
    create(lam, fn_name)
    whole = refusal(lam.update_function_code, FunctionName=fn_name, ZipFile=stored_zip(53_000_000))
    assert whole["Error"] == {"Code": "RequestEntityTooLargeException",
                              "Message": "Request must be smaller than 70167211 bytes for the UpdateFunctionCode "
                                         "operation"}


@pytest.mark.parametrize("params,message", [
    ({"Architectures": ["X86_64"]},
     "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must "
     "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"),
    ({"Architectures": ["x86_64", "arm64"]},
     "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member "
     "must have length less than or equal to 1"),
    ({"VpcConfig": {"SubnetIds": ["bad-subnet"], "SecurityGroupIds": []}},
     "1 validation error detected: Value '[bad-subnet]' at 'vpcConfig.subnetIds' failed to satisfy constraint: "
     "Member must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length "
     "greater than or equal to 0, Member must satisfy regular expression pattern: subnet-[0-9a-z]*]"),
])
def test_collections_are_validated_in_awss_rendering(lam, fn_name, params, message):
    response = refusal(create, lam=lam, name=fn_name, **params)
    assert response["Error"] == {"Code": "ValidationException", "Message": message}


def test_alias_weights_are_validated_as_a_map(lam, fn_name):
    create(lam, fn_name, Publish=True)
    response = refusal(lam.create_alias, FunctionName=fn_name, Name="live", FunctionVersion="1",
                       RoutingConfig={"AdditionalVersionWeights": {"2": 2.0}})
    assert response["Error"]["Message"] == (
        "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
        "constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member "
        "must have value greater than or equal to 0.0, Member must not be null]")
    key = refusal(lam.create_alias, FunctionName=fn_name, Name="live", FunctionVersion="1",
                  RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}})
    assert key["Error"]["Message"] == (
        "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to "
        "satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
        "Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]")
    latest = refusal(lam.create_alias, FunctionName=fn_name, Name="live", FunctionVersion="$LATEST",
                     RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert latest["Error"]["Message"] == "$LATEST is not supported for an alias pointing to more than 1 version"
    assert "Type" not in latest  # AWS's answer to this one has no Type
    missing = refusal(lam.create_alias, FunctionName=fn_name + "-none", Name="live", FunctionVersion="1")
    assert missing["Error"]["Message"].endswith(f":function:{fn_name}-none:1")


@pytest.fixture(scope="module")
def ec2_server(moto_endpoint, tmp_path_factory):
    """A Stratus server whose EC2 endpoint is the moto server."""
    env = dict(moto_endpoint.service_env(), STRATUS_SANDBOX="plain")
    with StratusServer(tmp_path_factory.mktemp("vpc") / "data", env=env) as running:
        yield running


def test_vpc_config_is_checked_on_ec2_and_answered_with_its_vpc(ec2_server, moto_endpoint):
    lam, ec2 = ec2_server.client(), moto_endpoint.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g{uuid.uuid4().hex[:8]}", Description="d", VpcId=vpc)["GroupId"]
    name = f"vpc-{uuid.uuid4().hex[:8]}"
    created = create(lam, name, VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]})
    assert created["VpcConfig"] == {"SubnetIds": [subnet], "SecurityGroupIds": [group], "VpcId": vpc,
                                    "Ipv6AllowedForDualStack": False}
    removed = lam.update_function_configuration(FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    assert removed["VpcConfig"] == {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "",
                                    "Ipv6AllowedForDualStack": False}
    missing_group = refusal(create, lam=lam, name=name + "-g",
                            VpcConfig={"SubnetIds": ["subnet-0000"], "SecurityGroupIds": ["sg-0000"]})
    assert missing_group["Error"]["Message"].startswith(
        "Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. EC2 Error Message: ")
    missing_subnet = refusal(create, lam=lam, name=name + "-s",
                             VpcConfig={"SubnetIds": ["subnet-0000"], "SecurityGroupIds": [group]})
    assert missing_subnet["Error"]["Message"].startswith(
        "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. EC2 Error Message: ")


@pytest.mark.parametrize("status,reason", [(0, "Runtime exited without providing a reason"),
                                           (3, "Runtime exited with error: exit status 3")])
def test_sys_exit_at_import_is_a_runtime_exit(lam, fn_name, status, reason):
    """As under AWS's awslambdaric (SystemExit is not an init error it reports): the runtime process ends."""
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": f"import sys\nsys.exit({status})\n"})})
    answer, payload = invoke_json(lam, fn_name)
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith(f"Error: {reason}"), payload


def test_publishing_moves_latests_revision_but_not_its_environments(lam, fn_name):
    create(lam, fn_name)
    invoke_json(lam, fn_name, {"warm": 1})
    before = lam.get_function(FunctionName=fn_name)["Configuration"]["RevisionId"]
    version = lam.publish_version(FunctionName=fn_name)
    after = lam.get_function(FunctionName=fn_name)["Configuration"]["RevisionId"]
    assert len({before, version["RevisionId"], after}) == 3  # as AWS's recorded answers show
    assert lam.get_function(FunctionName=fn_name, Qualifier="1")["Configuration"]["RevisionId"] == \
        version["RevisionId"]
    # Nothing changed since: a second publish answers the same version.
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"


def test_the_functions_user_has_lambdas_name(lam, fn_name, server):
    """getpass.getuser() and whoami work inside, as on Lambda (libraries call them for cache folders)."""
    if server.sandbox != "namespaced":
        pytest.skip("the plain sandbox runs functions as host users (no /etc of their own)")
    source = ("import getpass, subprocess\n\ndef handler(event, context):\n"
              "    return [getpass.getuser(), subprocess.getoutput('whoami')]\n")
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": source})})
    assert invoke_json(lam, fn_name)[1] == ["sbx_user1051", "sbx_user1051"]
