"""Folders built once and trusted while unchanged: unpacked code and merged /opt folders.

A folder is built in a temporary folder beside its target and renamed into place; then a manifest
(`<target>.manifest`) is written atomically: one line per entry (path, mode, size, mtime, inode). A
folder is used only while its manifest matches what `lstat` finds, else it is rebuilt. Why this check:
it costs one `lstat` per entry (no file is read), so it can run before every environment start, and it
catches every change made through the file system's ordinary calls (a rewritten, added, removed,
renamed, re-linked or chmod-ed file changes a size, mtime, inode, mode or the listing; a file restored
with its old mtime gets a new inode unless rewritten in place). It does not stand against someone who
can write the data dir at will (they could rewrite the manifest too): the sandbox keeps functions out
of it. The ctime is not compared: merging layers into /opt hard-links their files, which sets it.
A folder without a manifest (a crash between the rename and the manifest) is rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

MANIFEST_SUFFIX = ".manifest"
TEMP_PREFIX = ".tmp-"
_placing = threading.Lock()  # held while a built folder is put in place with its manifest


def manifest_path(target: Path) -> Path:
    return target.with_name(target.name + MANIFEST_SUFFIX)


def snapshot(root: Path) -> bytes:
    """What the manifest records of the folder `root`: every entry below it, in a fixed order."""
    lines = []
    stack = [""]
    while stack:
        relative = stack.pop()
        with os.scandir(os.path.join(root, relative) if relative else root) as entries:
            found = sorted((entry.name, entry.stat(follow_symlinks=False)) for entry in entries)
        for name, info in found:
            path = f"{relative}/{name}" if relative else name
            lines.append(f"{path}\0{info.st_mode:o}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}")
            if stat.S_ISDIR(info.st_mode):
                stack.append(path)
    return "\n".join(lines).encode(errors="surrogateescape")


def intact(target: Path) -> bool:
    """Whether `target` is a folder that matches its manifest (False if either is missing)."""
    try:
        expected = manifest_path(target).read_bytes()
        return snapshot(target) == expected
    except (FileNotFoundError, NotADirectoryError):
        return False


def write_atomically(target: Path, data: bytes) -> None:
    """`target` holds `data` or its old content, never a part (temp file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove(target: Path) -> None:
    """Remove a folder (or file) and its manifest, whatever state they are in."""
    with contextlib.suppress(FileNotFoundError):
        manifest_path(target).unlink()
    if target.is_dir() and not target.is_symlink():
        # Renamed aside first: a reader never sees a half-removed folder at the target's name.
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=TEMP_PREFIX))
        try:
            os.rename(target, aside / "gone")
        except FileNotFoundError:
            pass
        shutil.rmtree(aside, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


def build_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Make folder `target` at once or not at all, with its manifest: `fill` writes a temporary folder
    beside it, which is then renamed into place. Safe when several threads or processes build the same
    target in this process (the first one wins; the others' work is dropped). A target that exists but does not match
    its manifest is removed and built again."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=TEMP_PREFIX))
    try:
        fill(staging)
        os.chmod(staging, 0o755)
        with _placing:
            if intact(target):  # another caller built it meanwhile
                shutil.rmtree(staging, ignore_errors=True)
                return
            if target.exists() or target.is_symlink():
                remove(target)
            os.rename(staging, target)
            write_atomically(manifest_path(target), snapshot(target))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def collect(folder: Path, keep: set[str]) -> list[str]:
    """Remove from `folder` every entry (with its manifest) whose name is not in `keep`, and every
    leftover temporary file or folder; the names removed."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return removed
    for name in names:
        base = name[:-len(MANIFEST_SUFFIX)] if name.endswith(MANIFEST_SUFFIX) else name
        if base in keep and not name.startswith(TEMP_PREFIX):
            continue
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(name)
    return removed
