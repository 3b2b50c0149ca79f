"""When an asynchronous invocation is tried again, and what ends it, as AWS does (pure: no clock, no I/O).

A function error is retried after `retry_base_s`, then twice that (AWS: ~1 min, ~2 min), up to the
config's MaximumRetryAttempts (0-2). A throttle (or a failure of Stratus itself) is retried from
`throttle_retry_base_s`, doubling up to `throttle_retry_max_s`, without counting as an attempt. When
the next try would come after the event's maximum age (MaximumEventAgeInSeconds × `event_age_scale`),
the event ends at once with EventAgeExceeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from stratus.config import Settings

Condition = Literal["Success", "RetriesExhausted", "EventAgeExceeded", "ZeroReservedConcurrency"]


class Next(NamedTuple):
    """What follows a try: `ends` is the condition that finishes the event, or None to try again at `due_at`."""

    ends: Condition | None
    due_at: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    retry_base_s: float
    throttle_retry_base_s: float
    throttle_retry_max_s: float
    event_age_scale: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.async_retry_base_s, settings.async_throttle_retry_base_s,
                   settings.async_throttle_retry_max_s, settings.async_event_age_scale)

    def age_limit(self, enqueued_at: float, maximum_event_age_s: float) -> float:
        """The time after which the event may not be tried any more."""
        return enqueued_at + maximum_event_age_s * self.event_age_scale

    def expired(self, now: float, age_limit: float) -> bool:
        """Whether an event due now is too old to be tried (it ends with EventAgeExceeded)."""
        return now >= age_limit

    def after_attempt(self, now: float, attempts: int, function_error: str | None, maximum_retry_attempts: int,
                      age_limit: float) -> Next:
        """After the function ran (`attempts` counts this run): success, retries exhausted, too old, or retry."""
        if function_error is None:
            return Next("Success")
        if attempts > maximum_retry_attempts:
            return Next("RetriesExhausted")
        due = now + self.retry_base_s * 2 ** (attempts - 1)
        if due > age_limit:
            return Next("EventAgeExceeded")
        return Next(None, due)

    def after_throttle(self, now: float, throttles: int, age_limit: float) -> Next:
        """After a throttle or a failure of Stratus (`throttles` counts this one): back off, unless too old."""
        due = now + min(self.throttle_retry_base_s * 2 ** (throttles - 1), self.throttle_retry_max_s)
        if due > age_limit:
            return Next("EventAgeExceeded")
        return Next(None, due)
