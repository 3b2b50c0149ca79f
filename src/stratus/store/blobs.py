"""Content-addressed blobs (code zips) and their extracted trees, each stored and unpacked once.

A blob's name is its SHA-256, and the name is checked against the bytes whenever they are used: when
unpacked (the tree is built from verified bytes only) and when served. A corrupt or missing blob is a
`BlobUnavailable` for the function or layer that uses it, never for the server. An unpacked tree is
trusted while it matches its manifest (see trees.py) and unpacked again from the verified blob when not.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import stat
import time
import zipfile
import zlib
from pathlib import Path

from stratus.store import trees
from stratus.store.trees import build_folder, write_atomically

log = logging.getLogger("stratus.blobs")

__all__ = ["BadZip", "BlobStore", "BlobUnavailable", "build_folder", "zip_unpacked_size"]

# What reading a damaged or hostile zip can raise: a bad CRC or header (BadZipFile), a truncated member
# (EOFError), a bad deflate stream (zlib.error), an encrypted member (RuntimeError), an unknown
# compression method (NotImplementedError), a member whose path clashes with another's (OSError).
_UNZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, zlib.error,
                 RuntimeError, NotImplementedError)
_CHUNK = 1024 * 1024
_SETTLED_NS = 2_000_000_000
DOS_EPOCH = 315_532_800.0  # 1980-01-01: the mtime of unpacked folders (a file added later changes it)


class BadZip(Exception):
    """The bytes are not a readable zip archive (or one that is unsafe to unpack)."""


class BlobUnavailable(Exception):
    """A stored blob is missing or its bytes no longer match its SHA-256."""

    def __init__(self, sha_hex: str, reason: str):
        super().__init__(f"stored code package {sha_hex} is {reason}")
        self.sha_hex = sha_hex
        self.reason = reason


def zip_unpacked_size(data: bytes) -> int:
    """Total uncompressed size of a zip's members; raises BadZip if it is not a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except _UNZIP_ERRORS as exc:
        raise BadZip(str(exc)) from None


class BlobStore:
    """Blobs under `blobs/<sha256 hex>`; unpacked code under `code/<sha256 hex>/`, read-only."""

    def __init__(self, blobs_dir: Path, code_dir: Path):
        self.blobs_dir = blobs_dir
        self.code_dir = code_dir
        blobs_dir.mkdir(parents=True, exist_ok=True)
        code_dir.mkdir(parents=True, exist_ok=True)
        self._verified: dict[str, tuple[int, int, int, int]] = {}  # sha → the stat of the file last verified

    def path(self, sha_hex: str) -> Path:
        return self.blobs_dir / sha_hex

    def tree(self, sha_hex: str) -> Path:
        return self.code_dir / sha_hex

    # ------------------------------------------------------------------ storing
    def store(self, data: bytes) -> tuple[str, Path]:
        """Check that `data` unpacks (BadZip if not: nothing is stored), store it and unpack it: (sha256
        hex, unpacked folder). Blocking: call off the loop."""
        sha_hex = hashlib.sha256(data).hexdigest()
        target = self.tree(sha_hex)
        if not trees.intact(target):
            build_folder(target, lambda staging: _extract(data, staging))
        self._put(sha_hex, data)
        return sha_hex, target

    def put(self, data: bytes) -> str:
        """Store `data` (idempotent) and return its SHA-256 hex digest. Blocking: call off the loop."""
        sha_hex = hashlib.sha256(data).hexdigest()
        self._put(sha_hex, data)
        return sha_hex

    def _put(self, sha_hex: str, data: bytes) -> None:
        target = self.path(sha_hex)
        try:
            self.verified_path(sha_hex)
        except BlobUnavailable as exc:
            if exc.reason != "missing":
                log.warning("blob %s was corrupt; replaced by the bytes uploaded again", sha_hex)
            write_atomically(target, data)

    # ------------------------------------------------------------------ reading, verified
    def verified_path(self, sha_hex: str) -> Path:
        """The blob's file, its bytes checked against its name (BlobUnavailable if missing or corrupt).
        The hash is computed once per version of the file (kept while its inode, size, mtime and ctime
        stay the same). Blocking: call off the loop."""
        path = self.path(sha_hex)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise BlobUnavailable(sha_hex, "missing") from None
        key = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if self._verified.get(sha_hex) == key:
            return path
        # A file changed within the file system's timestamp granularity of its last change could keep its
        # stat: only a file left alone for a while is remembered as verified (git's "racily clean" rule).
        settled = time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) > _SETTLED_NS
        digest = hashlib.sha256()
        with open(path, "rb") as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha_hex:
            self._verified.pop(sha_hex, None)
            raise BlobUnavailable(sha_hex, "corrupt (its bytes do not match its SHA-256)")
        if settled:
            self._verified[sha_hex] = key
        return path

    def read(self, sha_hex: str) -> bytes:
        """The blob's bytes, checked against its name (BlobUnavailable if missing or corrupt)."""
        try:
            data = self.path(sha_hex).read_bytes()
        except FileNotFoundError:
            raise BlobUnavailable(sha_hex, "missing") from None
        if hashlib.sha256(data).hexdigest() != sha_hex:
            raise BlobUnavailable(sha_hex, "corrupt (its bytes do not match its SHA-256)")
        return data

    def unpacked(self, sha_hex: str) -> Path:
        """The folder holding the zip's files: as unpacked before if it still matches its manifest, else
        unpacked (again) from the verified blob; BlobUnavailable if the blob is missing or corrupt (or no
        longer unpacks). Blocking: call off the loop."""
        target = self.tree(sha_hex)
        if trees.intact(target):
            return target
        data = self.read(sha_hex)
        if trees.manifest_path(target).exists():
            log.warning("unpacked code %s was changed on disk; unpacking it again from its blob", sha_hex)
        elif target.exists():  # unpacked by an older release, or cut short before its manifest was written
            log.info("unpacked code %s has no manifest; unpacking it again from its blob", sha_hex)
        try:
            build_folder(target, lambda staging: _extract(data, staging))
        except BadZip as exc:
            raise BlobUnavailable(sha_hex, f"unreadable ({exc})") from None
        return target

    # ------------------------------------------------------------------ garbage collection
    def collect(self, keep: set[str]) -> list[str]:
        """Remove every blob and unpacked tree whose SHA-256 is not in `keep`, and leftover temporary
        files (an upload or unpack cut short); the names removed. Blocking: call off the loop."""
        removed = trees.collect(self.blobs_dir, keep) + trees.collect(self.code_dir, keep)
        for name in removed:
            self._verified.pop(name, None)
        return removed


def _extract(data: bytes, into: Path) -> None:
    """Unpack keeping Unix permission bits (an executable `bootstrap` stays executable), as Lambda does;
    BadZip for anything that does not unpack cleanly."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _extract_members(archive, into.resolve())
    except BadZip:
        raise
    except _UNZIP_ERRORS as exc:
        raise BadZip(f"{type(exc).__name__}: {exc}") from None


def _extract_members(archive: zipfile.ZipFile, root: Path) -> None:
    """Files get their zip timestamps (as `unzip` gives them) and folders the DOS epoch: a file written
    later gets the present time, which the tree's manifest check sees even when the size is the same."""
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
            shutil.copyfileobj(source, out, _CHUNK)
        executable = mode & stat.S_IXUSR
        os.chmod(destination, 0o755 if executable else 0o644)
        when = _zip_time(info)
        os.utime(destination, (when, when))
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o755)
        os.utime(directory, (DOS_EPOCH, DOS_EPOCH))


def _zip_time(info: zipfile.ZipInfo) -> float:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return DOS_EPOCH
