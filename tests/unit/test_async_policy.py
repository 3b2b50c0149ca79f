"""The async retry/age policy (events/async_policy.py) against AWS's rules, without servers or clocks."""

from __future__ import annotations

import pytest

from stratus.config import Settings
from stratus.events.async_policy import Next, RetryPolicy

AWS = RetryPolicy(retry_base_s=60.0, throttle_retry_base_s=1.0, throttle_retry_max_s=300.0)
NOW = 1_000_000.0
FAR = NOW + 21600  # the default maximum event age: never the limit in these tests


def test_the_default_settings_are_aws_figures():
    assert RetryPolicy.from_settings(Settings()) == AWS


@pytest.mark.parametrize("attempts, delay", [(1, 60.0), (2, 120.0)])
def test_a_function_error_is_retried_after_one_then_two_minutes(attempts, delay):
    assert AWS.after_attempt(NOW, attempts, "Unhandled", 2, FAR) == Next(None, NOW + delay)


def test_the_function_error_delays_scale_with_the_retry_base():
    fast = RetryPolicy(retry_base_s=0.3, throttle_retry_base_s=1.0, throttle_retry_max_s=300.0)
    assert fast.after_attempt(NOW, 1, "Unhandled", 2, FAR).due_at == pytest.approx(NOW + 0.3)
    assert fast.after_attempt(NOW, 2, "Unhandled", 2, FAR).due_at == pytest.approx(NOW + 0.6)


def test_success_ends_the_event_whatever_the_attempts():
    for attempts in (1, 2, 3):
        assert AWS.after_attempt(NOW, attempts, None, 2, FAR) == Next("Success")


@pytest.mark.parametrize("maximum", [0, 1, 2])
def test_maximum_retry_attempts_bounds_the_function_runs(maximum):
    """MaximumRetryAttempts N: N + 1 runs in all, then RetriesExhausted."""
    for attempts in range(1, maximum + 1):
        assert AWS.after_attempt(NOW, attempts, "Unhandled", maximum, FAR).ends is None
    assert AWS.after_attempt(NOW, maximum + 1, "Unhandled", maximum, FAR) == Next("RetriesExhausted")


def test_a_retry_due_after_the_maximum_age_ends_the_event_at_once():
    limit = AWS.age_limit(NOW, 60)  # AWS's minimum age: a failing event is not retried at all
    assert AWS.after_attempt(NOW + 1, 1, "Unhandled", 2, limit) == Next("EventAgeExceeded")
    assert AWS.after_attempt(NOW, 1, "Unhandled", 2, limit) == Next(None, NOW + 60)  # exactly at the limit: runs
    assert AWS.after_attempt(NOW + 0.001, 1, "Unhandled", 2, limit) == Next("EventAgeExceeded")
    limit = AWS.age_limit(NOW, 150)  # the second retry (2 min after the first) would come too late
    assert AWS.after_attempt(NOW + 61, 2, "Unhandled", 2, limit) == Next("EventAgeExceeded")


def test_retries_exhausted_wins_over_age():
    assert AWS.after_attempt(NOW, 3, "Unhandled", 2, NOW) == Next("RetriesExhausted")


@pytest.mark.parametrize("throttles, delay", [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (30, 300.0)])
def test_throttles_back_off_doubling_up_to_the_maximum(throttles, delay):
    assert AWS.after_throttle(NOW, throttles, FAR) == Next(None, NOW + delay)


def test_throttle_back_off_follows_its_settings():
    policy = RetryPolicy(retry_base_s=60.0, throttle_retry_base_s=0.05, throttle_retry_max_s=0.2)
    assert [policy.after_throttle(0.0, n, FAR).due_at for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.2, 0.2]


def test_throttles_do_not_count_as_attempts():
    """However many throttles, only the event's age ends it (not MaximumRetryAttempts, not RetriesExhausted)."""
    for throttles in range(1, 40):
        assert AWS.after_throttle(NOW, throttles, FAR).ends is None


def test_a_throttle_back_off_past_the_maximum_age_ends_the_event():
    limit = AWS.age_limit(NOW, 60)
    assert AWS.after_throttle(NOW + 59, 1, limit) == Next(None, NOW + 60)
    assert AWS.after_throttle(NOW + 59, 2, limit) == Next("EventAgeExceeded")


def test_the_age_limit_is_the_maximum_age_times_the_scale():
    assert AWS.age_limit(NOW, 3600) == NOW + 3600
    scaled = RetryPolicy(retry_base_s=0.3, throttle_retry_base_s=1.0, throttle_retry_max_s=300.0, event_age_scale=0.01)
    assert scaled.age_limit(NOW, 60) == pytest.approx(NOW + 0.6)


def test_an_event_due_at_or_after_its_age_limit_is_expired():
    limit = AWS.age_limit(NOW, 60)
    assert not AWS.expired(limit - 0.001, limit)
    assert AWS.expired(limit, limit)
    assert AWS.expired(limit + 5, limit)
