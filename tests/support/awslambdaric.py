"""AWS's own Python runtime client (awslambdaric, from PyPI, unmodified) as a `provided` function, to run
a handler under it and under Stratus's python runtime and compare what they do; and Powertools for AWS
Lambda (Python), copied from this venv's site-packages into a function's zip."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.server import make_zip

PYTHON = "/usr/bin/python3"  # the interpreter the awslambdaric bootstrap runs on (its wheels match it)
AWSLAMBDARIC = "awslambdaric==4.2.2"

DEFAULT_APP = """
import json, logging, os
logger = logging.getLogger()
logger.setLevel(logging.INFO)
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    logger.info("event %s", json.dumps(event))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"count": COUNT, "event": event, "request_id": context.aws_request_id,
            "function_name": context.function_name, "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(), "arn": context.invoked_function_arn}
"""


@functools.lru_cache(maxsize=1)
def _awslambdaric_files() -> dict[str, bytes]:
    """awslambdaric and its dependencies, pip-installed once per machine (cached in TMPDIR) for PYTHON."""
    version = subprocess.run([PYTHON, "-c", "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')"],
                             capture_output=True, text=True, check=True).stdout.strip()
    target = Path(os.environ.get("TMPDIR", "/tmp")) / f"stratus-awslambdaric-cp{version}"
    if not (target / "awslambdaric").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(target), "--only-binary=:all:", "--python-version", version,
                        AWSLAMBDARIC], check=True, timeout=300)
    return {str(path.relative_to(target)): path.read_bytes() for path in target.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def awslambdaric_zip(app: str = DEFAULT_APP, extra: dict[str, str | bytes] | None = None) -> bytes:
    """A `provided` function's zip: awslambdaric, `app` as app.py (handler `app.handler`), `extra`
    files, and a bootstrap that runs `PYTHON -m awslambdaric $_HANDLER`."""
    files: dict[str, str | bytes] = dict(_awslambdaric_files())
    files.update(extra or {})
    files["bootstrap"] = f"#!/bin/sh\nexec {PYTHON} -m awslambdaric \"$_HANDLER\"\n"
    files["app.py"] = app
    return make_zip(files, {"bootstrap": 0o755})


def available() -> bool:
    return os.path.exists(PYTHON)


@functools.lru_cache(maxsize=1)
def powertools_files() -> dict[str, bytes]:
    """aws_lambda_powertools (the test extras pin it) and its dependencies, as installed in this venv:
    pure Python, so the same files serve the function's interpreter."""
    import aws_lambda_powertools
    import jmespath
    import typing_extensions

    files: dict[str, bytes] = {}
    for package in (Path(aws_lambda_powertools.__file__).parent, Path(jmespath.__file__).parent):
        for path in package.rglob("*.py"):
            files[str(path.relative_to(package.parent))] = path.read_bytes()
    module = Path(typing_extensions.__file__)
    files[module.name] = module.read_bytes()
    return files
