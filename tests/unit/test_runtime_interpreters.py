"""Runtime interpreter discovery and resolution (runtime/interpreters.py, runtime/catalog.py)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from stratus.runtime.catalog import RuntimeCatalog
from stratus.runtime.interpreters import Interpreter, discover, python_candidates, resolve, runnable_in
from stratus.runtime.runtimes import RuntimeUnavailable

BOOTSTRAP = Path(__file__).parents[2] / "src/stratus/runtime/bootstraps/python/bootstrap.py"


def python(version: tuple[int, ...], path: str = "", prefix: str = "/usr") -> Interpreter:
    return Interpreter("python", path or f"/usr/bin/python{version[0]}.{version[1]}", version, prefix, "PATH")


def node(major: int, path: str = "/usr/bin/node") -> Interpreter:
    return Interpreter("node", path, (major, 1, 0), "/usr", "PATH")


def test_the_exact_version_wins_and_a_missing_one_takes_the_nearest_newer_else_older():
    found = [python((3, 9, 1)), python((3, 11, 2)), python((3, 13, 0)), node(20), node(24, "/x/node")]
    assert resolve("python3.11", found).status == "exact"
    assert resolve("python3.12", found).interpreter.version == (3, 13, 0), "newer first"
    assert resolve("python3.10", found).interpreter.version == (3, 11, 2)
    assert resolve("python3.14", found).interpreter.version == (3, 13, 0), "older when nothing is newer"
    assert resolve("nodejs18.x", found).interpreter.version[0] == 20
    assert resolve("nodejs22.x", found).interpreter.version[0] == 24
    assert resolve("nodejs22.x", found).status == "fallback"
    assert resolve("nodejs20.x", [python((3, 11, 2))]).status == "missing"
    assert resolve("provided.al2023", []).status == "exact"


def test_the_first_found_of_a_version_is_preferred():
    distribution, pyenv = python((3, 12, 3)), python((3, 12, 8), "/p/bin/python3.12", "/p")
    assert resolve("python3.12", [distribution, pyenv]).interpreter is distribution


def test_an_override_serves_every_python_runtime():
    override = python((3, 11, 2), "/opt/py/bin/python3.11", "/opt/py")
    found = [python((3, 12, 1))]
    assert resolve("python3.12", found, override).interpreter is override
    assert resolve("python3.12", found, override).status == "fallback"
    assert resolve("python3.11", found, override).status == "exact"
    assert resolve("nodejs20.x", [node(20)], override).interpreter.family == "node"


@pytest.fixture
def open_dir():
    """A folder others may enter (pytest's tmp_path lies in a 0700 folder)."""
    with tempfile.TemporaryDirectory(prefix="stratus-test-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def test_the_plain_sandbox_as_root_cannot_use_a_folder_closed_to_others(open_dir):
    closed = open_dir / "closed"
    (closed / "bin").mkdir(parents=True)
    (closed / "bin" / "python3.12").write_bytes(b"\x7fELF")
    os.chmod(closed / "bin" / "python3.12", 0o755)
    interpreter = python((3, 12, 1), str(closed / "bin" / "python3.12"), str(closed))
    os.chmod(closed, 0o755)
    assert runnable_in("plain", interpreter, as_root=True)
    os.chmod(closed, 0o700)
    assert not runnable_in("plain", interpreter, as_root=True)
    assert runnable_in("namespaced", python((3, 12, 1), "/root/.pyenv/versions/3.12.1/bin/python3.12",
                                            "/root/.pyenv/versions/3.12.1")), "mounted read-only into the namespace"
    assert not runnable_in("namespaced", interpreter), "the sandbox's /tmp is its own"
    assert not runnable_in("namespaced", python((3, 12, 1), "/opt/py/bin/python3.12", "/opt/py")), \
        "/opt is the layers' mount"
    catalog = RuntimeCatalog([interpreter, python((3, 11, 2))], "plain", as_root=True)
    assert catalog.resolution("python3.12").status == "fallback"


def test_strict_catalog_refuses_a_fallback_and_names_an_available_runtime():
    catalog = RuntimeCatalog([python((3, 11, 2))], "namespaced", strict=True)
    catalog.check_usable("python3.11")
    with pytest.raises(RuntimeUnavailable, match=r"python3\.12 is not supported .*use an available runtime "
                                                 r"\(python3\.11\)"):
        catalog.check_usable("python3.12")
    with pytest.raises(RuntimeUnavailable, match="needs Node.js"):
        catalog.interpreter_for("nodejs20.x")
    lenient = RuntimeCatalog([python((3, 11, 2))], "namespaced")
    interpreter, warning = lenient.interpreter_for("python3.12")
    assert interpreter.version == (3, 11, 2)
    assert warning.startswith("WARNING: Python 3.12 is not available on this Stratus host (sandbox: namespaced)")
    assert lenient.interpreter_for("python3.11")[1] == ""


def test_shims_and_scripts_are_not_interpreters(tmp_path):
    shim = tmp_path / "python3.12"
    shim.write_text("#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n")
    shim.chmod(0o755)
    assert python_candidates(str(tmp_path)) == []


def test_a_search_path_narrows_discovery_to_its_folders(tmp_path):
    interpreters, override = discover(str(tmp_path))
    assert interpreters == [] and override is None
    with pytest.raises(RuntimeUnavailable):
        discover(str(tmp_path), python_override=str(tmp_path / "no-such-python"))


def installed_pythons() -> list[Interpreter]:
    return [i for i in discover()[0] if i.family == "python"]


@pytest.mark.parametrize("interpreter", installed_pythons(), ids=lambda i: ".".join(map(str, i.version)))
def test_the_bootstrap_drives_json_directly_on_every_installed_python(interpreter):
    """On each Python the host has (3.9 ...), the bootstrap's _json path (not the json fallback) matches json."""
    script = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bootstrap", {str(BOOTSTRAP)!r})
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)
value = {{"text": "é \\u2028 ✓", "numbers": [1, 2.5, -0.0, None, True, 10 ** 20], "nested": {{"k": []}}}}
assert bootstrap.json_loads is not json.loads, "the json fallback was taken"
for ascii in (True, False):
    assert bootstrap.json_dumps(value, None, ascii) == json.dumps(value, ensure_ascii=ascii)
assert bootstrap.json_loads(json.dumps(value).encode()) == value
print("%d.%d" % sys.version_info[:2])
"""
    done = subprocess.run([interpreter.path, "-S", "-I", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ".".join(map(str, interpreter.version[:2]))
