"""Code storage that heals (issue 11): zips that do not unpack are refused with nothing stored, blobs are
checked against their SHA-256 when used, unpacked trees are checked against their manifest and rebuilt,
unused storage and temp leftovers are collected, and function logs are capped per stream."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from stratus.observe.log_store import LogStore
from stratus.store import trees
from stratus.store.blobs import BadZip, BlobStore, BlobUnavailable
from tests.support.server import make_zip
from tests.support.zips import BAD_ZIPS


def _blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", tmp_path / "code")


@pytest.mark.parametrize("case", sorted(BAD_ZIPS))
def test_a_zip_that_does_not_unpack_is_refused_and_nothing_is_stored(tmp_path, case):
    blobs = _blobs(tmp_path)
    with pytest.raises(BadZip):
        blobs.store(BAD_ZIPS[case])
    assert os.listdir(tmp_path / "blobs") == [] and os.listdir(tmp_path / "code") == []


def test_store_then_verified_reads(tmp_path):
    blobs = _blobs(tmp_path)
    data = make_zip({"app.py": "x = 1\n"})
    sha, root = blobs.store(data)
    assert sha == hashlib.sha256(data).hexdigest() and (root / "app.py").read_text() == "x = 1\n"
    assert blobs.read(sha) == data and blobs.verified_path(sha) == blobs.path(sha)
    assert trees.intact(root)


def test_a_corrupt_or_missing_blob_is_never_served(tmp_path):
    blobs = _blobs(tmp_path)
    sha, _ = blobs.store(make_zip({"app.py": "x = 1\n"}))
    blobs.verified_path(sha)  # verified once: cached by its stat
    with open(blobs.path(sha), "r+b") as blob:  # same size, different bytes
        blob.seek(10)
        blob.write(b"\xff\xff")
    with pytest.raises(BlobUnavailable, match="corrupt"):
        blobs.verified_path(sha)
    with pytest.raises(BlobUnavailable, match="corrupt"):
        blobs.read(sha)
    blobs.path(sha).unlink()
    with pytest.raises(BlobUnavailable, match="missing"):
        blobs.verified_path(sha)


def test_uploading_the_same_bytes_again_repairs_a_corrupt_blob(tmp_path):
    blobs = _blobs(tmp_path)
    data = make_zip({"app.py": "x = 1\n"})
    sha, _ = blobs.store(data)
    blobs.path(sha).write_bytes(b"garbage")
    blobs.store(data)
    assert blobs.read(sha) == data


@pytest.mark.parametrize("tamper", ["rewrite", "rewrite-keep-mtime", "add", "remove", "chmod", "no-manifest"])
def test_a_tampered_tree_is_unpacked_again_from_its_blob(tmp_path, tamper):
    blobs = _blobs(tmp_path)
    sha, root = blobs.store(make_zip({"app.py": "x = 1\n", "lib/util.py": "y = 2\n"}))
    app = root / "app.py"
    if tamper == "rewrite":
        app.write_text("x = 666\n")
    elif tamper == "rewrite-keep-mtime":  # same size, old mtime put back
        before = app.stat()
        with open(app, "r+") as out:
            out.write("x = 9\n")
        os.utime(app, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif tamper == "add":
        (root / "lib" / "evil.py").write_text("import os\n")
    elif tamper == "remove":
        (root / "lib" / "util.py").unlink()
    elif tamper == "chmod":
        app.chmod(0o777)
    else:
        trees.manifest_path(root).unlink()
    if tamper != "rewrite-keep-mtime":  # an in-place rewrite with its mtime put back is not seen by design
        assert not trees.intact(root)
        assert blobs.unpacked(sha) == root and trees.intact(root)
        assert app.read_text() == "x = 1\n" and (root / "lib" / "util.py").read_text() == "y = 2\n"
        assert not (root / "lib" / "evil.py").exists() and app.stat().st_mode & 0o777 == 0o644


def test_a_missing_tree_and_a_corrupt_blob_make_that_code_unavailable(tmp_path):
    blobs = _blobs(tmp_path)
    sha, root = blobs.store(make_zip({"app.py": "x = 1\n"}))
    trees.remove(root)
    blobs.path(sha).write_bytes(b"not the zip any more")
    with pytest.raises(BlobUnavailable):
        blobs.unpacked(sha)
    blobs.path(sha).unlink()
    with pytest.raises(BlobUnavailable, match="missing"):
        blobs.unpacked(sha)


def test_collect_keeps_what_is_used_and_removes_the_rest_and_temp_leftovers(tmp_path):
    blobs = _blobs(tmp_path)
    kept, kept_root = blobs.store(make_zip({"a.py": "a"}))
    gone, gone_root = blobs.store(make_zip({"b.py": "b"}))
    (tmp_path / "blobs" / ".tmp-upload").write_bytes(b"half an upload")  # as a kill -9 mid-upload leaves it
    (tmp_path / "code" / ".tmp-unpack").mkdir()
    removed = blobs.collect({kept})
    assert sorted(removed) == sorted([gone, gone, gone + ".manifest", ".tmp-upload", ".tmp-unpack"])
    assert sorted(os.listdir(tmp_path / "blobs")) == [kept]
    assert sorted(os.listdir(tmp_path / "code")) == sorted([kept, kept + ".manifest"])
    assert trees.intact(kept_root) and not gone_root.exists()


def test_the_tree_check_is_cheap(tmp_path):
    """What the check before each environment start costs: one lstat per entry (figures in the report)."""
    files = {f"pkg{i // 50}/mod{i}.py": f"x = {i}\n" for i in range(1000)}
    blobs = _blobs(tmp_path)
    _, root = blobs.store(make_zip(files))
    started = time.perf_counter()
    for _ in range(10):
        assert trees.intact(root)
    per_check_ms = (time.perf_counter() - started) * 100
    assert per_check_ms < 50, per_check_ms  # ~5 ms for 1,000 files here; generous for slow CI machines


def test_logs_are_capped_in_total(tmp_path):
    """The log store's cap (STRATUS_LOG_MAX_BYTES) holds over every group and stream: the oldest events go first."""
    store = LogStore(tmp_path / "logs.db", flush_interval_s=60, max_bytes=3000)
    try:
        for number in range(50):
            stream = "stream-a" if number % 2 else "stream-b"
            store.write("/aws/lambda/fn", stream, f"line {number:04d} ".encode() + b"x" * 90 + b"\n")
            store.flush()
        group = store.group("/aws/lambda/fn")
        assert group is not None
        messages = [row.message for row in store.events(group.id, None, 0, 1 << 62)]
    finally:
        store.close()
    assert sum(map(len, messages)) == group.stored_bytes <= 3000
    assert messages[-1].startswith("line 0049")  # the newest lines are kept
    assert not any(message.startswith("line 0000") for message in messages)  # the oldest went
