"""The AWS SDKs functions find in their runtime, as AWS's runtimes include them: boto3 for python3.x,
the @aws-sdk v3 clients for nodejs*.x. scripts/runtime-sdks.sh installs the versions pinned in
runtime-sdk/ into <venv>/share/stratus/runtime-sdk/{python,python3.11,python3.9,node}; the sandboxes
show them read-only to every environment (invoke/specs.py puts them on the search paths).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from stratus.runtime.runtimes import NODE_RUNTIMES, PYTHON_RUNTIMES

log = logging.getLogger("stratus.runtimes")

COMPILE_TIMEOUT_S = 600.0


def sdk_name(runtime: str) -> str | None:
    """Which installed SDK folder a runtime's functions see: boto3 1.43 for python3.10+ (3.10 and 3.11 with
    setuptools, as AWS's runtimes have it), the last boto3 supporting 3.9 for python3.9, @aws-sdk for Node."""
    if runtime in PYTHON_RUNTIMES:
        return {"python3.9": "python3.9", "python3.10": "python3.11", "python3.11": "python3.11"}.get(runtime, "python")
    if runtime in NODE_RUNTIMES:
        return "node"
    return None


def default_sdk_root() -> Path:
    """Where the install step puts the runtime SDKs: <venv>/share/stratus/runtime-sdk."""
    return Path(sys.prefix) / "share" / "stratus" / "runtime-sdk"


def sdk_root(configured: str = "") -> Path:
    """STRATUS_RUNTIME_SDK_DIR, else the install step's folder."""
    return Path(configured) if configured else default_sdk_root()


def sdk_dir(runtime: str, root: Path) -> Path | None:
    """The installed SDK folder `runtime`'s functions see, or None (none for it, or not installed):
    the pip --target folder for Python, the node_modules folder for Node."""
    name = sdk_name(runtime)
    if name is None:
        return None
    folder = root / name / "node_modules" if name == "node" else root / name
    return folder if folder.is_dir() else None


def compile_bytecode(pairs: Iterable[tuple[Path, str, tuple[int, ...]]]) -> None:
    """Byte-compile each Python SDK folder for each interpreter that serves it: (folder, interpreter, version).

    Functions see the SDK read-only and never write bytecode, so without a .pyc for their interpreter's
    version every cold start that imports boto3 compiles botocore anew (+0.4-0.6 s here for 3.12). pip
    compiled it for the server's own Python; the others are compiled here, once per installed SDK (a
    stamp in the folder, which a re-install replaces). Blocking (run it in a thread); failures are logged."""
    for folder, python, version in pairs:
        stamp = folder / f".compiled-cpython-{version[0]}{version[1]}"
        if stamp.exists():
            continue
        try:  # exit status 1: some file does not compile for this version (it fails at import as it would anyway)
            done = subprocess.run([python, "-S", "-m", "compileall", "-q", str(folder)], timeout=COMPILE_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if done.returncode > 1:
                raise subprocess.SubprocessError(f"compileall exited with status {done.returncode}")
            stamp.touch()
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("could not byte-compile the runtime SDK %s for %s (functions compile it at import): %s",
                     folder, python, exc)
