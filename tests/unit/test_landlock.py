"""The plain sandbox's Landlock launcher: after it, a process writes only under its TMPDIR and /tmp."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stratus.sandbox import landlock

pytestmark = pytest.mark.skipif(landlock.abi_version() == 0, reason="Landlock is not available on this kernel")


@pytest.fixture
def outside_tmp():
    """A folder outside /tmp (which the launcher leaves writable)."""
    if not Path("/var/tmp").is_dir():
        pytest.skip("no /var/tmp")
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="stratus-landlock-test-"))
    yield path
    shutil.rmtree(path)


def test_writes_outside_tmp_dir_and_tmp_are_refused(outside_tmp):
    tmp_path = outside_tmp
    own = tmp_path / "own"
    own.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    script = f"""
set -u
echo x > {own}/file && echo own-ok
echo x > /dev/null && echo devnull-ok
mkdir {outside}/dir 2>/dev/null || echo mkdir-refused
echo x > {outside}/file 2>/dev/null || echo write-refused
rm -f {tmp_path}/marker 2>/dev/null; [ -e {tmp_path}/marker ] && echo remove-refused
"""
    (tmp_path / "marker").write_text("stays")
    result = subprocess.run([*landlock.launcher(sys.executable, str(own)), "/bin/sh", "-c", script],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["own-ok", "devnull-ok", "mkdir-refused", "write-refused", "remove-refused"]
    assert not (outside / "file").exists() and (tmp_path / "marker").exists()
