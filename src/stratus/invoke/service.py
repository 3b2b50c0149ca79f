"""The Invoker: from a resolved function to an Outcome, through leases, pools and environments."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from stratus.config import Settings
from stratus.errors import TooManyRequestsException
from stratus.invoke.concurrency import PROVISIONED, ConcurrencyLimiter
from stratus.invoke.environment import Environment
from stratus.invoke.types import EnvironmentSpec, Invocation, InvokeResult
from stratus.invoke.pool import EnvironmentPool, ProvisionedEnvironment
from stratus.observe.logs import LogSink
from stratus.sandbox import Sandbox

log = logging.getLogger("stratus.invoke")


def _chain(source: asyncio.Future, target: asyncio.Future) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


class Invoker:
    """Runs invocations: one pool of environments per function version and revision."""

    def __init__(self, settings: Settings, sandbox: Sandbox, log_sink: LogSink):
        self.settings = settings
        self.sandbox = sandbox
        self.log_sink = log_sink
        self.concurrency = ConcurrencyLimiter(settings.account_concurrency_limit)
        self.pools: dict[tuple[str, str, str], EnvironmentPool] = {}
        self.provisioners: dict[str, Provisioner] = {}  # by "<function>:<qualifier>" of their config
        self._reaper: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def close(self) -> None:
        """Shut every environment down (their SHUTDOWN phase) and stop background work."""
        if self._reaper is not None:
            self._reaper.cancel()
        for provisioner in list(self.provisioners.values()):
            provisioner.cancel()
        environments = [env for pool in self.pools.values() for env in list(pool.environments)]
        await asyncio.gather(*(env.shutdown("server stopping") for env in environments), return_exceptions=True)
        self.pools.clear()

    # ------------------------------------------------------------------ invoke
    def submit(self, spec: EnvironmentSpec, invocation: Invocation, executed_version: str) -> asyncio.Future:
        """Start `invocation`; the returned future resolves to its InvokeResult (status 200).

        Callers go through InvokeService (invoke/entry.py), not here.

        Raises TooManyRequestsException at once when no concurrency is left. An idle provisioned
        environment takes it first (its slot is set aside already); else an on-demand lease is taken.
        A warm environment takes the invocation synchronously (no task, no extra loop step);
        otherwise a task starts an environment.
        """
        pool = self.pools.get(spec.pool_key)
        env = pool.take_provisioned() if pool is not None and not pool.retired else None
        if env is not None:
            lease = PROVISIONED
        else:
            lease = self.concurrency.acquire(spec.function_name)
            if pool is None or pool.retired:
                pool = self._new_pool(spec)
            env = pool.take_idle()
        if env is None:
            return asyncio.get_running_loop().create_task(
                self._invoke_cold(pool, invocation, lease, executed_version))
        result = asyncio.get_running_loop().create_future()
        env.assign(invocation).add_done_callback(
            lambda attempt: self._warm_done(attempt, pool, env, invocation, lease, result, executed_version))
        return result

    def _warm_done(self, attempt: asyncio.Future, pool: EnvironmentPool, env: Environment,
                   invocation: Invocation, lease, result: asyncio.Future, executed_version: str) -> None:
        outcome = attempt.result()
        if outcome is None:  # the environment died before taking it: run it on another one
            if lease is PROVISIONED:
                try:
                    lease = self.concurrency.acquire(pool.spec.function_name)
                except TooManyRequestsException as exc:
                    if not result.done():
                        result.set_exception(exc)
                    return
            task = asyncio.get_running_loop().create_task(
                self._invoke_cold(pool, invocation, lease, executed_version))
            task.add_done_callback(lambda done: _chain(done, result))
            return
        self._release_when_free(env, pool, lease)
        if not result.done():
            result.set_result(InvokeResult(200, invocation.request_id, executed_version, outcome))

    async def _invoke_cold(self, pool: EnvironmentPool, invocation: Invocation, lease,
                           executed_version: str) -> InvokeResult:
        """Run `invocation` on a new (or newly idle) environment; `lease` is released when it is over."""
        try:
            while True:
                env = pool.take_provisioned() or pool.take_idle()
                if env is None:
                    env = await pool.start_environment()
                try:
                    outcome = await env.assign(invocation)
                except asyncio.CancelledError:
                    env.destroy()
                    raise
                if outcome is not None:
                    self._release_when_free(env, pool, lease)
                    lease = None
                    return InvokeResult(200, invocation.request_id, executed_version, outcome)
        finally:
            if lease is not None:
                lease.release()

    @staticmethod
    def _release_when_free(env: Environment, pool: EnvironmentPool, lease) -> None:
        """The slot and the environment come back once the environment is free: at once, or when its
        extensions finish the invocation (the caller has its answer already)."""
        if env.extensions_busy:
            env.when_free(lambda: (lease.release(), pool.release(env)))
        else:  # the usual case, without a closure
            lease.release()
            pool.release(env)

    def retire(self, function_name: str, keep_revision: str | None = None, version: str | None = None) -> None:
        """New code or configuration: old environments drain (idle ones shut down now).

        Only pools of `version` when given (else every version's), except those at `keep_revision`.
        """
        loop = asyncio.get_running_loop()
        if keep_revision is None and version is None:  # the function is gone, with its concurrency settings
            for key, provisioner in list(self.provisioners.items()):
                if provisioner.function_name == function_name:
                    self.unprovision(key)
            self.concurrency.forget(function_name)
        for key, pool in list(self.pools.items()):
            if key[0] == function_name and key[2] != keep_revision and version in (None, key[1]):
                for env in pool.retire():
                    loop.create_task(env.shutdown("code or configuration changed"))
                del self.pools[key]

    # ------------------------------------------------------------------ internals
    def pool_for(self, spec: EnvironmentSpec) -> EnvironmentPool:
        """The live pool of `spec`'s version and revision (a new one if there is none)."""
        pool = self.pools.get(spec.pool_key)
        return pool if pool is not None and not pool.retired else self._new_pool(spec)

    def _new_pool(self, spec: EnvironmentSpec) -> EnvironmentPool:
        pool = EnvironmentPool(spec, self._make_environment)
        self.pools[spec.pool_key] = pool
        return pool

    def _make_environment(self, spec: EnvironmentSpec, on_dead: Callable[[Environment], None],
                          provisioned: bool = False) -> Environment:
        settings = self.settings
        return (ProvisionedEnvironment if provisioned else Environment)(
            spec, self.sandbox, self.log_sink,
            init_timeout_s=settings.init_timeout_s, shutdown_grace_s=settings.shutdown_grace_s,
            on_dead=on_dead,
        )

    # ------------------------------------------------------------------ provisioned concurrency
    def provision(self, key: str, function_name: str, requested: int,
                  resolve: Callable[[], EnvironmentSpec | None], on_gone: Callable[[str], None]) -> "Provisioner":
        """Keep `requested` initialized environments of the version `resolve()` names (re-resolved as it
        goes, so an alias that moves takes its provisioned environments along). `on_gone(key)` is
        called when `resolve()` finds the version or alias no longer exists. Calling it again for the
        same key changes the count."""
        provisioner = self.provisioners.get(key)
        if provisioner is None:
            provisioner = self.provisioners[key] = Provisioner(self, key, function_name, requested, resolve, on_gone)
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

    async def _reap_idle(self) -> None:
        interval = max(0.05, min(5.0, self.settings.idle_timeout_s / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            for pool in list(self.pools.values()):
                for env in pool.expired(self.settings.idle_timeout_s):
                    loop.create_task(env.shutdown("idle"))


class Provisioner:
    """One provisioned concurrency config at work: keeps `requested` initialized provisioned
    environments in the pool of the version it targets, re-creates those that die, and reports
    Status (IN_PROGRESS → READY, or FAILED when an environment's INIT fails before READY)."""

    RETRY_MAX_S = 30.0  # back-off cap for re-creating a lost environment once READY
    RECHECK_S = 1.0  # how often the target is re-resolved (an alias may have moved to another version)

    def __init__(self, invoker: Invoker, key: str, function_name: str, requested: int,
                 resolve: Callable[[], EnvironmentSpec | None], on_gone: Callable[[str], None]):
        self.invoker = invoker
        self.key = key
        self.function_name = function_name
        self.requested = requested
        self.status = "IN_PROGRESS"
        self.status_reason: str | None = None
        self.environments: set[Environment] = set()  # initialized, alive, provisioned
        self.pool: EnvironmentPool | None = None
        self._resolve = resolve
        self._on_gone = on_gone
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def allocated(self) -> int:
        return len(self.environments)

    def update(self, requested: int) -> None:
        """A new count (PutProvisionedConcurrencyConfig again): back to IN_PROGRESS until it is met."""
        self.requested = requested
        self.status, self.status_reason = "IN_PROGRESS", None
        self._wake.set()

    def cancel(self) -> None:
        """Stop: idle environments shut down now, busy ones when their invocation ends."""
        self._task.cancel()
        self._drain(len(self.environments))

    # ------------------------------------------------------------------ internals
    def _lost(self, env: Environment) -> None:
        if env in self.environments:
            self.environments.discard(env)
            self._wake.set()

    def _drain(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for env in sorted(self.environments, key=lambda e: e.state.name != "READY")[:count]:
            self.environments.discard(env)
            if self.pool is not None and self.pool.unprovision(env):
                loop.create_task(env.shutdown("provisioned concurrency removed"))

    async def _sleep(self, seconds: float | None) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            try:
                spec = self._resolve()
            except Exception:  # noqa: BLE001 - a broken target is reported as gone, never a crash of the loop
                log.exception("provisioned concurrency %s: cannot resolve its target", self.key)
                spec = None
            if spec is None:
                self._drain(len(self.environments))
                self.invoker.provisioners.pop(self.key, None)
                self.invoker._count_provisioned(self.function_name)
                self._on_gone(self.key)
                return
            pool = self.invoker.pool_for(spec)
            if pool is not self.pool:  # first run, new target version, or the old pool was retired
                self._drain(len(self.environments))
                self.pool = pool
                if self.status == "READY":
                    self.status = "IN_PROGRESS"
            if len(self.environments) > self.requested:
                self._drain(len(self.environments) - self.requested)
            missing = self.requested - len(self.environments)
            if missing > 0 and self.status != "FAILED":
                results = await asyncio.gather(*(self._start_one(pool) for _ in range(missing)))
                if all(results):
                    backoff = 0.0
                    continue  # re-check: the target or the count may have changed meanwhile
                if self.status == "IN_PROGRESS":
                    log.warning("provisioned concurrency %s failed: an environment's INIT failed", self.key)
                    self.status, self.status_reason = "FAILED", "FUNCTION_ERROR_INIT_FAILURE"
                    self._drain(len(self.environments))
                    await self._sleep(self.RECHECK_S)  # no retry until the config is updated
                    continue
                backoff = min(max(backoff * 2, 0.5), self.RETRY_MAX_S)
                await self._sleep(backoff)
                continue
            if self.status == "IN_PROGRESS" and missing <= 0:
                self.status = "READY"
            await self._sleep(self.RECHECK_S)

    async def _start_one(self, pool: EnvironmentPool) -> bool:
        """Start one provisioned environment and wait for its INIT; True if it is now available."""
        try:
            env = await pool.start_environment(provisioned=True, on_dead=self._lost)
        except Exception:  # noqa: BLE001 - a spawn failure is an INIT failure to the config
            log.exception("provisioned concurrency %s: could not start an environment", self.key)
            return False
        try:
            initialized = await env.initialized
        except asyncio.CancelledError:
            asyncio.get_running_loop().create_task(env.shutdown("provisioned concurrency removed"))
            raise
        if initialized and pool is self.pool and pool.add_provisioned(env):
            self.environments.add(env)
            return True
        if env.alive:
            pool.unprovision(env)
            asyncio.get_running_loop().create_task(env.shutdown("provisioned concurrency changed"))
        return initialized
