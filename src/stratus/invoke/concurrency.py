"""Concurrency as a lease: take a slot before an invoke runs, give it back after. O(1) per invoke.

Lambda's model: the account has a limit (1,000). A function with reserved concurrency R runs at most
R at once and those R are set aside from everyone else; provisioned concurrency P of a function's
versions and aliases counts inside its R (or, without R, is set aside from the account like R). The
rest — limit minus every reservation and the provisioned concurrency of unreserved functions — is
the unreserved pool that all other functions share.

Invocations served by a provisioned environment take no lease here: their slot was set aside when
the provisioned concurrency was configured. Every other invocation takes an on-demand lease: from
its function's reserved concurrency (R − P) when it has one, else from the unreserved pool.
"""

from __future__ import annotations

from collections.abc import Callable

from stratus.errors import TooManyRequestsException

ACCOUNT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"
RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"


class FunctionConcurrency:
    """One function's reservation, provisioned total and running on-demand invocations."""

    __slots__ = ("reserved", "provisioned", "running")

    def __init__(self) -> None:
        self.reserved: int | None = None
        self.provisioned = 0  # sum of the requested provisioned concurrency of its versions and aliases
        self.running = 0  # on-demand invocations now running

    @property
    def set_aside(self) -> int:
        """What this function takes out of the unreserved pool."""
        return self.reserved if self.reserved is not None else self.provisioned


class _Keep:
    """The value of a setting `_update` leaves as it is."""


_KEEP = _Keep()


class ConcurrencyLimiter:
    """The account's concurrency: reservations, provisioned totals, and the leases of running invokes."""

    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._functions: dict[str, FunctionConcurrency] = {}
        self.set_aside = 0  # sum of FunctionConcurrency.set_aside over all functions
        self.unreserved_running = 0  # on-demand invocations of functions without a reservation
        # Told the function's name when one of its slots is given back (the async queue wakes a throttled event).
        self.on_release: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ invoke path
    def acquire(self, function_name: str) -> Lease:
        """An on-demand slot for one invocation; TooManyRequestsException (429) if none is left."""
        state = self._functions.get(function_name)
        if state is None:
            state = self._functions[function_name] = FunctionConcurrency()
        if state.reserved is not None:
            if state.running >= state.reserved - state.provisioned:
                raise TooManyRequestsException("Rate Exceeded.", reason=RESERVED_LIMIT_REASON)
            state.running += 1
            return Lease(self, state, False, function_name)
        if self.unreserved_running >= self.account_limit - self.set_aside:
            raise TooManyRequestsException("Rate Exceeded.", reason=ACCOUNT_LIMIT_REASON)
        state.running += 1
        self.unreserved_running += 1
        return Lease(self, state, True, function_name)

    # ------------------------------------------------------------------ configuration
    def reserved(self, function_name: str) -> int | None:
        """The function's reserved concurrency, or None when it has none."""
        state = self._functions.get(function_name)
        return state.reserved if state is not None else None

    def provisioned(self, function_name: str) -> int:
        """The sum of the function's configured provisioned concurrency."""
        state = self._functions.get(function_name)
        return state.provisioned if state is not None else 0

    def unreserved(self) -> int:
        """UnreservedConcurrentExecutions: the account limit less everything set aside."""
        return self.account_limit - self.set_aside

    def set_aside_by(self, function_name: str) -> int:
        """What the function takes out of the unreserved pool (its reservation, else its provisioned total)."""
        state = self._functions.get(function_name)
        return state.set_aside if state is not None else 0

    def set_reserved(self, function_name: str, reserved: int | None) -> None:
        self._update(function_name, reserved=reserved)

    def set_provisioned(self, function_name: str, provisioned: int) -> None:
        self._update(function_name, provisioned=provisioned)

    def forget(self, function_name: str) -> None:
        """The function was deleted: its reservation and provisioned concurrency go back to the pool."""
        state = self._functions.pop(function_name, None)
        if state is not None:
            self.set_aside -= state.set_aside

    def _update(self, function_name: str, *, reserved: int | None | _Keep = _KEEP,
                provisioned: int | _Keep = _KEEP) -> None:
        state = self._functions.get(function_name)
        if state is None:
            state = self._functions[function_name] = FunctionConcurrency()
        self.set_aside -= state.set_aside
        if not isinstance(reserved, _Keep):
            state.reserved = reserved
        if not isinstance(provisioned, _Keep):
            state.provisioned = provisioned
        self.set_aside += state.set_aside


class Lease:
    """One on-demand slot; release() gives it back (once)."""

    __slots__ = ("_limiter", "_state", "_unreserved", "_function_name")

    def __init__(self, limiter: ConcurrencyLimiter | None, state: FunctionConcurrency | None, unreserved: bool,
                 function_name: str = ""):
        self._limiter = limiter
        self._state = state
        self._unreserved = unreserved
        self._function_name = function_name

    def release(self) -> None:
        limiter = self._limiter
        if limiter is not None and self._state is not None:
            self._state.running -= 1
            if self._unreserved:
                limiter.unreserved_running -= 1
            self._limiter = None
            if limiter.on_release is not None:
                limiter.on_release(self._function_name)


class ProvisionedLease(Lease):
    """The slot of an invocation served by a provisioned environment: set aside already, nothing to count."""

    def __init__(self) -> None:
        super().__init__(None, None, False)

    def release(self) -> None:
        pass


PROVISIONED = ProvisionedLease()
