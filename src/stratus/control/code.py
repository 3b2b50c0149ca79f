"""Code packages of functions and layers: the .zip in a request (or its S3 object) checked, stored as a blob
and unpacked; and the overlay that merges unpacked layers into one /opt folder.

The blocking parts (`function_code`, `layer_content`, `overlay_all`) run in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import msgspec

from stratus.config import Settings
from stratus.control.s3_code import S3Code
from stratus.errors import InvalidParameterValueException, InvalidZipFileException, RequestEntityTooLargeException
from stratus.store.blobs import BadZip, BlobStore, BlobUnavailable, zip_unpacked_size

log = logging.getLogger("stratus.code")


class CodePackage(msgspec.Struct):
    """A function's stored deployment package."""

    sha256_hex: str
    sha256_b64: str
    size: int
    unpacked_size: int
    root: Path


# AWS's answer (400) to a function or layer zip it cannot unpack, whatever the reason.
UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


def checked_unzipped_size(data: bytes, limit: int) -> int:
    """The unzipped size of a function or layer zip; InvalidParameterValueException (AWS's words) if it
    is not a zip or unpacks to more than `limit` bytes."""
    try:
        unpacked_size = zip_unpacked_size(data)
    except BadZip:
        raise InvalidParameterValueException(UNZIP_FAILED) from None
    if unpacked_size > limit:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {limit} bytes")
    return unpacked_size


class CodePackages:
    """Decodes, checks, stores and unpacks the zips of functions and layers."""

    def __init__(self, settings: Settings, blobs: BlobStore):
        self.settings = settings
        self.blobs = blobs
        self.s3 = S3Code(settings)
        self.stored = 0  # packages stored so far: a failed upload that stored one leaves garbage to collect

    async def zip_from(self, zip_b64: str | None, s3_bucket: str | None, s3_key: str | None,
                       s3_version: str | None, member: str = "ZipFile") -> bytes:
        """A function's or layer's zip: `member` (base64, within the upload limit) or the S3 object (fetched in
        a worker thread, within the unzipped code limit: control/s3_code.py)."""
        if zip_b64:
            return self.decode(zip_b64, member)
        if s3_bucket or s3_key:
            if not (s3_bucket and s3_key):
                raise InvalidParameterValueException("Please provide both S3Bucket and S3Key for code from S3.")
            return await asyncio.to_thread(self.s3.fetch, s3_bucket, s3_key, s3_version)
        raise InvalidParameterValueException("Please provide a source for function code.")

    def decode(self, zip_b64: str, member: str) -> bytes:
        """The zip a request carries in base64 in `member` (ZipFile, Content.ZipFile), within the upload limit."""
        try:
            data = base64.b64decode(zip_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterValueException(f"{member} is not valid base64.") from None
        if len(data) > self.settings.zip_direct_upload_max_bytes:
            raise RequestEntityTooLargeException(
                f"Zipped size must be smaller than {self.settings.zip_direct_upload_max_bytes} bytes")
        return data

    def function_code(self, data: bytes) -> CodePackage:
        """Check, store and unpack a function's zip (blocking). A zip without the handler's file is accepted,
        as AWS accepts it: the invoke fails (Runtime.ImportModuleError, Runtime.InvalidEntrypoint)."""
        unpacked_size = checked_unzipped_size(data, self.settings.unzipped_code_max_bytes)
        sha_hex, root = self._store(data)
        digest = bytes.fromhex(sha_hex)
        return CodePackage(sha256_hex=sha_hex, sha256_b64=base64.b64encode(digest).decode(), size=len(data),
                           unpacked_size=unpacked_size, root=root)

    def layer_content(self, data: bytes) -> tuple[str, int]:
        """Check, store and unpack a layer's zip (blocking): (sha256 hex, unzipped size)."""
        unzipped_size = checked_unzipped_size(data, self.settings.unzipped_code_max_bytes)
        sha_hex, _ = self._store(data)
        return sha_hex, unzipped_size

    def prepare(self, sha_hex: str, users: Callable[[], list[str]]) -> None:
        """Before an environment starts (blocking): the unpacked code is intact, rebuilt from its verified
        blob if not; InvalidZipFileException (and a log line naming the functions that use it) if the blob
        is missing or corrupt."""
        try:
            self.blobs.unpacked(sha_hex)
        except BlobUnavailable as exc:
            log.error("function %s cannot start: %s", ", ".join(users()), exc)
            raise InvalidZipFileException(
                f"Lambda could not unzip the deployment package: the {exc}. Upload the function's code again "
                "(UpdateFunctionCode).") from None

    def _store(self, data: bytes) -> tuple[str, Path]:
        """Unpack, then store: a zip that does not unpack (a bad CRC, `x` then `x/y`, a member under a
        symlink, a path out of the archive) is refused with AWS's 400 and leaves nothing behind."""
        try:
            stored = self.blobs.store(data)
            self.stored += 1
            return stored
        except BadZip as exc:
            log.info("zip refused: %s", exc)
            raise InvalidParameterValueException(UNZIP_FAILED) from None


def overlay_all(roots: list[Path], into: Path) -> None:
    """Put each unpacked layer over `into` in turn: later layers win."""
    for root in roots:
        _overlay(root, into)


def _overlay(source: Path, into: Path) -> None:
    """Put `source`'s tree over `into`: its files replace what is there (a file replaces a folder and
    the other way round). Files are hard links to the unpacked layer (copies across file systems)."""
    for directory, dirnames, filenames in os.walk(source):
        relative = os.path.relpath(directory, source)
        destination = into if relative == "." else into / relative
        for name in dirnames:
            path = destination / name
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            path.mkdir(mode=0o755, exist_ok=True)
        for name in filenames:
            path = destination / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.is_symlink() or path.exists():
                path.unlink()
            origin = os.path.join(directory, name)
            try:
                os.link(origin, path)
            except OSError:
                shutil.copy2(origin, path)
