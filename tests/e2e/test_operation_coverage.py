"""Every operation of botocore's `lambda` model answers: called with boto3 and minimal valid parameters
against a real server, none gets the server's unknown-route answer (UnknownOperationException), nor an
internal error; an error is one the model lists for the operation (or the model-validation error).

The parameters are built from the model (each required member, within its length and range constraints),
with real names where an operation needs an existing resource to be meaningful.
"""

from __future__ import annotations

import datetime
from typing import Any

import botocore.exceptions
import botocore.session
import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
FUNCTION = "walk-fn"
LAYER = "walk-layer"
ARN = f"arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION}"
ZIP = make_zip({"app.py": "def handler(event, context):\n    return event\n"})

# Members whose value an operation needs to be meaningful (an existing function, a well-formed ARN, ...).
MEMBERS: dict[str, Any] = {
    "FunctionName": FUNCTION,
    "Role": ROLE,
    "Runtime": HOST_PYTHON_RUNTIME,
    "Handler": "app.handler",
    "Code": {"ZipFile": ZIP},
    "Content": {"ZipFile": ZIP},
    "LayerName": LAYER,
    "VersionNumber": 1,
    "Resource": ARN,
    "Arn": f"arn:aws:lambda:us-east-1:000000000000:layer:{LAYER}:1",
    "UUID": "00000000-0000-0000-0000-000000000000",
    "CodeSigningConfigArn": "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0",
    "DurableExecutionArn": f"{ARN}:$LATEST/durable-execution/run-1/0d0a5f7e-7c4a-4a6e-9d3b-2f3a1b2c3d4e",
    "CapacityProviderName": "walk-provider",
    "StatementId": "walk-sid",
    "Action": "lambda:InvokeFunction",
    "Principal": "s3.amazonaws.com",
    "Name": "walk-alias",
    "FunctionVersion": "$LATEST",
    "Qualifier": "1",
    "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:walk-queue",
    "AllowedPublishers": {"SigningProfileVersionArns": [
        "arn:aws:signer:us-east-1:000000000000:/signing-profiles/walk/abcdef0123"]},
    "VpcConfig": {"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": []},
    "PermissionsConfig": {"CapacityProviderOperatorRoleArn": ROLE},
    "CheckpointToken": "walk-token",
    "CallbackId": "walk-callback",
    "RecursiveLoop": "Terminate",
    "UpdateRuntimeOn": "Auto",
    "ReservedConcurrentExecutions": 1,
    "ProvisionedConcurrentExecutions": 1,
    "AuthType": "NONE",
    "Tags": {"walk": "yes"},
    "TagKeys": ["walk"],
}
# Operations whose qualifier must be something else than a published version.
QUALIFIERS = {"GetFunctionUrlConfig": None, "CreateFunctionUrlConfig": None, "UpdateFunctionUrlConfig": None,
              "DeleteFunctionUrlConfig": None, "GetFunction": None, "GetFunctionConfiguration": None,
              "Invoke": None, "InvokeWithResponseStream": None, "DeleteFunction": None,
              "GetPolicy": None, "AddPermission": None, "RemovePermission": None}
# The model's validation error, which AWS answers for any operation.
ALWAYS = {"ValidationException"}


def _value(shape: Any, name: str, operation: str) -> Any:
    if name == "Qualifier" and operation in QUALIFIERS:
        return QUALIFIERS[operation]
    if name in MEMBERS:
        return MEMBERS[name]
    kind = shape.type_name
    meta = shape.metadata
    if kind == "string":
        return meta["enum"][0] if "enum" in meta else "x" * max(meta.get("min", 1), 1)
    if kind in ("integer", "long"):
        return max(meta.get("min", 1), 1)
    if kind in ("float", "double"):
        return float(meta.get("min", 1))
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"{}"
    if kind == "timestamp":
        return datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    if kind == "list":
        return [_value(shape.member, name, operation)] if meta.get("min", 0) > 0 else []
    if kind == "map":
        return {}
    return _params(shape, operation)


def _params(shape: Any, operation: str) -> dict[str, Any]:
    params = {}
    for name in shape.metadata.get("required", []):
        value = _value(shape.members[name], name, operation)
        if value is not None:
            params[name] = value
    return params


MODEL = botocore.session.get_session().get_service_model("lambda")


@pytest.fixture(scope="module")
def walk_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("walk") / "data"
    with StratusServer(data_dir, env={"STRATUS_SANDBOX": "plain"}) as running:
        lam = running.client()
        lam.create_function(FunctionName=FUNCTION, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": ZIP}, Publish=True)
        lam.publish_layer_version(LayerName=LAYER, Content={"ZipFile": ZIP})
        yield running


@pytest.mark.parametrize("operation", [name for name in MODEL.operation_names if name != "DeleteFunction"]
                         + ["DeleteFunction"])
def test_every_model_operation_answers(walk_server, operation):
    lam = walk_server.client()
    model = MODEL.operation_model(operation)
    params = _params(model.input_shape, operation) if model.input_shape is not None else {}
    method = getattr(lam, botocore.xform_name(operation))
    try:
        response = method(**params)
    except botocore.exceptions.ClientError as exc:
        code = exc.response["Error"]["Code"]
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        assert code != "UnknownOperationException", f"{operation}: the server has no route for it"
        allowed = {shape.name for shape in model.error_shapes} | ALWAYS
        assert code in allowed, f"{operation} answered {code} ({status}): {exc.response['Error'].get('Message')}"
        assert status < 500, f"{operation} failed inside the server: {exc.response['Error'].get('Message')}"
        return
    # The model's status, or 204 where AWS answers an empty 204 whatever the model says (DeleteFunction).
    assert response["ResponseMetadata"]["HTTPStatusCode"] in (model.http.get("responseCode", 200), 204)
