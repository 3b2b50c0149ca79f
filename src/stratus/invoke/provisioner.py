"""Provisioned concurrency at work: environments started and initialized before any invoke asks for
them, kept at the configured count in the pool of the version a config targets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from stratus.invoke.environment import Environment
from stratus.invoke.pool import EnvironmentPool
from stratus.invoke.types import Credentials, EnvironmentSpec, State
from stratus.observe.log_store import LogStore
from stratus.sandbox import Sandbox

log = logging.getLogger("stratus.invoke")

PROVISIONED_CONCURRENCY = "provisioned-concurrency"  # AWS_LAMBDA_INITIALIZATION_TYPE of a provisioned environment


class ProvisionedEnvironment(Environment):
    """An environment started and initialized before any invoke asks for it.

    `initialized` resolves to True once the runtime finished INIT (its first `/next`), False if INIT
    failed or the environment died first. As on AWS, its INIT is not part of any invocation: the first
    invocation's REPORT line has no Init Duration and its log tail no INIT output (that output is in
    the environment's log stream).
    """

    def __init__(self, spec: EnvironmentSpec, sandbox: Sandbox, log_sink: LogStore, *, init_timeout_s: float,
                 shutdown_grace_s: float, on_dead: Callable[[Environment], None],
                 credentials: Credentials | None = None):
        def dead(env: Environment) -> None:
            on_dead(env)
            if not self.initialized.done():  # it died (or its INIT failed) before it was initialized
                self.initialized.set_result(False)

        super().__init__(spec, sandbox, log_sink, init_timeout_s=init_timeout_s, shutdown_grace_s=shutdown_grace_s,
                         initialization_type=PROVISIONED_CONCURRENCY, on_dead=dead, credentials=credentials)
        self.initialized: asyncio.Future[bool] = self.loop.create_future()

    def init_complete(self) -> None:
        if not self.initialized.done():
            self.report_init_apart()
            self.initialized.set_result(True)


class Provisioner:
    """One provisioned concurrency config at work: keeps `requested` initialized provisioned
    environments in the pool of the version it targets, re-creates those that die, and reports
    Status (IN_PROGRESS → READY, or FAILED when an environment's INIT fails before READY).

    `resolve()` names the target's spec now (None once the version or alias is gone: the provisioner
    then stops and calls `on_gone(key)`); `pool_for(spec)` is the live pool of a spec.
    """

    RETRY_MAX_S = 30.0  # back-off cap for re-creating a lost environment once READY
    RECHECK_S = 1.0  # how often the target is re-resolved (an alias may have moved to another version)

    def __init__(self, key: str, function_name: str, requested: int,
                 resolve: Callable[[], EnvironmentSpec | None], pool_for: Callable[[EnvironmentSpec], EnvironmentPool],
                 on_gone: Callable[[str], None]):
        self.key = key
        self.function_name = function_name
        self.requested = requested
        self.status = "IN_PROGRESS"
        self.status_reason: str | None = None
        self.environments: set[Environment] = set()  # initialized, alive, provisioned
        self.pool: EnvironmentPool | None = None
        self._resolve = resolve
        self._pool_for = pool_for
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
        for env in sorted(self.environments, key=lambda e: e.state is not State.READY)[:count]:
            self.environments.discard(env)
            if self.pool is not None and self.pool.unprovision(env):
                loop.create_task(env.shutdown("provisioned concurrency removed"))

    async def _sleep(self, seconds: float | None) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    def _target(self) -> EnvironmentSpec | None:
        try:
            return self._resolve()
        except Exception:  # noqa: BLE001 - a broken target is reported as gone, never a crash of the loop
            log.exception("provisioned concurrency %s: cannot resolve its target", self.key)
            return None

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            spec = self._target()
            if spec is None:
                self._drain(len(self.environments))
                self._on_gone(self.key)
                return
            pool = self._pool_for(spec)
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
            initialized = await _initialized(env)
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


async def _initialized(env: Environment) -> bool:
    """True once a provisioned environment's INIT ended, False if it failed or the environment died first."""
    return await cast(ProvisionedEnvironment, env).initialized  # the pool's factory made it provisioned
