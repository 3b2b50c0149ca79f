"""Layers through boto3 and the AWS CLI v1 against a real server (both sandboxes): publish, get, list
(filters, paging), delete (numbers never reused), permission policies, every bad input; and functions
using layers: packages importable from /opt (Python and Node), /opt/bin on PATH, later layers
overriding earlier ones, a deleted layer version that keeps working, AWS's refusals of bad `Layers`.

AWS behaviours checked against LocalStack's AWS-recorded snapshots (tests/aws/services/lambda_/
test_lambda_api.snapshot.json, TestLambdaLayer), the AWS CLI's shipped examples and the Lambda
developer guide (layer permission statements, organization condition).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000:layer"
MINOR = "python3.12"  # the runtime the functions below use: /opt/python/lib/python3.12/site-packages, as on AWS


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    """(error code, message, HTTP status) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def without_metadata(response: dict) -> dict:
    """The answer without ResponseMetadata, and Content.Location without its presigned query (signed anew
    for each answer, as AWS's: only the URL it signs must be the same)."""
    document = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    if "Location" in document.get("Content", {}):
        document["Content"] = dict(document["Content"], Location=document["Content"]["Location"].split("?")[0])
    return document


def publish(lam, name: str, files: dict[str, str], **kwargs) -> dict:
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)}, **kwargs)


# ---------------------------------------------------------------------------------------------- layer API
def test_publish_get_and_download(lam, fn_name):
    data = make_zip({"python/mylib.py": "VALUE = 1\n"})
    published = lam.publish_layer_version(
        LayerName=fn_name, Content={"ZipFile": data}, Description="my lib", LicenseInfo="MIT",
        CompatibleRuntimes=["python3.12", "python3.11"], CompatibleArchitectures=["x86_64"])
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    body = json.loads(json.dumps(without_metadata(published)))
    body["Content"].pop("Location")
    location = published["Content"]["Location"]  # presigned: downloads with no headers
    created = body.pop("CreatedDate")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", created)
    assert body == {
        "Content": {"CodeSha256": sha256_b64(data), "CodeSize": len(data)},
        "LayerArn": f"{ACCOUNT_ARN}:{fn_name}",
        "LayerVersionArn": f"{ACCOUNT_ARN}:{fn_name}:1",
        "Description": "my lib", "Version": 1, "LicenseInfo": "MIT",
        "CompatibleRuntimes": ["python3.12", "python3.11"], "CompatibleArchitectures": ["x86_64"],
    }
    with urllib.request.urlopen(location, timeout=10) as response:
        assert response.read() == data

    got = without_metadata(lam.get_layer_version(LayerName=fn_name, VersionNumber=1))
    assert got == without_metadata(published)
    by_arn = lam.get_layer_version_by_arn(Arn=f"{ACCOUNT_ARN}:{fn_name}:1")
    assert without_metadata(by_arn) == got
    by_layer_arn = lam.get_layer_version(LayerName=f"{ACCOUNT_ARN}:{fn_name}", VersionNumber=1)
    assert without_metadata(by_layer_arn) == got

    # Unset optional members are omitted; empty lists come back empty (as AWS records them).
    second = without_metadata(publish(lam, fn_name, {"python/mylib.py": "VALUE = 2\n"}))
    assert second["Version"] == 2 and second["Description"] == ""
    assert not {"LicenseInfo", "CompatibleRuntimes", "CompatibleArchitectures"} & set(second)
    third = publish(lam, fn_name, {"a": "b"}, CompatibleRuntimes=[], CompatibleArchitectures=[])
    assert (third["CompatibleRuntimes"], third["CompatibleArchitectures"]) == ([], [])


def test_versions_are_never_reused_and_delete_is_idempotent(lam, fn_name):
    for _ in range(2):
        publish(lam, fn_name, {"f": "x"})
    assert lam.delete_layer_version(LayerName=fn_name, VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(lam.get_layer_version, LayerName=fn_name, VersionNumber=2) == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404)
    assert error_of(lam.get_layer_version_by_arn, Arn=f"{ACCOUNT_ARN}:{fn_name}:2")[0] == "ResourceNotFoundException"
    assert publish(lam, fn_name, {"f": "x"})["Version"] == 3

    # Deleting again, an unknown version or an unknown layer: 204, nothing happens.
    for layer, version in ((fn_name, 2), (fn_name, 9), (f"{fn_name}-nope", 1)):
        deleted = lam.delete_layer_version(LayerName=layer, VersionNumber=version)
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=fn_name)["LayerVersions"]] == [3, 1]

    for version in (1, 3):
        lam.delete_layer_version(LayerName=fn_name, VersionNumber=version)
    assert lam.list_layer_versions(LayerName=fn_name)["LayerVersions"] == []
    assert fn_name not in {layer["LayerName"] for layer in all_layers(lam)}
    assert publish(lam, fn_name, {"f": "x"})["Version"] == 4


def all_layers(lam, **filters) -> list[dict]:
    layers, marker = [], None
    while True:
        page = lam.list_layers(**filters, **({"Marker": marker} if marker else {}))
        layers += page["Layers"]
        marker = page.get("NextMarker")
        if not marker:
            return layers


def test_list_layers_filters_and_paging(lam, fn_name):
    names = [f"{fn_name}-{i}" for i in range(3)]
    for name in names:
        publish(lam, name, {"f": name}, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"])
    publish(lam, names[0], {"f": "v2"}, CompatibleRuntimes=["nodejs20.x"], CompatibleArchitectures=["arm64"])

    # Paging one by one visits every layer once, in name order, and agrees with one big page.
    seen, marker = [], None
    while True:
        page = lam.list_layers(MaxItems=1, **({"Marker": marker} if marker else {}))
        assert len(page["Layers"]) <= 1
        seen += [layer["LayerName"] for layer in page["Layers"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert seen == [layer["LayerName"] for layer in all_layers(lam)]
    assert [n for n in seen if n.startswith(fn_name)] == names

    ours = {layer["LayerName"]: layer for layer in all_layers(lam) if layer["LayerName"] in names}
    assert ours[names[0]] == {
        "LayerName": names[0], "LayerArn": f"{ACCOUNT_ARN}:{names[0]}",
        "LatestMatchingVersion": {
            "LayerVersionArn": f"{ACCOUNT_ARN}:{names[0]}:2", "Version": 2, "Description": "",
            "CreatedDate": ours[names[0]]["LatestMatchingVersion"]["CreatedDate"],
            "CompatibleRuntimes": ["nodejs20.x"], "CompatibleArchitectures": ["arm64"]}}

    def latest(**filters) -> dict[str, int]:
        return {layer["LayerName"]: layer["LatestMatchingVersion"]["Version"]
                for layer in all_layers(lam, **filters) if layer["LayerName"] in names}

    assert latest(CompatibleRuntime="python3.12") == {names[0]: 1, names[1]: 1, names[2]: 1}
    assert latest(CompatibleRuntime="nodejs20.x") == {names[0]: 2}
    assert latest(CompatibleArchitecture="arm64") == {names[0]: 2}
    assert latest(CompatibleRuntime="python3.12", CompatibleArchitecture="arm64") == {}
    assert latest(CompatibleRuntime="java21") == {}


def test_list_layer_versions_filters_and_paging(lam, fn_name):
    for i in range(5):
        publish(lam, fn_name, {"f": str(i)}, CompatibleRuntimes=["python3.12" if i % 2 else "nodejs20.x"])
    pages, marker = [], None
    while True:
        page = lam.list_layer_versions(LayerName=fn_name, MaxItems=2, **({"Marker": marker} if marker else {}))
        pages.append([v["Version"] for v in page["LayerVersions"]])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert pages == [[5, 4], [3, 2], [1]]
    first = lam.list_layer_versions(LayerName=fn_name)["LayerVersions"][0]
    assert set(first) == {"LayerVersionArn", "Version", "Description", "CreatedDate", "CompatibleRuntimes"}
    only_python = lam.list_layer_versions(LayerName=fn_name, CompatibleRuntime="python3.12")["LayerVersions"]
    assert [v["Version"] for v in only_python] == [4, 2]
    assert lam.list_layer_versions(LayerName=fn_name, CompatibleArchitecture="arm64")["LayerVersions"] == []
    by_arn = lam.list_layer_versions(LayerName=f"{ACCOUNT_ARN}:{fn_name}", MaxItems=1)
    assert [v["Version"] for v in by_arn["LayerVersions"]] == [5]
    assert lam.list_layer_versions(LayerName=f"{fn_name}-nope")["LayerVersions"] == []


def test_permission_policy_lifecycle(lam, fn_name):
    publish(lam, fn_name, {"f": "x"})
    resource = f"{ACCOUNT_ARN}:{fn_name}:1"
    assert error_of(lam.get_layer_version_policy, LayerName=fn_name, VersionNumber=1) == (
        "ResourceNotFoundException", "No policy is associated with the given resource.", 404)

    added = lam.add_layer_version_permission(LayerName=fn_name, VersionNumber=1, StatementId="s1",
                                             Action="lambda:GetLayerVersion", Principal="*")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    s1 = {"Sid": "s1", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetLayerVersion", "Resource": resource}
    assert added["Statement"] == json.dumps(s1, separators=(",", ":"))
    policy = lam.get_layer_version_policy(LayerName=fn_name, VersionNumber=1)
    assert json.loads(policy["Policy"]) == {"Version": "2012-10-17", "Id": "default", "Statement": [s1]}
    assert policy["RevisionId"] == added["RevisionId"]

    account = lam.add_layer_version_permission(LayerName=fn_name, VersionNumber=1, StatementId="xaccount",
                                               Action="lambda:GetLayerVersion", Principal="123456789012",
                                               RevisionId=policy["RevisionId"])
    assert account["RevisionId"] != policy["RevisionId"]
    s2 = dict(s1, Sid="xaccount", Principal={"AWS": "arn:aws:iam::123456789012:root"})
    assert json.loads(account["Statement"]) == s2
    org = lam.add_layer_version_permission(LayerName=f"{ACCOUNT_ARN}:{fn_name}", VersionNumber=1,
                                           StatementId="engineering-org", Action="lambda:GetLayerVersion",
                                           Principal="*", OrganizationId="o-t194hfs8cz")
    s3 = dict(s1, Sid="engineering-org", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-t194hfs8cz"}})
    assert org["Statement"] == json.dumps(s3, separators=(",", ":"))

    # Refusals change nothing.
    before = lam.get_layer_version_policy(LayerName=fn_name, VersionNumber=1)
    assert error_of(lam.add_layer_version_permission, LayerName=fn_name, VersionNumber=1, StatementId="s1",
                    Action="lambda:GetLayerVersion", Principal="*") == (
        "ResourceConflictException", "The statement id (s1) provided already exists. Please provide a new "
        "statement id, or remove the existing statement.", 409)
    wrong_revision = ("PreconditionFailedException", "The Revision Id provided does not match the latest Revision "
                      "Id. Call the GetLayerPolicy API to retrieve the latest Revision Id", 412)
    assert error_of(lam.add_layer_version_permission, LayerName=fn_name, VersionNumber=1, StatementId="s4",
                    Action="lambda:GetLayerVersion", Principal="*", RevisionId="wrong") == wrong_revision
    assert error_of(lam.remove_layer_version_permission, LayerName=fn_name, VersionNumber=1, StatementId="s1",
                    RevisionId="wrong") == wrong_revision
    assert error_of(lam.remove_layer_version_permission, LayerName=fn_name, VersionNumber=1,
                    StatementId="doesnotexist") == (
        "ResourceNotFoundException", "Statement doesnotexist is not found in resource policy.", 404)
    assert error_of(lam.add_layer_version_permission, LayerName=fn_name, VersionNumber=1, StatementId="s5",
                    Action="*", Principal="*") == (
        "ValidationException", "1 validation error detected: Value '*' at 'action' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: lambda:GetLayerVersion", 400)
    for version, layer in ((2, fn_name), (1, f"{fn_name}-nope")):
        missing = ("ResourceNotFoundException", f"Layer version {ACCOUNT_ARN}:{layer}:{version} does not exist.", 404)
        assert error_of(lam.add_layer_version_permission, LayerName=layer, VersionNumber=version,
                        StatementId="s6", Action="lambda:GetLayerVersion", Principal="*") == missing
        assert error_of(lam.get_layer_version_policy, LayerName=layer, VersionNumber=version) == missing
        assert error_of(lam.remove_layer_version_permission, LayerName=layer, VersionNumber=version,
                        StatementId="s1") == missing
    assert (without_metadata(lam.get_layer_version_policy(LayerName=fn_name, VersionNumber=1))
            == without_metadata(before))

    removed = lam.remove_layer_version_permission(LayerName=fn_name, VersionNumber=1, StatementId="xaccount",
                                                  RevisionId=before["RevisionId"])
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    after = lam.get_layer_version_policy(LayerName=fn_name, VersionNumber=1)
    assert json.loads(after["Policy"])["Statement"] == [s1, s3]
    assert after["RevisionId"] != before["RevisionId"]
    for sid in ("s1", "engineering-org"):
        lam.remove_layer_version_permission(LayerName=fn_name, VersionNumber=1, StatementId=sid)
    assert error_of(lam.get_layer_version_policy, LayerName=fn_name, VersionNumber=1)[1] == (
        "No policy is associated with the given resource.")

    # A deleted version's policy goes with it.
    lam.add_layer_version_permission(LayerName=fn_name, VersionNumber=1, StatementId="s1",
                                     Action="lambda:GetLayerVersion", Principal="*")
    lam.delete_layer_version(LayerName=fn_name, VersionNumber=1)
    assert error_of(lam.get_layer_version_policy, LayerName=fn_name, VersionNumber=1)[1] == (
        f"Layer version {resource} does not exist.")


@pytest.fixture(scope="module")
def oversized_zip() -> bytes:
    """A small zip that unpacks to just over 250 MB (zeros compress ~1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("python/big.bin", "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(251):
                member.write(chunk)
    return buffer.getvalue()


def test_publish_refuses_bad_input_and_changes_nothing(lam, fn_name, oversized_zip):
    def refused(**kwargs) -> tuple[str, str, int]:
        return error_of(lam.publish_layer_version, LayerName=fn_name, **kwargs)

    code, message, status = refused(Content={"S3Bucket": "my-bucket", "S3Key": "layer.zip"})
    assert (code, status) == ("InvalidParameterValueException", 400) and "ZipFile" in message
    assert refused(Content={})[0] == "InvalidParameterValueException"
    assert refused(Content={"ZipFile": b"not a zip"}) == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.", 400)
    code, message, status = refused(Content={"ZipFile": oversized_zip})
    assert (code, status) == ("InvalidParameterValueException", 400) and "262144000" in message
    code, message, _ = refused(Content={"ZipFile": make_zip({"f": "x"})}, CompatibleRuntimes=["cobol"])
    assert code == "ValidationException" and "compatibleRuntimes" in message
    code, _, _ = refused(Content={"ZipFile": make_zip({"f": "x"})}, CompatibleArchitectures=["sparc"])
    assert code == "ValidationException"
    code, _, _ = refused(Content={"ZipFile": make_zip({"f": "x"})}, Description="d" * 257)
    assert code == "ValidationException"
    code, _, status = error_of(lam.publish_layer_version, LayerName="bad name!",
                               Content={"ZipFile": make_zip({"f": "x"})})
    assert (code, status) == ("ValidationException", 400)
    assert lam.list_layer_versions(LayerName=fn_name)["LayerVersions"] == []
    assert publish(lam, fn_name, {"f": "x"})["Version"] == 1  # no number was spent on a refusal


def test_version_numbers_and_arns_refused_as_aws(lam, fn_name):
    publish(lam, fn_name, {"f": "x"})
    below_one = ("InvalidParameterValueException", "Layer Version Cannot be less than 1", 400)
    for version in (0, -1):
        assert error_of(lam.get_layer_version, LayerName=fn_name, VersionNumber=version) == below_one
        assert error_of(lam.delete_layer_version, LayerName=fn_name, VersionNumber=version) == below_one
    assert error_of(lam.get_layer_version, LayerName=f"{fn_name}-nope", VersionNumber=1) == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404)
    code, message, status = error_of(lam.get_layer_version_by_arn, Arn=f"{ACCOUNT_ARN}:{fn_name}")
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f"1 validation error detected: Value '{ACCOUNT_ARN}:{fn_name}' at 'arn' failed to "
                              "satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws")
    # Another region's or account's layer is not one of ours.
    for arn in (f"arn:aws:lambda:eu-west-1:000000000000:layer:{fn_name}:1",
                f"arn:aws:lambda:us-east-1:111111111111:layer:{fn_name}:1"):
        assert error_of(lam.get_layer_version_by_arn, Arn=arn)[0] == "ResourceNotFoundException"
    assert lam.get_layer_version(LayerName=fn_name, VersionNumber=1)["Version"] == 1
    code, _, _ = error_of(lam.list_layers, CompatibleRuntime="runtimedoesnotexist")
    assert code == "ValidationException"
    assert error_of(lam.list_layers, CompatibleArchitecture="archdoesnotexist") == (
        "ValidationException", "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' "
        "failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]", 400)
    assert error_of(lam.list_layers, MaxItems=51)[0] == "ValidationException"


def test_layers_survive_a_restart(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    server = fresh_server(env={"STRATUS_SANDBOX": "plain"}, data_dir=data_dir)
    lam = server.client()
    for _ in range(3):
        publish(lam, "kept", {"python/k.py": "K = 1"}, Description="kept")
    lam.delete_layer_version(LayerName="kept", VersionNumber=3)
    added = lam.add_layer_version_permission(LayerName="kept", VersionNumber=1, StatementId="s1",
                                             Action="lambda:GetLayerVersion", Principal="*")
    server.stop()

    lam = fresh_server(env={"STRATUS_SANDBOX": "plain"}, data_dir=data_dir).client()
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="kept")["LayerVersions"]] == [2, 1]
    assert lam.get_layer_version(LayerName="kept", VersionNumber=1)["Description"] == "kept"
    assert lam.get_layer_version_policy(LayerName="kept", VersionNumber=1)["RevisionId"] == added["RevisionId"]
    assert error_of(lam.get_layer_version, LayerName="kept", VersionNumber=3)[0] == "ResourceNotFoundException"
    assert publish(lam, "kept", {"python/k.py": "K = 4"})["Version"] == 4


# ---------------------------------------------------------------------------------------------- AWS CLI v1
class Aws:
    """`python -m awscli --endpoint-url … lambda …` with dummy credentials, in a work dir."""

    def __init__(self, endpoint: str, cwd):
        self.endpoint, self.cwd = endpoint, cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                        AWS_CONFIG_FILE=str(cwd / "none"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "none"),
                        AWS_PAGER="", AWS_MAX_ATTEMPTS="1")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", self.endpoint, "--output", "json", "lambda", *args],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60)

    def json(self, *args: str) -> dict:
        completed = self.run(*args)
        assert completed.returncode == 0, f"aws lambda {' '.join(args)} failed:\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def fails(self, *args: str) -> str:
        completed = self.run(*args)
        assert completed.returncode != 0, f"aws lambda {' '.join(args)} unexpectedly succeeded: {completed.stdout}"
        return completed.stderr


def test_aws_cli_journey(fresh_server, tmp_path, fn_name):
    # The layer API does not touch the sandbox: one server of its own, rather than one run per backend.
    aws = Aws(fresh_server(env={"STRATUS_SANDBOX": "plain"}).endpoint, tmp_path)
    data = make_zip({"python/clilib.py": "X = 1\n"})
    (tmp_path / "layer.zip").write_bytes(data)
    published = aws.json("publish-layer-version", "--layer-name", fn_name, "--zip-file", "fileb://layer.zip",
                         "--description", "from the cli", "--license-info", "MIT",
                         "--compatible-runtimes", "python3.12", "python3.11", "--compatible-architectures", "x86_64")
    assert published["LayerVersionArn"] == f"{ACCOUNT_ARN}:{fn_name}:1"
    assert published["Content"]["CodeSha256"] == sha256_b64(data)
    assert published["CompatibleRuntimes"] == ["python3.12", "python3.11"]

    with ThreadPoolExecutor(4) as pool:  # independent reads; each CLI start takes a second
        got, by_arn, listed, layers = pool.map(lambda args: aws.json(*args), [
            ("get-layer-version", "--layer-name", fn_name, "--version-number", "1"),
            ("get-layer-version-by-arn", "--arn", published["LayerVersionArn"]),
            ("list-layer-versions", "--layer-name", fn_name),
            ("list-layers", "--compatible-runtime", "python3.11"),
        ])
    assert without_metadata(got) == without_metadata(published) == without_metadata(by_arn)
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]
    assert [layer["LayerArn"] for layer in layers["Layers"]] == [f"{ACCOUNT_ARN}:{fn_name}"]

    added = aws.json("add-layer-version-permission", "--layer-name", fn_name, "--version-number", "1",
                     "--statement-id", "xaccount", "--action", "lambda:GetLayerVersion", "--principal", "210987654321")
    assert json.loads(added["Statement"])["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    policy = aws.json("get-layer-version-policy", "--layer-name", fn_name, "--version-number", "1")
    assert policy["RevisionId"] == added["RevisionId"]
    assert "ResourceConflictException" in aws.fails(
        "add-layer-version-permission", "--layer-name", fn_name, "--version-number", "1",
        "--statement-id", "xaccount", "--action", "lambda:GetLayerVersion", "--principal", "*")
    assert aws.json("remove-layer-version-permission", "--layer-name", fn_name, "--version-number", "1",
                    "--statement-id", "xaccount") == {}
    assert aws.json("delete-layer-version", "--layer-name", fn_name, "--version-number", "1") == {}
    assert "ResourceNotFoundException" in aws.fails("get-layer-version", "--layer-name", fn_name,
                                                    "--version-number", "1")


# ---------------------------------------------------------------------------------------------- functions
PROBE = """
import os, shutil, subprocess, sys
def handler(event, context):
    import mylib, sitepkg
    tool = shutil.which("layer-tool")
    return {"mylib": mylib.VALUE, "sitepkg": sitepkg.VALUE,
            "tool": subprocess.run([tool], capture_output=True, text=True).stdout.strip() if tool else None,
            "lib": os.path.exists(os.path.join(os.environ["LD_LIBRARY_PATH"].split(":")[-1], "marker.txt"))}
"""


def python_layer(value: str) -> dict[str, str]:
    return {"python/mylib.py": f"VALUE = {value!r}\n",
            f"python/lib/{MINOR}/site-packages/sitepkg.py": f"VALUE = 'site-{value}'\n"}


def create(lam, name: str, layers: list[str], code: bytes | None = None, runtime: str = "python3.12",
           handler: str = "app.handler") -> dict:
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": code or make_zip({"app.py": PROBE})}, Layers=layers)


def test_function_imports_from_its_layer_and_survives_the_layers_deletion(lam, fn_name):
    files = python_layer("one")
    files.update({"bin/layer-tool": "#!/bin/sh\necho tool-ran\n", "lib/marker.txt": "/opt/lib"})
    data = make_zip(files, modes={"bin/layer-tool": 0o755})
    layer = lam.publish_layer_version(LayerName=fn_name, Content={"ZipFile": data})
    arn = layer["LayerVersionArn"]
    config = create(lam, fn_name, [arn])
    assert config["Layers"] == [{"Arn": arn, "CodeSize": len(data)}]

    _, result = invoke_json(lam, fn_name)
    assert (result["mylib"], result["sitepkg"], result["tool"], result["lib"]) == ("one", "site-one", "tool-ran", True)

    lam.delete_layer_version(LayerName=fn_name, VersionNumber=1)
    assert lam.get_function_configuration(FunctionName=fn_name)["Layers"] == [{"Arn": arn, "CodeSize": len(data)}]
    # A configuration change starts new environments: the deleted version's content is still there.
    lam.update_function_configuration(FunctionName=fn_name, Description="after the layer's deletion")
    _, result = invoke_json(lam, fn_name)
    assert (result["mylib"], result["sitepkg"]) == ("one", "site-one")
    # ... and the function may keep it, but no function may add it.
    lam.update_function_configuration(FunctionName=fn_name, Layers=[arn])
    assert error_of(create, lam, f"{fn_name}-new", [arn]) == (
        "InvalidParameterValueException", f"Layer version {arn} does not exist.", 400)


def test_later_layers_override_earlier_ones(lam, fn_name):
    first = publish(lam, f"{fn_name}-a", {"python/mylib.py": "VALUE = 'a'\n", "python/only_a.py": "A = 1\n",
                                          f"python/lib/{MINOR}/site-packages/sitepkg.py": "VALUE = 'site-a'\n"})
    second = publish(lam, f"{fn_name}-b", {"python/mylib.py": "VALUE = 'b'\n",
                                           f"python/lib/{MINOR}/site-packages/sitepkg.py": "VALUE = 'site-b'\n"})
    code = make_zip({"app.py": "def handler(event, context):\n"
                               "    import mylib, sitepkg, only_a\n"
                               "    return [mylib.VALUE, sitepkg.VALUE, only_a.A]\n"})
    create(lam, fn_name, [first["LayerVersionArn"], second["LayerVersionArn"]], code=code)
    assert invoke_json(lam, fn_name)[1] == ["b", "site-b", 1]
    lam.update_function_configuration(FunctionName=fn_name,
                                      Layers=[second["LayerVersionArn"], first["LayerVersionArn"]])
    assert invoke_json(lam, fn_name)[1] == ["a", "site-a", 1]
    lam.update_function_configuration(FunctionName=fn_name, Layers=[])
    response, payload = invoke_json(lam, fn_name)
    assert response.get("FunctionError") == "Unhandled" and payload["errorType"] == "ModuleNotFoundError"


def test_node_function_requires_a_package_from_its_layer(lam, fn_name):
    layer = publish(lam, fn_name, {"nodejs/node_modules/greeter/index.js":
                                   "exports.greet = (who) => `hello ${who} from a layer`;\n"})
    code = make_zip({"index.js": "const { greet } = require('greeter');\n"
                                 "exports.handler = async (event) => greet(event.who);\n"})
    create(lam, fn_name, [layer["LayerVersionArn"]], code=code, runtime="nodejs20.x", handler="index.handler")
    assert invoke_json(lam, fn_name, {"who": "node"})[1] == "hello node from a layer"


def test_bad_layers_are_refused_as_aws_and_change_nothing(lam, fn_name):
    arns = [publish(lam, f"{fn_name}-{i}", {"f": str(i)})["LayerVersionArn"] for i in range(6)]
    v2 = publish(lam, f"{fn_name}-0", {"f": "again"})["LayerVersionArn"]
    unknown = f"{ACCOUNT_ARN}:{fn_name}-unknown:1"
    cases = [
        (arns, "Cannot reference more than 5 layers."),
        ([unknown], f"Layer version {unknown} does not exist."),
        ([f"{arns[1][:-2]}:9"], f"Layer version {arns[1][:-2]}:9 does not exist."),
        ([arns[0], v2], "Two different versions of the same layer are not allowed to be referenced in the same "
                        f"function. {arns[0]} and {v2} are versions of the same layer."),
        ([f"arn:aws:lambda:eu-west-1:000000000000:layer:{fn_name}-0:1"],
         "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."),
    ]
    for layers, message in cases:
        assert error_of(create, lam, fn_name, layers) == ("InvalidParameterValueException", message, 400)
    assert error_of(lam.get_function, FunctionName=fn_name)[0] == "ResourceNotFoundException"

    create(lam, fn_name, arns[:5])
    before = lam.get_function_configuration(FunctionName=fn_name)
    for layers, message in cases:
        assert error_of(lam.update_function_configuration, FunctionName=fn_name, Layers=layers) == (
            "InvalidParameterValueException", message, 400)
    assert without_metadata(lam.get_function_configuration(FunctionName=fn_name)) == without_metadata(before)


def test_code_and_layers_over_the_unzipped_limit_are_refused(fresh_server):
    lam = fresh_server(env={"STRATUS_SANDBOX": "plain", "STRATUS_UNZIPPED_CODE_MAX_BYTES": "100000"}).client()
    layer = publish(lam, "big", {"python/big.py": "#" * 60_000})
    code = make_zip({"app.py": "def handler(event, context):\n    return 1\n" + "#" * 50_000})
    code_, message, status = error_of(create, lam, "too-big", [layer["LayerVersionArn"]], code=code)
    assert (code_, status) == ("InvalidParameterValueException", 400)
    assert error_of(lam.get_function, FunctionName="too-big")[0] == "ResourceNotFoundException"


def test_a_custom_runtime_bootstrap_can_come_from_a_layer(lam, fn_name):
    """`provided` functions run /opt/bootstrap when their own zip has none (a runtime shipped as a layer)."""
    bootstrap = """#!/bin/sh
set -eu
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
  greeting=$(cat "$LAMBDA_TASK_ROOT/greeting.txt")
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$id/response" \\
       -d "{\\"greeting\\": \\"$greeting\\", \\"handler\\": \\"$_HANDLER\\"}" > /dev/null
done
"""
    runtime_layer = lam.publish_layer_version(
        LayerName=fn_name, Content={"ZipFile": make_zip({"bootstrap": bootstrap}, modes={"bootstrap": 0o755})})
    code = make_zip({"greeting.txt": "hello from a layer runtime"})
    # No bootstrap in the zip and none in a layer: accepted, as AWS does; the invoke fails.
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="any.thing", Role=ROLE,
                        Code={"ZipFile": code})
    assert invoke_json(lam, fn_name)[1]["errorType"] == "Runtime.InvalidEntrypoint"
    lam.update_function_configuration(FunctionName=fn_name, Layers=[runtime_layer["LayerVersionArn"]])
    assert invoke_json(lam, fn_name)[1] == {"greeting": "hello from a layer runtime", "handler": "any.thing"}
