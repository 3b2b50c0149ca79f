"""Concurrency as a lease: take a slot before an invoke runs, give it back after. O(1) per invoke."""

from __future__ import annotations

from stratus.errors import TooManyRequestsException


class ConcurrencyLimiter:
    """The account's concurrent-executions limit (reserved and provisioned arrive with issue 5)."""

    def __init__(self, account_limit: int):
        self.account_limit = account_limit
        self.in_use = 0

    def acquire(self) -> "Lease":
        if self.in_use >= self.account_limit:
            raise TooManyRequestsException("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")
        self.in_use += 1
        return Lease(self)


class Lease:
    __slots__ = ("_limiter",)

    def __init__(self, limiter: ConcurrencyLimiter):
        self._limiter = limiter

    def release(self) -> None:
        if self._limiter is not None:
            self._limiter.in_use -= 1
            self._limiter = None
