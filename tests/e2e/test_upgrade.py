"""Upgrades: a data dir written by an earlier release opens with everything in it, and one written by a
newer release is refused.

tests/fixtures/datadir-v1.tar.gz was written by issue 10's first commit (efa61db), before the SQLite files
recorded a schema version; tests/fixtures/make_datadir_v1.py says how. It holds a layer, a python function
using it (environment variables, tags), version 1, alias `live` → 1, $LATEST's environment changed after
version 1, and five Event invokes accepted while the workers were off: three on `live`, two unqualified.
The function prints one `UPGRADE-RUN` line per run, which the test reads in the function's log.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from stratus.store import queue_sqlite, sqlite
from tests.conftest import require_sandbox
from tests.support.environments import wait_for_log
from tests.support.server import invoke_json

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "datadir-v1.tar.gz"
FUNCTION = "upgrade-fn"
LAYER = "upgrade-layer"
ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000"
# The queued events were accepted when the fixture was made: without this their 6-hour maximum age (the
# default) would end them as EventAgeExceeded instead of running them, once the fixture is that old.
AGELESS = {"STRATUS_ASYNC_EVENT_AGE_SCALE": "1000000000"}
# (n, qualifier invoked → version that runs, its GREETING)
QUEUED = [(1, "1", "hello-from-v1"), (2, "1", "hello-from-v1"), (3, "1", "hello-from-v1"),
          (4, "$LATEST", "hello-latest"), (5, "$LATEST", "hello-latest")]


@pytest.fixture(params=["namespaced", "plain"])
def sandbox(request):
    require_sandbox(request.param)
    return request.param


def unpack(folder: Path) -> Path:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(folder, filter="data")
    return folder / "data"


def versions_of(data_dir: Path) -> tuple[int, int]:
    def version(path: Path) -> int:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()

    return version(data_dir / "stratus.db"), version(data_dir / "queue.db")


def test_the_fixture_is_small_and_from_before_versions(tmp_path):
    assert FIXTURE.stat().st_size < 300_000
    assert versions_of(unpack(tmp_path)) == (0, 0)


def test_a_data_dir_from_before_schema_versions_opens_with_everything_intact(tmp_path, fresh_server, sandbox):
    data_dir = unpack(tmp_path)
    srv = fresh_server(env={"STRATUS_SANDBOX": sandbox, **AGELESS}, data_dir=data_dir)
    lam = srv.client()

    # The queued events run, each once, on the version its qualifier named when it was accepted.
    wait_for_log(srv, FUNCTION, "UPGRADE-RUN n=5 ", timeout_s=60)
    for n, version, greeting in QUEUED:
        text = wait_for_log(srv, FUNCTION, f"UPGRADE-RUN n={n} ", timeout_s=30)
        assert text.count(f"UPGRADE-RUN n={n} ") == 1, text
        assert f"UPGRADE-RUN n={n} version={version} greeting={greeting} layer=from-layer-v1" in text
    assert "picked up again" in srv.log()

    # The function, its version, alias, layer, environment (still decrypted with the kept secret.key), tags.
    layer_arn = f"{ACCOUNT_ARN}:layer:{LAYER}:1"
    latest = lam.get_function_configuration(FunctionName=FUNCTION)
    assert latest["Environment"]["Variables"] == {"GREETING": "hello-latest", "SECOND": "kept"}
    assert [layer["Arn"] for layer in latest["Layers"]] == [layer_arn]
    assert (latest["Runtime"], latest["Handler"], latest["MemorySize"], latest["Timeout"], latest["Description"]) == (
        "python3.12", "app.handler", 256, 10, "written before schema versions")
    assert latest["State"] == "Active"
    one = lam.get_function_configuration(FunctionName=FUNCTION, Qualifier="1")
    assert (one["Version"], one["Description"]) == ("1", "first version")
    assert one["Environment"]["Variables"] == {"GREETING": "hello-from-v1", "SECOND": "kept"}
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]] == ["$LATEST", "1"]
    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    assert (alias["FunctionVersion"], alias["Description"]) == ("1", "points at 1")
    [layer_version] = lam.list_layer_versions(LayerName=LAYER)["LayerVersions"]
    assert (layer_version["LayerVersionArn"], layer_version["Description"]) == (layer_arn, "helper module")
    assert lam.list_tags(Resource=latest["FunctionArn"])["Tags"] == {"team": "upgrade"}

    # Invoking works, through the alias and unqualified.
    _, through_alias = invoke_json(lam, FUNCTION, {"n": 10}, Qualifier="live")
    assert through_alias == {"greeting": "hello-from-v1", "second": "kept", "layer": "from-layer-v1",
                             "version": "1", "event": {"n": 10}}
    _, unqualified = invoke_json(lam, FUNCTION, {"n": 11})
    assert (unqualified["greeting"], unqualified["version"], unqualified["layer"]) == (
        "hello-latest", "$LATEST", "from-layer-v1")

    # New writes land in the upgraded files, which now record their schema version, and survive a restart.
    assert lam.publish_version(FunctionName=FUNCTION)["Version"] == "2"
    assert lam.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=b'{"n": 12}')["StatusCode"] == 202
    wait_for_log(srv, FUNCTION, "UPGRADE-RUN n=12 ")
    assert srv.stop() == 0
    assert versions_of(data_dir) == (len(sqlite.MIGRATIONS), len(queue_sqlite.MIGRATIONS))
    again = fresh_server(env={"STRATUS_SANDBOX": sandbox, **AGELESS}, data_dir=data_dir)
    lam = again.client()
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]] == [
        "$LATEST", "1", "2"]
    assert invoke_json(lam, FUNCTION, {"n": 13}, Qualifier="live")[1]["greeting"] == "hello-from-v1"
    assert "picked up again" not in again.log()  # every event finished before the stop: none is left over


@pytest.mark.parametrize("file", ["stratus.db", "queue.db"])
def test_a_data_dir_from_a_newer_release_is_refused_in_one_line(tmp_path, file):
    data_dir = unpack(tmp_path)
    conn = sqlite3.connect(data_dir / file)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = {path: path.read_bytes() for path in data_dir.glob("*.db")}
    result = subprocess.run([sys.executable, "-m", "stratus.cli.main", "serve", "--port", "0",
                             "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    known = len(sqlite.MIGRATIONS if file == "stratus.db" else queue_sqlite.MIGRATIONS)
    assert result.stderr.strip().splitlines() == [
        f"stratus: {data_dir / file} has schema version 99, newer than this Stratus knows ({known}): it was written "
        "by a newer release; run that release or a newer one on it"]
    assert {path: path.read_bytes() for path in data_dir.glob("*.db")} == before
