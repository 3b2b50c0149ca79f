"""The `application/vnd.amazon.eventstream` binary framing (what boto3 and the AWS SDKs decode).

A message: a 12-byte prelude (total length, headers length, both big-endian uint32, then the CRC32 of
those 8 bytes), the headers (each: name length as one byte, the name, type 7 = string, the value's length
as a big-endian uint16, the value), the payload, and the CRC32 of everything before it.
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def headers(*pairs: tuple[str, str]) -> bytes:
    """Encoded string headers, in order."""
    out = bytearray()
    for name, value in pairs:
        raw_name, raw_value = name.encode(), value.encode()
        out += bytes((len(raw_name),)) + raw_name + bytes((_STRING,)) + len(raw_value).to_bytes(2, "big") + raw_value
    return bytes(out)


def message(encoded_headers: bytes, payload: bytes) -> bytes:
    """One framed message."""
    prelude = _PRELUDE.pack(16 + len(encoded_headers) + len(payload), len(encoded_headers))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + encoded_headers
    crc = zlib.crc32(payload, zlib.crc32(head))
    return b"".join((head, payload, _CRC.pack(crc)))


def event_headers(event_type: str, content_type: str) -> bytes:
    """An event's headers, as AWS's services send them."""
    return headers((":event-type", event_type), (":content-type", content_type), (":message-type", "event"))
