"""The token bucket, server rate-limit headers and Retry-After parsing, on a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from brokerlink.adapters._shared import (
    RateLimiter,
    RateLimits,
    parse_retry_after,
)

from .support import FakeClock

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def limiter(
    clock: FakeClock, rate: int = 2, per: timedelta | float = 1.0, burst: int | None = None
) -> RateLimiter:
    return RateLimiter(
        rate, per, burst=burst, monotonic=clock.monotonic, clock=clock.utc, sleep=clock.sleep
    )


async def test_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=2, per=timedelta(seconds=1))
    for _ in range(6):
        await bucket.acquire()
    # Two free (the burst), then one every half second.
    assert clock.slept == pytest.approx(2.0)
    assert all(delay == pytest.approx(0.5) for delay in clock.sleeps)


async def test_explicit_burst_caps_saved_up_tokens() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=60, per=60.0, burst=1)
    clock.now += 100  # idle for a long time: still only one token saved up
    await bucket.acquire()
    await bucket.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]


async def test_concurrent_waiters_are_paced_too() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=1, per=1.0)
    await asyncio.gather(*(bucket.acquire() for _ in range(4)))
    assert clock.slept == pytest.approx(3.0)


async def test_alpaca_headers_with_nothing_remaining_pause_until_reset() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=200, per=60.0)
    reset = int((clock.utc() + timedelta(seconds=30)).timestamp())
    bucket.update_from_headers(
        httpx.Headers(
            {
                "X-RateLimit-Limit": "200",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            }
        )
    )
    await bucket.acquire()
    assert clock.slept == pytest.approx(30.0)


async def test_tradier_headers_expiry_in_milliseconds() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=120, per=60.0)
    expiry_ms = int((clock.utc() + timedelta(seconds=12.5)).timestamp() * 1000)
    bucket.update_from_headers(
        httpx.Headers(
            {
                "X-Ratelimit-Allowed": "120",
                "X-Ratelimit-Used": "120",
                "X-Ratelimit-Available": "0",
                "X-Ratelimit-Expiry": str(expiry_ms),
            }
        )
    )
    await bucket.acquire()
    assert clock.slept == pytest.approx(12.5)


async def test_allowed_minus_used_is_enough_without_available() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=120, per=60.0)
    expiry_ms = int((clock.utc() + timedelta(seconds=5)).timestamp() * 1000)
    bucket.update_from_headers(
        httpx.Headers(
            {
                "X-Ratelimit-Allowed": "60",
                "X-Ratelimit-Used": "60",
                "X-Ratelimit-Expiry": str(expiry_ms),
            }
        )
    )
    await bucket.acquire()
    assert clock.slept == pytest.approx(5.0)


async def test_server_remaining_caps_local_tokens() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=10, per=1.0)
    bucket.update_from_headers(httpx.Headers({"X-RateLimit-Remaining": "1"}))
    assert bucket.tokens == pytest.approx(1.0)
    await bucket.acquire()
    await bucket.acquire()
    assert clock.slept == pytest.approx(0.1)


def test_absent_or_malformed_headers_change_nothing() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=5, per=1.0)
    bucket.update_from_headers(httpx.Headers({}))
    bucket.update_from_headers(httpx.Headers({"X-RateLimit-Remaining": "lots"}))
    assert bucket.tokens == pytest.approx(5.0)
    assert bucket.paused_until == 0.0


async def test_absurd_reset_is_capped() -> None:
    clock = FakeClock()
    bucket = RateLimiter(
        5, 1.0, monotonic=clock.monotonic, clock=clock.utc, sleep=clock.sleep, max_header_pause=60
    )
    far = int((clock.utc() + timedelta(days=3)).timestamp())
    bucket.update_from_headers(
        httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(far)})
    )
    await bucket.acquire()
    assert clock.slept == pytest.approx(60.0)


async def test_pause_until_is_honoured_and_never_shortened() -> None:
    clock = FakeClock()
    bucket = limiter(clock, rate=100, per=1.0)
    bucket.pause_until(clock.now + 4)
    bucket.pause_until(clock.now + 1)
    await bucket.acquire()
    assert clock.slept == pytest.approx(4.0)


def test_invalid_limiter_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(1, timedelta(0))
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(1, 1.0, burst=0)


def test_rate_limits_named_buckets_with_default_fallback() -> None:
    standard, trading = RateLimiter(120, 60.0), RateLimiter(60, 60.0)
    limits = RateLimits({"default": standard, "trading": trading})
    assert limits.limiter_for("trading") is trading
    assert limits.limiter_for("market_data") is standard
    assert set(limits) == {"default", "trading"}
    assert len(limits) == 2
    with pytest.raises(KeyError, match="market_data"):
        RateLimits({"trading": trading}).limiter_for("market_data")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Mon, 02 Mar 2026 15:00:30 GMT", 30.0),
        ("Mon, 02 Mar 2026 14:00:00 GMT", 0.0),
        ("Monday, 02-Mar-26 15:00:10 GMT", 10.0),
        ("Mon, 02 Mar 2026 15:00:05 -0000", 5.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_respects_the_given_now_zone() -> None:
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_retry_after("Mon, 02 Mar 2026 15:00:20 GMT", now=eastern) == 20.0
