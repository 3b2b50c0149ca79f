"""Build a SAM / CloudFormation template's code for a deploy: each local code folder → one zip, uploaded once.

What is built (paths are relative to the template's folder):
- AWS::Serverless::Function `CodeUri` (its own, or Globals.Function's): the folder, plus `requirements.txt`
  installed for a Python runtime (pip, for the function's Python version and architecture) or `package.json`
  for a Node.js runtime (`npm install --omit=dev`). `InlineCode`, an `s3://` CodeUri, a `{Bucket, Key}` CodeUri
  and image functions are left as they are.
- AWS::Serverless::LayerVersion `ContentUri` and AWS::Lambda::LayerVersion `Content` given as a path: the folder;
  with `Metadata.BuildMethod: python3.x` its requirements are installed into `python/` (the source too), with
  `nodejsN.x` into `nodejs/`.
- AWS::Lambda::Function `Code` given as a path string.
A `.zip` file path is uploaded as it is. The output of `sam build` (`.aws-sam/build/template.yaml`) is already
built: its folders are zipped without installing anything.

Zips are deterministic (sorted entries, fixed timestamps, Unix modes kept, executable bits included), so the same
content is the same SHA-256. Two caches under `.stratus/build` beside the template: installed dependencies by
(requirements file, runtime, architecture), zips by (source files, dependencies, runtime, architecture). An
unchanged function costs one walk of its folder. Each zip is uploaded once (HEAD, then PUT
/_stratus/artifacts/<sha256>) and the template names it `s3://_stratus/<sha256>` (docs/stacks-api.md).

Templates are read with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) turned into their long forms,
and sent as JSON: nothing of their meaning is lost.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stratus.cli.client import CliError

BUILDER_VERSION = "1"  # part of every cache key: bump when what a build produces changes
ARTIFACT_BUCKET = "_stratus"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
SKIPPED_NAMES = {"__pycache__", ".git", ".stratus", ".aws-sam", ".DS_Store", ".mypy_cache", ".pytest_cache"}
PIP_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
INSTALL_TIMEOUT_S = 900


class BuildError(CliError):
    """A build step failed; `output` is the tool's output (shown before the one-line message)."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


# ---------------------------------------------------------------- templates with short tags
class _Loader(yaml.SafeLoader):
    """YAML 1.1 as CloudFormation reads it: short tags become long-form intrinsics; no timestamps (a template's
    dates stay strings, as `AWSTemplateFormatVersion: 2010-09-09` must)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_TAGS = ("Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
               "Transform", "And", "Equals", "If", "Not", "Or", "Contains", "EachMemberEquals", "EachMemberIn",
               "RefAll", "ValueOf", "ValueOfAll", "Length", "ToJsonString", "ForEach")


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _function(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return {f"Fn::{name}": _construct(node, loader)}
    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return {"Ref": _construct(node, loader)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return {"Condition": _construct(node, loader)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = _construct(node, loader)
    if isinstance(value, str):  # !GetAtt Resource.Attribute (the attribute may itself have dots)
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


for _name in _SHORT_TAGS:
    _Loader.add_constructor(f"!{_name}", _function(_name))
_Loader.add_constructor("!Ref", _ref)
_Loader.add_constructor("!Condition", _condition)
_Loader.add_constructor("!GetAtt", _get_att)


def load_template(path: Path) -> dict[str, Any]:
    """A template file (YAML with short tags, or JSON) as a dict; a CliError naming the file and line if not."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_Loader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise CliError(f"{path}{where}: not a valid template: {exc.problem or exc}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise CliError(f"{path}: not a valid template: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise CliError(f"{path}: not a template: it has no Resources section")
    return document


# ---------------------------------------------------------------- what to build
@dataclass
class CodeSource:
    """One local code location of the template and where its artifact goes."""

    logical_id: str
    kind: str  # "function" | "layer"
    path: Path
    runtime: str = ""
    architecture: str = "x86_64"
    layer_build: str = ""  # a layer's Metadata.BuildMethod (python3.12, nodejs20.x, ...)
    sha256: str = ""  # of the built zip
    zip_path: Path | None = None
    cached: bool = False
    seconds: float = 0.0
    source_key: str = ""


@dataclass
class BuildResult:
    template: dict[str, Any]
    sources: list[CodeSource] = field(default_factory=list)

    def template_text(self) -> str:
        return json.dumps(self.template, indent=1)


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and "://" not in value and bool(value.strip())


def code_sources(template: dict[str, Any], base: Path) -> list[CodeSource]:
    """Every local code location of the template, checked to exist (a CliError naming the resource if not)."""
    glob = (template.get("Globals") or {}).get("Function") or {}
    sources = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        kind, properties = resource.get("Type"), resource.get("Properties") or {}
        metadata = resource.get("Metadata") or {}
        if kind == "AWS::Serverless::Function":
            merged = {**glob, **properties}
            if merged.get("InlineCode") is not None or merged.get("PackageType") == "Image" \
                    or not _is_local(merged.get("CodeUri")):
                continue
            architectures = merged.get("Architectures") or ["x86_64"]
            sources.append(CodeSource(logical_id, "function", base / merged["CodeUri"], str(merged.get("Runtime", "")),
                                      str(architectures[0]) if isinstance(architectures, list) else "x86_64"))
        elif kind == "AWS::Lambda::Function" and _is_local(properties.get("Code")):
            architectures = properties.get("Architectures") or ["x86_64"]
            sources.append(CodeSource(logical_id, "function", base / properties["Code"],
                                      str(properties.get("Runtime", "")), str(architectures[0])))
        elif kind == "AWS::Serverless::LayerVersion" and _is_local(properties.get("ContentUri")):
            sources.append(CodeSource(logical_id, "layer", base / properties["ContentUri"],
                                      layer_build=str(metadata.get("BuildMethod", "")),
                                      architecture=str((properties.get("CompatibleArchitectures") or ["x86_64"])[0])))
        elif kind == "AWS::Lambda::LayerVersion" and _is_local(properties.get("Content")):
            sources.append(CodeSource(logical_id, "layer", base / properties["Content"],
                                      layer_build=str(metadata.get("BuildMethod", "")),
                                      architecture=str((properties.get("CompatibleArchitectures") or ["x86_64"])[0])))
    for source in sources:
        if not source.path.exists():
            what = "CodeUri" if source.kind == "function" else "ContentUri"
            raise CliError(f"{source.logical_id}: {what} {source.path} does not exist")
        if source.path.is_file() and source.path.suffix not in (".zip", ".jar"):
            raise CliError(f"{source.logical_id}: {source.path} is a file, not a folder or a .zip")
    return sources


def rewrite(template: dict[str, Any], sources: list[CodeSource]) -> dict[str, Any]:
    """The template with each built location naming its uploaded artifact."""
    result = copy.deepcopy(template)
    resources = result["Resources"]
    for source in sources:
        uri = f"s3://{ARTIFACT_BUCKET}/{source.sha256}"
        resource = resources[source.logical_id]
        properties = resource.setdefault("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            properties["CodeUri"] = uri
        elif kind == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = uri
        elif kind == "AWS::Lambda::Function":
            properties["Code"] = {"S3Bucket": ARTIFACT_BUCKET, "S3Key": source.sha256}
        elif kind == "AWS::Lambda::LayerVersion":
            properties["Content"] = {"S3Bucket": ARTIFACT_BUCKET, "S3Key": source.sha256}
        if kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            metadata = resource.get("Metadata")
            if isinstance(metadata, dict):
                metadata.pop("BuildMethod", None)  # built
    glob = (result.get("Globals") or {}).get("Function")
    if isinstance(glob, dict) and _is_local(glob.get("CodeUri")):
        glob.pop("CodeUri")  # every function that used it names its own artifact now
    return result


# ---------------------------------------------------------------- files, hashes, zips
def walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every file under `root`, sorted, skipping caches and VCS folders."""
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_NAMES)
        relative = Path(folder).relative_to(root)
        for name in sorted(files):
            if name in SKIPPED_NAMES or name.endswith(".pyc"):
                continue
            yield (relative / name).as_posix(), Path(folder) / name


def tree_hash(root: Path, hasher: Any | None = None) -> str:
    """SHA-256 over the names, executable bits and contents of the files under `root` (or of one file)."""
    hasher = hasher or hashlib.sha256()
    files = [(root.name, root)] if root.is_file() else walk(root)
    for name, path in files:
        hasher.update(name.encode() + b"\0" + (b"x" if os.access(path, os.X_OK) else b"-"))
        with open(path, "rb") as handle:
            hasher.update(hashlib.file_digest(handle, "sha256").digest())
    return str(hasher.hexdigest())


def write_zip(target: Path, layers: list[tuple[str, Path]]) -> str:
    """A deterministic zip of `layers` ((prefix in the archive, folder), later ones override earlier ones'
    files); returns its SHA-256."""
    entries: dict[str, Path] = {}
    for prefix, root in layers:
        for name, path in walk(root):
            entries[f"{prefix}{name}"] = path
    temp = target.with_name(target.name + f".{os.getpid()}.tmp")
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(entries):
            path = entries[name]
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            mode = 0o755 if os.stat(path).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.create_system = 3  # Unix: the modes count
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as handle, archive.open(info, "w") as out:
                shutil.copyfileobj(handle, out, 1 << 20)
    os.replace(temp, target)
    with open(target, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def default_cache_dir(template_path: Path) -> Path:
    folder = template_path.resolve().parent
    if os.access(folder, os.W_OK):
        return folder / ".stratus" / "build"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stratus" / "build"


def is_sam_build_output(template_path: Path) -> bool:
    """`sam build`'s `.aws-sam/build/template.yaml`: its folders are built already."""
    parent = template_path.resolve().parent
    return parent.name == "build" and parent.parent.name == ".aws-sam"


# ---------------------------------------------------------------- dependency installs
def python_version(runtime: str) -> str:
    return runtime.removeprefix("python") if runtime.startswith("python") else ""


def local_python(version: str) -> str | None:
    """A local CPython of `version` (X.Y) with pip, or None."""
    from stratus.runtime.interpreters import discover

    try:
        interpreters, _ = discover()
    except Exception:  # noqa: BLE001 - no discovery: install for the version instead
        return None
    wanted = tuple(int(part) for part in version.split("."))
    for interpreter in interpreters:
        if interpreter.family == "python" and interpreter.line == wanted:
            probe = subprocess.run([interpreter.path, "-m", "pip", "--version"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return interpreter.path
    return None


def _host_arch() -> str:
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine, "")


def pip_command(requirements: Path, target: Path, runtime: str, architecture: str) -> list[str]:
    """pip for the runtime's Python version: its own interpreter when the host has one (and the architecture is
    the host's), else this interpreter's pip fetching wheels for that version and platform."""
    version = python_version(runtime) or f"{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = local_python(version) if architecture == _host_arch() else None
    common = ["install", "--disable-pip-version-check", "--no-input", "--no-compile", "--no-warn-script-location",
              "--target", str(target), "-r", str(requirements)]
    if interpreter is not None:
        return [interpreter, "-m", "pip", *common]
    return [sys.executable, "-m", "pip", *common, "--python-version", version, "--only-binary=:all:",
            "--platform", PIP_PLATFORMS.get(architecture, PIP_PLATFORMS["x86_64"]), "--implementation", "cp"]


def run_tool(command: list[str], cwd: Path, what: str) -> None:
    """Run an installer; a BuildError with its output (and its last ERROR line as the message) if it fails."""
    try:
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    except FileNotFoundError:
        raise BuildError(f"{what}: {command[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what}: no result after {INSTALL_TIMEOUT_S} s") from None
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        errors = [line.strip() for line in output.splitlines() if line.strip().lower().startswith(("error", "npm err"))]
        last = errors[-1] if errors else (output.splitlines() or [""])[-1]
        raise BuildError(f"{what} failed (exit {completed.returncode}): {last}", output)


# ---------------------------------------------------------------- the builder
class Builder:
    """Builds a template's code sources into cached zips."""

    def __init__(self, template_path: Path, cache_dir: Path | None = None, install: bool | None = None,
                 status: Callable[[str], Any] | None = None):
        self.template_path = template_path
        self.base = template_path.resolve().parent
        self.cache_dir = cache_dir or default_cache_dir(template_path)
        self.install = (not is_sam_build_output(template_path)) if install is None else install
        self.status = status or (lambda message: None)

    def build(self, template: dict[str, Any] | None = None) -> BuildResult:
        """Build every code source (the template is loaded from the file unless given)."""
        template = load_template(self.template_path) if template is None else template
        sources = code_sources(template, self.base)
        for source in sources:
            started = time.monotonic()
            self.build_source(source)
            source.seconds = time.monotonic() - started
        return BuildResult(rewrite(template, sources), sources)

    def build_source(self, source: CodeSource) -> None:
        (self.cache_dir / "zips").mkdir(parents=True, exist_ok=True)
        if source.path.is_file():  # a zip (or jar) as it is
            source.zip_path = source.path
            with open(source.path, "rb") as handle:
                source.sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            source.cached = True
            return
        requirements, package = self._manifests(source)
        deps_key = self._deps_key(source, requirements, package) if self.install else ""
        hasher = hashlib.sha256(f"{BUILDER_VERSION}\0{source.kind}\0{source.runtime}\0{source.architecture}\0"
                                f"{source.layer_build}\0{deps_key}\0".encode())
        key = tree_hash(source.path, hasher)
        source.source_key = key
        zip_path, meta_path = self.cache_dir / "zips" / f"{key}.zip", self.cache_dir / "zips" / f"{key}.json"
        if zip_path.exists() and meta_path.exists():
            try:
                source.sha256 = json.loads(meta_path.read_text())["sha256"]
                source.zip_path, source.cached = zip_path, True
                return
            except (OSError, ValueError, KeyError):
                pass
        deps = self._dependencies(source, requirements, package, deps_key) if deps_key else None
        prefix = self._prefix(source)
        layers = ([(prefix, deps)] if deps is not None else []) + [(prefix, source.path)]
        self.status(f"Packaging {source.logical_id}")
        source.sha256 = write_zip(zip_path, layers)
        meta_path.write_text(json.dumps({"sha256": source.sha256, "source": str(source.path)}))
        source.zip_path = zip_path
        self._prune(key)

    # -------------------------------------------------------- helpers
    def _manifests(self, source: CodeSource) -> tuple[Path | None, Path | None]:
        language = source.layer_build or source.runtime
        requirements = source.path / "requirements.txt"
        package = source.path / "package.json"
        if language.startswith("python") and requirements.is_file():
            return requirements, None
        if language.startswith("nodejs") and package.is_file():
            return None, package
        return None, None

    def _prefix(self, source: CodeSource) -> str:
        if source.kind == "layer" and source.layer_build.startswith("python"):
            return "python/"
        if source.kind == "layer" and source.layer_build.startswith("nodejs"):
            return "nodejs/"
        return ""

    def _deps_key(self, source: CodeSource, requirements: Path | None, package: Path | None) -> str:
        manifest = requirements or package
        if manifest is None:
            return ""
        hasher = hashlib.sha256(f"{BUILDER_VERSION}\0{source.layer_build or source.runtime}\0"
                                f"{source.architecture}\0".encode())
        hasher.update(manifest.read_bytes())
        lock = source.path / "package-lock.json"
        if package is not None and lock.is_file():
            hasher.update(lock.read_bytes())
        return hasher.hexdigest()

    def _dependencies(self, source: CodeSource, requirements: Path | None, package: Path | None,
                      deps_key: str) -> Path:
        """The installed dependencies' folder (cached by the manifest, runtime and architecture)."""
        folder = self.cache_dir / "deps" / deps_key
        marker = folder.with_name(deps_key + ".complete")  # beside it, not in it (the folder is zipped)
        if marker.exists() and folder.is_dir():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".installing-", dir=folder.parent))
        try:
            if requirements is not None:
                self.status(f"Installing {source.path.name}/requirements.txt for {source.logical_id} "
                            f"({source.layer_build or source.runtime}, {source.architecture})")
                run_tool(pip_command(requirements, work, source.layer_build or source.runtime, source.architecture),
                         source.path, f"{source.logical_id}: pip install -r {requirements}")
            elif package is not None:
                self.status(f"Installing {source.path.name}/package.json for {source.logical_id} (npm)")
                for name in ("package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc"):
                    if (source.path / name).is_file():
                        shutil.copy2(source.path / name, work / name)
                npm = shutil.which("npm")
                if npm is None:
                    raise BuildError(f"{source.logical_id}: package.json needs npm, which is not installed")
                run_tool([npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"], work,
                         f"{source.logical_id}: npm install")
                for name in ("package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc"):
                    (work / name).unlink(missing_ok=True)  # the source's own copies go in the zip
            os.replace(work, folder)
            marker.write_text(deps_key)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return folder

    def _prune(self, keep: str, max_entries: int = 200) -> None:
        """Keep the zip cache bounded: drop the oldest entries past `max_entries`."""
        zips = sorted((self.cache_dir / "zips").glob("*.zip"), key=lambda p: p.stat().st_mtime)
        for old in zips[:-max_entries]:
            if old.stem != keep:
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)


def upload(client: Any, sources: list[CodeSource], status: Callable[[str], Any] | None = None) -> int:
    """Upload each distinct zip the server does not hold yet (HEAD, then PUT); returns how many were sent."""
    sent, done = 0, set()
    for source in sources:
        if source.sha256 in done or source.zip_path is None:
            continue
        done.add(source.sha256)
        path = f"/_stratus/artifacts/{source.sha256}"
        head, _, _ = client.request("HEAD", path, timeout=60)
        if head == 200:
            continue
        if status is not None:
            size = source.zip_path.stat().st_size
            status(f"Uploading {source.logical_id} ({size / 1e6:.1f} MB)")
        status_code, headers, body = client.request("PUT", path, source.zip_path.read_bytes(), timeout=600,
                                                    headers={"Content-Type": "application/zip"})
        if status_code not in (200, 201):
            from stratus.cli.client import api_error

            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = {}
            raise api_error(status_code, headers.get("x-amzn-errortype", ""), decoded, body)
        sent += 1
    return sent
