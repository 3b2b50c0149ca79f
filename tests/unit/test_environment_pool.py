"""The environment pool: idle order (most recently used live one first), provisioned apart, retire, expiry."""

import asyncio
import time

from stratus.invoke.pool import EnvironmentPool
from tests.unit.fakes_invoke import FakeFactory, make_spec


def run(coroutine):
    return asyncio.run(coroutine)


async def started(pool: EnvironmentPool, count: int, provisioned: bool = False) -> list:
    return [await pool.start_environment(provisioned=provisioned) for _ in range(count)]


def test_the_most_recently_released_live_environment_serves_next():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        first, second, third = await started(pool, 3)
        for env in (first, second, third):
            pool.release(env)
        assert pool.take_idle() is third
        second.die()  # a dead one leaves the idle list
        assert pool.take_idle() is first
        assert pool.take_idle() is None
        assert second not in pool.environments

    run(scenario())


def test_a_dead_idle_environment_is_dropped_without_being_handed_out():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        (env,) = await started(pool, 1)
        pool.release(env)
        env.state = env.state.__class__.DEAD  # dead, but not reported yet
        assert pool.take_idle() is None
        assert pool.take_idle() is None

    run(scenario())


def test_provisioned_environments_have_their_own_idle_list():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        (on_demand,) = await started(pool, 1)
        (provisioned,) = await started(pool, 1, provisioned=True)
        pool.release(on_demand)
        assert pool.take_provisioned() is None  # not available before add_provisioned
        assert pool.add_provisioned(provisioned)
        assert pool.take_provisioned() is provisioned
        assert pool.take_provisioned() is None
        pool.release(provisioned)  # back to the provisioned list, not the on-demand one
        assert pool.take_idle() is on_demand
        assert pool.take_idle() is None
        assert pool.take_provisioned() is provisioned

    run(scenario())


def test_add_provisioned_refuses_dead_or_unknown_environments():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        (on_demand,) = await started(pool, 1)
        (provisioned,) = await started(pool, 1, provisioned=True)
        assert not pool.add_provisioned(on_demand)
        provisioned.die()
        assert not pool.add_provisioned(provisioned)

    run(scenario())


def test_retire_hands_back_idle_environments_and_busy_ones_shut_down_on_release():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        idle, busy = await started(pool, 2)
        pool.release(idle)
        assert pool.retire() == [idle]
        assert pool.retired
        assert pool.take_idle() is None
        pool.release(busy)
        await asyncio.sleep(0)
        assert busy.shutdown_reasons == ["code or configuration changed"]
        assert pool.take_idle() is None

    run(scenario())


def test_expired_takes_only_on_demand_environments_idle_for_too_long():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        old, fresh = await started(pool, 2)
        (provisioned,) = await started(pool, 1, provisioned=True)
        pool.add_provisioned(provisioned)
        for env in (old, fresh):
            pool.release(env)
        old.last_used = provisioned.last_used = time.monotonic() - 100
        assert pool.expired(10) == [old]
        assert pool.take_idle() is fresh  # old left the idle list
        assert pool.take_idle() is None
        assert pool.take_provisioned() is provisioned

    run(scenario())


def test_unprovision_an_idle_environment_or_drain_a_busy_one():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        idle, busy = await started(pool, 2, provisioned=True)
        pool.add_provisioned(idle)
        assert pool.unprovision(idle)  # idle: the caller shuts it down now
        assert pool.take_provisioned() is None
        assert not pool.unprovision(busy)
        pool.release(busy)  # its invocation ended: shut down, not kept
        await asyncio.sleep(0)
        assert busy.shutdown_reasons == ["code or configuration changed"]

    run(scenario())


def test_a_dead_environment_is_forgotten_and_the_callback_is_told():
    async def scenario():
        pool = EnvironmentPool(make_spec(), FakeFactory())
        told = []
        env = await pool.start_environment(provisioned=True, on_dead=told.append)
        pool.add_provisioned(env)
        env.die()
        assert told == [env]
        assert env not in pool.environments and env not in pool.provisioned
        assert pool.take_provisioned() is None

    run(scenario())


def test_an_environment_that_fails_to_start_is_not_kept():
    class Failing(FakeFactory):
        def __call__(self, spec, on_dead, provisioned):
            env = super().__call__(spec, on_dead, provisioned)

            async def start():
                raise OSError("spawn failed")

            env.start = start
            return env

    async def scenario():
        pool = EnvironmentPool(make_spec(), Failing())
        try:
            await pool.start_environment(provisioned=True)
        except OSError:
            pass
        else:
            raise AssertionError("start_environment must raise")
        assert not pool.environments and not pool.provisioned

    run(scenario())
