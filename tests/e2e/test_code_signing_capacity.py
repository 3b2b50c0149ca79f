"""Code signing configs, capacity providers, function scaling configs and the durable execution operations,
with boto3 against a real server; the shapes and messages of LocalStack's AWS-recorded
TestCodeSigningConfig snapshots, and what the model says of the others."""

from __future__ import annotations

import re

import botocore.exceptions
import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/test"
CSC_ARN = re.compile(r"arn:aws:lambda:us-east-1:000000000000:code-signing-config:(csc-[0-9a-f]{17})")
LAMBDA_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
ZIP = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


@pytest.fixture(scope="module")
def lam(tmp_path_factory):
    with StratusServer(tmp_path_factory.mktemp("csc") / "data", env={"STRATUS_SANDBOX": "plain"}) as running:
        yield running.client()


@pytest.fixture
def function(lam, request):
    name = request.node.name.replace("_", "-")[:50]
    lam.create_function(FunctionName=name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": ZIP})
    yield name
    try:
        lam.delete_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        pass


def error_of(call, **params) -> tuple[int, dict]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response


def body_keys(response: dict) -> set[str]:
    return set(response) - {"Error", "ResponseMetadata"}


def test_code_signing_config_lifecycle_as_aws(lam, function):
    created = lam.create_code_signing_config(
        Description="Testing CodeSigning Config", AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    config = created["CodeSigningConfig"]
    arn = config["CodeSigningConfigArn"]
    assert CSC_ARN.fullmatch(arn)[1] == config["CodeSigningConfigId"]
    assert LAMBDA_TIME.fullmatch(config.pop("LastModified"))
    assert config == {"CodeSigningConfigId": config["CodeSigningConfigId"], "CodeSigningConfigArn": arn,
                      "Description": "Testing CodeSigning Config",
                      "AllowedPublishers": {"SigningProfileVersionArns": [PROFILE]},
                      "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Enforce"}}

    updated = lam.update_code_signing_config(CodeSigningConfigArn=arn,
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"})
    assert updated["CodeSigningConfig"]["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert updated["CodeSigningConfig"]["Description"] == "Testing CodeSigning Config"
    unchanged = lam.update_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert unchanged["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]["CodeSigningPolicies"] == \
        {"UntrustedArtifactOnDeployment": "Warn"}

    put = lam.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName=function)
    assert body_keys(put) == {"CodeSigningConfigArn", "FunctionName"}
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, function)
    got = lam.get_function_code_signing_config(FunctionName=function)
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, function)
    listed = lam.list_code_signing_configs()["CodeSigningConfigs"]
    assert arn in [item["CodeSigningConfigArn"] for item in listed]
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
        f"arn:aws:lambda:us-east-1:000000000000:function:{function}"]

    status, conflict = error_of(lam.delete_code_signing_config, CodeSigningConfigArn=arn)  # still in use
    assert (status, conflict["Error"]["Code"]) == (409, "ResourceConflictException")
    deleted = lam.delete_function_code_signing_config(FunctionName=function)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body_keys(lam.get_function_code_signing_config(FunctionName=function)) == set()
    assert lam.delete_code_signing_config(CodeSigningConfigArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 204
    status, gone = error_of(lam.get_code_signing_config, CodeSigningConfigArn=arn)
    assert (status, gone["Error"]["Code"]) == (404, "ResourceNotFoundException")


def test_code_signing_not_found_answers_as_aws(lam, function):
    arn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]["CodeSigningPolicies"] == \
        {"UntrustedArtifactOnDeployment": "Warn"}  # AWS's default
    invalid = arn[:-1] + ("x" if arn[-1] != "x" else "y")
    missing = f"The Lambda code signing configuration {invalid} can not be found."
    for call, params in ((lam.delete_code_signing_config, {}), (lam.get_code_signing_config, {}),
                         (lam.update_code_signing_config, {"Description": "new-description"}),
                         (lam.update_code_signing_config, {}),
                         (lam.list_functions_by_code_signing_config, {})):
        status, response = error_of(call, CodeSigningConfigArn=invalid, **params)
        assert status == 404
        assert response["Error"] == {"Code": "ResourceNotFoundException", "Message": missing}
        assert body_keys(response) == {"Message"}  # no Type, as AWS answers these

    assert lam.delete_function_code_signing_config(FunctionName=function)["ResponseMetadata"][
        "HTTPStatusCode"] == 204  # nothing to delete
    no_function = "Function not found: arn:aws:lambda:us-east-1:000000000000:function:csc-test-doesnotexist"
    for call, params in ((lam.delete_function_code_signing_config, {}),
                         (lam.get_function_code_signing_config, {}),
                         (lam.put_function_code_signing_config, {"CodeSigningConfigArn": arn})):
        status, response = error_of(call, FunctionName="csc-test-doesnotexist", **params)
        assert (status, response["Error"]) == (404, {"Code": "ResourceNotFoundException", "Message": no_function})
        assert response["Type"] == "User"
    csc_missing = ("The code signing configuration cannot be found. Check that the provided configuration is not "
                   f"deleted: {invalid}.")
    for name in (function, "csc-test-doesnotexist"):  # the config is checked before the function
        status, response = error_of(lam.put_function_code_signing_config, FunctionName=name,
                                    CodeSigningConfigArn=invalid)
        assert (status, response["Error"]) == (404, {"Code": "CodeSigningConfigNotFoundException",
                                                     "Message": csc_missing})
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []


def test_a_deleted_function_leaves_no_association(lam, function):
    arn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    lam.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName=function)
    lam.delete_function(FunctionName=function)
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)


def test_capacity_provider_lifecycle(lam):
    vpc = {"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-0123456789abcdef0"]}
    permissions = {"CapacityProviderOperatorRoleArn": ROLE}
    created = lam.create_capacity_provider(CapacityProviderName="cp-one", VpcConfig=vpc,
                                           PermissionsConfig=permissions)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    provider = created["CapacityProvider"]
    arn = "arn:aws:lambda:us-east-1:000000000000:capacity-provider:cp-one"
    assert (provider["CapacityProviderArn"], provider["State"]) == (arn, "Active")
    assert provider["VpcConfig"] == vpc and provider["PermissionsConfig"] == permissions
    assert provider["InstanceRequirements"] == {"Architectures": ["x86_64"]}
    status, response = error_of(lam.create_capacity_provider, CapacityProviderName="cp-one", VpcConfig=vpc,
                                PermissionsConfig=permissions)
    assert (status, response["Error"]["Code"]) == (409, "ResourceConflictException")

    scaling = {"MaxVCpuCount": 16, "ScalingMode": "Manual", "ScalingPolicies": [
        {"PredefinedMetricType": "LambdaCapacityProviderAverageCPUUtilization", "TargetValue": 60.0}]}
    updated = lam.update_capacity_provider(CapacityProviderName=arn, CapacityProviderScalingConfig=scaling)
    assert updated["CapacityProvider"]["CapacityProviderScalingConfig"] == scaling
    assert lam.get_capacity_provider(CapacityProviderName="cp-one")["CapacityProvider"][
        "CapacityProviderScalingConfig"] == scaling
    assert [p["CapacityProviderArn"] for p in lam.list_capacity_providers()["CapacityProviders"]] == [arn]
    assert lam.list_capacity_providers(State="Pending")["CapacityProviders"] == []
    versions = lam.list_function_versions_by_capacity_provider(CapacityProviderName="cp-one")
    assert (versions["CapacityProviderArn"], versions["FunctionVersions"]) == (arn, [])

    status, response = error_of(lam.update_capacity_provider, CapacityProviderName="cp-one",
                                CapacityProviderScalingConfig={"ScalingMode": "Sometimes"})  # not the model's enum
    assert (status, response["Error"]["Code"]) == (400, "ValidationException")
    assert "capacityProviderScalingConfig.scalingMode" in response["Error"]["Message"]

    assert lam.delete_capacity_provider(CapacityProviderName="cp-one")["CapacityProvider"]["State"] == "Deleting"
    for call in (lam.get_capacity_provider, lam.delete_capacity_provider,
                 lam.list_function_versions_by_capacity_provider):
        status, response = error_of(call, CapacityProviderName="cp-one")
        assert (status, response["Error"]) == (404, {"Code": "ResourceNotFoundException",
                                                     "Message": f"Capacity provider not found: {arn}"})


def test_function_scaling_config_of_a_published_version(lam, function):
    status, response = error_of(lam.put_function_scaling_config, FunctionName=function, Qualifier="1",
                                FunctionScalingConfig={"MinExecutionEnvironments": 1})
    assert (status, response["Error"]["Code"]) == (404, "ResourceNotFoundException")  # no version 1 yet
    lam.publish_version(FunctionName=function)
    put = lam.put_function_scaling_config(FunctionName=function, Qualifier="1", FunctionScalingConfig={
        "MinExecutionEnvironments": 1, "MaxExecutionEnvironments": 4})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["FunctionState"] == "Active"
    got = lam.get_function_scaling_config(FunctionName=function, Qualifier="$LATEST.PUBLISHED")
    assert got["FunctionArn"].endswith(f":function:{function}:1")
    assert got["RequestedFunctionScalingConfig"] == got["AppliedFunctionScalingConfig"] == {
        "MinExecutionEnvironments": 1, "MaxExecutionEnvironments": 4}
    status, response = error_of(lam.put_function_scaling_config, FunctionName=function, Qualifier="1",
                                FunctionScalingConfig={"MinExecutionEnvironments": 5, "MaxExecutionEnvironments": 2})
    assert (status, response["Error"]["Code"]) == (400, "InvalidParameterValueException")
    status, response = error_of(lam.put_function_scaling_config, FunctionName=function, Qualifier="1",
                                FunctionScalingConfig={"MaxExecutionEnvironments": 15001})
    assert (status, response["Error"]["Code"]) == (400, "ValidationException")
    status, response = error_of(lam.get_function_scaling_config, FunctionName=function, Qualifier="$LATEST")
    assert (status, response["Error"]["Code"]) == (400, "ValidationException")  # only published versions


def test_durable_execution_operations_answer_as_for_a_missing_execution(lam, function):
    arn = (f"arn:aws:lambda:us-east-1:000000000000:function:{function}:$LATEST/durable-execution/"
           "run-1/0d0a5f7e-7c4a-4a6e-9d3b-2f3a1b2c3d4e")
    for call in (lam.get_durable_execution, lam.get_durable_execution_history, lam.get_durable_execution_state,
                 lam.stop_durable_execution):
        params = {"CheckpointToken": "dG9rZW4="} if call == lam.get_durable_execution_state else {}
        status, response = error_of(call, DurableExecutionArn=arn, **params)
        assert (status, response["Error"]["Code"]) == (404, "ResourceNotFoundException")
        assert arn in response["Error"]["Message"]
    status, response = error_of(lam.checkpoint_durable_execution, DurableExecutionArn=arn, CheckpointToken="dG9r")
    assert (status, response["Error"]["Code"]) == (400, "InvalidParameterValueException")
    for call in (lam.send_durable_execution_callback_success, lam.send_durable_execution_callback_failure,
                 lam.send_durable_execution_callback_heartbeat):
        status, response = error_of(call, CallbackId="Y2FsbC9iYWNr+w==")
        assert (status, response["Error"]["Code"]) == (400, "InvalidParameterValueException")
    listed = lam.list_durable_executions_by_function(FunctionName=function)
    assert listed["DurableExecutions"] == []
    status, response = error_of(lam.list_durable_executions_by_function, FunctionName="no-such-function")
    assert (status, response["Error"]["Code"]) == (404, "ResourceNotFoundException")
