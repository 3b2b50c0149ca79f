"""Environments of one function version at one revision: warm ones reused, new ones started on demand."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from stratus.invoke.environment import Environment, EnvironmentSpec


class EnvironmentPool:
    """Idle environments are kept most-recently-used first, so the warmest one serves next."""

    def __init__(self, spec: EnvironmentSpec, factory: Callable[[EnvironmentSpec, Callable], Environment]):
        self.spec = spec
        self._factory = factory
        self._idle: list[Environment] = []
        self.environments: set[Environment] = set()
        self.retired = False

    def take_idle(self) -> Environment | None:
        while self._idle:
            env = self._idle.pop()
            if env.alive:
                return env
        return None

    async def start_environment(self) -> Environment:
        """A new environment, INIT started (the caller's invocation waits for its first `/next`)."""
        env = self._factory(self.spec, self._forget)
        self.environments.add(env)
        try:
            await env.start()
        except BaseException:
            self.environments.discard(env)
            raise
        return env

    def release(self, env: Environment) -> None:
        """Return an environment after its invocation; retired pools shut it down instead."""
        if not env.alive:
            return
        if self.retired:
            asyncio.get_running_loop().create_task(env.shutdown("code or configuration changed"))
            return
        self._idle.append(env)

    def _forget(self, env: Environment) -> None:
        self.environments.discard(env)
        try:
            self._idle.remove(env)
        except ValueError:
            pass

    def retire(self) -> list[Environment]:
        """Stop taking work; return the idle environments to shut down now (busy ones follow on release)."""
        self.retired = True
        idle, self._idle = self._idle, []
        return idle

    def expired(self, idle_timeout_s: float) -> list[Environment]:
        """Idle environments unused for longer than `idle_timeout_s`, removed from the idle list."""
        cutoff = time.monotonic() - idle_timeout_s
        keep, expired = [], []
        for env in self._idle:
            (expired if env.last_used < cutoff else keep).append(env)
        self._idle = keep
        return expired
