"""`stratus deploy / delete / stacks` against a real server: the sam-init hello world deployed unmodified (its REST
API answers), an unchanged redeploy is "No changes", --json is one object, bad input is one line and deploys
nothing; figures (first deploy, unchanged redeploy) are printed with -s."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.cli import Lines, cli_env, stratus
from tests.support.server import HOST_PYTHON_RUNTIME, StratusServer

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sam-hello-world"


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory):
    # Function URLs by path (<endpoint>/_stratus/url/<id>/): reachable without a Host header, as a user meets them.
    with StratusServer(tmp_path_factory.mktemp("cli-deploy") / "data",
                       env={"STRATUS_FUNCTION_URL_STYLE": "path"}) as running:
        yield running


@pytest.fixture
def env(cli_server, tmp_path):
    return cli_env(cli_server.endpoint, home=tmp_path)


@pytest.fixture
def hello(tmp_path) -> Path:
    target = tmp_path / "sam-app"
    shutil.copytree(FIXTURE, target)
    return target


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stack_names(env) -> list[str]:
    listing = stratus("stacks", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    return [s["StackName"] for s in json.loads(listing.stdout)["Stacks"]]


def test_sam_init_hello_world_deploys_unmodified(env, hello, cli_server):
    name = f"hello-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    first = stratus("deploy", "--template", str(hello / "template.yaml"), "--stack-name", name, "--json", env=env)
    first_s = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    description = json.loads(first.stdout)  # exactly one object
    assert description["StackName"] == name and description["Status"] == "CREATE_COMPLETE"
    assert set(description["Outputs"]) == {"HelloWorldApi", "HelloWorldFunction", "HelloWorldFunctionIamRole"}
    resources = {r["LogicalResourceId"]: r for r in description["Resources"]}
    assert resources["HelloWorldFunction"]["ResourceType"] == "AWS::Lambda::Function"
    assert resources["HelloWorldFunction"]["PhysicalResourceId"]
    base = description["Endpoints"]["ServerlessRestApi"]
    assert base.endswith("/Prod")
    status, body = get(base + "/hello")
    assert status == 200 and json.loads(body) == {"message": "hello world"}

    started = time.monotonic()
    again = stratus("deploy", "-t", str(hello / "template.yaml"), "--stack-name", name, env=env)
    unchanged_s = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("No changes")
    started = time.monotonic()
    other = stratus("deploy", "-t", str(hello / "template.yaml"), "--stack-name", f"{name}-b", env=env)
    cached_first_s = time.monotonic() - started
    assert other.returncode == 0 and "CREATE_COMPLETE" in other.stdout, other.stderr
    assert stratus("delete", "--stack-name", f"{name}-b", env=env).returncode == 0
    print(f"\nhello world (CLI process included): first deploy {first_s:.2f} s (pip install of requests "
          f"included), {cached_first_s:.2f} s with the build cached; unchanged redeploy {unchanged_s:.2f} s")

    human = stratus("stacks", name, env=env)
    assert "HelloWorldFunction" in human.stdout and "AWS::Lambda::Function" in human.stdout
    assert f"GET     {base}/hello" in human.stdout  # the local URL of each route
    assert name in stack_names(env)

    # The function logs in JSON (LogFormat: JSON): --follow shows its platform lines within a second.
    function = resources["HelloWorldFunction"]["PhysicalResourceId"]
    follower = Lines("logs", function, "--follow", "--since", "1m", env=env)
    try:
        time.sleep(0.5)  # the follower has read the past
        started = time.monotonic()
        assert get(base + "/hello")[0] == 200
        arrived = follower.wait_for("platform.report", timeout=10)
        assert arrived - started < 1.0 + 0.5  # the report line is written after the response
    finally:
        follower.stop()

    deleted = stratus("delete", "--stack-name", name, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert name not in stack_names(env)
    assert get(base + "/hello")[0] in (403, 404)
    missing = stratus("invoke", function, env=env)
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr


TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Globals:
  Function:
    Runtime: %(runtime)s
    Handler: app.handler
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Layers: [!Ref Shared]
      FunctionUrlConfig:
        AuthType: NONE
      Environment:
        Variables:
          GREETING: !Sub "${Greeting} from ${Stage}"
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [%(runtime)s]
    Metadata:
      BuildMethod: %(runtime)s
Outputs:
  Name:
    Value: !Ref Fn
"""


@pytest.fixture
def app(tmp_path) -> Path:
    root = tmp_path / "app"
    (root / "src").mkdir(parents=True)
    (root / "layer").mkdir()
    (root / "src" / "app.py").write_text(
        "import os, shared\n"
        "def handler(event, context):\n"
        "    print('greeting', os.environ['GREETING'])\n"
        "    return {'greeting': os.environ['GREETING'], 'shared': shared.VALUE}\n")
    (root / "layer" / "shared.py").write_text("VALUE = 'from the layer'\n")
    (root / "layer" / "requirements.txt").write_text("")
    (root / "template.yaml").write_text(TEMPLATE % {"runtime": HOST_PYTHON_RUNTIME})
    return root


def test_function_url_layer_and_parameter_overrides(env, app):
    name = f"app-{uuid.uuid4().hex[:6]}"
    done = stratus("deploy", "-t", str(app / "template.yaml"), "-n", name,
                   "--parameter-overrides", "Greeting=hi", "ParameterKey=Stage,ParameterValue=prod", env=env)
    assert done.returncode == 0, done.stderr
    assert "Deployed stack" in done.stdout and "AWS::Lambda::LayerVersion" in done.stdout
    description = json.loads(stratus("stacks", name, "--json", env=env).stdout)
    function = description["Outputs"]["Name"]
    url = description["Endpoints"]["FnUrl"]
    assert url in done.stdout  # the local URL of the Function URL
    status, body = get(url.rstrip("/") + "/")
    assert status == 200 and json.loads(body) == {"greeting": "hi from prod", "shared": "from the layer"}
    invoked = stratus("invoke", function, env=env)
    assert json.loads(invoked.stdout)["greeting"] == "hi from prod"

    quoted = stratus("deploy", "-t", str(app / "template.yaml"), "-n", name,
                     "--parameter-overrides", "Greeting=hey Stage=dev", "--json", env=env)
    assert quoted.returncode == 0, quoted.stderr
    assert json.loads(quoted.stdout)["NoChanges"] is False
    assert json.loads(stratus("invoke", function, env=env).stdout)["greeting"] == "hey from dev"
    assert stratus("delete", "-n", name, env=env).returncode == 0


def one_line_failure(done, *expected: str) -> str:
    assert done.returncode == 1, done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("stratus: ") and "Traceback" not in done.stderr
    for text in expected:
        assert text in last, last
    return last


def test_bad_input_is_one_line_and_deploys_nothing(env, hello, app):
    name = f"bad-{uuid.uuid4().hex[:6]}"
    shutil.rmtree(app / "layer")
    one_line_failure(stratus("deploy", "-t", str(app / "template.yaml"), "-n", name, env=env),
                     "Shared: ContentUri", "does not exist")
    (hello / "hello_world" / "requirements.txt").write_text("stratus-no-such-package-0b4e1\n")
    one_line_failure(stratus("deploy", "-t", str(hello / "template.yaml"), "-n", name, env=env),
                     "HelloWorldFunction: pip install", "stratus-no-such-package-0b4e1")
    (hello / "hello_world" / "requirements.txt").write_text("")
    shutil.rmtree(hello / "hello_world")
    one_line_failure(stratus("deploy", "-t", str(hello / "template.yaml"), "-n", name, env=env),
                     "HelloWorldFunction: CodeUri", "does not exist")
    (app / "layer").mkdir()
    (app / "layer" / "shared.py").write_text("VALUE = 1\n")
    one_line_failure(stratus("deploy", "-t", str(app / "template.yaml"), "-n", name,
                             "--parameter-overrides", "Stage=qa", env=env), "Stage", "AllowedValues")
    assert name not in stack_names(env)


def test_a_failing_resource_is_named_and_the_deploy_exits_1(env, app):
    name = f"fail-{uuid.uuid4().hex[:6]}"
    template = app / "template.yaml"
    text = template.read_text()
    template.write_text(text.replace("      CodeUri: src/\n", "      CodeUri: src/\n      MemorySize: 1\n"))
    done = stratus("deploy", "-t", str(template), "-n", name, env=env)
    last = one_line_failure(done, f"deploy of stack {name} failed", "Fn (AWS::Lambda::Function)")
    assert "MemorySize" in last or "memorySize" in last
    as_json = stratus("deploy", "-t", str(template), "-n", name, "--json", env=env)
    assert as_json.returncode == 1
    assert "ROLLBACK" in json.loads(as_json.stdout)["Status"]


def test_usage_errors_exit_2(env, app):
    assert stratus("deploy", "-t", str(app / "template.yaml"), env=env).returncode == 2  # no stack name
    bad = stratus("deploy", "-t", str(app / "template.yaml"), "-n", "x", "--parameter-overrides", "novalue", env=env)
    assert bad.returncode == 2 and "--parameter-overrides" in bad.stderr
