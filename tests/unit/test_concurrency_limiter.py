"""The concurrency limiter: Lambda's account, reserved and provisioned accounting, leases, throttle reasons."""

import pytest

from stratus.errors import TooManyRequestsException
from stratus.invoke.concurrency import (
    ACCOUNT_LIMIT_REASON,
    PROVISIONED,
    RESERVED_LIMIT_REASON,
    ConcurrencyLimiter,
)


def throttle_reason(limiter: ConcurrencyLimiter, function_name: str) -> str:
    with pytest.raises(TooManyRequestsException) as raised:
        limiter.acquire(function_name)
    return raised.value.extra["Reason"]


def test_unreserved_functions_share_the_account_limit():
    limiter = ConcurrencyLimiter(3)
    leases = [limiter.acquire("a"), limiter.acquire("b"), limiter.acquire("a")]
    assert throttle_reason(limiter, "c") == ACCOUNT_LIMIT_REASON
    leases[0].release()
    limiter.acquire("c")  # the released slot is free again
    assert throttle_reason(limiter, "b") == ACCOUNT_LIMIT_REASON


def test_a_lease_is_released_once():
    limiter = ConcurrencyLimiter(2)
    lease = limiter.acquire("a")
    limiter.acquire("a")
    lease.release()
    lease.release()  # a second release gives nothing back
    limiter.acquire("b")
    assert throttle_reason(limiter, "b") == ACCOUNT_LIMIT_REASON


def test_reserved_concurrency_caps_the_function_and_is_set_aside_from_the_rest():
    limiter = ConcurrencyLimiter(5)
    limiter.set_reserved("r", 2)
    assert limiter.reserved("r") == 2
    assert limiter.unreserved() == 3
    limiter.acquire("r")
    limiter.acquire("r")
    assert throttle_reason(limiter, "r") == RESERVED_LIMIT_REASON
    # the reserved function's invocations do not use the unreserved pool: three others still run
    others = [limiter.acquire(name) for name in ("a", "b", "c")]
    assert throttle_reason(limiter, "d") == ACCOUNT_LIMIT_REASON
    others[0].release()
    limiter.acquire("d")


def test_reserved_zero_throttles_every_invoke():
    limiter = ConcurrencyLimiter(5)
    limiter.set_reserved("off", 0)
    assert throttle_reason(limiter, "off") == RESERVED_LIMIT_REASON


def test_provisioned_counts_inside_the_reservation():
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved("f", 3)
    limiter.set_provisioned("f", 2)
    assert limiter.set_aside_by("f") == 3  # the reservation, not reservation + provisioned
    limiter.acquire("f")  # on-demand gets R - P = 1
    assert throttle_reason(limiter, "f") == RESERVED_LIMIT_REASON


def test_provisioned_without_reservation_is_set_aside_from_the_account():
    limiter = ConcurrencyLimiter(4)
    limiter.set_provisioned("p", 3)
    assert limiter.provisioned("p") == 3
    assert limiter.set_aside_by("p") == 3
    assert limiter.unreserved() == 1
    limiter.acquire("p")  # on-demand invocations of p share the unreserved pool (1 slot left)
    assert throttle_reason(limiter, "q") == ACCOUNT_LIMIT_REASON


def test_reservation_replaces_provisioned_as_what_is_set_aside():
    limiter = ConcurrencyLimiter(10)
    limiter.set_provisioned("f", 2)
    limiter.set_reserved("f", 5)
    assert limiter.unreserved() == 5
    limiter.set_reserved("f", None)
    assert limiter.reserved("f") is None
    assert limiter.unreserved() == 8  # back to its provisioned total


def test_forget_gives_the_set_aside_back():
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved("f", 4)
    limiter.set_provisioned("g", 3)
    limiter.forget("f")
    assert limiter.unreserved() == 7
    assert limiter.reserved("f") is None
    limiter.forget("nothing")  # unknown functions are fine
    assert limiter.unreserved() == 7


def test_provisioned_lease_takes_no_slot_and_releases_nothing():
    limiter = ConcurrencyLimiter(1)
    limiter.acquire("a")
    PROVISIONED.release()  # must not free the on-demand slot
    assert throttle_reason(limiter, "a") == ACCOUNT_LIMIT_REASON
