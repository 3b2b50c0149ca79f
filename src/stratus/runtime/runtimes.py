"""The runtimes Stratus serves and how each one's bootstrap is started."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
from pathlib import Path

BOOTSTRAPS = Path(__file__).parent / "bootstraps"

# Every name AWS offers today (botocore's Runtime enum), listed whether or not this host has the
# interpreter: a missing version falls back to the nearest one (runtime/interpreters.py), so a function's
# runtime stays a valid name on any host, and `stratus runtimes` tells what serves it here.
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
NODE_RUNTIMES = ("nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")


class RuntimeUnavailable(Exception):
    """The runtime is one Stratus serves, but this host lacks what it needs (e.g. Node.js)."""


@dataclasses.dataclass(frozen=True)
class RuntimeLaunch:
    argv: tuple[str, ...]
    env: dict[str, str]


def address_space_headroom_mb(runtime: str) -> int:
    """Virtual memory a runtime reserves beyond what it uses, for an address-space rlimit (plain sandbox).

    Node reserves large regions it never touches (V8's heap cage, WebAssembly guard regions): Node 24
    aborts at its first outgoing HTTP request under MemorySize + 1 GiB, and runs under + 4 GiB.
    """
    return 4096 if runtime in NODE_RUNTIMES else 1024


def supported_runtimes() -> tuple[str, ...]:
    return PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES


@functools.lru_cache(maxsize=4)
def host_python(configured: str = "") -> str:
    """A Python of the server's own version for Stratus's helpers in a sandbox (the network bridge, the
    Landlock launcher) and for tests; functions get theirs from the runtime catalog (runtime/catalog.py).

    A distribution's /usr/bin/python3.X starts several times faster than a pyenv or venv build, so
    it is preferred when it is the same version as ours.
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
    if runtime in NODE_RUNTIMES:
        return BOOTSTRAPS / "node"
    if runtime in PROVIDED_RUNTIMES:
        return BOOTSTRAPS / "provided"
    raise ValueError(f"unsupported runtime {runtime}")


def launch(runtime: str, visible_runtime_dir: str, visible_task_root: str, interpreter: str = "") -> RuntimeLaunch:
    """How to start the bootstrap of `runtime` with `interpreter` (the catalog's choice), as seen from inside
    the sandbox."""
    if runtime in PYTHON_RUNTIMES:
        # -S: no site import (fast start; the bootstrap sets sys.path as Lambda does),
        # -u: unbuffered output, so logs reach the platform before the response does.
        argv = (interpreter or host_python(), "-S", "-u", f"{visible_runtime_dir}/bootstrap.py")
        return RuntimeLaunch(argv, {"PYTHONDONTWRITEBYTECODE": "1"})
    if runtime in NODE_RUNTIMES:
        if not interpreter:
            raise RuntimeUnavailable(f"Runtime {runtime} needs Node.js on the Stratus host.")
        major = runtime[len("nodejs"):].split(".")[0]  # AWS's NODE_PATH names the runtime's major
        return RuntimeLaunch((interpreter, f"{visible_runtime_dir}/bootstrap.js"),
                             {"NODE_PATH": f"/opt/nodejs/node_modules:/opt/nodejs/node{major}/node_modules:"
                                           f"{visible_runtime_dir}/node_modules"})
    if runtime in PROVIDED_RUNTIMES:
        return RuntimeLaunch((f"{visible_task_root}/bootstrap",), {})
    raise ValueError(f"unsupported runtime {runtime}")
