"""Storage that heals (issue 11, finding 8 and the zip cases of finding 10), against a real server:

- a corrupt layer blob no longer stops the server: only the functions using it fail (502
  InvalidZipFileException, a log line), GetFunction still answers, the others run; re-publishing the
  same bytes repairs it;
- a corrupt blob is never served as Code.Location;
- tampered unpacked code (a function's or merged layers') is unpacked again before an environment starts;
- deleting functions, versions and layers returns the data dir to its size before them, and a kill -9
  mid-upload's `.tmp-*` files and unused blobs are gone at the next start;
- function logs are capped in total (the log store's STRATUS_LOG_MAX_BYTES);
- zips that do not unpack are AWS's 400, for functions and layers, and nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import botocore.exceptions
import pytest

from tests.conftest import namespaced_unavailable_reason
from tests.support.logs import logs_client, wait_for_events
from tests.support.server import StratusServer, invoke_json, make_zip
from tests.support.zips import BAD_ZIPS

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
LAYER_SOURCE = "def value():\n    return 'from-layer'\n"
HANDLER = "import sys\nsys.path.insert(0, '/opt/python')\n" \
          "def handler(e, c):\n    import helper\n    return {'code': 'original', 'layer': helper.value()}\n"
PLAIN = "def handler(e, c):\n    return {'code': 'original'}\n"
DB_FILES = ("stratus.db", "queue.db", "logs.db")
_NO_NAMESPACES = namespaced_unavailable_reason()
SANDBOXES = [pytest.param("namespaced", marks=pytest.mark.skipif(bool(_NO_NAMESPACES), reason=_NO_NAMESPACES)),
             "plain"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def create(lam, name: str, source: str = PLAIN, **kwargs) -> bytes:
    data = make_zip({"app.py": source})
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": data}, **kwargs)
    return data


def layer_zip(tag: str = "") -> bytes:
    return make_zip({"python/helper.py": LAYER_SOURCE + f"# {tag}\n"})


def fresh_environment(lam, name: str) -> None:
    """New environments from now on (a configuration change retires the old ones)."""
    config = lam.get_function_configuration(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description=f"{config.get('Description', '')}+")


def error_of(call) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value


@pytest.fixture
def data_server(tmp_path):
    servers: list[StratusServer] = []

    def start(env: dict[str, str] | None = None) -> StratusServer:
        srv = StratusServer(tmp_path / "data", env=env, port=servers[-1].port if servers else None)
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        srv.stop()


# ------------------------------------------------------------------ corrupt blobs
def test_a_corrupt_layer_blob_fails_only_its_functions_and_the_server_starts(data_server):
    server = data_server()
    lam = server.client()
    layer_data = layer_zip()
    arn = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": layer_data})["LayerVersionArn"]
    other = lam.publish_layer_version(LayerName="other", Content={"ZipFile": layer_zip("other")})["LayerVersionArn"]
    create(lam, "uses-layer", HANDLER, Layers=[arn])
    create(lam, "uses-two", HANDLER, Layers=[other, arn])
    create(lam, "bystander")
    assert invoke_json(lam, "uses-layer")[1] == {"code": "original", "layer": "from-layer"}
    server.stop()

    data = server.data_dir
    sha = _sha(layer_data)
    (data / "blobs" / sha).write_bytes(b"PK\x03\x04 not a zip any more")  # the finding: BadZipFile at start
    (data / "code" / sha / "python" / "helper.py").write_text("def value():\n    return 'tampered'\n")
    server = data_server()  # starts
    lam = server.client()
    assert invoke_json(lam, "bystander")[1] == {"code": "original"}
    for name in ("uses-layer", "uses-two"):
        error = error_of(lambda: lam.invoke(FunctionName=name, Payload=b"{}"))  # noqa: B023 - called at once
        assert error.response["Error"]["Code"] == "InvalidZipFileException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert sha in error.response["Error"]["Message"] and "shared:1" in error.response["Error"]["Message"]
        assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    assert f"layer shared:1 cannot be used: stored code package {sha} is corrupt" in server.log()

    # Publishing the same bytes again repairs the blob; the functions run again, with the original code.
    lam.publish_layer_version(LayerName="shared", Content={"ZipFile": layer_data})
    for name in ("uses-layer", "uses-two"):
        assert invoke_json(lam, name)[1] == {"code": "original", "layer": "from-layer"}


def test_a_corrupt_function_blob_is_never_served_and_fails_only_that_function(data_server):
    server = data_server()
    lam = server.client()
    data = create(lam, "victim")
    create(lam, "bystander", PLAIN + "# other code\n")
    sha = _sha(data)
    location = lam.get_function(FunctionName="victim")["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=10) as response:
        assert response.read() == data

    blob = server.data_dir / "blobs" / sha
    blob.write_bytes(data[:40] + bytes([data[40] ^ 0xFF]) + data[41:])  # same size, one byte changed
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(location, timeout=10)
    assert caught.value.code == 500 and b"corrupt" in caught.value.read()
    assert invoke_json(lam, "victim")[1] == {"code": "original"}  # its unpacked code is intact: it runs

    (server.data_dir / "code" / sha / "app.py").write_text("def handler(e, c):\n    return 'tampered'\n")
    fresh_environment(lam, "victim")
    error = error_of(lambda: lam.invoke(FunctionName="victim", Payload=b"{}"))
    assert error.response["Error"]["Code"] == "InvalidZipFileException" and sha in error.response["Error"]["Message"]
    assert "function victim cannot start" in server.log()
    assert invoke_json(lam, "bystander")[1] == {"code": "original"}
    assert lam.get_function(FunctionName="victim")["Configuration"]["CodeSha256"] == \
        base64.b64encode(bytes.fromhex(sha)).decode()

    blob.unlink()  # missing: the download is a 404, the function still fails cleanly
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(location, timeout=10)
    assert caught.value.code == 404
    lam.update_function_code(FunctionName="victim", ZipFile=data)  # the same code again: repaired
    assert invoke_json(lam, "victim")[1] == {"code": "original"}


def test_a_corrupt_blob_is_reported_at_start_even_while_its_unpacked_code_runs(data_server):
    server = data_server()
    lam = server.client()
    data = create(lam, "at-risk")
    layer_data = layer_zip("at-risk")
    lam.publish_layer_version(LayerName="at-risk-layer", Content={"ZipFile": layer_data})
    server.stop()
    for sha in (_sha(data), _sha(layer_data)):
        (server.data_dir / "blobs" / sha).write_bytes(b"bit rot")
    server = data_server()
    deadline = time.monotonic() + 10  # the check runs in the background after start
    while "at-risk-layer:1" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert f"stored code package {_sha(data)} is corrupt" in log and "function:at-risk" in log
    assert f"stored code package {_sha(layer_data)} is corrupt" in log and "layer at-risk-layer:1" in log
    assert invoke_json(server.client(), "at-risk")[1] == {"code": "original"}  # its unpacked code is intact


# ------------------------------------------------------------------ tampered unpacked code
@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_tampered_unpacked_code_and_layers_are_restored_before_an_environment_starts(data_server, sandbox):
    server = data_server({"STRATUS_SANDBOX": sandbox})
    lam = server.client()
    first = lam.publish_layer_version(LayerName="one", Content={"ZipFile": layer_zip("1")})["LayerVersionArn"]
    second = lam.publish_layer_version(LayerName="two", Content={"ZipFile": layer_zip("2")})["LayerVersionArn"]
    data = create(lam, "tampered", HANDLER, Layers=[first, second])
    assert invoke_json(lam, "tampered")[1] == {"code": "original", "layer": "from-layer"}
    code = server.data_dir / "code" / _sha(data)
    (code / "app.py").write_text("def handler(e, c):\n    return {'code': 'TAMPERED'}\n")
    (code / "extra.py").write_text("print('planted')\n")
    [merged] = [p for p in (server.data_dir / "opt").iterdir() if p.is_dir()]
    (merged / "python" / "helper.py").unlink()
    (merged / "python" / "helper.py").write_text("def value():\n    return 'TAMPERED'\n")

    fresh_environment(lam, "tampered")
    assert invoke_json(lam, "tampered")[1] == {"code": "original", "layer": "from-layer"}
    assert not (code / "extra.py").exists()
    assert "was changed on disk; unpacking it again" in server.log()


# ------------------------------------------------------------------ garbage collection
def _files(data_dir: Path) -> dict[str, int]:
    """Every file under the data dir (path → size) but the databases, the function logs and the running
    sandboxes' scratch (sandboxes/net holds the spare function networks' pasta pid files, which come and go
    with environments): what code storage occupies. The databases are compared apart (SQLite keeps freed
    pages for reuse)."""
    found = {}
    for directory, _, names in os.walk(data_dir):
        relative = Path(directory).relative_to(data_dir)
        if relative.parts[:1] == ("logs",) or relative.parts[:2] == ("sandboxes", "net"):
            continue
        for name in names:
            if not name.startswith(DB_FILES):
                found[str(relative / name)] = os.lstat(os.path.join(directory, name)).st_size
    return found


def _folders(data_dir: Path) -> set[str]:
    return {str(Path(d).relative_to(data_dir)) for d, _, _ in os.walk(data_dir) if "logs" not in Path(d).parts}


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_deleting_functions_and_layers_returns_the_data_dir_to_its_size(data_server, sandbox):
    # A small size limit, so that an upload fails after its zip was stored.
    server = data_server({"STRATUS_UNZIPPED_CODE_MAX_BYTES": "4000", "STRATUS_SANDBOX": sandbox})
    lam = server.client()
    kept = [lam.publish_layer_version(LayerName=f"kept-{i}", Content={"ZipFile": layer_zip(f"k{i}")})
            ["LayerVersionArn"] for i in range(2)]
    create(lam, "warm-up", HANDLER, Layers=kept)  # the data dir's furniture (key file, folders) exists from here on
    invoke_json(lam, "warm-up")
    server.stop()  # a clean stop folds SQLite's write-ahead log into the database file: its size means something
    db_before = {name: os.path.getsize(server.data_dir / name) for name in DB_FILES}
    server = data_server({"STRATUS_UNZIPPED_CODE_MAX_BYTES": "4000", "STRATUS_SANDBOX": sandbox})
    lam = server.client()
    before, folders_before = _files(server.data_dir), _folders(server.data_dir)

    arns = [lam.publish_layer_version(LayerName=f"gc-{i}", Content={"ZipFile": layer_zip(str(i))})["LayerVersionArn"]
            for i in range(3)]
    lam.publish_layer_version(LayerName="gc-0", Content={"ZipFile": layer_zip("0-v2")})
    for i in range(3):
        create(lam, f"gc-fn-{i}", HANDLER + f"# {i}\n", Layers=arns[:i + 1])
        lam.publish_version(FunctionName=f"gc-fn-{i}")
        lam.update_function_code(FunctionName=f"gc-fn-{i}", ZipFile=make_zip({"app.py": HANDLER + f"# v2 {i}\n"}))
        lam.publish_version(FunctionName=f"gc-fn-{i}")
        assert invoke_json(lam, f"gc-fn-{i}", Qualifier="1")[1]["layer"] == "from-layer"
    lam.update_function_code(FunctionName="gc-fn-0", ZipFile=make_zip({"app.py": "x"}), DryRun=True)
    big_layer = lam.publish_layer_version(LayerName="gc-big", Content={"ZipFile": make_zip({"big": "b" * 3000})})
    error = error_of(lambda: lam.create_function(  # refused after its zip was stored: code + layers too big
        FunctionName="gc-too-big", Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": PLAIN + "#" * 2000})}, Layers=[big_layer["LayerVersionArn"]]))
    assert "exceeds the maximum allowed size" in error.response["Error"]["Message"]
    error = error_of(lambda: lam.update_function_code(FunctionName="gc-fn-0", ZipFile=make_zip({"app.py": "#" * 3990})))
    assert "exceeds the maximum allowed size" in error.response["Error"]["Message"]
    grown = _files(server.data_dir)
    assert len(grown) > len(before) + 10

    lam.delete_function(FunctionName="gc-fn-2", Qualifier="1")  # a version first, then the functions
    for i in range(3):
        lam.delete_function(FunctionName=f"gc-fn-{i}")
    for layer in ("gc-0", "gc-1", "gc-2", "gc-big"):
        for version in lam.list_layer_versions(LayerName=layer)["LayerVersions"]:
            lam.delete_layer_version(LayerName=layer, VersionNumber=version["Version"])
    deadline = time.monotonic() + 10  # environments of deleted functions shut down in the background
    while _folders(server.data_dir) != folders_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _files(server.data_dir) == before
    assert _folders(server.data_dir) == folders_before
    server.stop()
    db_after = {name: os.path.getsize(server.data_dir / name) for name in DB_FILES}
    # The store keeps deleted layer versions' tombstones (their numbers are never reused) and its freed
    # pages for reuse: a few pages, nothing like the code.
    assert all(db_after[name] - db_before[name] <= 16 * 4096 for name in DB_FILES), (db_before, db_after)


def test_a_kill_mid_upload_leaves_nothing_after_the_next_start(data_server):
    server = data_server()
    lam = server.client()
    data = create(lam, "keeper")
    server.kill()  # kill -9; what an upload cut short leaves: temp files and blobs no version records
    data_dir = server.data_dir
    (data_dir / "blobs" / ".tmp-a1b2c3").write_bytes(os.urandom(100_000))
    (data_dir / "code" / ".tmp-d4e5f6").mkdir()
    (data_dir / "code" / ".tmp-d4e5f6" / "half.py").write_text("x")
    orphan = make_zip({"app.py": "orphan"})
    (data_dir / "blobs" / _sha(orphan)).write_bytes(orphan)
    (data_dir / "code" / _sha(orphan)).mkdir()
    (data_dir / "opt").mkdir(exist_ok=True)
    (data_dir / "opt" / ".tmp-g7h8").mkdir()
    server = data_server()
    assert sorted(os.listdir(data_dir / "blobs")) == [_sha(data)]
    assert sorted(os.listdir(data_dir / "code")) == sorted([_sha(data), _sha(data) + ".manifest"])
    assert os.listdir(data_dir / "opt") == []
    assert invoke_json(server.client(), "keeper")[1] == {"code": "original"}


def test_a_real_kill_during_an_upload_leaves_nothing_after_the_next_start(data_server):
    """kill -9 while the server unpacks a 30 MB upload (caught by watching for its temporary folder)."""
    server = data_server()
    lam = server.client()
    data = create(lam, "keeper")
    code_dir = server.data_dir / "code"
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", PLAIN)
        for i in range(30):
            archive.writestr(f"blob{i}.bin", os.urandom(1024 * 1024))
    upload = threading.Thread(target=lambda: _quietly(lambda: lam.create_function(
        FunctionName="interrupted", Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": big.getvalue()})), daemon=True)
    upload.start()
    deadline = time.monotonic() + 60
    while not any(name.startswith(".tmp-") for name in os.listdir(code_dir)) and time.monotonic() < deadline:
        time.sleep(0.001)
    server.kill()
    upload.join(30)
    leftovers = [name for name in os.listdir(code_dir) if name.startswith(".tmp-")]
    assert leftovers, "the kill did not land during the unpack"

    server = data_server()
    assert sorted(os.listdir(server.data_dir / "blobs")) == [_sha(data)]
    assert sorted(os.listdir(code_dir)) == sorted([_sha(data), _sha(data) + ".manifest"])
    lam = server.client()
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["keeper"]
    assert invoke_json(lam, "keeper")[1] == {"code": "original"}


def _quietly(call) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - the server is killed under this call: its error is expected
        pass


# ------------------------------------------------------------------ logs
def test_function_logs_are_capped_in_total(data_server):
    server = data_server({"STRATUS_LOG_MAX_BYTES": "20000"})
    lam = server.client()
    create(lam, "chatty", "def handler(e, c):\n    print(f\"chunk {e['n']:03d} \" + 'z' * 3000)\n    return e['n']\n")
    for n in range(16):  # ~3 KB each: past 20 KB the oldest events are dropped
        assert invoke_json(lam, "chatty", {"n": n})[1] == n
    events = wait_for_events(server, "/aws/lambda/chatty", lambda found: any(
        event["message"].startswith("chunk 015") for event in found))
    text = "".join(event["message"] for event in events)
    assert "chunk 015" in text and "chunk 000" not in text
    assert len(text.encode()) <= 20000
    (group,) = logs_client(server).describe_log_groups(logGroupNamePrefix="/aws/lambda/chatty")["logGroups"]
    assert group["storedBytes"] == len(text.encode())


# ------------------------------------------------------------------ zips that do not unpack
@pytest.mark.parametrize("case", sorted(BAD_ZIPS))
def test_a_zip_that_does_not_unpack_is_a_400_for_functions_and_layers(data_server, case):
    server = data_server()
    lam = server.client()
    create(lam, "good")
    before = _files(server.data_dir)
    data = BAD_ZIPS[case]
    calls = [  # the function's zips have an app.py: the handler check passes and unpacking is what fails
        lambda: lam.create_function(FunctionName="bad", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                    Code={"ZipFile": _with_app(data)}),
        lambda: lam.update_function_code(FunctionName="good", ZipFile=_with_app(data)),
        lambda: lam.publish_layer_version(LayerName="bad", Content={"ZipFile": data}),
    ]
    for call in calls:
        error = error_of(call)
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error.response["Error"]["Code"] == "InvalidParameterValueException"
        assert error.response["Error"]["Message"] == UNZIP_FAILED
    assert _files(server.data_dir) == before  # nothing stored
    assert lam.list_layers()["Layers"] == []
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["good"]
    assert invoke_json(lam, "good")[1] == {"code": "original"}


def _with_app(data: bytes) -> bytes:
    """The bad zip with an app.py added first, so that the handler check passes and unpacking is what fails."""
    if data == BAD_ZIPS["false-crc"]:
        return data  # it has its app.py already
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", PLAIN)
        for info in source.infolist():
            archive.writestr(info, source.read(info))
    return buffer.getvalue()
