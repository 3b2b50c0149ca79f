"""The environments of one function version at one revision: warm ones reused, new ones started on demand,
and provisioned ones (started ahead of any invoke) kept apart for the invocations they serve first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from stratus.invoke.types import EnvironmentSpec

if TYPE_CHECKING:
    from stratus.invoke.environment import Environment


class EnvironmentFactory(Protocol):
    """Makes (does not start) an environment of `spec`; `on_dead` is called when it dies."""

    def __call__(self, spec: EnvironmentSpec, on_dead: Callable[[Environment], None],
                 provisioned: bool) -> Environment: ...


class EnvironmentPool:
    """Idle environments are kept most-recently-used first, so the warmest one serves next.

    Provisioned environments have their own idle list: an invoke takes one of those first, and they
    are never reaped for idleness. `unprovision` turns one back: shut down now if idle, else when its
    invocation ends.
    """

    def __init__(self, spec: EnvironmentSpec, factory: EnvironmentFactory):
        self.spec = spec
        self._factory = factory
        self._idle: list[Environment] = []
        self._provisioned_idle: list[Environment] = []
        self.environments: set[Environment] = set()
        self.provisioned: set[Environment] = set()
        self._draining: set[Environment] = set()
        self.retired = False

    def take_provisioned(self) -> Environment | None:
        """An idle provisioned environment, or None."""
        return _take_alive(self._provisioned_idle)

    def take_idle(self) -> Environment | None:
        """An idle on-demand environment, or None."""
        return _take_alive(self._idle)

    async def start_environment(self, provisioned: bool = False,
                                on_dead: Callable[[Environment], None] | None = None) -> Environment:
        """A new environment, INIT started (the caller's invocation waits for its first `/next`;
        a provisioned one is made available with `add_provisioned` once `initialized`)."""
        if on_dead is None:
            forget = self._forget
        else:
            def forget(env: Environment) -> None:
                self._forget(env)
                on_dead(env)
        if self.spec.prepare is not None:  # the code is checked (and healed) before each environment starts
            await asyncio.to_thread(self.spec.prepare)
        env = self._factory(self.spec, forget, provisioned)
        self.environments.add(env)
        if provisioned:
            self.provisioned.add(env)
        try:
            await env.start()
        except BaseException:
            self.environments.discard(env)
            self.provisioned.discard(env)
            raise
        return env

    def add_provisioned(self, env: Environment) -> bool:
        """Make an initialized provisioned environment available to invokes; False if it cannot be."""
        if not env.alive or self.retired or env not in self.provisioned:
            return False
        self._provisioned_idle.append(env)
        return True

    def unprovision(self, env: Environment) -> bool:
        """Stop keeping `env` provisioned; True if it was idle (the caller shuts it down now)."""
        self.provisioned.discard(env)
        try:
            self._provisioned_idle.remove(env)
            return True
        except ValueError:
            if env.alive:
                self._draining.add(env)
            return False

    def counts(self) -> dict[str, int]:
        """Live environments: in all, idle (on-demand and provisioned), busy, provisioned."""
        alive = [env for env in self.environments if env.alive]
        idle = sum(1 for env in self._idle + self._provisioned_idle if env.alive)
        return {"Total": len(alive), "Idle": idle, "Busy": len(alive) - idle,
                "Provisioned": sum(1 for env in self.provisioned if env.alive)}

    def release(self, env: Environment) -> None:
        """Return an environment after its invocation; retired pools shut it down instead."""
        if not env.alive:
            return
        if self.retired or env in self._draining:
            self._draining.discard(env)
            asyncio.get_running_loop().create_task(env.shutdown("code or configuration changed"))
            return
        (self._provisioned_idle if env in self.provisioned else self._idle).append(env)

    def _forget(self, env: Environment) -> None:
        self.environments.discard(env)
        self.provisioned.discard(env)
        self._draining.discard(env)
        for idle in (self._idle, self._provisioned_idle):
            try:
                idle.remove(env)
            except ValueError:
                pass

    def retire(self) -> list[Environment]:
        """Stop taking work; return the idle environments to shut down now (busy ones follow on release)."""
        self.retired = True
        idle = self._idle + self._provisioned_idle
        self._idle, self._provisioned_idle = [], []
        return idle

    def expired(self, idle_timeout_s: float) -> list[Environment]:
        """Idle on-demand environments unused for longer than `idle_timeout_s`, removed from the idle
        list (provisioned ones are kept warm)."""
        cutoff = time.monotonic() - idle_timeout_s
        keep: list[Environment] = []
        expired: list[Environment] = []
        for env in self._idle:
            (expired if env.last_used < cutoff else keep).append(env)
        self._idle = keep
        return expired


def _take_alive(idle: list[Environment]) -> Environment | None:
    """The most recently used live environment of an idle list (dead ones are dropped), or None."""
    while idle:
        env = idle.pop()
        if env.alive:
            return env
    return None
