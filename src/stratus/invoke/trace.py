"""X-Ray trace headers (`X-Amzn-Trace-Id`) for invocations, and the `Lineage` counter recursion detection reads.

Every invocation carries one: the caller's (its Root kept; `Sampled` decided by Lambda when the caller left
it open) or a new `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`. Lambda samples
only when the function's TracingConfig is Active; under PassThrough it follows the caller and otherwise
does not sample. The runtime gets the header in `Lambda-Runtime-Trace-Id` (the bootstraps put it in
`_X_AMZN_TRACE_ID`); the AWS SDKs inside a function copy `_X_AMZN_TRACE_ID` into the `X-Amzn-Trace-Id`
of every call they make (botocore's and SDK v3's recursion-detection step), so an event a function
sends on (an async invoke, an SQS message, an SNS publish) carries the chain it belongs to.

`Lineage=<loops>:<hash>:<requests>` (the format AWS services emit and the X-Ray propagators parse:
loops 0-32767, an 8-hex hash, requests 0-255) counts the Lambda invocations of one chain: each
invocation hands its function the incoming count plus one (hash: of the function's name).
Recursion detection stops an event whose incoming count has reached the limit (AWS: 16).
"""

from __future__ import annotations

import functools
import hashlib
import random
import time

HEADER = "X-Amzn-Trace-Id"
_MAX_LOOPS = 32767
_HEX = frozenset("0123456789abcdef")


def new_header(sampled: bool) -> bytes:
    """A new trace: `Root=1-<epoch>-<96 random bits>;Parent=<64 random bits>;Sampled=<0|1>` (ids need to be
    unique, not secret: the Mersenne Twister, seeded from the OS, at a third of os.urandom's cost)."""
    bits = f"{random.getrandbits(160):040x}"
    return b"Root=1-%08x-%s;Parent=%s;Sampled=%s" % (int(time.time()), bits[:24].encode(), bits[24:].encode(),
                                                     b"1" if sampled else b"0")


def new_invocation(sampled: bool, function: str) -> bytes:
    """`for_invocation(new_header(sampled), function)` in one step: the trace of an invoke whose caller
    sent none (the common case, on the invoke hot path)."""
    bits = f"{random.getrandbits(160):040x}"
    return b"Root=1-%08x-%s;Parent=%s;Sampled=%s;Lineage=1:%s:0" % (
        int(time.time()), bits[:24].encode(), bits[24:].encode(), b"1" if sampled else b"0",
        _function_hash(function))


def _fields(header: bytes) -> list[tuple[str, str]] | None:
    """The header's `key=value` fields in order; None when it is not a trace header."""
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = []
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            if part.strip():
                return None
            continue
        fields.append((key, value))
    return fields


def _valid_root(root: str) -> bool:
    parts = root.split("-")
    return (len(parts) == 3 and parts[0] == "1" and len(parts[1]) == 8 and len(parts[2]) == 24
            and set(parts[1]) <= _HEX and set(parts[2]) <= _HEX)


def incoming(caller: bytes | None, active: bool) -> bytes:
    """The trace an invocation belongs to: the caller's header (its fields kept; `Sampled` set by Lambda's
    decision when missing or `?`; a Parent added when missing), or a new one when it sent none or one
    without a valid Root. `active`: the function's TracingConfig is Active (Lambda samples)."""
    if not caller:
        return new_header(active)
    fields = _fields(caller)
    if fields is None:
        return new_header(active)
    found = dict(fields)
    if not _valid_root(found.get("Root", "")):
        return new_header(active)
    if found.get("Sampled") in ("0", "1") and "Parent" in found:
        return caller
    decided = "1" if active else "0"
    out: list[tuple[str, str]] = []
    for key, value in fields:
        if key == "Sampled":
            value = value if value in ("0", "1") else decided
        out.append((key, value))
        if key == "Root" and "Parent" not in found:
            out.append(("Parent", f"{random.getrandbits(64):016x}"))
    if "Sampled" not in found:
        index = next(i for i, (key, _) in enumerate(out) if key == "Parent") + 1
        out.insert(index, ("Sampled", decided))
    return ";".join(f"{key}={value}" for key, value in out).encode()


def loops(header: bytes | None) -> int:
    """How many Lambda invocations the chain of `header` has had (its Lineage loop counter; 0 without one)."""
    if not header or b"Lineage=" not in header:
        return 0
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == b"Lineage":
            return _lineage_loops(value)
    return 0


def _lineage_loops(value: bytes) -> int:
    """The loop counter of a Lineage value: `<loops>:<hash>:<requests>`; the older `<hash>:<count>` entries
    (`|`-separated) count too (their largest)."""
    parts = value.split(b":")
    try:
        if len(parts) == 3 and b"|" not in value:
            return max(0, min(int(parts[0]), _MAX_LOOPS))
        return max((int(entry.split(b":")[-1]) for entry in value.split(b"|") if b":" in entry), default=0)
    except ValueError:
        return 0


@functools.lru_cache(maxsize=4096)
def _function_hash(function: str) -> bytes:
    return hashlib.sha256(function.encode()).hexdigest()[:8].encode()


def for_invocation(header: bytes, function: str) -> bytes:
    """The header one invocation of `function` (its name) sees: `header` (from `incoming`) with its Lineage
    counting this invocation."""
    count = loops(header)
    lineage = b"Lineage=%d:%s:0" % (min(count + 1, _MAX_LOOPS), _function_hash(function))
    if count or b"Lineage=" in header:
        kept = [part for part in header.split(b";") if not part.strip().startswith(b"Lineage=")]
        return b";".join(kept + [lineage])
    return header + b";" + lineage
