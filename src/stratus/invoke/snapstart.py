"""SnapStart at work: each published version with `SnapStart.ApplyOn = PublishedVersions` (OptimizationStatus On)
has its INIT run once, at PublishVersion (or at the first invoke after a restart, or after its zygote died),
and its new environments restored from that initialized process (sandbox/snapshot.py) instead of running
INIT again. Only where the sandbox can (namespaced, Python forked from the runtime zygote): elsewhere, and
when the snapshot's INIT fails, the version's environments start as any others (INIT each time).

INIT's output goes to a log stream of its own (`YYYY/MM/DD/[version]snapshot-<id>`), between INIT_START and
INIT_REPORT lines, as AWS logs the INIT it runs when a version is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from stratus.invoke.types import Credentials, EnvironmentSpec
from stratus.observe.log_store import LogStore
from stratus.sandbox import SandboxSpec

log = logging.getLogger("stratus.invoke")

SNAP_START = "snap-start"  # AWS_LAMBDA_INITIALIZATION_TYPE of an environment restored from a snapshot
# AWS: "The AWS_LAMBDA_LOG_GROUP_NAME and AWS_LAMBDA_LOG_STREAM_NAME environment variables are not available in
# Lambda SnapStart functions."
HIDDEN_VARIABLES = ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")
MIN_INIT_TIMEOUT_S = 130.0  # AWS: INIT of a snapshot may run 130 s or the function's timeout, whichever is longer


@runtime_checkable
class SnapshotSandbox(Protocol):
    def snapshot_unavailable(self, spec: SandboxSpec) -> str: ...

    async def snapshot(self, key: str, spec: SandboxSpec, timeout_s: float) -> Any: ...


class Snapshots:
    """The snapshots (version zygotes) of one server, by function version and revision."""

    def __init__(self, sandbox: SnapshotSandbox, log_sink: LogStore, credentials: Credentials | None = None):
        self.sandbox = sandbox
        self.log_sink = log_sink
        self.credentials = credentials
        self._ready: dict[tuple[str, str, str], Any] = {}
        self._building: dict[tuple[str, str, str], asyncio.Task[Any]] = {}
        self._failed: dict[tuple[str, str, str], str] = {}
        self._credentials_keys: dict[tuple[str, str, str], str] = {}

    def applies(self, spec: EnvironmentSpec) -> bool:
        return spec.snap_start

    def prepare(self, spec: EnvironmentSpec) -> None:
        """Start the version's INIT now (PublishVersion), if it is not done or under way."""
        if spec.snap_start and spec.pool_key not in self._ready and spec.pool_key not in self._building:
            self._start(spec)

    async def get(self, spec: EnvironmentSpec) -> Any:
        """The version's zygote, built (INIT) now if needed; None: its environments start without a snapshot."""
        key = spec.pool_key
        version = self._ready.get(key)
        if version is not None and version.alive:
            return version
        if key in self._failed:
            return None
        task = self._building.get(key) or self._start(spec)
        try:
            return await asyncio.shield(task)
        except Exception:  # noqa: BLE001 - said once, in the server's log; environments start the usual way
            return None

    def _start(self, spec: EnvironmentSpec) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._build(spec))
        self._building[spec.pool_key] = task
        task.add_done_callback(lambda _: self._building.pop(spec.pool_key, None))
        return task

    async def _build(self, spec: EnvironmentSpec) -> Any:
        key = spec.pool_key
        snapshot_id = secrets.token_hex(16)
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{spec.version}]snapshot-{snapshot_id}"
        env = dict(spec.env)
        for name in HIDDEN_VARIABLES:
            env.pop(name, None)
        env.update({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LAMBDA_INITIALIZATION_TYPE": SNAP_START})
        if self.credentials is not None and spec.role:  # valid while the snapshot lives (clients made at INIT)
            credentials_key, variables = self.credentials.issue(spec.role, spec.function_arn)
            self._credentials_keys[key] = credentials_key
            env.update(variables)
        reason = self.sandbox.snapshot_unavailable(self._sandbox_spec(spec, snapshot_id, env, -1))
        if reason:
            self._fail(key, f"no snapshot: {reason}")
            raise RuntimeError(reason)
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        loop = asyncio.get_running_loop()
        output = _LogPipe(read_fd, self.log_sink, spec.log_group, stream)
        loop.add_reader(read_fd, output.read)
        self.log_sink.write(spec.log_group, stream, f"INIT_START Runtime Version: {spec.runtime}\n".encode())
        started = time.perf_counter()
        try:
            version = await self.sandbox.snapshot(
                f"{spec.function_name}:{spec.version}", self._sandbox_spec(spec, snapshot_id, env, write_fd),
                max(MIN_INIT_TIMEOUT_S, float(spec.timeout_s)))
        except Exception as exc:
            self._fail(key, str(exc))
            raise
        finally:
            os.close(write_fd)
        elapsed = (time.perf_counter() - started) * 1000.0
        self.log_sink.write(spec.log_group, stream, f"INIT_REPORT Init Duration: {elapsed:.2f} ms\n".encode())
        self._ready[key] = version
        version.on_dead = lambda _: self._ready.pop(key, None) if self._ready.get(key) is version else None
        log.info("SnapStart: %s version %s initialized once (%.0f ms); its environments are restored from it",
                 spec.function_name, spec.version, elapsed)
        return version

    def _fail(self, key: tuple[str, str, str], why: str) -> None:
        self._failed[key] = why
        log.warning("SnapStart: %s version %s: %s; its environments run INIT each", key[0], key[1], why)
        self._revoke(key)

    def _revoke(self, key: tuple[str, str, str]) -> None:
        credentials_key = self._credentials_keys.pop(key, "")
        if credentials_key and self.credentials is not None:
            self.credentials.revoke(credentials_key)

    @staticmethod
    def _sandbox_spec(spec: EnvironmentSpec, snapshot_id: str, env: dict[str, str], output_fd: int) -> SandboxSpec:
        return SandboxSpec(
            env_id=f"snap{snapshot_id}", argv=list(spec.argv), env=env, task_root=spec.task_root,
            runtime_dir=spec.runtime_dir, runtime_socket=Path(os.devnull), memory_mb=spec.memory_mb,
            ephemeral_storage_mb=spec.ephemeral_storage_mb, output_fd=output_fd, opt_dir=spec.opt_dir,
            sdk_dir=spec.sdk_dir, interpreter_prefix=spec.interpreter_prefix)

    def drop(self, function_name: str, version: str | None = None) -> None:
        """The version (or every version of the function) is gone: so are its snapshots."""
        for key in [key for key in {*self._ready, *self._failed, *self._building}
                    if key[0] == function_name and version in (None, key[1])]:
            zygote = self._ready.pop(key, None)
            self._failed.pop(key, None)
            building = self._building.pop(key, None)
            if building is not None:
                building.cancel()
            if zygote is not None:
                zygote.on_dead = None
                zygote.stop()
            self._revoke(key)

    def close(self) -> None:
        for key in list(self._ready):
            self.drop(key[0], key[1])

    def stats(self) -> list[dict[str, object]]:
        return [{"FunctionName": key[0], "Version": key[1], "Alive": zygote.alive, "Restores": zygote.restores}
                for key, zygote in self._ready.items()]


class _LogPipe:
    """INIT's output (the version zygote's stdout and stderr, and every environment's until it gets its own)."""

    def __init__(self, fd: int, sink: LogStore, group: str, stream: str) -> None:
        self.fd = fd
        self.sink = sink
        self.group = group
        self.stream = stream
        self.closed = False

    def read(self) -> None:
        if self.closed:
            return
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.sink.write(self.group, self.stream, data)
            return
        self.closed = True
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)
