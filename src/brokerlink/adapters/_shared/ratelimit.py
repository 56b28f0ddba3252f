"""Client-side rate limiting: a token bucket per named bucket, steered by the server.

Each bucket refills continuously at ``rate`` per ``per``. The server has the last word:
when a response says nothing is left (``X-RateLimit-Remaining: 0`` at Alpaca,
``X-Ratelimit-Available: 0`` at Tradier) or a 429 carries ``Retry-After``, the bucket is
paused until the window resets, so concurrent callers wait instead of earning more 429s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from brokerlink.core.values import utc_now

Sleep = Callable[[float], Awaitable[None]]

# Reset headers: values this large are epoch milliseconds, values this small are a delay in
# seconds rather than an epoch. Alpaca sends epoch seconds, Tradier epoch milliseconds.
_EPOCH_MS_THRESHOLD = 100_000_000_000
_EPOCH_S_THRESHOLD = 1_000_000_000

DEFAULT_MAX_HEADER_PAUSE = 120.0
"""A server-announced reset further away than this (seconds) is treated as clock skew or
a bogus header and capped, so one odd response cannot stall a connection for hours."""


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value (RFC 9110 section 10.2.3).

    Accepts delay-seconds (``"120"``; a fraction is tolerated) or an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``) measured from ``now`` (aware). Never negative:
    a date in the past gives 0.0. Returns None if ``value`` is absent or unparseable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=now.tzinfo)
    return max(0.0, (when - now).total_seconds())


def _int_header(headers: httpx.Headers, *names: str) -> int | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return int(float(raw.strip()))
        except ValueError:
            continue
    return None


def _seconds_until_reset(raw: int, now: datetime) -> float:
    if raw >= _EPOCH_MS_THRESHOLD:
        return max(0.0, raw / 1000 - now.timestamp())
    if raw >= _EPOCH_S_THRESHOLD:
        return max(0.0, raw - now.timestamp())
    return max(0.0, float(raw))


def remaining_from_headers(headers: httpx.Headers) -> int | None:
    """Requests left in the current window per Alpaca's or Tradier's headers, if sent."""
    return _int_header(headers, "X-RateLimit-Remaining", "X-Ratelimit-Available")


def reset_after_from_headers(headers: httpx.Headers, *, now: datetime) -> float | None:
    """Seconds until the server's window resets (``X-RateLimit-Reset`` in epoch seconds,
    ``X-Ratelimit-Expiry`` in epoch milliseconds), or None if not sent."""
    raw = _int_header(headers, "X-RateLimit-Reset", "X-Ratelimit-Expiry")
    return None if raw is None else _seconds_until_reset(raw, now)


def retry_after_from_headers(headers: httpx.Headers, *, now: datetime) -> float | None:
    """How long a refused (429) request should wait: ``Retry-After`` if present, else the
    window reset when the server says nothing is left, else None."""
    retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
    if retry_after is not None:
        return retry_after
    remaining = remaining_from_headers(headers)
    if remaining is not None and remaining <= 0:
        return reset_after_from_headers(headers, now=now)
    return None


class RateLimiter:
    """An async token bucket: ``rate`` requests per ``per``, bursting up to ``burst``.

    ``acquire`` waits (FIFO, one waiter at a time) until a token is free and no
    server-imposed pause is active. ``monotonic`` and ``sleep`` drive the waiting and
    ``clock`` (aware UTC) converts the server's epoch reset times; all three are injectable
    so tests run without real time. Raises ``ValueError`` for a non-positive rate or period.
    """

    def __init__(
        self,
        rate: int,
        per: timedelta | float,
        *,
        burst: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
        max_header_pause: float = DEFAULT_MAX_HEADER_PAUSE,
    ) -> None:
        period = per.total_seconds() if isinstance(per, timedelta) else float(per)
        if rate <= 0 or period <= 0:
            raise ValueError("rate and per must be positive")
        if burst is not None and burst <= 0:
            raise ValueError("burst must be positive")
        self.rate = rate
        self.per = period
        self.capacity = float(burst if burst is not None else rate)
        self._per_second = rate / period
        self._monotonic = monotonic
        self._clock = clock
        self._sleep = sleep
        self._max_header_pause = max_header_pause
        self._tokens = self.capacity
        self._updated = monotonic()
        self._paused_until = 0.0
        # One waiter at a time keeps the order fair and the token arithmetic simple.
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float:
        """Monotonic time before which no request may start (0.0 if never paused)."""
        return self._paused_until

    @property
    def tokens(self) -> float:
        """Tokens available now (refilled to the current monotonic time)."""
        self._refill(self._monotonic())
        return self._tokens

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self._per_second)
        self._updated = now

    async def acquire(self) -> None:
        """Wait until a request may be sent, then take one token. Cancellation-safe:
        a cancelled waiter takes nothing."""
        async with self._lock:
            while True:
                now = self._monotonic()
                if self._paused_until > now:
                    await self._sleep(self._paused_until - now)
                    continue
                self._refill(now)
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._sleep((1 - self._tokens) / self._per_second)

    def pause_until(self, monotonic_deadline: float) -> None:
        """Start no request before ``monotonic_deadline``; an earlier deadline never
        shortens a pause already in force."""
        self._paused_until = max(self._paused_until, monotonic_deadline)

    def pause_for(self, seconds: float) -> None:
        """``pause_until`` expressed as a delay from now (capped by ``max_header_pause``)."""
        seconds = min(max(0.0, seconds), self._max_header_pause)
        self.pause_until(self._monotonic() + seconds)

    def update_from_headers(self, headers: httpx.Headers) -> None:
        """Align the bucket with the server's view of the window.

        Reads Alpaca's ``X-RateLimit-Limit/Remaining/Reset`` (reset in epoch seconds) and
        Tradier's ``X-Ratelimit-Allowed/Used/Available/Expiry`` (expiry in epoch ms). With
        nothing remaining the bucket pauses until the reset; otherwise local tokens are
        capped at what the server says is left. Headers that are absent or malformed are
        ignored; never raises.
        """
        remaining = remaining_from_headers(headers)
        if remaining is None:
            allowed = _int_header(headers, "X-Ratelimit-Allowed", "X-RateLimit-Limit")
            used = _int_header(headers, "X-Ratelimit-Used")
            if allowed is None or used is None:
                return
            remaining = allowed - used
        now = self._monotonic()
        self._refill(now)
        if remaining <= 0:
            self._tokens = 0.0
            reset_after = reset_after_from_headers(headers, now=self._clock())
            if reset_after is not None:
                self.pause_for(reset_after)
            return
        self._tokens = min(self._tokens, float(remaining))

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, per={self.per}, burst={self.capacity:g})"


class RateLimits(Mapping[str, RateLimiter]):
    """Named buckets for one connection, e.g. Tradier's ``standard``, ``market_data`` and
    ``trading``. A bucket not configured falls back to ``"default"`` if there is one."""

    DEFAULT = "default"

    def __init__(self, limiters: Mapping[str, RateLimiter] | None = None) -> None:
        self._limiters = dict(limiters or {})

    def limiter_for(self, bucket: str) -> RateLimiter:
        """The limiter for ``bucket``, else the ``"default"`` one.

        Raises ``KeyError`` naming the known buckets if neither exists: a misspelt bucket
        must not silently run unlimited.
        """
        limiter = self._limiters.get(bucket) or self._limiters.get(self.DEFAULT)
        if limiter is None:
            raise KeyError(f"no rate-limit bucket {bucket!r}; known: {sorted(self._limiters)}")
        return limiter

    def __getitem__(self, bucket: str) -> RateLimiter:
        return self._limiters[bucket]

    def __iter__(self) -> Iterator[str]:
        return iter(self._limiters)

    def __len__(self) -> int:
        return len(self._limiters)

    def __repr__(self) -> str:
        return f"RateLimits({self._limiters!r})"


__all__ = [
    "RateLimiter",
    "RateLimits",
    "parse_retry_after",
    "remaining_from_headers",
    "reset_after_from_headers",
    "retry_after_from_headers",
]
