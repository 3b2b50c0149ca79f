"""The provisioner: keeps N initialized environments in its target's pool, replaces dead ones,
follows count updates, reports READY / FAILED, stops on cancel or when its target is gone."""

import asyncio

from stratus.invoke.pool import EnvironmentPool
from stratus.invoke.provisioner import Provisioner
from tests.unit.fakes_invoke import FakeFactory, make_spec, settle


def run(coroutine):
    return asyncio.run(coroutine)


class Target:
    """What a provisioner is given: a resolvable spec and the pool for it."""

    def __init__(self):
        self.factory = FakeFactory()
        self.spec = make_spec(version="1")
        self.pool = EnvironmentPool(self.spec, self.factory)
        self.gone: list[str] = []
        self.resolvable = True

    def provisioner(self, requested: int) -> Provisioner:
        return Provisioner("fn:1", "fn", requested, lambda: self.spec if self.resolvable else None,
                           lambda spec: self.pool, self.gone.append)

    def available(self) -> list:
        """Take every idle provisioned environment (and put them back)."""
        taken = []
        while (env := self.pool.take_provisioned()) is not None:
            taken.append(env)
        for env in taken:
            self.pool.release(env)
        return taken


def test_keeps_the_requested_count_ready():
    async def scenario():
        target = Target()
        provisioner = target.provisioner(2)
        assert provisioner.status == "IN_PROGRESS"
        await settle(lambda: provisioner.status == "READY")
        assert provisioner.allocated == 2
        assert len(target.available()) == 2
        assert all(env.provisioned for env in target.factory.made)
        provisioner.cancel()

    run(scenario())


def test_replaces_an_environment_that_dies():
    async def scenario():
        target = Target()
        provisioner = target.provisioner(2)
        await settle(lambda: provisioner.status == "READY")
        target.factory.made[0].die()
        assert provisioner.allocated == 1
        # at once (well before its once-a-second recheck): the death wakes it
        await settle(lambda: provisioner.allocated == 2, timeout_s=Provisioner.RECHECK_S / 2)
        assert len(target.factory.made) == 3
        assert provisioner.status == "READY"
        provisioner.cancel()

    run(scenario())


def test_update_changes_the_count_both_ways():
    async def scenario():
        target = Target()
        provisioner = target.provisioner(3)
        await settle(lambda: provisioner.status == "READY" and provisioner.allocated == 3)
        provisioner.update(1)
        await settle(lambda: provisioner.allocated == 1 and provisioner.status == "READY")
        await asyncio.sleep(0)
        assert sum(1 for env in target.factory.made if env.shutdown_reasons) == 2  # the idle extra ones
        assert len(target.available()) == 1
        provisioner.update(2)
        assert provisioner.status == "IN_PROGRESS"
        await settle(lambda: provisioner.allocated == 2 and provisioner.status == "READY")
        provisioner.cancel()

    run(scenario())


def test_fails_when_init_fails_before_ready():
    async def scenario():
        target = Target()
        target.factory.init_ok = False
        provisioner = target.provisioner(1)
        await settle(lambda: provisioner.status == "FAILED")
        assert provisioner.status_reason == "FUNCTION_ERROR_INIT_FAILURE"
        assert provisioner.allocated == 0
        provisioner.cancel()

    run(scenario())


def test_cancel_shuts_idle_environments_down_and_stops():
    async def scenario():
        target = Target()
        provisioner = target.provisioner(2)
        await settle(lambda: provisioner.status == "READY")
        provisioner.cancel()
        await asyncio.sleep(0)
        assert provisioner.allocated == 0
        assert all(env.shutdown_reasons == ["provisioned concurrency removed"] for env in target.factory.made)
        assert target.pool.take_provisioned() is None
        target.factory.made[0].on_dead(target.factory.made[0])  # nothing restarts after a cancel
        await asyncio.sleep(0.05)
        assert len(target.factory.made) == 2

    run(scenario())


def test_a_target_that_is_gone_stops_it_and_is_reported():
    async def scenario():
        target = Target()
        provisioner = target.provisioner(1)
        await settle(lambda: provisioner.status == "READY")
        target.resolvable = False
        provisioner.update(1)  # wakes it: it re-resolves its target
        await settle(lambda: target.gone == ["fn:1"])
        assert provisioner.allocated == 0
        assert target.pool.take_provisioned() is None

    run(scenario())
