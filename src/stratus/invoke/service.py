"""The Invoker: from a resolved function to an Outcome, through leases, pools and environments.

One invocation reads as four steps (`Invoker.submit`): (1) a concurrency lease — none when an idle
provisioned environment takes it, its slot being set aside already; (2) an environment — warm, an
idle one taken now; cold, a task starts one; (3) invoke it; (4) release the lease and the
environment once it is free. Warm and cold differ only in step 2: a warm environment takes the
invocation synchronously (no task, no extra loop step), which the Invoke fast path relies on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from stratus.config import Settings
from stratus.errors import TooManyRequestsException
from stratus.invoke.concurrency import PROVISIONED, ConcurrencyLimiter, Lease
from stratus.invoke.debug import DEBUG_REVISION, DebugModes
from stratus.invoke.environment import Environment
from stratus.invoke.placement import Placement
from stratus.invoke.pool import EnvironmentPool
from stratus.invoke.provisioner import ProvisionedEnvironment, Provisioner
from stratus.invoke.snapstart import Snapshots, SnapshotSandbox
from stratus.invoke.types import Credentials, EnvironmentSpec, Invocation, InvokeResult, Outcome
from stratus.observe.log_store import LogStore
from stratus.sandbox import Sandbox

log = logging.getLogger("stratus.invoke")


def _chain(source: asyncio.Future[InvokeResult], target: asyncio.Future[InvokeResult]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
        return
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


class Invoker:
    """Runs invocations: one pool of environments per function version and revision."""

    def __init__(self, settings: Settings, sandbox: Sandbox, log_sink: LogStore):
        self.settings = settings
        self.sandbox = sandbox
        self.log_sink = log_sink
        self.concurrency = ConcurrencyLimiter(settings.account_concurrency_limit)
        self.pools: dict[tuple[str, str, str], EnvironmentPool] = {}
        self.provisioners: dict[str, Provisioner] = {}  # by "<function>:<qualifier>" of their config
        self._reaper: asyncio.Task[None] | None = None
        self.credentials: Credentials | None = None  # per-environment role credentials (the server sets them)
        self.debug: DebugModes | None = None  # functions in debug mode (invoke/debug.py; the server sets it)
        # SnapStart (invoke/snapstart.py): where the sandbox can restore environments from a version's snapshot.
        self.snapshots: Snapshots | None = \
            Snapshots(sandbox, log_sink) if isinstance(sandbox, SnapshotSandbox) else None
        self.placement = Placement(settings.cpu_placement)  # a lone invocation runs on the server's CPU

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def close(self) -> None:
        """Shut every environment down (their SHUTDOWN phase) and stop background work."""
        if self._reaper is not None:
            self._reaper.cancel()
        if self.debug is not None:
            await self.debug.close()
        for provisioner in list(self.provisioners.values()):
            provisioner.cancel()
        environments = [env for pool in self.pools.values() for env in list(pool.environments)]
        await asyncio.gather(*(env.shutdown("server stopping") for env in environments), return_exceptions=True)
        self.pools.clear()
        if self.snapshots is not None:
            self.snapshots.close()

    # ------------------------------------------------------------------ invoke
    def submit(self, spec: EnvironmentSpec, invocation: Invocation,
               executed_version: str) -> asyncio.Future[InvokeResult]:
        """Start `invocation`; the returned future resolves to its InvokeResult (status 200).

        Callers go through InvokeService (invoke/entry.py), not here. Raises TooManyRequestsException
        at once when no concurrency is left.
        """
        if self.debug is not None and self.debug.modes:  # debug mode: its own pool, one invocation at a time
            mode = self.debug.modes.get(spec.function_name)
            if mode is not None and mode.applies(spec):
                return mode.submit(self, spec, invocation, executed_version)
        pool = self.pools.get(spec.pool_key)
        if pool is not None and pool.retired:
            pool = None
        # 1. A concurrency lease, unless an idle provisioned environment takes the invocation.
        env = pool.take_provisioned() if pool is not None else None
        lease = PROVISIONED if env is not None else self.concurrency.acquire(spec.function_name)
        if pool is None:
            pool = self._new_pool(spec)
        # 2. An environment: warm, an idle one now; cold, a task starts one (steps 3 and 4 follow there).
        if env is None:
            env = pool.take_idle()
            if env is None:
                return self._start_cold(pool, invocation, lease, executed_version)
        # 3 and 4.
        return self._invoke_warm(env, pool, invocation, lease, executed_version)

    def _invoke_warm(self, env: Environment, pool: EnvironmentPool, invocation: Invocation, lease: Lease,
                     executed_version: str) -> asyncio.Future[InvokeResult]:
        """Invoke an environment taken now; it takes the invocation synchronously (its runtime waits in `/next`)."""
        result: asyncio.Future[InvokeResult] = asyncio.get_running_loop().create_future()
        placement = self.placement
        env.cpu_binding = placement.start(env.runtime_pid, env.cpu_binding)

        def invoked(attempt: asyncio.Future[Outcome | None]) -> None:
            placement.end()
            outcome = attempt.result()
            if outcome is None:  # the environment died before taking it: run it on another one
                self._invoke_elsewhere(pool, invocation, lease, result, executed_version)
                return
            self._release_when_free(env, pool, lease)
            if not result.done():
                result.set_result(InvokeResult(200, invocation.request_id, executed_version, outcome))

        env.assign(invocation).add_done_callback(invoked)
        return result

    def _invoke_elsewhere(self, pool: EnvironmentPool, invocation: Invocation, lease: Lease,
                          result: asyncio.Future[InvokeResult], executed_version: str) -> None:
        """A warm environment died before taking the invocation: the cold path runs it (a provisioned
        one's invocation now needs an on-demand lease)."""
        if lease is PROVISIONED:
            try:
                lease = self.concurrency.acquire(pool.spec.function_name)
            except TooManyRequestsException as exc:
                if not result.done():
                    result.set_exception(exc)
                return
        task = self._start_cold(pool, invocation, lease, executed_version)
        task.add_done_callback(lambda done: _chain(done, result))

    def _start_cold(self, pool: EnvironmentPool, invocation: Invocation, lease: Lease,
                    executed_version: str) -> asyncio.Task[InvokeResult]:
        """Run `invocation` on the cold path (a task); it counts as running for the placement until it ends."""
        placement = self.placement
        placement.cold()
        task = asyncio.get_running_loop().create_task(self._invoke_cold(pool, invocation, lease, executed_version))
        task.add_done_callback(lambda _: placement.end())
        return task

    async def _invoke_cold(self, pool: EnvironmentPool, invocation: Invocation, lease: Lease,
                           executed_version: str) -> InvokeResult:
        """Run `invocation` on an environment that comes back idle meanwhile, else on a new one (whose
        INIT is part of this invocation); again on another if it dies before taking the invocation."""

        async def next_environment() -> Environment:
            return pool.take_provisioned() or pool.take_idle() or await pool.start_environment()

        return await self.run_on(pool, invocation, lease, executed_version, next_environment)

    async def run_on(self, pool: EnvironmentPool, invocation: Invocation, lease: Lease, executed_version: str,
                     next_environment: Callable[[], Awaitable[Environment]]) -> InvokeResult:
        """Assign `invocation` to the environments `next_environment` gives until one takes it; the lease is
        released once that environment is free again (or at once on failure)."""
        try:
            while True:
                env = await next_environment()
                try:
                    outcome = await env.assign(invocation)
                except asyncio.CancelledError:
                    env.destroy()
                    raise
                if outcome is not None:
                    break
        except BaseException:
            lease.release()
            raise
        self._release_when_free(env, pool, lease)
        return InvokeResult(200, invocation.request_id, executed_version, outcome)

    @staticmethod
    def _release_when_free(env: Environment, pool: EnvironmentPool, lease: Lease) -> None:
        """4. The slot and the environment come back once the environment is free: at once, or when its
        extensions finish the invocation (the caller has its answer already)."""
        if env.extensions_busy:
            def release() -> None:
                lease.release()
                pool.release(env)
            env.when_free(release)
        else:  # the usual case, without a closure
            lease.release()
            pool.release(env)

    def retire(self, function_name: str, keep_revision: str | None = None, version: str | None = None) -> None:
        """New code or configuration: old environments drain (idle ones shut down now).

        Only pools of `version` when given (else every version's), except those at `keep_revision`.
        """
        loop = asyncio.get_running_loop()
        if keep_revision is None and version is None:  # the function is gone, with its concurrency settings
            for config_key, provisioner in list(self.provisioners.items()):
                if provisioner.function_name == function_name:
                    self.unprovision(config_key)
            self.concurrency.forget(function_name)
        if keep_revision is None and self.snapshots is not None:  # the function or the version is gone
            self.snapshots.drop(function_name, version)
        for pool_key, pool in list(self.pools.items()):
            if pool_key[0] == function_name and pool_key[2] != keep_revision and version in (None, pool_key[1]):
                for env in pool.retire():
                    loop.create_task(env.shutdown("code or configuration changed"))
                del self.pools[pool_key]

    def prepare_snapshot(self, spec: EnvironmentSpec) -> None:
        """PublishVersion of a SnapStart version: its INIT runs now, once (invoke/snapstart.py)."""
        if self.snapshots is not None and spec.snap_start:
            if self.snapshots.credentials is None:
                self.snapshots.credentials = self.credentials
            self.snapshots.prepare(spec)

    # ------------------------------------------------------------------ pools
    def pool_for(self, spec: EnvironmentSpec) -> EnvironmentPool:
        """The live pool of `spec`'s version and revision (a new one if there is none)."""
        pool = self.pools.get(spec.pool_key)
        return pool if pool is not None and not pool.retired else self._new_pool(spec)

    def environment_counts(self) -> list[dict[str, str | int]]:
        """Live environments per function version (all revisions' pools added up), for GET /_stratus/environments."""
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for (function_name, version, _revision), pool in self.pools.items():
            counts = pool.counts()
            if counts["Total"]:
                into = totals.setdefault((function_name, version), dict.fromkeys(counts, 0))
                for key, value in counts.items():
                    into[key] += value
        return [{"FunctionName": name, "Version": version, **counts}
                for (name, version), counts in sorted(totals.items())]

    def _new_pool(self, spec: EnvironmentSpec) -> EnvironmentPool:
        pool = EnvironmentPool(spec, self._make_environment)
        self.pools[spec.pool_key] = pool
        return pool

    def _make_environment(self, spec: EnvironmentSpec, on_dead: Callable[[Environment], None],
                          provisioned: bool) -> Environment:
        settings = self.settings
        self.placement.release_server()  # the new environment's processes inherit every CPU
        kind = ProvisionedEnvironment if provisioned else Environment
        env = kind(spec, self.sandbox, self.log_sink, init_timeout_s=settings.init_timeout_s,
                   shutdown_grace_s=settings.shutdown_grace_s, on_dead=on_dead, credentials=self.credentials)
        if spec.snap_start and not provisioned and self.snapshots is not None:
            self.snapshots.credentials = self.snapshots.credentials or self.credentials
            env.snapshots = self.snapshots
        if spec.revision_id.endswith(DEBUG_REVISION):
            mode = self.debug.get(spec.function_name) if self.debug is not None else None
            if mode is not None:
                mode.made(env)
        return env

    async def _reap_idle(self) -> None:
        interval = max(0.05, min(5.0, self.settings.idle_timeout_s / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            for pool in list(self.pools.values()):
                for env in pool.expired(self.settings.idle_timeout_s):
                    loop.create_task(env.shutdown("idle"))

    # ------------------------------------------------------------------ provisioned concurrency
    def provision(self, key: str, function_name: str, requested: int,
                  resolve: Callable[[], EnvironmentSpec | None], on_gone: Callable[[str], None]) -> Provisioner:
        """Keep `requested` initialized environments of the version `resolve()` names (re-resolved as it
        goes, so an alias that moves takes its provisioned environments along). `on_gone(key)` is
        called when `resolve()` finds the version or alias no longer exists. Calling it again for the
        same key changes the count."""
        provisioner = self.provisioners.get(key)
        if provisioner is None:
            def gone(key: str) -> None:
                self.provisioners.pop(key, None)
                self._count_provisioned(function_name)
                on_gone(key)
            provisioner = Provisioner(key, function_name, requested, resolve, self.pool_for, gone)
            self.provisioners[key] = provisioner
        else:
            provisioner.update(requested)
        self._count_provisioned(function_name)
        return provisioner

    def unprovision(self, key: str) -> None:
        """Stop keeping the environments of this provisioned concurrency config (idle ones shut down now)."""
        provisioner = self.provisioners.pop(key, None)
        if provisioner is not None:
            provisioner.cancel()
            self._count_provisioned(provisioner.function_name)

    def _count_provisioned(self, function_name: str) -> None:
        total = sum(p.requested for p in self.provisioners.values() if p.function_name == function_name)
        self.concurrency.set_provisioned(function_name, total)
