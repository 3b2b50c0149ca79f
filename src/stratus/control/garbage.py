"""Garbage collection of code storage: blobs, unpacked code and merged /opt folders that no function
version and no live layer version uses any more, and temporary files left by an upload or unpack that
was cut short (a failure, a kill -9). Runs at start, after deletes and after failed uploads.

It holds the functions' lock and then the layers' lock: uploads store their blob and record the
function or layer version under one of them, so a blob being uploaded is never taken for garbage.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from stratus.shapes.function import layer_arns
from stratus.store import trees
from stratus.store.blobs import BlobStore, BlobUnavailable

if TYPE_CHECKING:
    from stratus.control.functions import FunctionService
    from stratus.control.layers import LayerService

log = logging.getLogger("stratus.garbage")


class CodeCollector:
    def __init__(self, functions: FunctionService, layers: LayerService, blobs: BlobStore, opt_root: Path):
        self.functions = functions
        self.layers = layers
        self.blobs = blobs
        self.opt_root = opt_root
        self._stopping = False

    async def collect(self) -> None:
        """Remove what nothing uses (see the module's docstring); errors are logged, never raised."""
        async with self.functions.lock, self.layers.lock:
            records = list(self.functions.registry.records())
            keep = {record.code_sha256_hex for record in records}
            layer_blobs, merged = self.layers.referenced(
                [layer_arns(record.config) for record in records if record.config.Layers])
            keep |= layer_blobs
            try:
                removed = await asyncio.to_thread(self._collect, keep, merged)
            except OSError as exc:
                log.warning("code storage garbage collection failed: %s", exc)
                return
        if removed:
            log.info("code storage: removed %d unused item(s): %s", len(removed), ", ".join(sorted(removed)[:10]))

    def _collect(self, keep: set[str], merged: set[str]) -> list[str]:
        return self.blobs.collect(keep) + trees.collect(self.opt_root, merged)

    async def verify_all(self) -> None:
        """Check every stored blob against its SHA-256 (after start, in a worker thread) and log each one
        that is missing or corrupt, with the functions and layers it belongs to: code that still runs from
        its intact unpacked folder is said to be at risk before anyone downloads it or it must be unpacked
        again. Stops early when `stop_verifying` is called."""
        users: dict[str, list[str]] = {}
        for record in self.functions.registry.records():
            users.setdefault(record.code_sha256_hex, []).append(f"function {record.config.FunctionArn}")
        for sha, layer in self.layers.contents():
            users.setdefault(sha, []).append(f"layer {layer}")
        bad = await asyncio.to_thread(self._verify, sorted(users))
        for sha, reason in bad:
            log.error("stored code package %s is %s; used by %s. Downloads of it are refused and it cannot be "
                      "unpacked again: upload it again.", sha, reason, ", ".join(users[sha]))

    def stop_verifying(self) -> None:
        self._stopping = True

    def _verify(self, shas: list[str]) -> list[tuple[str, str]]:
        bad = []
        for sha in shas:
            if self._stopping:
                break
            try:
                self.blobs.verified_path(sha)
            except BlobUnavailable as exc:
                bad.append((sha, exc.reason))
            except OSError as exc:
                bad.append((sha, f"unreadable ({exc})"))
        return bad
