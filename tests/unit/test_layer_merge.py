"""LayerService on a real SQLite store and blob store: a function's layers are checked as AWS checks
them and merged into one /opt folder (later layers win), built once per ordered list, safely under
concurrency; layer content is stored and unpacked once; the plain sandbox points /opt paths at it."""

from __future__ import annotations

import asyncio
import base64
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from stratus.config import Settings
from stratus.control.layers import LayerService
from stratus.errors import InvalidParameterValueException, ValidationException
from stratus.sandbox.plain import relocate_opt
from stratus.shapes import Layer, LayerVersionContentInput, PublishLayerVersionRequest
from stratus.store.blobs import BlobStore
from stratus.store.sqlite import SqliteStore
from tests.support.server import make_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:layer"


class Harness:
    """A LayerService over a store in a temp dir; `run` drives its coroutines."""

    def __init__(self, tmp_path):
        self.settings = Settings(data_dir=tmp_path)
        self.store = SqliteStore(self.settings.db_path)
        self.blobs = BlobStore(self.settings.blobs_dir, self.settings.code_dir)
        self.loop = asyncio.new_event_loop()
        self.run(self.store.open())
        self.layers = LayerService(self.settings, self.store, self.blobs)
        self.run(self.layers.load())

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def publish(self, name: str, files: dict[str, str], modes: dict[str, int] | None = None) -> str:
        zip_b64 = base64.b64encode(make_zip(files, modes)).decode()
        request = PublishLayerVersionRequest(Content=LayerVersionContentInput(ZipFile=zip_b64))
        return self.run(self.layers.publish(name, request, lambda sha: f"http://test/{sha}")).LayerVersionArn

    def close(self):
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def tree(root) -> dict[str, str]:
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path) as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def test_later_layers_overwrite_earlier_files_in_the_given_order(h):
    a = h.publish("a", {"python/shared.py": "a", "python/only_a.py": "A", "python/pkg/mod.py": "dir in a",
                        "bin/tool": "#!/bin/sh\necho a\n"}, modes={"bin/tool": 0o755})
    b = h.publish("b", {"python/shared.py": "b", "python/pkg": "file in b", "lib/libx.so": "x"})

    ab = h.layers.opt_dir([a, b])
    assert tree(ab) == {"python/shared.py": "b", "python/only_a.py": "A", "python/pkg": "file in b",
                        "bin/tool": "#!/bin/sh\necho a\n", "lib/libx.so": "x"}
    assert os.access(ab / "bin" / "tool", os.X_OK)  # permission bits survive the merge

    ba = h.layers.opt_dir([b, a])
    assert ba != ab
    assert tree(ba) == {"python/shared.py": "a", "python/only_a.py": "A", "python/pkg/mod.py": "dir in a",
                        "bin/tool": "#!/bin/sh\necho a\n", "lib/libx.so": "x"}


def test_same_list_same_folder_built_once(h):
    a = h.publish("a", {"python/x.py": "1"})
    b = h.publish("b", {"python/y.py": "2"})
    first = h.layers.opt_dir([a, b])
    inode = first.stat().st_ino
    assert h.layers.opt_dir([a, b]) == first
    # A new service over the same data dir (a restart) reuses the folder on disk.
    again = LayerService(h.settings, h.store, h.blobs)
    h.run(again.load())
    assert again.opt_dir([a, b]) == first and first.stat().st_ino == inode
    assert [p.name for p in h.layers.opt_root.iterdir() if not p.name.endswith(".manifest")] == [first.name]


def test_one_layer_is_its_unpacked_folder(h):
    a = h.publish("a", {"python/x.py": "1"})
    sha = h.layers.check([a])[0].sha256_hex
    assert h.layers.opt_dir([a]) == h.settings.code_dir / sha
    assert h.layers.opt_dir([]) is None
    assert not h.layers.opt_root.exists()  # nothing merged, nothing copied


def test_content_is_stored_and_unpacked_once(h):
    files = {"python/x.py": "same bytes"}
    first, second = h.publish("one", files), h.publish("two", files)
    shas = {record.sha256_hex for record in h.layers.check([first, second])}
    assert len(shas) == 1
    assert [p.name for p in h.settings.blobs_dir.iterdir()] == list(shas)
    assert [p.name for p in h.settings.code_dir.iterdir()
            if not p.name.startswith(".") and not p.name.endswith(".manifest")] == list(shas)


def test_concurrent_builds_of_one_list_agree(h):
    arns = [h.publish(f"l{i}", {f"python/m{i}.py": str(i), "python/shared.py": str(i)}) for i in range(3)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: LayerService(h.settings, h.store, h.blobs), range(8)))
        for service in results:
            service._versions = h.layers._versions  # same state, separate caches: all race to build
        folders = list(pool.map(lambda service: service.opt_dir(arns), results))
    assert len(set(folders)) == 1
    expected = [folders[0].name, folders[0].name + ".manifest"]
    assert sorted(p.name for p in h.layers.opt_root.iterdir()) == expected  # no temp leftovers
    assert tree(folders[0])["python/shared.py"] == "2"


def test_attach_reports_entries_sizes_and_folder(h):
    a = h.publish("a", {"python/x.py": "12345"})
    b = h.publish("b", {"python/y.py": "123"})
    attached = h.layers.attach([a, b])
    codes = [r.code_size for r in h.layers.check([a, b])]
    assert attached.layers == [Layer(Arn=a, CodeSize=codes[0]), Layer(Arn=b, CodeSize=codes[1])]
    assert attached.unzipped_size == 8
    assert attached.opt_dir == h.layers.opt_dir([a, b])
    assert h.layers.attach([]).opt_dir is None
    assert h.run(h.layers.attach_async([b, a])).opt_dir == h.layers.opt_dir([b, a])


def test_deleted_version_stays_only_where_already_attached(h):
    a = h.publish("a", {"python/x.py": "1"})
    folder = h.layers.opt_dir([a])
    h.run(h.layers.delete("a", 1))
    with pytest.raises(InvalidParameterValueException, match=f"Layer version {a} does not exist."):
        h.layers.attach([a])
    assert h.layers.attach([a], already_attached=[a]).opt_dir == folder
    assert h.layers.opt_dir([a]) == folder
    assert h.publish("a", {"python/x.py": "2"}) == f"{ARN}:a:2"  # the number is not reused


@pytest.mark.parametrize("arns, error, message", [
    ([f"{ARN}:l{i}:1" for i in range(6)], InvalidParameterValueException, "Cannot reference more than 5 layers."),
    ([f"{ARN}:nope:1"], InvalidParameterValueException, f"Layer version {ARN}:nope:1 does not exist."),
    ([f"{ARN}:l0:9"], InvalidParameterValueException, f"Layer version {ARN}:l0:9 does not exist."),
    (["arn:aws:lambda:eu-west-1:000000000000:layer:l0:1"], InvalidParameterValueException,
     "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."),
    (["arn:aws:lambda:us-east-1:111111111111:layer:l0:1"], InvalidParameterValueException,
     "Layer version arn:aws:lambda:us-east-1:111111111111:layer:l0:1 does not exist."),
    ([f"{ARN}:l0:1", f"{ARN}:l0:1"], InvalidParameterValueException,
     f"Two different versions of the same layer are not allowed to be referenced in the same function. "
     f"{ARN}:l0:1 and {ARN}:l0:1 are versions of the same layer."),
    ([f"{ARN}:l0"], ValidationException, "at 'layers' failed to satisfy constraint"),
])
def test_attach_refuses_as_aws(h, arns, error, message):
    for i in range(6):
        h.publish(f"l{i}", {"python/x.py": str(i)})
    with pytest.raises(error) as caught:
        h.layers.attach(arns)
    assert message in caught.value.message


def test_plain_sandbox_points_opt_paths_at_the_merged_folder():
    env = {"PATH": "/usr/bin:/opt/bin", "LD_LIBRARY_PATH": "/task:/opt/lib", "HOME": "/opt/home",
           "NODE_PATH": "/opt/nodejs/node_modules:/opt/nodejs/node20/node_modules:/rt/node_modules",
           "PYTHONPATH": "/optional:/opt", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper"}
    moved = relocate_opt(env, "/data/opt/abc")
    assert moved == {
        "PATH": "/usr/bin:/data/opt/abc/bin", "LD_LIBRARY_PATH": "/task:/data/opt/abc/lib", "HOME": "/opt/home",
        "NODE_PATH": "/data/opt/abc/nodejs/node_modules:/data/opt/abc/nodejs/node20/node_modules:/rt/node_modules",
        "PYTHONPATH": "/optional:/data/opt/abc", "AWS_LAMBDA_EXEC_WRAPPER": "/data/opt/abc/wrapper",
        "STRATUS_OPT_DIR": "/data/opt/abc",
    }
    assert env["PATH"] == "/usr/bin:/opt/bin"  # the spec's own env is left alone
