"""The Invoker: from a resolved function to an Outcome, through leases, pools and environments."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from stratus.config import Settings
from stratus.invoke.concurrency import ConcurrencyLimiter
from stratus.invoke.environment import Environment, EnvironmentSpec, Invocation, Outcome
from stratus.invoke.pool import EnvironmentPool
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
        self._background: set[asyncio.Task] = set()
        self._reaper: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def close(self) -> None:
        """Shut every environment down (their SHUTDOWN phase) and stop background work."""
        if self._reaper is not None:
            self._reaper.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=self.settings.graceful_shutdown_s)
        environments = [env for pool in self.pools.values() for env in list(pool.environments)]
        await asyncio.gather(*(env.shutdown("server stopping") for env in environments), return_exceptions=True)
        self.pools.clear()

    # ------------------------------------------------------------------ invoke
    def submit(self, spec: EnvironmentSpec, invocation: Invocation) -> asyncio.Future:
        """Start `invocation`; the returned future resolves to its Outcome.

        Raises TooManyRequestsException at once when no concurrency is left. A warm environment
        takes the invocation synchronously (no task, no extra loop step); otherwise a task starts
        an environment.
        """
        lease = self.concurrency.acquire()
        pool = self.pools.get(spec.pool_key)
        if pool is None or pool.retired:
            pool = self._new_pool(spec)
        env = pool.take_idle()
        if env is None:
            task = asyncio.get_running_loop().create_task(self._invoke_cold(pool, invocation))
            task.add_done_callback(lambda _: lease.release())
            return task
        result = asyncio.get_running_loop().create_future()
        env.assign(invocation).add_done_callback(
            lambda attempt: self._warm_done(attempt, pool, env, invocation, lease, result))
        return result

    async def invoke(self, spec: EnvironmentSpec, invocation: Invocation) -> Outcome:
        """Run `invocation` and wait for its Outcome (see submit)."""
        return await self.submit(spec, invocation)

    def _warm_done(self, attempt: asyncio.Future, pool: EnvironmentPool, env: Environment,
                   invocation: Invocation, lease, result: asyncio.Future) -> None:
        outcome = attempt.result()
        if outcome is None:  # the environment died before taking it: run it on another one
            task = asyncio.get_running_loop().create_task(self._invoke_cold(pool, invocation))
            task.add_done_callback(lambda done: (lease.release(), _chain(done, result)))
            return
        lease.release()
        pool.release(env)
        if not result.done():
            result.set_result(outcome)

    async def _invoke_cold(self, pool: EnvironmentPool, invocation: Invocation) -> Outcome:
        while True:
            env = pool.take_idle()
            if env is None:
                env = await pool.start_environment()
            try:
                outcome = await env.assign(invocation)
            except asyncio.CancelledError:
                env.destroy()
                raise
            if outcome is not None:
                pool.release(env)
                return outcome

    def run_in_background(self, coroutine: Awaitable) -> None:
        """Keep a reference to background work (async invokes) so it finishes before shutdown."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def retire(self, function_name: str, keep_revision: str | None = None) -> None:
        """New code or configuration: old environments drain (idle ones shut down now)."""
        loop = asyncio.get_running_loop()
        for key, pool in list(self.pools.items()):
            if key[0] == function_name and key[2] != keep_revision:
                for env in pool.retire():
                    loop.create_task(env.shutdown("code or configuration changed"))
                del self.pools[key]

    # ------------------------------------------------------------------ internals
    def _new_pool(self, spec: EnvironmentSpec) -> EnvironmentPool:
        pool = EnvironmentPool(spec, self._make_environment)
        self.pools[spec.pool_key] = pool
        return pool

    def _make_environment(self, spec: EnvironmentSpec, on_dead: Callable[[Environment], None]) -> Environment:
        settings = self.settings
        return Environment(
            spec, self.sandbox, self.log_sink,
            init_timeout_s=settings.init_timeout_s, shutdown_grace_s=settings.shutdown_grace_s,
            on_dead=on_dead,
        )

    async def _reap_idle(self) -> None:
        interval = max(0.05, min(5.0, self.settings.idle_timeout_s / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            for pool in list(self.pools.values()):
                for env in pool.expired(self.settings.idle_timeout_s):
                    loop.create_task(env.shutdown("idle"))
