"""Stand-ins for what the invoke spine's parts are given: an environment spec, environments that
start nothing, and a factory that makes them (for the pool and the provisioner)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from stratus.invoke.types import EnvironmentSpec, State


def make_spec(function_name: str = "fn", version: str = "$LATEST", timeout_s: int = 3) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name=function_name, function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}",
        version=version, revision_id="r1", runtime="python3.12", handler="app.handler", memory_mb=128,
        timeout_s=timeout_s, ephemeral_storage_mb=512, task_root=Path("/nonexistent/task"),
        runtime_dir=Path("/nonexistent/runtime"), argv=("bootstrap",), env={}, region="us-east-1",
    )


class FakeEnvironment:
    """What the pool and the provisioner use of an environment; `die()` is the process ending."""

    def __init__(self, spec: EnvironmentSpec, on_dead, provisioned: bool, init_ok: bool = True):
        self.spec = spec
        self.on_dead = on_dead
        self.provisioned = provisioned
        self.init_ok = init_ok
        self.state = State.INIT
        self.last_used = time.monotonic()
        self.shutdown_reasons: list[str] = []
        self.initialized: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    @property
    def alive(self) -> bool:
        return self.state not in (State.DEAD, State.INIT_ERROR)

    async def start(self) -> None:
        if self.init_ok:
            self.state = State.READY
            self.initialized.set_result(True)
        else:
            self.state = State.INIT_ERROR
            self.initialized.set_result(False)

    def die(self) -> None:
        self.state = State.DEAD
        self.on_dead(self)

    async def shutdown(self, reason: str = "spindown") -> None:
        self.shutdown_reasons.append(reason)
        self.die()


class FakeFactory:
    """An EnvironmentFactory making FakeEnvironments; remembers every one it made."""

    def __init__(self) -> None:
        self.made: list[FakeEnvironment] = []
        self.init_ok = True

    def __call__(self, spec: EnvironmentSpec, on_dead, provisioned: bool) -> FakeEnvironment:
        env = FakeEnvironment(spec, on_dead, provisioned, self.init_ok)
        self.made.append(env)
        return env


async def settle(condition, timeout_s: float = 3.0) -> None:
    """Let the loop run until `condition()` holds (fails the test after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)
