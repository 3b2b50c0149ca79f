"""Versions and aliases through boto3 and the AWS CLI: immutable snapshots, qualifiers, weighted
routing, their bad inputs (AWS's error, nothing changed), and survival across a restart."""

from __future__ import annotations

import json
import math

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_cli import Aws
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def code(tag: str) -> bytes:
    return make_zip({"app.py": f"""
import os, uuid
ENVIRONMENT_ID = str(uuid.uuid4())
def handler(event, context):
    return {{"tag": {tag!r}, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
             "arn": context.invoked_function_arn, "colour": os.environ.get("COLOUR"),
             "environment": ENVIRONMENT_ID}}
"""})


def create(lam, name: str, tag: str = "one", **extra) -> dict:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                               Code={"ZipFile": code(tag)}, **extra)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def binomial_interval(n: int, p: float, confidence: float) -> tuple[int, int]:
    """The central interval holding `confidence` of Binomial(n, p)'s mass (exact, from the pmf)."""
    tail = (1 - confidence) / 2
    pmf = [math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                    + k * math.log(p) + (n - k) * math.log(1 - p)) for k in range(n + 1)]
    low, mass = 0, 0.0
    while mass + pmf[low] < tail:
        mass += pmf[low]
        low += 1
    high, mass = n, 0.0
    while mass + pmf[high] < tail:
        mass += pmf[high]
        high -= 1
    return low, high


# ---------------------------------------------------------------------------------------- versions

def test_publish_snapshots_code_and_configuration(lam, fn_name):
    created = create(lam, fn_name, "one", Environment={"Variables": {"COLOUR": "red"}}, Publish=True)
    assert created["Version"] == "1"
    # AWS answers the new version under the function's unqualified ARN (its recorded answers).
    assert created["FunctionArn"].endswith(f":function:{fn_name}")
    # Nothing changed since version 1: publishing again returns version 1.
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"

    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"))
    lam.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {"COLOUR": "blue"}})
    latest = lam.get_function_configuration(FunctionName=fn_name)
    second = lam.publish_version(FunctionName=fn_name, Description="second", CodeSha256=latest["CodeSha256"],
                                 RevisionId=latest["RevisionId"])
    assert second["Version"] == "2" and second["Description"] == "second"
    assert second["CodeSha256"] == latest["CodeSha256"] != created["CodeSha256"]
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 201

    lam.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {"COLOUR": "green"}})
    outcomes = {}
    for qualifier in ("1", "2", "$LATEST"):
        response, body = invoke_json(lam, fn_name, Qualifier=qualifier)
        outcomes[qualifier] = body
        assert response["ExecutedVersion"] == qualifier
    assert (outcomes["1"]["tag"], outcomes["1"]["colour"], outcomes["1"]["version"]) == ("one", "red", "1")
    assert (outcomes["2"]["tag"], outcomes["2"]["colour"], outcomes["2"]["version"]) == ("two", "blue", "2")
    assert (outcomes["$LATEST"]["tag"], outcomes["$LATEST"]["colour"]) == ("two", "green")
    assert outcomes["1"]["arn"].endswith(f"{fn_name}:1")
    # Each version has its own warm environments: the same one serves version 1 again.
    assert invoke_json(lam, fn_name, Qualifier="1")[1]["environment"] == outcomes["1"]["environment"]
    assert len({body["environment"] for body in outcomes.values()}) == 3

    v1 = lam.get_function(FunctionName=fn_name, Qualifier="1")
    assert (v1["Configuration"]["Version"] == "1"
            and v1["Configuration"]["Environment"]["Variables"] == {"COLOUR": "red"})
    assert v1["Configuration"]["CodeSha256"] == created["CodeSha256"]


def test_qualifier_forms_and_listing(lam, fn_name):
    create(lam, fn_name, "one", Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"), Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("three"), Publish=True)
    arn = lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionArn"]
    assert invoke_json(lam, f"{fn_name}:2")[1]["tag"] == "two"
    assert invoke_json(lam, f"{arn}:1")[1]["tag"] == "one"
    assert invoke_json(lam, f"000000000000:function:{fn_name}:3")[1]["tag"] == "three"
    assert lam.get_function_configuration(FunctionName=f"{arn}:2")["Version"] == "2"

    listed = lam.list_versions_by_function(FunctionName=fn_name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2", "3"]
    assert listed[0]["FunctionArn"] == f"{arn}:$LATEST"
    pages, marker = [], None
    while True:
        page = lam.list_versions_by_function(FunctionName=fn_name, MaxItems=3, **({"Marker": marker} if marker else {}))
        pages.append([v["Version"] for v in page["Versions"]])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert pages == [["$LATEST", "1", "2"], ["3"]]


def test_delete_version_and_numbers_never_reused(lam, fn_name):
    create(lam, fn_name, "one", Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"), Publish=True)
    assert invoke_json(lam, fn_name, Qualifier="2")[1]["tag"] == "two"
    lam.delete_function(FunctionName=fn_name, Qualifier="2")
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=fn_name, Qualifier="2")
    assert error_code(excinfo) == "ResourceNotFoundException"
    lam.delete_function(FunctionName=fn_name, Qualifier="2")  # a version that is gone is deleted already (AWS: 204)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("three"))
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "3"
    versions = lam.list_versions_by_function(FunctionName=fn_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "3"]
    assert invoke_json(lam, fn_name, Qualifier="1")[1]["tag"] == "one"


# ---------------------------------------------------------------------------------------- aliases

def test_alias_lifecycle(lam, fn_name):
    create(lam, fn_name, "one", Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"), Publish=True)
    alias = lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1", Description="prod")
    assert alias["AliasArn"].endswith(f":function:{fn_name}:live")
    assert (alias["FunctionVersion"], alias["Description"]) == ("1", "prod")
    lam.create_alias(FunctionName=fn_name, Name="edge", FunctionVersion="$LATEST")
    assert lam.get_alias(FunctionName=fn_name, Name="live")["RevisionId"] == alias["RevisionId"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=fn_name)["Aliases"]] == ["edge", "live"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=fn_name, FunctionVersion="1")["Aliases"]] == ["live"]

    response, body = invoke_json(lam, fn_name, Qualifier="live")
    assert (response["ExecutedVersion"], body["tag"]) == ("1", "one")
    assert body["arn"] == alias["AliasArn"]
    config = lam.get_function_configuration(FunctionName=fn_name, Qualifier="live")
    assert (config["Version"], config["FunctionArn"]) == ("1", alias["AliasArn"])

    updated = lam.update_alias(FunctionName=fn_name, Name="live", FunctionVersion="2", RevisionId=alias["RevisionId"])
    assert updated["RevisionId"] != alias["RevisionId"] and updated["Description"] == "prod"
    response, body = invoke_json(lam, f"{fn_name}:live")
    assert (response["ExecutedVersion"], body["tag"]) == ("2", "two")
    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(FunctionName=fn_name, Name="live", FunctionVersion="1", RevisionId=alias["RevisionId"])
    assert error_code(excinfo) == "PreconditionFailedException"
    assert lam.get_alias(FunctionName=fn_name, Name="live")["FunctionVersion"] == "2"

    lam.delete_alias(FunctionName=fn_name, Name="live")
    lam.delete_alias(FunctionName=fn_name, Name="live")  # AWS answers 204 for a missing alias too
    with pytest.raises(ClientError) as excinfo:
        lam.get_alias(FunctionName=fn_name, Name="live")
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=fn_name, Qualifier="live")
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_weighted_alias_routes_within_a_binomial_interval(lam, fn_name):
    """70/30 over 2,000 invokes lands within the exact 99.9 % binomial interval, and the version
    each response reports (X-Amz-Executed-Version) is the one that ran."""
    create(lam, fn_name, "one", Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"), Publish=True)
    lam.create_alias(FunctionName=fn_name, Name="canary", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    invokes, to_second = 2000, 0
    for _ in range(invokes):
        response, body = invoke_json(lam, fn_name, Qualifier="canary")
        assert body["version"] == response["ExecutedVersion"]
        to_second += response["ExecutedVersion"] == "2"
    low, high = binomial_interval(invokes, 0.3, 0.999)
    assert low <= to_second <= high, f"{to_second} of {invokes} went to version 2; expected {low}..{high}"


def test_alias_and_version_bad_input_changes_nothing(server, lam, fn_name):
    unchecked = server.client(parameter_validation=False)  # boto3 would refuse some values itself
    create(lam, fn_name, "one", Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"), Publish=True)
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    before_alias = lam.get_alias(FunctionName=fn_name, Name="live")
    before_versions = lam.list_versions_by_function(FunctionName=fn_name)["Versions"]
    latest = lam.get_function_configuration(FunctionName=fn_name)

    cases = [
        ("PreconditionFailedException", lambda: unchecked.publish_version(FunctionName=fn_name, RevisionId="stale")),
        # AWS answers a stale CodeSha256 with InvalidParameterValueException (412 is for RevisionId).
        ("InvalidParameterValueException", lambda: unchecked.publish_version(FunctionName=fn_name, CodeSha256="AAAA")),
        ("ResourceConflictException", lambda: unchecked.delete_function(FunctionName=fn_name, Qualifier="1")),
        ("ResourceConflictException", lambda: unchecked.delete_function(FunctionName=fn_name, Qualifier="2")),
        ("InvalidParameterValueException", lambda: unchecked.delete_function(
            FunctionName=fn_name, Qualifier="$LATEST")),
        ("InvalidParameterValueException", lambda: unchecked.delete_function(FunctionName=fn_name, Qualifier="live")),
        ("ResourceConflictException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="live", FunctionVersion="2")),
        ("ResourceNotFoundException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="9")),
        ("ValidationException", lambda: unchecked.create_alias(FunctionName=fn_name, Name="123", FunctionVersion="1")),
        ("ValidationException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}})),
        ("ValidationException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": -0.1}})),
        ("InvalidParameterValueException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})),
        ("InvalidParameterValueException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})),
        ("InvalidParameterValueException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})),
        ("ResourceNotFoundException", lambda: unchecked.create_alias(
            FunctionName=fn_name, Name="x", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"7": 0.5}})),
        ("ValidationException", lambda: unchecked.update_alias(
            FunctionName=fn_name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 2.0}})),
        ("InvalidParameterValueException", lambda: unchecked.update_alias(
            FunctionName=fn_name, Name="live", FunctionVersion="$LATEST")),
        ("ResourceNotFoundException", lambda: unchecked.update_alias(
            FunctionName=fn_name, Name="nope", FunctionVersion="1")),
        ("ResourceNotFoundException", lambda: unchecked.create_alias(
            FunctionName=fn_name + "-missing", Name="x", FunctionVersion="1")),
        ("ResourceNotFoundException", lambda: unchecked.publish_version(FunctionName=fn_name + "-missing")),
        ("ResourceNotFoundException", lambda: unchecked.list_versions_by_function(FunctionName=fn_name + "-missing")),
        ("ResourceNotFoundException", lambda: unchecked.get_function(FunctionName=fn_name, Qualifier="5")),
        ("ResourceNotFoundException", lambda: unchecked.invoke(FunctionName=fn_name, Qualifier="nope")),
    ]
    for expected, call in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == expected, (expected, excinfo.value.response["Error"])
    after_alias = lam.get_alias(FunctionName=fn_name, Name="live")
    assert {k: v for k, v in after_alias.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in before_alias.items() if k != "ResponseMetadata"}
    assert [a["Name"] for a in lam.list_aliases(FunctionName=fn_name)["Aliases"]] == ["live"]
    assert lam.list_versions_by_function(FunctionName=fn_name)["Versions"] == before_versions
    assert lam.get_function_configuration(FunctionName=fn_name)["RevisionId"] == latest["RevisionId"]


def test_versions_and_aliases_survive_restart(fresh_server, tmp_path):
    server = fresh_server()
    lam = server.client()
    create(lam, "keeper", "one", Publish=True, Environment={"Variables": {"COLOUR": "red"}})
    lam.update_function_code(FunctionName="keeper", ZipFile=code("two"), Publish=True)
    lam.create_alias(FunctionName="keeper", Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    alias = lam.get_alias(FunctionName="keeper", Name="live")
    assert server.stop() == 0
    server.start()
    versions = lam.list_versions_by_function(FunctionName="keeper")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert lam.get_alias(FunctionName="keeper", Name="live")["RevisionId"] == alias["RevisionId"]
    assert invoke_json(lam, "keeper", Qualifier="1")[1]["colour"] == "red"
    lam.update_function_code(FunctionName="keeper", ZipFile=code("three"))
    assert lam.publish_version(FunctionName="keeper")["Version"] == "3"


def test_aws_cli_versions_and_aliases(server, fn_name, tmp_path):
    aws = Aws(server.endpoint, tmp_path)
    (tmp_path / "code.zip").write_bytes(code("cli"))
    aws.run("create-function", "--function-name", fn_name, "--runtime", "python3.12", "--handler", "app.handler",
            "--role", ROLE, "--zip-file", "fileb://code.zip")
    published = json.loads(aws.run("publish-version", "--function-name", fn_name, "--description", "first").stdout)
    assert published["Version"] == "1" and published["Description"] == "first"
    alias = json.loads(aws.run("create-alias", "--function-name", fn_name, "--name", "prod",
                               "--function-version", "1").stdout)
    assert alias["AliasArn"].endswith(f"{fn_name}:prod")
    out = tmp_path / "out.json"
    result = json.loads(aws.run("invoke", "--function-name", fn_name, "--qualifier", "prod", "--payload", "{}",
                                str(out)).stdout)
    assert result["ExecutedVersion"] == "1"
    assert json.loads(out.read_text())["version"] == "1"
    versions = json.loads(aws.run("list-versions-by-function", "--function-name", fn_name).stdout)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    aliases = json.loads(aws.run("list-aliases", "--function-name", fn_name).stdout)["Aliases"]
    assert [a["Name"] for a in aliases] == ["prod"]
    failed = aws.run("delete-function", "--function-name", fn_name, "--qualifier", "1", check=False)
    assert failed.returncode != 0 and "ResourceConflictException" in failed.stderr
    aws.run("delete-alias", "--function-name", fn_name, "--name", "prod")
    aws.run("delete-function", "--function-name", fn_name, "--qualifier", "1")
    versions = json.loads(aws.run("list-versions-by-function", "--function-name", fn_name).stdout)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]


def list_all_functions(lam, **params) -> list[dict]:
    """Every page of ListFunctions, two entries per page (so paging itself is exercised)."""
    everything, marker = [], None
    while True:
        page = lam.list_functions(MaxItems=2, **params, **({"Marker": marker} if marker else {}))
        assert len(page["Functions"]) <= 2
        everything += page["Functions"]
        marker = page.get("NextMarker")
        if not marker:
            return everything


def test_list_functions_with_all_versions(lam, fn_name):
    create(lam, fn_name, "one", Publish=True)
    lam.update_function_code(FunctionName=fn_name, ZipFile=code("two"), Publish=True)
    mine = lambda configs: [(c["FunctionName"], c["Version"]) for c in configs if c["FunctionName"] == fn_name]  # noqa: E731
    assert mine(list_all_functions(lam, FunctionVersion="ALL")) == [(fn_name, "$LATEST"), (fn_name, "1"),
                                                                     (fn_name, "2")]
    assert mine(list_all_functions(lam)) == [(fn_name, "$LATEST")]


def test_account_usage_counts_versions_and_layers(fresh_server):
    lam = fresh_server().client()
    assert lam.get_account_settings()["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}
    created = create(lam, "sized", "one", Publish=True)  # $LATEST and version 1: two packages
    layer = lam.publish_layer_version(LayerName="sized-layer",
                                      Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    usage = lam.get_account_settings()["AccountUsage"]
    assert usage == {"TotalCodeSize": 2 * created["CodeSize"] + layer["Content"]["CodeSize"], "FunctionCount": 1}
