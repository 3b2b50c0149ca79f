"""Code from S3: CreateFunction's Code.S3Bucket/S3Key/S3ObjectVersion, UpdateFunctionCode's S3 members and
PublishLayerVersion's Content.S3*, fetched from a real moto server named in STRATUS_SERVICE_ENDPOINTS; S3's
refusals answered as AWS words them (LocalStack's AWS-recorded test_lambda_code_location_s3_errors)."""

from __future__ import annotations

import base64
import hashlib
import urllib.request
import uuid

import botocore.exceptions
import pytest

from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
NO_KEY = ("Error occurred while GetObject. S3 Error Code: NoSuchKey. "
          "S3 Error Message: The specified key does not exist.")
NO_BUCKET = ("Error occurred while GetObject. S3 Error Code: NoSuchBucket. "
             "S3 Error Message: The specified bucket does not exist")


def handler_zip(answer: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {answer!r}\n"})


@pytest.fixture(scope="module")
def s3_server(moto_endpoint, tmp_path_factory):
    """A Stratus server whose S3 endpoint is the moto server."""
    env = dict(moto_endpoint.service_env(), STRATUS_SANDBOX="plain")
    with StratusServer(tmp_path_factory.mktemp("s3code") / "data", env=env) as running:
        yield running


@pytest.fixture
def bucket(moto_endpoint):
    s3 = moto_endpoint.client("s3")
    name = f"code-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def refusal(call, **params) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**params)
    return caught.value.response


def test_a_function_created_from_an_s3_object_runs(s3_server, moto_endpoint, bucket):
    lam, s3 = s3_server.client(), moto_endpoint.client("s3")
    code = handler_zip("from s3")
    s3.put_object(Bucket=bucket, Key="fn/code.zip", Body=code)
    created = lam.create_function(FunctionName="from-s3", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                                  Handler="app.handler", Code={"S3Bucket": bucket, "S3Key": "fn/code.zip"})
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert created["CodeSize"] == len(code)
    _, payload = invoke_json(lam, "from-s3")
    assert payload == "from s3"
    # Code.Location serves Stratus's stored copy: the object may go away.
    s3.delete_object(Bucket=bucket, Key="fn/code.zip")
    location = lam.get_function(FunctionName="from-s3")["Code"]["Location"]
    assert not location.startswith(moto_endpoint.endpoint)
    with urllib.request.urlopen(location, timeout=10) as response:
        assert response.read() == code


def test_update_function_code_from_s3_changes_the_code(s3_server, moto_endpoint, bucket):
    lam, s3 = s3_server.client(), moto_endpoint.client("s3")
    lam.create_function(FunctionName="update-s3", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": handler_zip("first")})
    s3.put_object(Bucket=bucket, Key="second.zip", Body=handler_zip("second"))
    updated = lam.update_function_code(FunctionName="update-s3", S3Bucket=bucket, S3Key="second.zip")
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(handler_zip("second")).digest()).decode()
    lam.get_waiter("function_updated_v2").wait(FunctionName="update-s3")
    assert invoke_json(lam, "update-s3")[1] == "second"


def test_s3_object_version_picks_that_version(s3_server, moto_endpoint, bucket):
    lam, s3 = s3_server.client(), moto_endpoint.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="code.zip", Body=handler_zip("old"))["VersionId"]
    s3.put_object(Bucket=bucket, Key="code.zip", Body=handler_zip("new"))
    lam.create_function(FunctionName="versioned-s3", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": bucket, "S3Key": "code.zip", "S3ObjectVersion": old})
    assert invoke_json(lam, "versioned-s3")[1] == "old"
    lam.update_function_code(FunctionName="versioned-s3", S3Bucket=bucket, S3Key="code.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName="versioned-s3")
    assert invoke_json(lam, "versioned-s3")[1] == "new"
    error = refusal(lam.update_function_code, FunctionName="versioned-s3", S3Bucket=bucket, S3Key="code.zip",
                    S3ObjectVersion="no-such-version")["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith("Error occurred while GetObject. S3 Error Code: ")


def test_a_layer_from_s3_works(s3_server, moto_endpoint, bucket):
    lam, s3 = s3_server.client(), moto_endpoint.client("s3")
    layer = make_zip({"python/greeting.py": "WORDS = 'from an s3 layer'\n"})
    s3.put_object(Bucket=bucket, Key="layer.zip", Body=layer)
    published = lam.publish_layer_version(LayerName="s3-layer", Content={"S3Bucket": bucket, "S3Key": "layer.zip"})
    assert published["Content"]["CodeSize"] == len(layer)
    assert published["Content"]["CodeSha256"] == base64.b64encode(hashlib.sha256(layer).digest()).decode()
    code = make_zip({"app.py": "import greeting\ndef handler(event, context):\n    return greeting.WORDS\n"})
    lam.create_function(FunctionName="uses-s3-layer", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": code}, Layers=[published["LayerVersionArn"]])
    assert invoke_json(lam, "uses-s3-layer")[1] == "from an s3 layer"


def test_a_missing_key_is_awss_error(s3_server, bucket):
    lam = s3_server.client()
    for response in (
            refusal(lam.create_function, FunctionName="no-key", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                    Handler="app.handler", Code={"S3Bucket": bucket, "S3Key": "missing.zip"}),
            refusal(lam.publish_layer_version, LayerName="no-key", Content={"S3Bucket": bucket, "S3Key": "x.zip"})):
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"] == {"Code": "InvalidParameterValueException", "Message": NO_KEY}
    lam.create_function(FunctionName="no-key-update", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": handler_zip("kept")})
    response = refusal(lam.update_function_code, FunctionName="no-key-update", S3Bucket=bucket, S3Key="missing.zip")
    assert response["Error"] == {"Code": "InvalidParameterValueException", "Message": NO_KEY}
    assert invoke_json(lam, "no-key-update")[1] == "kept"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="no-key")


def test_a_missing_bucket_is_awss_error(s3_server):
    lam = s3_server.client()
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    response = refusal(lam.create_function, FunctionName="no-bucket", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                       Handler="app.handler", Code={"S3Bucket": missing, "S3Key": "code.zip"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"] == {"Code": "InvalidParameterValueException", "Message": NO_BUCKET}
    lam.create_function(FunctionName="no-bucket-update", Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": handler_zip("kept")})
    response = refusal(lam.update_function_code, FunctionName="no-bucket-update", S3Bucket=missing, S3Key="c.zip")
    assert response["Error"] == {"Code": "InvalidParameterValueException", "Message": NO_BUCKET}


def test_without_an_s3_endpoint_the_error_says_how_to_configure_one(lam, fn_name):
    response = refusal(lam.create_function, FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Role=ROLE,
                       Handler="app.handler", Code={"S3Bucket": "some-bucket", "S3Key": "code.zip"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "STRATUS_SERVICE_ENDPOINTS" in response["Error"]["Message"]
    assert "s3=" in response["Error"]["Message"]
    response = refusal(lam.publish_layer_version, LayerName=fn_name,
                       Content={"S3Bucket": "some-bucket", "S3Key": "layer.zip"})
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "STRATUS_SERVICE_ENDPOINTS" in response["Error"]["Message"]
