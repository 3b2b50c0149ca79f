"""Zips that do not unpack (issue 11, finding 10): each was a 500 before; AWS answers them with a 400."""

from __future__ import annotations

import io
import zipfile

from tests.support.server import make_zip


def _raw_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A zip of (name, content, st_mode) entries, exactly as given (no checks of names against each other)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def _false_crc_zip() -> bytes:
    data = bytearray(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))
    header = data.index(b"PK\x03\x04")
    data[header + 14] ^= 0xFF  # the CRC-32 in the local header and in the central directory: both wrong
    central = data.index(b"PK\x01\x02")
    data[central + 16] ^= 0xFF
    return bytes(data)


BAD_ZIPS = {
    "file-then-folder": _raw_zip([("x", b"file", 0o100644), ("x/y", b"under a file", 0o100644)]),
    "under-a-symlink": _raw_zip([("link", b"/etc", 0o120777), ("link/passwd", b"owned", 0o100644)]),
    "false-crc": _false_crc_zip(),
    "escapes": _raw_zip([("../evil.py", b"x", 0o100644)]),
}
