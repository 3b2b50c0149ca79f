"""The runtimes Stratus serves and how each one's bootstrap is started."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
from pathlib import Path

BOOTSTRAPS = Path(__file__).parent / "bootstraps"

PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")


@dataclasses.dataclass(frozen=True)
class RuntimeLaunch:
    argv: tuple[str, ...]
    env: dict[str, str]


def supported_runtimes() -> tuple[str, ...]:
    return PYTHON_RUNTIMES


@functools.lru_cache(maxsize=4)
def host_python(configured: str = "") -> str:
    """The interpreter that serves python3.x functions.

    A distribution's /usr/bin/python3.X starts several times faster than a pyenv or venv build, so
    it is preferred when it is the same version as ours; any other choice is a setting away.
    """
    if configured:
        return shutil.which(configured) or configured
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.access(candidate, os.X_OK):
            return candidate
    return getattr(sys, "_base_executable", None) or sys.executable


def runtime_dir(runtime: str) -> Path:
    """The host folder holding `runtime`'s bootstrap (mounted at /var/runtime when namespaced)."""
    if runtime in PYTHON_RUNTIMES:
        return BOOTSTRAPS / "python"
    raise ValueError(f"unsupported runtime {runtime}")


def launch(runtime: str, handler: str, visible_runtime_dir: str, python: str = "") -> RuntimeLaunch:
    """How to start the bootstrap of `runtime`, as seen from inside the sandbox."""
    if runtime in PYTHON_RUNTIMES:
        # -S: no site import (fast start; the bootstrap sets sys.path as Lambda does),
        # -u: unbuffered output, so logs reach the platform before the response does.
        argv = (host_python(python), "-S", "-u", f"{visible_runtime_dir}/bootstrap.py")
        return RuntimeLaunch(argv, {"PYTHONDONTWRITEBYTECODE": "1"})
    raise ValueError(f"unsupported runtime {runtime}")


def handler_file_candidates(runtime: str, handler: str) -> list[str] | None:
    """Paths inside the zip, any of which satisfies `handler`; None when the runtime has no such rule."""
    if runtime in PYTHON_RUNTIMES:
        module = handler.rsplit(".", 1)[0] if "." in handler else handler
        path = module.replace(".", "/")
        return [f"{path}.py", f"{path}/__init__.py", f"{path}.pyc"]
    return None
