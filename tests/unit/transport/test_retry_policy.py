"""Retry policy arithmetic: full-jitter backoff and Retry-After precedence."""

from __future__ import annotations

import random

import pytest

from brokerlink.adapters._shared import DEFAULT_TIMEOUT, RetryPolicy


def test_backoff_is_full_jitter_within_the_capped_exponential() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=1.0, rng=random.Random(42))
    for attempt, cap in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0), (500, 1.0)]:
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        # Jitter really spreads the delays (not all at the cap, not all zero).
        assert max(delays) > cap / 2
        assert min(delays) < cap / 2


def test_seeded_rng_makes_backoff_reproducible() -> None:
    first = RetryPolicy(rng=random.Random(9))
    second = RetryPolicy(rng=random.Random(9))
    assert [first.backoff(n) for n in range(1, 5)] == [second.backoff(n) for n in range(1, 5)]


def test_retry_after_overrides_backoff_only_when_larger() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=5.0, rng=random.Random(1))
    assert policy.delay_for(1, retry_after=3.0) == 3.0
    assert policy.delay_for(1, retry_after=0.0) <= 0.2
    assert policy.delay_for(1, retry_after=None) <= 0.2
    assert policy.should_wait_out(30.0)
    assert not policy.should_wait_out(30.5)


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base_delay=-1)


def test_default_timeout_is_explicit() -> None:
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read) == (5.0, 15.0)
    assert (DEFAULT_TIMEOUT.write, DEFAULT_TIMEOUT.pool) == (10.0, 5.0)
