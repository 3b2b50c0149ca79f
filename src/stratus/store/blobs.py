"""Content-addressed blobs (code zips) and their extracted trees, each stored and unpacked once."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path


class BadZip(Exception):
    """The bytes are not a readable zip archive (or one that is unsafe to unpack)."""


def zip_unpacked_size(data: bytes) -> int:
    """Total uncompressed size of a zip's members; raises BadZip if it is not a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise BadZip(str(exc)) from None


def zip_names(data: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename for info in archive.infolist()}


class BlobStore:
    """Blobs under `blobs/<sha256 hex>`; unpacked code under `code/<sha256 hex>/`, read-only."""

    def __init__(self, blobs_dir: Path, code_dir: Path):
        self.blobs_dir = blobs_dir
        self.code_dir = code_dir
        blobs_dir.mkdir(parents=True, exist_ok=True)
        code_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha_hex: str) -> Path:
        return self.blobs_dir / sha_hex

    def put(self, data: bytes) -> str:
        """Store `data` (idempotent) and return its SHA-256 hex digest. Blocking: call off the loop."""
        sha_hex = hashlib.sha256(data).hexdigest()
        target = self.path(sha_hex)
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=self.blobs_dir, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        return sha_hex

    def read(self, sha_hex: str) -> bytes:
        return self.path(sha_hex).read_bytes()

    def unpacked(self, sha_hex: str) -> Path:
        """The directory holding the zip's files, unpacking it on first use. Blocking: call off the loop."""
        target = self.code_dir / sha_hex
        if target.is_dir():
            return target
        build_folder(target, lambda staging: _extract(self.path(sha_hex), staging))
        return target


def build_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Make folder `target` at once or not at all: `fill` writes a temporary folder beside it, which is
    then renamed into place. Safe when several threads or processes build the same target (the first
    rename wins; the others' work is dropped)."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        fill(staging)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, target)
        except OSError:  # another caller built it first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _extract(zip_path: Path, into: Path) -> None:
    """Unpack keeping Unix permission bits (an executable `bootstrap` stays executable), as Lambda does."""
    root = into.resolve()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            destination = (root / info.filename).resolve()
            if destination != root and root not in destination.parents:
                raise BadZip(f"member escapes the archive: {info.filename}")
            mode = (info.external_attr >> 16) & 0o777
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            executable = mode & stat.S_IXUSR
            os.chmod(destination, 0o755 if executable else 0o644)
        for directory, _, _ in os.walk(root):
            os.chmod(directory, 0o755)
