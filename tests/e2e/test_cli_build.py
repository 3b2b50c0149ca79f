"""cli/build.py: code folders → deterministic zips, dependencies installed for the runtime (real pip and npm),
cached by content so that an unchanged function costs nothing; templates read with short tags kept."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from stratus.cli.build import Builder, load_template
from stratus.cli.client import CliError
from tests.support.cli import cli_env, stratus

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sam-hello-world"


@pytest.fixture
def hello(tmp_path) -> Path:
    """A copy of the sam-init hello world (the test may edit it)."""
    target = tmp_path / "sam-app"
    shutil.copytree(FIXTURE, target)
    return target


def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def test_hello_world_builds_with_requests_and_a_second_build_is_a_cache_hit(hello):
    builder = Builder(hello / "template.yaml")
    first = builder.build()
    (source,) = first.sources
    assert not source.cached
    content = names(source.zip_path)
    assert "app.py" in content and "__init__.py" in content and "requirements.txt" in content
    assert "requests/__init__.py" in content and "urllib3/__init__.py" in content  # installed for python3.13
    assert content == sorted(content) and not any("__pycache__" in n or n.endswith(".pyc") for n in content)
    assert hashlib.sha256(source.zip_path.read_bytes()).hexdigest() == source.sha256
    properties = first.template["Resources"]["HelloWorldFunction"]["Properties"]
    assert properties["CodeUri"] == f"s3://_stratus/{source.sha256}"

    started = time.monotonic()
    second = Builder(hello / "template.yaml").build()
    elapsed = time.monotonic() - started
    assert second.sources[0].cached and second.sources[0].sha256 == source.sha256
    assert elapsed < 0.25, f"an unchanged build took {elapsed:.3f} s"

    # A code edit rebuilds without installing again (the dependencies are cached apart), in well under a second.
    app = hello / "hello_world" / "app.py"
    app.write_text(app.read_text().replace("hello world", "hello again"))
    started = time.monotonic()
    third = Builder(hello / "template.yaml").build()
    elapsed = time.monotonic() - started
    assert not third.sources[0].cached and third.sources[0].sha256 != source.sha256
    assert "requests/__init__.py" in names(third.sources[0].zip_path)
    assert elapsed < 1.0, f"a rebuild after a code edit took {elapsed:.3f} s"


def test_zips_are_deterministic_and_keep_executable_bits(tmp_path):
    def project(root: Path) -> Path:
        (root / "src" / "pkg").mkdir(parents=True)
        (root / "src" / "app.py").write_text("def handler(e, c):\n    return 1\n")
        (root / "src" / "pkg" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
        (root / "src" / "pkg" / "tool.sh").chmod(0o755)
        (root / "src" / "__pycache__").mkdir()
        (root / "src" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
        (root / "template.yaml").write_text(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties:\n      CodeUri: src\n      Handler: app.handler\n      Runtime: python3.12\n")
        return root / "template.yaml"

    one = Builder(project(tmp_path / "one")).build().sources[0]
    time.sleep(1.1)  # other mtimes
    two = Builder(project(tmp_path / "two")).build().sources[0]
    assert one.sha256 == two.sha256
    with zipfile.ZipFile(one.zip_path) as archive:
        assert archive.namelist() == ["app.py", "pkg/tool.sh"]
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
        assert modes == {"app.py": 0o644, "pkg/tool.sh": 0o755}
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_short_tags_survive_and_untouched_code_stays(tmp_path):
    (tmp_path / "layer").mkdir()
    (tmp_path / "layer" / "requirements.txt").write_text("")
    (tmp_path / "layer" / "helpers.py").write_text("X = 1\n")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "index.py").write_text("def handler(e, c): return 2\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "app.py").write_text("def handler(e, c): return 3\n")
    template = tmp_path / "template.yaml"
    template.write_text("""AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    CodeUri: shared/
    Runtime: python3.12
Resources:
  Inline:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "def handler(e, c): return 1", Handler: index.handler}
  FromS3:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: s3://bucket/key.zip, Handler: app.handler}
  Shared:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Layers: [!Ref Layer]
      Environment:
        Variables:
          NAME: !Sub "${AWS::StackName}-${Stage}"
          ARN: !GetAtt Plain.Arn
          PICK: !If [IsProd, !Select [0, !Split [",", "a,b"]], !Join ["-", [x, y]]]
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/, CompatibleRuntimes: [python3.12]}
    Metadata: {BuildMethod: python3.12}
  Plain:
    Type: AWS::Lambda::Function
    Properties: {Code: plain, Handler: index.handler, Runtime: python3.12, Role: !GetAtt Role.Arn}
Outputs:
  Name: {Value: !Ref Shared, Condition: IsProd}
""")
    result = Builder(template).build()
    out = result.template
    assert out["AWSTemplateFormatVersion"] == "2010-09-09"
    assert out["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    resources = out["Resources"]
    assert resources["Inline"]["Properties"] == {"InlineCode": "def handler(e, c): return 1",
                                                 "Handler": "index.handler"}
    assert resources["FromS3"]["Properties"]["CodeUri"] == "s3://bucket/key.zip"
    variables = resources["Shared"]["Properties"]["Environment"]["Variables"]
    assert variables == {"NAME": {"Fn::Sub": "${AWS::StackName}-${Stage}"}, "ARN": {"Fn::GetAtt": ["Plain", "Arn"]},
                         "PICK": {"Fn::If": ["IsProd", {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
                                             {"Fn::Join": ["-", ["x", "y"]]}]}}
    assert resources["Shared"]["Properties"]["Layers"] == [{"Ref": "Layer"}]
    assert resources["Shared"]["Properties"]["CodeUri"].startswith("s3://_stratus/")  # from Globals' folder
    assert "CodeUri" not in out["Globals"]["Function"]
    built = {source.logical_id: source for source in result.sources}
    assert set(built) == {"Shared", "Layer", "Plain"}
    assert names(built["Layer"].zip_path) == ["python/helpers.py", "python/requirements.txt"]
    assert resources["Plain"]["Properties"]["Code"] == {"S3Bucket": "_stratus", "S3Key": built["Plain"].sha256}
    assert json.loads(result.template_text()) == out


def test_missing_code_uri_names_the_function(hello, tmp_path):
    shutil.rmtree(hello / "hello_world")
    with pytest.raises(CliError, match=r"^HelloWorldFunction: CodeUri .*hello_world does not exist$"):
        Builder(hello / "template.yaml").build()
    done = stratus("build", "-t", str(hello / "template.yaml"), env=cli_env("http://127.0.0.1:9", home=tmp_path))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "HelloWorldFunction: CodeUri" in done.stderr


def test_failing_pip_install_shows_pips_output_and_one_line(hello, tmp_path):
    (hello / "hello_world" / "requirements.txt").write_text("stratus-no-such-package-0b4e1\n")
    done = stratus("build", "-t", str(hello / "template.yaml"), env=cli_env("http://127.0.0.1:9", home=tmp_path))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("stratus: HelloWorldFunction: pip install -r ") and "failed (exit 1)" in last
    assert "stratus-no-such-package-0b4e1" in last  # pip's own ERROR line
    assert "Traceback" not in done.stderr


def test_node_function_installs_package_json_without_dev_dependencies(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.mjs").write_text("export const handler = async () => 1;\n")
    (src / "package.json").write_text(json.dumps({"name": "fn", "version": "1.0.0",
                                                  "dependencies": {"ms": "2.1.3"},
                                                  "devDependencies": {"left-pad": "1.3.0"}}))
    template = tmp_path / "template.yaml"
    template.write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
                        "    Type: AWS::Serverless::Function\n"
                        "    Properties: {CodeUri: src, Handler: index.handler, Runtime: nodejs20.x}\n")
    (source,) = Builder(template).build().sources
    content = names(source.zip_path)
    assert "index.mjs" in content and "package.json" in content and "node_modules/ms/package.json" in content
    assert not any(name.startswith("node_modules/left-pad/") for name in content)


def test_sam_build_output_is_zipped_without_installing(tmp_path):
    build = tmp_path / ".aws-sam" / "build"
    (build / "HelloWorldFunction").mkdir(parents=True)
    (build / "HelloWorldFunction" / "app.py").write_text("def lambda_handler(e, c): return 1\n")
    (build / "HelloWorldFunction" / "requirements.txt").write_text("stratus-no-such-package-0b4e1\n")  # not installed
    template = load_template(FIXTURE / "template.yaml")
    template["Resources"]["HelloWorldFunction"]["Properties"]["CodeUri"] = "HelloWorldFunction"
    (build / "template.yaml").write_text(json.dumps(template))
    (source,) = Builder(build / "template.yaml").build().sources
    assert names(source.zip_path) == ["app.py", "requirements.txt"]


def test_build_command_reports_each_source(hello, tmp_path):
    env = cli_env("http://127.0.0.1:9", home=tmp_path)
    first = stratus("build", "-t", str(hello / "template.yaml"), env=env)
    assert first.returncode == 0, first.stderr
    again = stratus("build", "-t", str(hello / "template.yaml"), "--json", env=env)
    (row,) = json.loads(again.stdout)["Built"]
    assert row["LogicalResourceId"] == "HelloWorldFunction" and row["Cached"] is True
