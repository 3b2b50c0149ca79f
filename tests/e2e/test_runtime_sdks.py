"""The AWS SDKs in the runtimes (issue 12): Python functions import the runtime's boto3 after their own
code and layers, Node functions resolve the runtime's @aws-sdk v3 clients (require and import) unless
they bundle them, and AWS's own sample `blank-python` runs unmodified, its SDK calls answered by Stratus.
Both sandboxes. Endpoints and secrets: test_function_endpoints.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from stratus.runtime import sdks
from tests.support.server import invoke_json, make_zip

PINNED_BOTO3 = "1.43.11"  # runtime-sdk/python-requirements.txt (Stratus's own pin)
PINNED_BOTO3_PY39 = "1.42.97"  # runtime-sdk/python39-requirements.txt
PINNED_NODE_SDK = json.loads((Path(__file__).parents[2] / "runtime-sdk/node/package.json").read_text())[
    "dependencies"]["@aws-sdk/client-lambda"]
READER_ROLE = "sdk-reader"  # may call lambda:Get*/List* (AWSLambda_ReadOnlyAccess)
FIXTURES = Path(__file__).parents[1] / "fixtures"


def require_runtime_sdk(*names: str) -> None:
    """Skip (fail under CI=true, whose install step puts them there) unless the runtime SDKs are installed."""
    missing = [name for name in names if not (sdks.default_sdk_root() / name).is_dir()]
    if missing:
        reason = f"runtime SDKs {missing} not installed in {sdks.default_sdk_root()} (scripts/runtime-sdks.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def iam_client(server):
    return boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def ensure_role(server, name: str, *managed: str) -> str:
    """A Lambda execution role holding AWS managed policies, made through Stratus's IAM API (once per server)."""
    iam = iam_client(server)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "lambda.amazonaws.com"}}]}
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    for policy in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    return arn


@pytest.fixture
def reader_role(server):
    return ensure_role(server, READER_ROLE, "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")


def create(lam, name: str, files: dict[str, str | bytes], role: str, **kwargs) -> dict:
    kwargs.setdefault("Runtime", "python3.12")
    kwargs.setdefault("Handler", "app.handler")
    config = lam.create_function(FunctionName=name, Role=role, Code={"ZipFile": make_zip(files)}, Timeout=30,
                                 **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return config


def succeeded(lam, name: str, payload=None):
    response, body = invoke_json(lam, name, payload)
    assert "FunctionError" not in response, body
    return body


# ------------------------------------------------------------------------------------------------ Python
WHICH_BOTO3 = """
import sys
def handler(event, context):
    import boto3, botocore
    return {"boto3": boto3.__version__, "botocore": getattr(botocore, "__version__", None),
            "file": boto3.__file__, "path": sys.path}
"""


def stub_package(version: str) -> str:
    return f"__version__ = {version!r}\n"


def test_python_functions_see_the_runtime_boto3_after_their_code_and_layers(server, lam, fn_name, reader_role):
    require_runtime_sdk("python", "python3.9")
    runtime_sdk = succeeded(lam, create(lam, fn_name, {"app.py": WHICH_BOTO3}, reader_role)["FunctionName"])
    assert runtime_sdk["boto3"] == PINNED_BOTO3 and runtime_sdk["botocore"] == PINNED_BOTO3
    path = runtime_sdk["path"]
    sdk = str(Path(runtime_sdk["file"]).parent.parent)
    task_root, layer_packages = path[0], [entry for entry in path if "/python" in entry and entry != sdk]
    stdlib = next(entry for entry in path if entry.endswith(f"/lib/python{sys.version_info[0]}.{sys.version_info[1]}")
                  or "/lib/python3." in entry and entry.rstrip("/").split("/")[-1].startswith("python3."))
    assert path.index(task_root) < path.index(layer_packages[0]) < path.index(sdk) < path.index(stdlib), path
    if server.sandbox == "namespaced":
        assert runtime_sdk["file"] == "/var/sdk/python/boto3/__init__.py"

    # python3.9 gets the last boto3 that supports it.
    old = create(lam, fn_name + "-39", {"app.py": WHICH_BOTO3}, reader_role, Runtime="python3.9")
    assert succeeded(lam, old["FunctionName"])["boto3"] == PINNED_BOTO3_PY39

    # A boto3 in the zip wins, as one in a layer does (the zip's over the layer's).
    vendored = create(lam, fn_name + "-zip", {"app.py": WHICH_BOTO3, "boto3/__init__.py": stub_package("0.0.1-zip"),
                                              "botocore/__init__.py": stub_package("0.0.1-zip")}, reader_role)
    assert succeeded(lam, vendored["FunctionName"])["boto3"] == "0.0.1-zip"
    layer = lam.publish_layer_version(LayerName=fn_name, Content={"ZipFile": make_zip({
        "python/boto3/__init__.py": stub_package("0.0.2-layer"),
        "python/botocore/__init__.py": stub_package("0.0.2-layer")})})["LayerVersionArn"]
    layered = create(lam, fn_name + "-layer", {"app.py": WHICH_BOTO3}, reader_role, Layers=[layer])
    assert succeeded(lam, layered["FunctionName"])["boto3"] == "0.0.2-layer"
    lam.update_function_code(FunctionName=vendored["FunctionName"], ZipFile=make_zip(
        {"app.py": WHICH_BOTO3, "boto3/__init__.py": stub_package("0.0.1-zip"),
         "botocore/__init__.py": stub_package("0.0.1-zip")}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=vendored["FunctionName"])
    lam.update_function_configuration(FunctionName=vendored["FunctionName"], Layers=[layer])
    lam.get_waiter("function_updated_v2").wait(FunctionName=vendored["FunctionName"])
    assert succeeded(lam, vendored["FunctionName"])["boto3"] == "0.0.1-zip"


# -------------------------------------------------------------------------------------------------- Node
def node_package(origin: str) -> dict[str, str]:
    """A stand-in @aws-sdk/client-lambda that says where it came from."""
    return {"node_modules/@aws-sdk/client-lambda/package.json":
            json.dumps({"name": "@aws-sdk/client-lambda", "version": f"0.0.0-{origin}", "main": "index.js"}),
            "node_modules/@aws-sdk/client-lambda/index.js": f"exports.origin = {origin!r};\n"}


WHICH_SDK = {
    "cjs": ("index.js", "const sdk = require('@aws-sdk/client-lambda');\n"
                        "exports.handler = async () => sdk.origin || 'runtime';\n"),
    "esm": ("index.mjs", "import * as sdk from '@aws-sdk/client-lambda';\n"
                         "export const handler = async () => sdk.origin || 'runtime';\n"),
}

LIST_FUNCTIONS = {
    "cjs": ("index.js", "const { LambdaClient, ListFunctionsCommand } = require('@aws-sdk/client-lambda');\n"
                        "const client = new LambdaClient({});\n"
                        "exports.handler = async () => {\n"
                        "  const listed = await client.send(new ListFunctionsCommand({}));\n"
                        "  return {names: listed.Functions.map((f) => f.FunctionName),\n"
                        "          version: require('@aws-sdk/client-lambda/package.json').version};\n};\n"),
    "esm": ("index.mjs", "import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';\n"
                         "const client = new LambdaClient({});\n"
                         "export const handler = async () => {\n"
                         "  const listed = await client.send(new ListFunctionsCommand({}));\n"
                         "  return {names: listed.Functions.map((f) => f.FunctionName)};\n};\n"),
}


@pytest.fixture
def node_sdk():
    if shutil.which("node") is None:
        pytest.skip("Node.js is not on PATH; the nodejs runtimes need it")
    require_runtime_sdk("node")


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs24.x"])
@pytest.mark.parametrize("style", ["cjs", "esm"])
def test_node_function_lists_functions_with_the_runtime_client_lambda(server, lam, fn_name, reader_role, style,
                                                                     runtime, node_sdk):
    if server.sandbox == "plain" and runtime == "nodejs24.x":
        pytest.xfail("the plain sandbox's address-space limit (MemorySize + 1 GiB) aborts Node 24 at its first "
                     "outgoing request (Node 20 fits; a 4 GiB limit suffices): the rlimit policy, not the SDK")
    name, source = LIST_FUNCTIONS[style]
    create(lam, fn_name, {name: source}, reader_role, Runtime=runtime, Handler="index.handler")
    body = succeeded(lam, fn_name)
    assert fn_name in body["names"]
    if style == "cjs":
        assert body["version"] == PINNED_NODE_SDK


@pytest.mark.parametrize("style", ["cjs", "esm"])
def test_node_functions_bundled_or_layered_sdk_wins(server, lam, fn_name, reader_role, style, node_sdk):
    name, source = WHICH_SDK[style]
    runtime = dict(Runtime="nodejs20.x", Handler="index.handler")
    assert succeeded(lam, create(lam, fn_name, {name: source}, reader_role, **runtime)["FunctionName"]) == "runtime"
    bundled = create(lam, fn_name + "-zip", {name: source, **node_package("zip")}, reader_role, **runtime)
    assert succeeded(lam, bundled["FunctionName"]) == "zip"
    layer = lam.publish_layer_version(LayerName=fn_name, Content={"ZipFile": make_zip(
        {f"nodejs/{path}": text for path, text in node_package("layer").items()})})["LayerVersionArn"]
    layered = create(lam, fn_name + "-layer", {name: source}, reader_role, Layers=[layer], **runtime)
    # ES modules ignore NODE_PATH: a layer's packages are found by import only where the namespaced
    # sandbox shows them above /var/task (the plain sandbox has no mount namespace to do it).
    expected = "runtime" if style == "esm" and server.sandbox == "plain" else "layer"
    assert succeeded(lam, layered["FunctionName"]) == expected


# ----------------------------------------------------------------------------------------- blank-python
BLANK_PYTHON = FIXTURES / "blank-python"
BLANK_PYTHON_POLICIES = ("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                         "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess",
                         "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess")  # template.yml's Policies


def blank_python_layer() -> bytes:
    """The sample's layer as its 2-build-layer.sh builds it (pip install --target package/python -r
    requirements.txt), for the python3.11 of its template; cached between runs. pip would bring the newest
    botocore along (aws-xray-sdk needs one): it is held at the runtime's, so the result is reproducible."""
    target = Path(os.environ.get("TMPDIR", "/tmp")) / "stratus-blank-python-layer-cp311"
    if not (target / "python" / "aws_xray_sdk").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        constraints = target.parent / "stratus-blank-python-constraints.txt"
        constraints.write_text(f"botocore=={PINNED_BOTO3}\n")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(target / "python"), "--only-binary=:all:", "--python-version", "3.11",
                        "-c", str(constraints), "-r", str(BLANK_PYTHON / "function/requirements.txt")],
                       check=True, timeout=300)
    files = {str(path.relative_to(target)): path.read_bytes() for path in target.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts}
    return make_zip(files)


def test_blank_python_sample_runs_unmodified(server, lam, fn_name):
    require_runtime_sdk("python")
    role = ensure_role(server, "blank-python-role", *BLANK_PYTHON_POLICIES)
    layer = lam.publish_layer_version(LayerName="blank-python-lib", Content={"ZipFile": blank_python_layer()},
                                      CompatibleRuntimes=["python3.11"])["LayerVersionArn"]
    function = {path.name: path.read_bytes() for path in (BLANK_PYTHON / "function").iterdir() if path.is_file()}
    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Handler="lambda_function.lambda_handler",
                        Role=role, Code={"ZipFile": make_zip(function)}, Timeout=10, Layers=[layer],
                        TracingConfig={"Mode": "Active"})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name)
    response, usage = invoke_json(lam, fn_name, {"key1": "value1"}, LogType="Tail")
    assert "FunctionError" not in response, usage
    # The handler returns get_account_settings()'s AccountUsage, as Stratus answers it.
    expected = lam.get_account_settings()["AccountUsage"]
    assert usage == expected and usage["FunctionCount"] >= 1
    # ...and its role may not do what its policies do not allow (the calls did reach Stratus, signed with them).
    assert "AccessDenied" not in str(usage)


def test_plain_sandbox_mirrors_an_sdk_its_users_may_not_read(fresh_server, tmp_path):
    """A runtime SDK under a folder only root may enter (e.g. a venv under /root) is mirrored where the plain
    sandbox's own uid can read it, as its code is."""
    require_runtime_sdk("python")
    if os.geteuid() != 0:
        pytest.skip("only a root server runs functions as other uids")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(sdks.default_sdk_root() / "python", private / "sdk" / "python", copy_function=os.link)
    server = fresh_server({"STRATUS_SANDBOX": "plain", "STRATUS_RUNTIME_SDK_DIR": str(private / "sdk")})
    lam = server.client()
    found = succeeded(lam, create(lam, "which", {"app.py": WHICH_BOTO3}, "arn:aws:iam::000000000000:role/r")[
        "FunctionName"])
    assert found["boto3"] == PINNED_BOTO3 and not found["file"].startswith(str(private)), found["file"]
