"""Deploy artifacts: code zips uploaded by `stratus deploy`, content-addressed by SHA-256, in their own folder
(`<data dir>/artifacts`, not the blob store, whose garbage collector removes blobs no function uses).

A template names one as `s3://_stratus/<sha256>`; control/s3_code.py reads bucket `_stratus` from here, so
CreateFunction / UpdateFunctionCode / PublishLayerVersion take it like any S3 object.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

BUCKET = "_stratus"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactError(ValueError):
    """The artifact is refused; `str()` says why in one line."""


class Artifacts:
    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str) -> Path | None:
        """Where the artifact lives (None for a key that is not a SHA-256)."""
        return self.root / sha256 if _SHA256.fullmatch(sha256 or "") else None

    def exists(self, sha256: str) -> bool:
        path = self.path(sha256)
        return path is not None and path.is_file()

    def put(self, sha256: str, data: bytes) -> int:
        """Store a zip whose SHA-256 is `sha256` (blocking; idempotent); ArtifactError otherwise."""
        path = self.path(sha256)
        if path is None:
            raise ArtifactError(f"'{sha256}' is not a SHA-256 (64 lower-case hex digits)")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ArtifactError(f"The body's SHA-256 is {actual}, not {sha256}")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ArtifactError("The artifact is not a zip file")
        if path.is_file():
            return len(data)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{sha256}.{os.getpid()}.tmp")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        return len(data)

    def read(self, sha256: str, limit: int) -> bytes | None:
        """The artifact's bytes (at most `limit` + 1 of them), None if there is none."""
        path = self.path(sha256)
        if path is None or not path.is_file():
            return None
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
