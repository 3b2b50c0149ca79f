"""Host folders that functions in the plain sandbox may write to (tests read what they record there).

A plain-sandbox function runs as a uid of its own (when the server is root) and, with Landlock,
writes only under its TMPDIR and /tmp: pytest's tmp folders (under a 0700 folder of root's) are
out of its reach, so recorders write to a world-writable folder directly under /tmp.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def writable_by_functions(prefix: str = "stratus-test-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
